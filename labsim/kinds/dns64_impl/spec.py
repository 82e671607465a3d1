"""The `dns64` kind's schema, beside the implementations that render it (labsim.kinds.dns64
registers the kind; each labsim.kinds.dns64_impl module renders one daemon from this)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labsim.model.topology import Nat64Prefix, NodeBase
from labsim.model.types import IPv6Net

ImplementationName = Literal["unbound", "bind9", "knot", "pdns-recursor"]


class Schema(NodeBase):
    kind: Literal["dns64"]
    implementation: ImplementationName = "unbound"
    prefix: Nat64Prefix | None = None  # default: the topology's nat64_prefix
    synthesize: bool = True  # false: a plain recursive resolver (an IPv6-only network, no DNS64)
    # AAAA records inside these ranges are treated as absent (RFC 6147 §5.1.4), e.g. ::ffff:0:0/96
    exclude: list[IPv6Net] = Field(default_factory=list, max_length=64)
