"""`nat64`: stateless NAT64 with tayga and a dynamic IPv4 pool.

IPv6 packets to the NAT64 prefix are routed to this node (the planner does that), cross the
`nat64` TUN device into tayga and leave as IPv4 from the pool; IPv4 hosts route the pool
back here. tayga refuses the well-known prefix 64:ff9b::/96 with non-global IPv4 (RFC 6052
§3.1), so that combination is an input error at load time, not a silent drop at run time.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Literal

from ..model.plan import PlanError
from pydantic import field_validator

from ..model.topology import WELL_KNOWN_PREFIX, Nat64Prefix, NodeBase, Topology, is_global_ipv4
from .base import FdProbe, Kind, NodeContext, Service
from .common import base_files

TUN = "nat64"


class Schema(NodeBase):
    kind: Literal["nat64"]
    prefix: Nat64Prefix | None = None  # default: the topology's nat64_prefix
    pool4: IPv4Network = IPv4Network("198.18.0.0/24")
    translate: bool = True  # false: the node is there but translates nothing (no tayga, no routes to it)

    @field_validator("pool4")
    @classmethod
    def _room(cls, pool: IPv4Network) -> IPv4Network:
        if pool.prefixlen > 30:
            raise ValueError(f"{pool} is too small: the pool holds tayga's own address and one "
                             "per IPv6 client, so /30 at the least")
        return pool


def _prefix(spec: Schema, topo: Topology) -> IPv6Network | None:
    return spec.prefix or topo.nat64_prefix


class Nat64(Kind):
    name = "nat64"
    schema = Schema
    forwards = True
    packages = ("tayga",)
    binaries = ("tayga",)

    def owned_prefixes(self, name, spec, topo):
        if not spec.translate:
            return []
        prefix = _prefix(spec, topo)
        return [p for p in (prefix, spec.pool4) if p is not None]

    def sysctls(self, node, spec):
        return {"net.ipv6.conf.all.forwarding": "1", "net.ipv4.ip_forward": "1"}

    def validate(self, ctx: NodeContext) -> None:
        topo, spec = ctx.plan.topology, ctx.spec
        prefix = _prefix(spec, topo)
        if prefix is None:
            raise PlanError(("nodes", ctx.name, "prefix"),
                            "a nat64 node needs a prefix: set 'prefix' here or 'nat64_prefix' at the top")
        if not ctx.node.addresses(4) or not ctx.node.addresses(6):
            raise PlanError(("nodes", ctx.name, "links"),
                            "a nat64 node needs an IPv6 and an IPv4 address (link it to both sides)")
        if prefix.subnet_of(WELL_KNOWN_PREFIX):
            where = "prefix" if spec.prefix else None
            loc = ("nodes", ctx.name, "prefix") if where else ("nat64_prefix",)
            private = [(f"pool4 {spec.pool4}", spec.pool4)] if not is_global_ipv4(spec.pool4) else []
            private += [(f"network {n!r} {net.ipv4}", net.ipv4) for n, net in topo.networks.items()
                        if net.ipv4 is not None and not is_global_ipv4(net.ipv4)]
            if private:
                raise PlanError(loc, f"the well-known prefix {WELL_KNOWN_PREFIX} cannot carry "
                                     f"non-global IPv4 ({private[0][0]}): tayga refuses it "
                                     "(RFC 6052 §3.1); use a network-specific prefix such as "
                                     "2001:db8:64::/96")

    def render(self, ctx: NodeContext) -> dict[str, str]:
        spec = ctx.spec
        files = base_files(ctx)
        files["tayga.conf"] = "\n".join([
            f"tun-device {TUN}",
            f"ipv4-addr {next(spec.pool4.hosts())}",
            f"prefix {_prefix(spec, ctx.plan.topology)}",
            f"dynamic-pool {spec.pool4}",
            f"data-dir {ctx.dir}/tayga",
            "",
        ])
        return files

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        spec = ctx.spec
        if not spec.translate:
            return []
        v4, v6 = ctx.node.addresses(4)[0], ctx.node.addresses(6)[0]
        script = "\n".join([
            "set -e",
            f"mkdir -p {ctx.dir}/tayga",
            f"tayga -c {ctx.dir}/tayga.conf --mktun",
            f"ip link set dev {TUN} up",
            # the node's own addresses on the TUN give tayga's ICMP errors a source
            f"ip addr add {v4}/32 dev {TUN}",
            f"ip addr add {v6}/128 dev {TUN} nodad",
            f"ip route add {spec.pool4} dev {TUN}",
            f"ip route add {_prefix(spec, ctx.plan.topology)} dev {TUN}",
        ])
        return [["sh", "-c", script]]

    def services(self, ctx: NodeContext) -> list[Service]:
        if not ctx.spec.translate:
            return []
        return [Service("tayga", ["tayga", "-c", f"{ctx.dir}/tayga.conf", "--nodetach"])]

    def probes(self, ctx: NodeContext):
        return [FdProbe("tayga", "/dev/net/tun")] if ctx.spec.translate else []
