"""Path impairment without netem: packet loss as nftables rules inside a node (its own
namespace, never the host's). DNS delay is the relay in `labsim.relay`, placed by the
authdns kind."""

from __future__ import annotations

from .model.plan import NodePlan
from .model.topology import NodeBase

TABLE = "labsim-impair"


def loss_rules(spec: NodeBase, node: NodePlan) -> list[str]:
    """nft commands dropping packets that leave the node (or one link of it) at random."""
    rules = []
    if spec.impair and spec.impair.loss:
        rules.append(_drop(spec.impair.loss, None))
    for link, iface in zip(spec.links, node.ifaces):
        if link.loss:
            rules.append(_drop(link.loss, iface.ifname))
    if not rules:
        return []
    head = [f"add table inet {TABLE}",
            f"add chain inet {TABLE} leaving {{ type filter hook output priority 0 ; }}",
            f"add chain inet {TABLE} passing {{ type filter hook forward priority 0 ; }}"]
    return head + [r.format(chain=c) for r in rules for c in ("leaving", "passing")]


def _drop(loss: float, ifname: str | None) -> str:
    per_million = round(loss * 1_000_000)
    dev = f'oifname "{ifname}" ' if ifname else ""
    chance = "" if per_million >= 1_000_000 else f"numgen random mod 1000000 < {per_million} "
    return f"add rule inet {TABLE} {{chain}} {dev}{chance}counter drop"
