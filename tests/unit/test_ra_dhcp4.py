"""What routers advertise (radvd.conf, the PREF64 RA), what the DHCPv4 server offers (Kea's
configuration) and how the DHCPv4 client reads answers."""

from __future__ import annotations

import json
import struct
from ipaddress import IPv4Address, IPv6Network

from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.node import ndopts
from labsim.node.dhcp4client import ACK, HEADER, MAGIC, OFFER, OPT_V6ONLY, build, parse
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import load_lab
from tests.helpers import REPO


def _ctx(loaded, name):
    return NodeContext(loaded.plan, loaded.plan.nodes[name], loaded.topology.nodes[name], dir="/n")


def test_ipv6_mostly_router_and_dhcp_configuration():
    loaded = load_lab(REPO / "topologies/ipv6-mostly.yml")
    files = registry.get("router").render(_ctx(loaded, "gw"))
    conf = files["radvd.conf"]
    assert "interface eth0 {" in conf and "prefix 2001:db8:10::/64 { AdvOnLink on; AdvAutonomous on; };" in conf
    assert "RDNSS 2001:db8:1::3 " in conf and "DNSSL example.test " in conf
    assert "interface eth1" not in conf  # only the LAN is advertised on
    assert json.loads(files["pref64.json"])["prefix"] == "2001:db8:64::/96"
    kea = json.loads(registry.get("dhcp4").render(_ctx(loaded, "dhcp"))["kea-dhcp4.json"])["Dhcp4"]
    [subnet] = kea["subnet4"]
    assert subnet["subnet"] == "10.10.0.0/24" and subnet["pools"] == [{"pool": "10.10.0.128 - 10.10.0.254"}]
    assert {"name": "v6-only-preferred", "data": "1800"} in subnet["option-data"]
    assert {"name": "routers", "data": "10.10.0.1"} in subnet["option-data"]
    modern = json.loads(registry.get("client").render(_ctx(loaded, "modern"))["hostconf.json"])
    assert modern["dhcp4"] == {"dev": "eth0", "ipv6_only_preferred": True} and modern["clat"] == {"prefix": "auto"}


@settings(deadline=None)  # the first call imports scapy
@given(st.sampled_from([96, 64, 56, 48, 40, 32]), st.integers(0, 2**96 - 1), st.integers(0, 65528),
       st.booleans(), st.booleans())
def test_pref64_ra_carries_the_prefix_and_the_flags(length, bits, lifetime, m, o):
    from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPREF64

    prefix = IPv6Network(((bits << 32) >> (128 - length) << (128 - length), length))
    ra = ndopts.pref64_ra(prefix, lifetime, m, o)
    # scapy (the PyPI release has RFC 8781's option) reads it as we meant it
    pkt = ICMPv6ND_RA(ra)
    opt = pkt[ICMPv6NDOptPREF64]
    assert (pkt.M, pkt.O, pkt.routerlifetime, pkt.chlim) == (int(m), int(o), 0, 0)
    assert opt.scaledlifetime == (lifetime + 7) // 8 and opt.plc == ndopts.LENGTH_PLC[length]
    assert IPv6Network(f"{opt.prefix}/{length}") == prefix
    assert ra[0] == 134 and ra[4] == 0  # an RA, hop limit unspecified
    assert bool(ra[5] & 0x80) == m and bool(ra[5] & 0x40) == o
    assert struct.unpack("!H", ra[6:8])[0] == 0  # router lifetime 0: not a default router
    assert ndopts.parse_option(ra[16:]) == ndopts.Pref64((lifetime + 7) // 8 * 8, prefix)


def _reply(msg_type: int, options: bytes) -> bytes:
    head = HEADER.pack(2, 1, 6, 0, 0x1234, 0, 0x8000, bytes(4), IPv4Address("10.10.0.128").packed,
                       bytes(4), bytes(4), bytes(16), bytes(64), bytes(128))
    return head + MAGIC + bytes([53, 1, msg_type]) + options + b"\xff"


def test_dhcp_offer_with_option_108():
    r = parse(_reply(OFFER, bytes([OPT_V6ONLY, 4]) + struct.pack("!I", 1800) + bytes([3, 4, 10, 10, 0, 1])))
    assert r.type == OFFER and r.xid == 0x1234 and r.yiaddr == IPv4Address("10.10.0.128")
    assert r.u32(OPT_V6ONLY) == 1800 and r.addr_opt(3) == IPv4Address("10.10.0.1")
    assert parse(_reply(ACK, b"")).u32(OPT_V6ONLY) is None


def test_dhcp_request_lists_option_108_only_when_asked():
    modern = build(1, 7, bytes(6), [1, 3, 6, 108])
    legacy = build(1, 7, bytes(6), [1, 3, 6])
    assert bytes([55, 4, 1, 3, 6, 108]) in modern and bytes([55, 3, 1, 3, 6]) in legacy


@given(st.binary(max_size=400))
def test_dhcp_garbage_only_raises_value_error(data):
    for blob in (data, _reply(OFFER, b"")[:HEADER.size + 4] + data):
        try:
            parse(blob)
        except ValueError:
            pass
