"""`dns64`: a recursive resolver that synthesizes AAAA records (RFC 6147), here unbound.

Every zone of the lab's authoritative servers is a stub zone, so the resolver needs no way
out. unbound answers `.test` (and other special-use TLDs) itself unless told `nodefault`.
"""

from __future__ import annotations

from ipaddress import IPv6Network
from typing import Literal

from ..model.plan import PlanError
from ..model.topology import Nat64Prefix, NodeBase
from .authdns import zone_of
from .nat64 import SLIRP_DNS4, SLIRP_DNS6, uplink_node
from .base import DnsProbe, Kind, NodeContext, Service
from .common import base_files

# Zones unbound answers itself by default (unbound.conf(5), local-zone, "default zones"):
# special-use names and the AS112/RFC 6303 reverse zones, documentation ranges included.
# A lab zone inside one of them needs `local-zone: "<it>." nodefault` to reach its stub.
UNBOUND_DEFAULT_ZONES = {
    "localhost", "test", "invalid", "onion", "home.arpa", "resolver.arpa", "service.arpa",
    "127.in-addr.arpa", "0.in-addr.arpa", "254.169.in-addr.arpa", "2.0.192.in-addr.arpa",
    "100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
    "10.in-addr.arpa", "168.192.in-addr.arpa",
    *(f"{n}.172.in-addr.arpa" for n in range(16, 32)),
    *(f"{n}.100.in-addr.arpa" for n in range(64, 128)),
    "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa",
    "8.b.d.0.1.0.0.2.ip6.arpa",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
}


def default_zones_covering(zone: str) -> list[str]:
    """The default local zones that contain `zone` (itself included), shortest first."""
    labels = zone.rstrip(".").lower().split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels) - 1, -1, -1)]
    return [z for z in suffixes if z in UNBOUND_DEFAULT_ZONES]


class Schema(NodeBase):
    kind: Literal["dns64"]
    implementation: Literal["unbound"] = "unbound"
    prefix: Nat64Prefix | None = None  # default: the topology's nat64_prefix
    synthesize: bool = True  # false: a plain recursive resolver (an IPv6-only network, no DNS64)


def dns64_prefix(ctx: NodeContext) -> IPv6Network:
    prefix = ctx.spec.prefix or ctx.plan.topology.nat64_prefix
    if prefix is None:
        raise PlanError(("nodes", ctx.name, "prefix"),
                        "a dns64 node needs a prefix: set 'prefix' here or 'nat64_prefix' at the top")
    return prefix


def stub_zones(ctx: NodeContext) -> dict[str, list[str]]:
    """zone -> addresses of its authoritative server that this resolver can reach."""
    out: dict[str, list[str]] = {}
    for node, spec in ctx.plan.topology.nodes.items():
        if spec.kind != "authdns":
            continue
        auth = ctx.plan.nodes[node]
        addrs = [str(a) for fam in (6, 4) if ctx.node.addresses(fam) for a in auth.addresses(fam)]
        for zone in spec.zones:
            if zone_of(ctx.plan, zone) == (node, zone):
                out[zone] = addrs
    return out


class Dns64(Kind):
    name = "dns64"
    schema = Schema
    packages = ("unbound",)
    binaries = ("unbound", "unbound-checkconf")

    def render(self, ctx: NodeContext) -> dict[str, str]:
        files = base_files(ctx)
        server = [
            "server:",
            "  verbosity: 1",
            "  use-syslog: no",
            '  logfile: ""',
            '  chroot: ""',
            '  username: ""',
            f'  directory: "{ctx.dir}"',
            '  pidfile: ""',
            "  port: 53",
            "  interface: 127.0.0.1",
            "  interface: ::1",
        ]
        server += [f"  interface: {a}" for a in ctx.node.addresses()]
        server += [
            "  access-control: 0.0.0.0/0 allow",
            "  access-control: ::/0 allow",
            *(['  module-config: "dns64 iterator"', f"  dns64-prefix: {dns64_prefix(ctx)}"]
              if ctx.spec.synthesize else ['  module-config: "iterator"']),
            "  do-not-query-localhost: no",
            "  qname-minimisation: no",
            "  prefetch: no",
        ]
        zones = stub_zones(ctx)
        local = sorted({d for z in zones for d in default_zones_covering(z)})
        server += [f'  local-zone: "{d}." nodefault' for d in local]
        server += ["remote-control:", "  control-enable: no"]
        for zone, addrs in sorted(zones.items()):
            server += ["stub-zone:", f'  name: "{zone}."'] + [f"  stub-addr: {a}" for a in addrs]
        if uplink_node(ctx.plan):
            # names outside the lab: slirp4netns's DNS forwarder, reached over the uplink
            fwd = [SLIRP_DNS6] if ctx.node.addresses(6) else []
            fwd += [SLIRP_DNS4] if ctx.node.addresses(4) else []
            server += ["forward-zone:", '  name: "."'] + [f"  forward-addr: {a}" for a in fwd]
        files["unbound.conf"] = "\n".join(server) + "\n"
        return files

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        return [["unbound-checkconf", f"{ctx.dir}/unbound.conf"]]

    def services(self, ctx: NodeContext) -> list[Service]:
        return [Service("unbound", ["unbound", "-d", "-c", f"{ctx.dir}/unbound.conf"])]

    def probes(self, ctx: NodeContext):
        return [DnsProbe(ctx.node.addresses()[0], "localhost.", "A")]

    def validate(self, ctx: NodeContext) -> None:
        if ctx.spec.synthesize:
            dns64_prefix(ctx)
