"""Reading a TUN device's carrier from netlink link messages (the NAT64's readiness: tayga
attached). Messages are built as the kernel lays them out; any bytes parse without error."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from labsim.runtime import links


def newlink(ifname: str, flags: int, seq: int = 0) -> bytes:
    body = links._IFINFO.pack(0, 0, 7, flags, 0) + links.attr(links.IFLA_MTU, struct.pack("=I", 1500)) \
        + links._name(links.IFLA_IFNAME, ifname)
    return links._HDR.pack(links._HDR.size + len(body), links.RTM_NEWLINK, 0, seq, 0) + body


def error(code: int) -> bytes:
    body = struct.pack("=i", -code) + links._HDR.pack(16, links.RTM_GETLINK, 1, 1, 0)
    return links._HDR.pack(links._HDR.size + len(body), links.NLMSG_ERROR, 0, 1, 0) + body


def test_carrier_up_on_the_named_link_only():
    up = links.IFF_UP | links.IFF_LOWER_UP
    assert links.carrier(newlink("nat64", up), "nat64")
    assert not links.carrier(newlink("nat64", links.IFF_UP), "nat64")  # NO-CARRIER: nobody attached
    assert not links.carrier(newlink("nat64x", up), "nat64")
    assert not links.carrier(newlink("nat6", up), "nat64")
    # several messages in one read: a notification for another link, then ours
    assert links.carrier(newlink("eth0", up) + newlink("nat64", up), "nat64")
    assert not links.carrier(error(19), "nat64")  # ENODEV: not made yet


def test_the_query_names_the_link():
    q = links.link_query("nat64", seq=5)
    length, mtype, flags, seq, _ = links._HDR.unpack_from(q)
    assert (length, mtype, seq) == (len(q), links.RTM_GETLINK, 5)
    assert flags & links.NLM_F_REQUEST
    assert b"nat64\0" in q


@given(st.binary(max_size=300))
def test_any_bytes_parse(data):
    assert links.carrier(data, "nat64") in (True, False)
