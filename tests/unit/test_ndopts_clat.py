"""RA options as the kernel passes them on (RFC 8106 RDNSS/DNSSL, RFC 8781 PREF64), and the
CLAT's addressing."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsim.node import ndopts
from labsim.node.clat import CLAT_V4, clat_addresses, tayga_conf, up_commands


def _netlink(option: bytes, ifindex: int = 2, src: bytes = IPv6Address("fe80::1").packed) -> bytes:
    body = struct.pack("=BBHiBBHI", 10, 0, len(option), ifindex, 134, 0, 0, 0) + option
    body += b"\0" * (-len(body) % 4) + struct.pack("=HH", 20, ndopts.NDUSEROPT_SRCADDR) + src
    return struct.pack("=IHHII", 16 + len(body), ndopts.RTM_NEWNDUSEROPT, 0, 0, 0) + body


@given(length=st.sampled_from([96, 64, 56, 48, 40, 32]), bits=st.integers(0, 2**128 - 1),
       lifetime=st.integers(0, 65528))
def test_pref64_round_trip(length, bits, lifetime):
    prefix = IPv6Network((bits >> (128 - length) << (128 - length), length))
    [msg] = ndopts.parse_messages(_netlink(ndopts.encode_pref64(prefix, lifetime)))
    assert msg.option == ndopts.Pref64((lifetime + 7) // 8 * 8, prefix)
    assert msg.source == IPv6Address("fe80::1") and msg.ifindex == 2


def test_rdnss_and_dnssl():
    servers = [IPv6Address("2001:db8:1::4"), IPv6Address("2001:db8:1::5")]
    rdnss = struct.pack("!BBHI", 25, 5, 0, 600) + b"".join(s.packed for s in servers)
    names = b"\x07example\x04test\x00\x03lab\x00"
    names += b"\0" * (-(8 + len(names)) % 8)
    dnssl = struct.pack("!BBHI", 31, (8 + len(names)) // 8, 0, 300) + names
    [a] = ndopts.parse_messages(_netlink(rdnss))
    [b] = ndopts.parse_messages(_netlink(dnssl))
    assert a.option == ndopts.Rdnss(600, tuple(servers))
    assert b.option == ndopts.Dnssl(300, ("example.test", "lab"))


@given(st.binary(max_size=200))
def test_garbage_only_raises_value_error(data):
    try:
        ndopts.parse_messages(data)
    except ValueError:
        pass
    try:
        ndopts.parse_option(data)
    except ValueError:
        pass


def test_pref64_rejects_lengths_rfc8781_lacks():
    with pytest.raises(ValueError):
        ndopts.encode_pref64(IPv6Network("2001:db8::/80"), 600)
    bad = struct.pack("!BBH", 38, 2, 600 // 8 << 3 | 6) + bytes(12)  # PLC 6 is undefined
    with pytest.raises(ValueError):
        ndopts.parse_option(bad)


def test_clat_addresses_stay_on_link_and_off_the_plan():
    host = IPv6Interface("2001:db8:1::3/64")
    a = clat_addresses("eth0", host)
    assert a.clat6 == IPv6Address("2001:db8:1:0:8000::3") and a.tayga6 == IPv6Address("2001:db8:1:0:c000::3")
    assert a.clat6 in host.network and a.tayga6 in host.network
    small = clat_addresses("eth0", IPv6Interface("2001:db8::5/120"))
    assert small.clat6 == IPv6Address("2001:db8::85") and small.tayga6 == IPv6Address("2001:db8::c5")
    with pytest.raises(ValueError):
        clat_addresses("eth0", IPv6Interface("2001:db8::1/127"))


def test_tayga_clat_config_maps_the_host_ipv4():
    a = clat_addresses("eth0", IPv6Interface("2001:db8:1::3/64"))
    conf = tayga_conf(IPv6Network("64:ff9b::/96"), a, "/d")
    assert f"map {CLAT_V4} {a.clat6}\n" in conf and "prefix 64:ff9b::/96\n" in conf
    assert f"ipv6-addr {a.tayga6}\n" in conf
    cmds = up_commands("/d/tayga.conf", a)
    assert ["ip", "-4", "route", "replace", "default", "dev", "clat", "src", "192.0.0.2", "mtu", "1260"] in cmds
    assert ["ip", "-6", "neigh", "replace", "proxy", str(a.clat6), "dev", "eth0"] in cmds


def test_learnt_options_expire_and_pref64_withdraws():
    from labsim.node.hostconf import Learnt, resolv_conf

    p = IPv6Network("2001:db8:64::/96")
    learnt = Learnt()
    learnt.take(ndopts.Rdnss(30, (IPv6Address("2001:db8:1::3"),)), now=0)
    learnt.take(ndopts.Dnssl(30, ("example.test",)), now=0)
    learnt.take(ndopts.Pref64(600, p), now=0)
    assert learnt.pref64[0] == p and list(learnt.rdnss) == ["2001:db8:1::3"]
    learnt.expire(31)  # RDNSS/DNSSL lifetimes over, PREF64 still valid
    assert learnt.rdnss == {} and learnt.dnssl == {} and learnt.pref64 is not None
    learnt.take(ndopts.Pref64(0, p), now=32)  # lifetime 0: withdrawn
    assert learnt.pref64 is None and learnt.pref64_withdrawn == str(p)
    learnt.take(ndopts.Pref64(8, p), now=40)
    learnt.expire(48)  # expiry counts as a withdrawal too
    assert learnt.pref64 is None and learnt.pref64_withdrawn == str(p)
    assert resolv_conf(["2001:db8:1::3"], ["example.test"], ["timeout:1"]).splitlines()[1:] == \
        ["search example.test", "nameserver 2001:db8:1::3", "options timeout:1"]
