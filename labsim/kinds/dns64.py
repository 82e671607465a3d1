"""`dns64`: a recursive resolver that synthesizes AAAA records (RFC 6147).

Four implementations behind one schema: unbound (the default), BIND 9 (`bind9`), Knot
Resolver (`knot`) and PowerDNS Recursor (`pdns-recursor`), each in `dns64_impl/`. They
mean the same thing by every option:

- every zone of the lab's authoritative servers is reached directly (stub or forward zone),
  so the resolver needs no way out; with an uplink, other names go to its DNS forwarder;
- `prefix` (or the topology's `nat64_prefix`) is where AAAA records are synthesized;
  `synthesize: false` makes a plain recursive resolver;
- `exclude` (RFC 6147 §5.1.4): AAAA records inside these ranges count as absent, and the
  name is synthesized instead. Empty means nothing is excluded, in every implementation;
- `ipv4only.arpa` (RFC 7050) is served by the resolver itself: A 192.0.0.170 and .171,
  and AAAA synthesized from them, so prefix discovery works inside the lab.

What an implementation cannot honour (a prefix length, exclusion) is an error at load time.
"""

from __future__ import annotations

from labsim.kinds.base import Kind, NodeContext, Probe, Service
from labsim.kinds.dns64_impl import IMPLEMENTATIONS, Implementation
from labsim.kinds.dns64_impl.common import dns64_prefix, stub_zones
from labsim.kinds.dns64_impl.spec import ImplementationName, Schema
from labsim.kinds.dns64_impl.unbound import UNBOUND_DEFAULT_ZONES, default_zones_covering
from labsim.model.topology import NodeBase

# what other modules import from here (the helpers live with the implementations)
__all__ = ["Dns64", "Schema", "ImplementationName", "dns64_prefix", "stub_zones",
           "UNBOUND_DEFAULT_ZONES", "default_zones_covering"]

def implementation(spec: Schema) -> Implementation:
    return IMPLEMENTATIONS[spec.implementation]


class Dns64(Kind):
    name = "dns64"
    schema = Schema
    packages = tuple(dict.fromkeys(p for i in IMPLEMENTATIONS.values() for p in i.packages))
    binaries = ("unbound",)

    def needs(self, spec: NodeBase) -> tuple[tuple[str, ...], tuple[str, ...]]:
        assert isinstance(spec, Schema)  # a dns64 node's spec
        impl = implementation(spec)
        return impl.binaries, impl.packages

    def render(self, ctx: NodeContext[Schema]) -> dict[str, str]:
        return implementation(ctx.spec).render(ctx)

    def setup(self, ctx: NodeContext[Schema]) -> list[list[str]]:
        return implementation(ctx.spec).setup(ctx)

    def services(self, ctx: NodeContext[Schema]) -> list[Service]:
        return implementation(ctx.spec).services(ctx)

    def probes(self, ctx: NodeContext[Schema]) -> list[Probe]:
        return implementation(ctx.spec).probes(ctx)

    def validate(self, ctx: NodeContext[Schema]) -> None:
        implementation(ctx.spec).validate(ctx)
