"""What every DNS64 implementation shares: the prefix, the lab's zones, the uplink, the
listening addresses and the locally served `ipv4only.arpa` (RFC 7050, RFC 8880 §7.2).

An implementation is a small class: what it renders, checks, runs and probes, plus what it
can honour (prefix lengths, AAAA exclusion). Anything it cannot honour is a load-time
PlanError naming the implementation, never a silent drop.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Network
from typing import ClassVar

from labsim.kinds.authdns import Schema as AuthDnsSpec
from labsim.kinds.authdns import zone_of
from labsim.kinds.base import DnsProbe, NodeContext, Probe, Service
from labsim.kinds.dns64_impl.spec import Schema as Dns64Spec
from labsim.kinds.nat64 import SLIRP_DNS4, SLIRP_DNS6, uplink_node
from labsim.model.plan import PlanError

# RFC 7050 §2.2 / RFC 8880: the well-known name and its two A records
IPV4ONLY = "ipv4only.arpa"
IPV4ONLY_ADDRS = (IPv4Address("192.0.0.170"), IPv4Address("192.0.0.171"))
IPV4ONLY_TTL = 300
ALL_PREFIX_LENGTHS = frozenset({32, 40, 48, 56, 64, 96})


def dns64_prefix(ctx: NodeContext[Dns64Spec]) -> IPv6Network:
    prefix = ctx.spec.prefix or ctx.plan.topology.nat64_prefix
    if prefix is None:
        raise PlanError(("nodes", ctx.name, "prefix"),
                        "a dns64 node needs a prefix: set 'prefix' here or 'nat64_prefix' at the top")
    return prefix


def prefix_loc(ctx: NodeContext[Dns64Spec]) -> tuple[str, ...]:
    return ("nodes", ctx.name, "prefix") if ctx.spec.prefix else ("nat64_prefix",)


def stub_zones(ctx: NodeContext[Dns64Spec]) -> dict[str, list[str]]:
    """zone -> addresses of its authoritative server that this resolver can reach."""
    out: dict[str, list[str]] = {}
    for node, spec in ctx.plan.topology.nodes.items():
        if not isinstance(spec, AuthDnsSpec):  # the nodes of kind authdns
            continue
        auth = ctx.plan.nodes[node]
        addrs = [str(a) for fam in (6, 4) if ctx.node.addresses(fam) for a in auth.addresses(fam)]
        for zone in spec.zones:
            if zone_of(ctx.plan, zone) == (node, zone):
                out[zone] = addrs
    return out


def uplink_forwarders(ctx: NodeContext[Dns64Spec]) -> list[str]:
    """Names outside the lab go to slirp4netns's DNS forwarder when the lab has an uplink."""
    if not uplink_node(ctx.plan):
        return []
    fwd = [SLIRP_DNS6] if ctx.node.addresses(6) else []
    fwd += [SLIRP_DNS4] if ctx.node.addresses(4) else []
    return fwd


def listen_addresses(ctx: NodeContext[Dns64Spec], family: int | None = None) -> list[str]:
    """Loopback and the node's own addresses."""
    loop = {4: ["127.0.0.1"], 6: ["::1"]}
    fams = (4, 6) if family is None else (family,)
    return [a for f in fams for a in loop[f] + [str(x) for x in ctx.node.addresses(f)]]


def ipv4only_zone_file() -> str:
    """`ipv4only.arpa` as a zone: the resolver serves it itself, so RFC 7050 discovery works
    without a way out, and its A records go through the resolver's DNS64 like any others."""
    t = IPV4ONLY_TTL
    return "\n".join([
        f"$ORIGIN {IPV4ONLY}.",
        f"$TTL {t}",
        f"@ IN SOA localhost. nobody.invalid. 1 3600 600 86400 {t}",
        "@ IN NS localhost.",
        *(f"@ IN A {a}" for a in IPV4ONLY_ADDRS),
        "",
    ])


class Implementation:
    """One DNS64 daemon behind the `dns64` kind."""

    name: ClassVar[str]
    service: ClassVar[str]  # the service (and log file) name
    packages: ClassVar[tuple[str, ...]]
    binaries: ClassVar[tuple[str, ...]]
    prefix_lengths: ClassVar[frozenset[int]] = ALL_PREFIX_LENGTHS
    excludes: ClassVar[bool] = False  # AAAA exclusion by range (RFC 6147 §5.1.4)

    def render(self, ctx: NodeContext[Dns64Spec]) -> dict[str, str]:
        raise NotImplementedError

    def setup(self, ctx: NodeContext[Dns64Spec]) -> list[list[str]]:
        return []

    def services(self, ctx: NodeContext[Dns64Spec]) -> list[Service]:
        raise NotImplementedError

    def probes(self, ctx: NodeContext[Dns64Spec]) -> list[Probe]:
        # ipv4only.arpa A is local data in every implementation: the answer comes at once
        # and only once the daemon has loaded it (no waiting on the lab's other servers)
        return [DnsProbe(ctx.node.addresses()[0], f"{IPV4ONLY}.", "A", rcode="NOERROR")]

    def validate(self, ctx: NodeContext[Dns64Spec]) -> None:
        spec = ctx.spec
        if spec.exclude and not spec.synthesize:
            raise PlanError(("nodes", ctx.name, "exclude"),
                            "'exclude' only applies to DNS64 synthesis, and 'synthesize' is false")
        if spec.exclude and not self.excludes:
            able = ", ".join(i.name for i in IMPLEMENTATIONS.values() if i.excludes)
            raise PlanError(("nodes", ctx.name, "exclude"),
                            f"implementation {self.name!r} cannot exclude AAAA records by address "
                            f"range (RFC 6147 §5.1.4); implementations that can: {able}")
        if spec.synthesize:
            prefix = dns64_prefix(ctx)
            if prefix.prefixlen not in self.prefix_lengths:
                lengths = ", ".join(f"/{n}" for n in sorted(self.prefix_lengths))
                able = ", ".join(i.name for i in IMPLEMENTATIONS.values()
                                 if prefix.prefixlen in i.prefix_lengths)
                raise PlanError(prefix_loc(ctx),
                                f"implementation {self.name!r} synthesizes only with a {lengths} "
                                f"prefix, not {prefix}; implementations that take "
                                f"/{prefix.prefixlen}: {able}")


IMPLEMENTATIONS: dict[str, Implementation] = {}


def register(cls: type[Implementation]) -> type[Implementation]:
    """Class decorator: one instance per implementation, by name."""
    IMPLEMENTATIONS[cls.name] = cls()
    return cls
