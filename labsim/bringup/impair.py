"""Path impairment without netem: packet loss as nftables rules inside a node (its own
namespace, never the host's), and the scenario's `drop` rules. DNS delay is the relay in
`labsim.node.relay`, placed by the authdns kind. Rules are fed to `nft -f -` (no shell)."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network

from labsim.model.plan import NodePlan
from labsim.model.topology import NodeBase

TABLE = "labsim-impair"


def loss_rules(spec: NodeBase, node: NodePlan) -> list[str]:
    """nft commands dropping packets that leave the node (or one link of it) at random."""
    rules = []
    if spec.impair and spec.impair.loss:
        rules.append(_drop(spec.impair.loss, None))
    for link, iface in zip(spec.links, node.ifaces, strict=True):
        if link.loss:
            rules.append(_drop(link.loss, iface.ifname))
    if not rules:
        return []
    head = [f"add table inet {TABLE}",
            f"add chain inet {TABLE} leaving {{ type filter hook output priority 0 ; }}",
            f"add chain inet {TABLE} passing {{ type filter hook forward priority 0 ; }}"]
    return head + [r.format(chain=c) for r in rules for c in ("leaving", "passing")]


def _drop(loss: float, ifname: str | None) -> str:
    if ifname is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", ifname):
        raise ValueError(f"interface name {ifname!r}")  # ours, from the plan; never quoted text
    per_million = round(loss * 1_000_000)
    dev = f'oifname "{ifname}" ' if ifname else ""
    chance = "" if per_million >= 1_000_000 else f"numgen random mod 1000000 < {per_million} "
    return f"add rule inet {TABLE} {{chain}} {dev}{chance}counter drop"


# -- the scenario's drop/undrop actions -------------------------------------------------------
DROP_TABLE = "labsim"
# chain names are ours, not nftables keywords ('fwd' is one in nftables 1.0.6)
DROP_CHAINS = {"leaving": "output", "arriving": "input", "passing": "forward"}
L4PROTO = {"tcp": "tcp", "udp": "udp", "icmp": "{ icmp, ipv6-icmp }"}


def drop_script(to: list[IPv4Network | IPv6Network], source: list[IPv4Network | IPv6Network],
                proto: str = "any", port: int | None = None) -> str:
    """An `nft -f` script dropping packets to `to` (leaving or passing the node) and from
    `source` (arriving or passing). Only typed values reach it: networks (ipaddress
    objects, printed by ipaddress), a protocol from a fixed set and a port number."""
    if proto not in ("any", *L4PROTO):
        raise ValueError(f"proto {proto!r}")
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535 or proto not in ("tcp", "udp")):
        raise ValueError(f"port {port!r} (needs tcp or udp)")
    lines = [f"add table inet {DROP_TABLE}"]
    lines += [f"add chain inet {DROP_TABLE} {c} {{ type filter hook {h} priority 0 ; }}"
              for c, h in DROP_CHAINS.items()]
    tail = ([f"meta l4proto {L4PROTO[proto]}"] if proto != "any" else []) + \
           ([f"th dport {port:d}"] if port is not None else []) + ["counter drop"]
    for nets, direction, chains in ((to, "daddr", ("leaving", "passing")),
                                    (source, "saddr", ("arriving", "passing"))):
        for net in nets:
            if not isinstance(net, (IPv4Network, IPv6Network)):
                raise TypeError(f"{net!r} is not a network")
            match = f"{'ip6' if net.version == 6 else 'ip'} {direction} {net}"
            lines += [f"add rule inet {DROP_TABLE} {chain} {match} {' '.join(tail)}" for chain in chains]
    return "\n".join(lines) + "\n"


UNDROP_SCRIPT = f"add table inet {DROP_TABLE}\ndelete table inet {DROP_TABLE}\n"  # no error when absent
