"""The topology model: data only, no I/O, no runtime handles.

A topology is a set of L2 networks (each with an IPv6 and/or IPv4 prefix) and nodes of a
`kind` that link into them. Kind-specific fields live in each kind's schema
(`labsim.kinds.<kind>.Schema`, a subclass of `NodeBase`); unknown keys are errors.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializeAsAny, StringConstraints, model_validator

from labsim.model.types import (
    Description,
    HostName,
    IPv4Addr,
    IPv4Net,
    IPv6Addr,
    IPv6Net,
    NodeOrAddress,
    ResolvOption,
    RouteDestination,
    SearchDomain,
)

LabName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,15}$")]
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
# A network becomes a bridge named after it, and interface names stop at 15 characters.
NetName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,14}$")]

NAT64_PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)  # RFC 6052 §2.2
WELL_KNOWN_PREFIX = IPv6Network("64:ff9b::/96")


def _rfc6052_length(prefix: IPv6Network) -> IPv6Network:
    if prefix.prefixlen not in NAT64_PREFIX_LENGTHS:
        raise ValueError(f"a NAT64 prefix must be /32, /40, /48, /56, /64 or /96 (RFC 6052), "
                         f"not /{prefix.prefixlen}")
    return prefix


Nat64Prefix = Annotated[IPv6Net, AfterValidator(_rfc6052_length)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DockerNetwork(Strict):
    """Run this network as a Docker bridge network (docker runtime only)."""

    enable_ipv6: bool = True


class Network(Strict):
    """An L2 segment. Nodes on it get addresses from its prefixes, in plan order."""

    ipv6: IPv6Net | None = None
    ipv4: IPv4Net | None = None
    docker: DockerNetwork | None = None  # a Docker network instead of a hub bridge + veths

    @model_validator(mode="after")
    def _has_a_prefix(self) -> Network:
        if self.ipv6 is None and self.ipv4 is None:
            raise ValueError("a network needs an 'ipv6' or an 'ipv4' prefix (or both)")
        return self


class Link(Strict):
    """A node's attachment to a network; addresses are planned unless given here."""

    network: NetName
    ipv6: IPv6Addr | None = None
    ipv4: IPv4Addr | None = None
    loss: float = Field(0.0, ge=0, le=1)  # share of packets leaving by this link that are dropped
    # the veth's MTU (both ends); default the kernel's 1500. IPv6 links need at least 1280.
    mtu: int | None = Field(None, ge=576, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `links: [lan6]` is short for `links: [{network: lan6}]`
        return {"network": value} if isinstance(value, str) else value


class Resolver(Strict):
    """What goes into the node's own resolv.conf. Nameservers are node names or IP literals."""

    nameservers: list[NodeOrAddress] = Field(default_factory=list, max_length=16)
    options: list[ResolvOption] = Field(default_factory=list, max_length=16)
    search: list[SearchDomain] = Field(default_factory=list, max_length=16)


class Route(Strict):
    """An explicit route; it replaces the planned route to the same destination."""

    to: RouteDestination  # 'default', a prefix, or a network name
    via: NodeOrAddress  # a node name or an address


class Impair(Strict):
    """Path impairment without netem: random loss (nftables) on what leaves the node, and a
    user-space delay for the DNS answers it serves (authdns)."""

    loss: float = Field(0.0, ge=0, le=1)
    dns_delay_ms: float = Field(0.0, ge=0, le=10000)
    dns_jitter_ms: float = Field(0.0, ge=0, le=10000)


class NodeBase(Strict):
    """Fields every node has. Kinds extend this with their own."""

    kind: str
    links: list[Link] = Field(min_length=1)
    resolver: Resolver | None = None
    # DNS names that the lab's authoritative servers publish for this node's addresses
    names: list[HostName] = Field(default_factory=list, max_length=64)
    routes: list[Route] = Field(default_factory=list)
    impair: Impair | None = None


# an interface name as the kernel takes it (IFNAMSIZ - 1 bytes, no '/', ':' or blanks)
IfName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@+-]{1,15}$")]
# what `attach:` takes: a host interface's name, or `docker:NAME` (an existing Docker network)
AttachTarget = Annotated[str, StringConstraints(
    pattern=r"^([A-Za-z0-9_.@+-]{1,15}|docker:[A-Za-z0-9][A-Za-z0-9_.-]{0,127})$")]


class Attach(Strict):
    """An existing host interface (a NIC, a tap, a veth end, a bridge) made a port of one of
    the lab's networks for the lab's life (labsim.bringup.attach)."""

    network: NetName
    interface: AttachTarget
    # take it even if it is the host's default route or carries global addresses
    force: bool = False


class Topology(Strict):
    name: LabName
    description: Description = ""
    nat64_prefix: Nat64Prefix | None = None
    networks: dict[NetName, Network] = Field(min_length=1)
    nodes: dict[NodeName, SerializeAsAny[NodeBase]] = Field(min_length=1)
    attach: list[Attach] = Field(default_factory=list, max_length=16)


def is_global_ipv4(net: IPv4Network | IPv4Address) -> bool:
    """True when every address is global unicast (RFC 6052 §3.1 lets the WKP carry only these)."""
    if isinstance(net, IPv4Address):
        return net.is_global
    return net.network_address.is_global and net.broadcast_address.is_global and not any(
        net.overlaps(ipaddress.ip_network(p)) for p in ("100.64.0.0/10", "192.0.0.0/24"))


Family = Literal[4, 6]
