"""RFC 7050 prefix discovery asked of a lab node's own resolvers, from the host: what a node
behind DNS64 learns, and the address it reaches an IPv4 literal at (RFC 6052). The pure parts
(`embed`, `discover_prefixes`) are `labsim.node.nat64prefix`, which in-node programs use."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import TYPE_CHECKING

from labsim.node.nat64prefix import WKN, discover_prefixes, embed

if TYPE_CHECKING:
    from labsim.checks.base import CheckEnv


def discover_in_node(env: CheckEnv, node: str, timeout: float = 2.0) -> list[IPv6Network]:
    """Ask the node's own resolvers (resolv.conf, in order) for ipv4only.arpa AAAA and
    return the prefixes in the first answer; [] when that resolver synthesizes nothing.
    Raises LookupError when none of them answers."""
    import dns.rdatatype

    from labsim.checks.base import query

    servers = env.nameservers(node)
    for server in servers:
        r, _, _ = query(env, node, server, WKN, "AAAA", timeout)
        if r is None:
            continue
        answers = [IPv6Address(rd.address) for rrset in r.answer
                   if rrset.rdtype == dns.rdatatype.AAAA for rd in rrset]
        return discover_prefixes(answers)
    raise LookupError(f"no nameserver of node {node!r} answered {WKN} AAAA "
                      f"(nameservers: {', '.join(servers) or 'none'})")


def synthesize_for(env: CheckEnv, node: str, ipv4: IPv4Address | str, timeout: float = 2.0) -> IPv6Address:
    """The IPv6 address a node behind DNS64/NAT64 reaches `ipv4` at: the first prefix its
    resolver reveals (RFC 7050), with `ipv4` embedded (RFC 6052). For IPv4 literals, which
    DNS64 never sees. Raises LookupError when the node's resolver reveals no prefix."""
    prefixes = discover_in_node(env, node, timeout)
    if not prefixes:
        raise LookupError(f"node {node!r}: its resolver synthesizes no AAAA for {WKN} (RFC 7050): "
                          "no NAT64 prefix to reach an IPv4 literal through")
    return embed(ipv4, prefixes[0])
