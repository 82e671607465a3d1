"""IPv4-embedded IPv6 addresses (RFC 6052) and NAT64 prefix discovery (RFC 7050).

RFC 6052 §2.2 places the 32 bits of the IPv4 address right after the prefix, for every
prefix length it allows (/32, /40, /48, /56, /64, /96), skipping bits 64-71 (the "u"
octet, which stays zero); what follows the IPv4 address (the suffix) is zero too:

    /32  prefix(4) v4(4)   u  suffix(7)
    /40  prefix(5) v4(3)   u  v4(1) suffix(6)
    /48  prefix(6) v4(2)   u  v4(2) suffix(5)
    /56  prefix(7) v4(1)   u  v4(3) suffix(4)
    /64  prefix(8)         u  v4(4) suffix(3)
    /96  prefix(12)                  v4(4)        (bytes)

RFC 7050: a node asks its resolver for the AAAA records of `ipv4only.arpa`, whose only A
records are the well-known addresses 192.0.0.170 and 192.0.0.171; a DNS64 resolver answers
with them synthesized, and where they sit in each answer gives the prefix and its length.

Pure, standard library only (hostconf and the agent use it inside nodes); asking a lab
node's own resolver from the host is `labsim.checks.nat64discovery`.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_network

PREFIX_LENGTHS = (96, 64, 56, 48, 40, 32)  # RFC 7050 §3 searches in this order
U_OCTET = 8  # byte index of bits 64-71
WKN = "ipv4only.arpa."
WKAS = (IPv4Address("192.0.0.170"), IPv4Address("192.0.0.171"))


def _length(prefix_len: int) -> int:
    if prefix_len not in PREFIX_LENGTHS:
        raise ValueError(f"a NAT64 prefix is /32, /40, /48, /56, /64 or /96 (RFC 6052), not /{prefix_len}")
    return prefix_len


def _v4_bytes(prefix_len: int) -> list[int]:
    """Byte positions of the IPv4 address behind a prefix of this length (the u-octet skipped)."""
    return [i for i in range(_length(prefix_len) // 8, 16) if i != U_OCTET][:4]


def embed(ipv4: IPv4Address | str, prefix: IPv6Network | str) -> IPv6Address:
    """The IPv4-embedded IPv6 address of `ipv4` under `prefix` (RFC 6052 §2.2)."""
    v4 = IPv4Address(ipv4)
    net = ip_network(prefix) if isinstance(prefix, str) else prefix
    if not isinstance(net, IPv6Network):
        raise ValueError(f"{prefix} is not an IPv6 prefix")
    out = bytearray(net.network_address.packed)
    if out[U_OCTET]:
        raise ValueError(f"{net}: bits 64-71 (the u octet) of a NAT64 prefix must be zero (RFC 6052 §2.2)")
    for pos, byte in zip(_v4_bytes(net.prefixlen), v4.packed, strict=True):
        out[pos] = byte
    return IPv6Address(bytes(out))


def extract(ipv6: IPv6Address | str, prefix_len: int | IPv6Network) -> IPv4Address:
    """The IPv4 address embedded in `ipv6` behind a prefix of `prefix_len` bits."""
    if isinstance(prefix_len, IPv6Network):
        prefix_len = prefix_len.prefixlen
    raw = IPv6Address(ipv6).packed
    if raw[U_OCTET]:
        raise ValueError(f"{ipv6}: bits 64-71 (the u octet) are not zero, so it is not an "
                         "IPv4-embedded address (RFC 6052 §2.2)")
    return IPv4Address(bytes(raw[i] for i in _v4_bytes(prefix_len)))


def _prefix_of(addr: IPv6Address, prefix_len: int) -> IPv6Network:
    return IPv6Network((int(addr) >> (128 - prefix_len) << (128 - prefix_len), prefix_len))


def _wka_positions(addr: IPv6Address) -> list[int]:
    """Prefix lengths at which `addr` carries a well-known address, with a zero u octet
    and a zero suffix (what a DNS64 synthesizes), in RFC 7050's search order."""
    raw = addr.packed
    if raw[U_OCTET]:
        return []
    out = []
    for n in PREFIX_LENGTHS:
        pos = _v4_bytes(n)
        if any(raw[i] for i in range(pos[-1] + 1, 16)):
            continue  # a non-zero suffix: not synthesized with this length
        if IPv4Address(bytes(raw[i] for i in pos)) in WKAS:
            out.append(n)
    return out


def discover_prefixes(answers: list[IPv6Address]) -> list[IPv6Network]:
    """The NAT64 prefixes in the AAAA answers for ipv4only.arpa (RFC 7050 §3), in answer
    order without repeats; [] when no answer carries a well-known address.

    Each answer is searched at every RFC 6052 position, /96 first. A position counts only
    with a zero u octet and a zero suffix after the IPv4 bits, as a DNS64 synthesizes: that
    makes it unique (a longer prefix's IPv4 bits end inside a shorter one's suffix, and a
    well-known address never ends in a zero byte), so a well-known address that happens to
    sit inside a prefix is never taken for the embedded one."""
    found: list[IPv6Network] = []
    for a in map(IPv6Address, answers):
        for n in _wka_positions(a)[:1]:
            prefix = _prefix_of(a, n)
            if prefix not in found:
                found.append(prefix)
    return found
