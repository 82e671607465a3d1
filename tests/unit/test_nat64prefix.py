"""RFC 6052 address embedding and RFC 7050 prefix discovery (pure, no root)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest

from labsim.node.nat64prefix import discover_prefixes, embed, extract

# RFC 6052 §2.4, Table 1 ("Text Representation of IPv4-Embedded IPv6 Addresses"), exactly,
# plus the Well-Known Prefix row of §2.4's second example
RFC6052_TABLE = [
    ("2001:db8::/32", "192.0.2.33", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "192.0.2.33", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "192.0.2.33", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "192.0.2.33", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "192.0.2.33", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "192.0.2.33", "2001:db8:122:344::192.0.2.33"),
    ("64:ff9b::/96", "192.0.2.33", "64:ff9b::192.0.2.33"),
]


@pytest.mark.parametrize("prefix, ipv4, ipv6", RFC6052_TABLE)
def test_embed_reproduces_rfc6052_table(prefix, ipv4, ipv6):
    assert embed(ipv4, prefix) == IPv6Address(ipv6)
    assert embed(IPv4Address(ipv4), IPv6Network(prefix)) == IPv6Address(ipv6)


@pytest.mark.parametrize("prefix, ipv4, ipv6", RFC6052_TABLE)
def test_extract_reverses_rfc6052_table(prefix, ipv4, ipv6):
    n = IPv6Network(prefix)
    assert extract(ipv6, n.prefixlen) == IPv4Address(ipv4)
    assert extract(IPv6Address(ipv6), n) == IPv4Address(ipv4)


@pytest.mark.parametrize("length", [32, 40, 48, 56, 64, 96])
@pytest.mark.parametrize("ipv4", ["0.0.0.0", "255.255.255.255", "192.0.0.170", "10.1.2.3"])
def test_round_trip_keeps_the_u_octet_zero(length, ipv4):
    prefix = IPv6Network(("2001:db8:aaaa:bbbb:cc:dddd::", length), strict=False)
    addr = embed(ipv4, prefix)
    assert addr.packed[8] == 0  # bits 64-71
    assert addr in prefix
    assert extract(addr, length) == IPv4Address(ipv4)


def test_all_ones_ipv4_skips_the_u_octet_and_leaves_the_suffix_zero():
    # the IPv4 bits go around bits 64-71 and nothing is written after them
    assert embed("255.255.255.255", "2001:db8::/32") == IPv6Address("2001:db8:ffff:ffff::")
    assert embed("255.255.255.255", "2001:db8:100::/40") == IPv6Address("2001:db8:1ff:ffff:ff::")
    assert embed("255.255.255.255", "2001:db8:122::/48") == IPv6Address("2001:db8:122:ffff:ff:ff00::")
    assert embed("255.255.255.255", "2001:db8:122:300::/56") == IPv6Address("2001:db8:122:3ff:ff:ffff::")
    assert embed("255.255.255.255", "2001:db8:122:344::/64") == IPv6Address("2001:db8:122:344:ff:ffff:ff00:0")


def test_extract_refuses_a_non_zero_u_octet():
    with pytest.raises(ValueError, match="u octet"):
        extract("2001:db8:122:344:ff00::1", 64)


def test_embed_refuses_a_96_prefix_with_a_non_zero_u_octet():
    with pytest.raises(ValueError, match="u octet"):
        embed("192.0.2.33", "2001:db8:122:344:100::/96")


@pytest.mark.parametrize("length", [0, 16, 24, 33, 72, 80, 88, 104, 128])
def test_bad_prefix_lengths(length):
    prefix = IPv6Network(("2001:db8::", length), strict=False)
    with pytest.raises(ValueError, match="/32, /40, /48, /56, /64 or /96"):
        embed("192.0.2.33", prefix)
    with pytest.raises(ValueError, match=f"not /{length}"):
        extract("2001:db8::c000:221", length)


def test_embed_refuses_an_ipv4_prefix():
    with pytest.raises(ValueError, match="not an IPv6 prefix"):
        embed("192.0.2.33", "192.0.2.0/24")


# -- RFC 7050 discovery ----------------------------------------------------------------
def wka_answers(prefix: str) -> list[IPv6Address]:
    return [embed("192.0.0.170", prefix), embed("192.0.0.171", prefix)]


@pytest.mark.parametrize("prefix", ["2001:db8:64::/96", "64:ff9b::/96", "2001:db8::/32", "2001:db8:100::/40",
                                    "2001:db8:122::/48", "2001:db8:122:300::/56", "2001:db8:122:344::/64"])
def test_discovery_finds_prefix_and_length(prefix):
    assert discover_prefixes(wka_answers(prefix)) == [IPv6Network(prefix)]


def test_discovery_from_the_lab_prefix_answers():
    answers = [IPv6Address("2001:db8:64::c000:aa"), IPv6Address("2001:db8:64::c000:ab")]
    assert discover_prefixes(answers) == [IPv6Network("2001:db8:64::/96")]


def test_discovery_with_one_wka_only():
    assert discover_prefixes([IPv6Address("2001:db8:c000:aa::")]) == [IPv6Network("2001:db8::/32")]
    assert discover_prefixes([IPv6Address("2001:db8:64::c000:ab")]) == [IPv6Network("2001:db8:64::/96")]


def test_discovery_of_several_prefixes_keeps_answer_order():
    answers = wka_answers("2001:db8:122:344::/64") + wka_answers("64:ff9b::/96") + wka_answers("2001:db8::/32")
    assert discover_prefixes(answers) == [IPv6Network("2001:db8:122:344::/64"), IPv6Network("64:ff9b::/96"),
                                          IPv6Network("2001:db8::/32")]


def test_discovery_ignores_answers_without_a_wka():
    # a real AAAA (no synthesis for ipv4only.arpa) and an address embedding another IPv4
    answers = [IPv6Address("2001:db8:1::11"), embed("192.0.2.33", "2001:db8:64::/96")]
    assert discover_prefixes(answers) == []
    assert discover_prefixes([]) == []


def test_discovery_ignores_a_wka_with_a_non_zero_suffix_or_u_octet():
    # 192.0.0.170 at the /32 position, but with bits after it set: not a /32 synthesis
    assert discover_prefixes([IPv6Address("2001:db8:c000:aa::1:0")]) == []
    assert discover_prefixes([IPv6Address("2001:db8:122:344:1c0:0:aa00:0")]) == []


def test_a_wka_inside_the_prefix_is_not_taken_for_the_embedded_one():
    # a /96 prefix whose bits 32-63 read 192.0.0.170: the answers carry .170 at the /32
    # position too, but with a non-zero suffix after it, so only /96 counts
    prefix = "2001:db8:c000:aa::/96"
    a170, a171 = wka_answers(prefix)
    assert a170 == IPv6Address("2001:db8:c000:aa::c000:aa")
    assert extract(a170, 32) == IPv4Address("192.0.0.170")
    assert discover_prefixes([a170, a171]) == [IPv6Network(prefix)]
    assert discover_prefixes([a171]) == [IPv6Network(prefix)]
    # and a /64 prefix with .171 in its last bits, synthesized at /64
    p64 = "2001:db8:c000:ab::/64"
    assert discover_prefixes(wka_answers(p64)) == [IPv6Network(p64)]
