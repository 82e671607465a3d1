"""Deterministic address and route planning. Pure: a Topology in, a Plan out.

Addresses: on each network, forwarding nodes (routers, NAT64) are numbered first, then the
others, each in file order, from host 1 of the prefix; explicit addresses are kept and
skipped by the numbering. Routes: for every prefix a node is not attached to, the shortest
path through forwarding nodes gives the next hop (ties go to file order). NAT64 prefixes and
IPv4 pools are prefixes owned by their NAT64 node. A node gets no route in a family it has
no address in, so an IPv6-only client has no IPv4 route at all.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network, ip_address, ip_network
from typing import Any

from labsim.model.topology import NodeBase, Topology

IPNetwork = IPv4Network | IPv6Network
IPInterface = IPv4Interface | IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Loc = tuple[Any, ...]
# (node, link index) -> [its IPv6 interface, its IPv4 interface], either None
Slots = dict[tuple[str, int], list[IPInterface | None]]


class PlanError(Exception):
    """A semantic error at a YAML path; the loader adds file and line."""

    def __init__(self, loc: tuple[Any, ...], message: str):
        self.loc = tuple(loc)
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class IfacePlan:
    ifname: str  # inside the node: eth0, eth1, ... in link order
    peer: str  # hub-side name of the veth, unique within the lab's hub
    network: str
    ipv6: IPv6Interface | None = None
    ipv4: IPv4Interface | None = None
    mtu: int | None = None  # None: the kernel's default (1500)


@dataclass(frozen=True)
class RoutePlan:
    dst: IPNetwork
    via: ipaddress.IPv4Address | ipaddress.IPv6Address

    @property
    def family(self) -> int:
        return self.dst.version


@dataclass(frozen=True)
class NodePlan:
    name: str
    kind: str
    index: int
    ifaces: tuple[IfacePlan, ...]
    routes: tuple[RoutePlan, ...]
    forwards: bool

    def addresses(self, family: int | None = None) -> list[IPAddress]:
        out: list[IPAddress] = []
        for iface in self.ifaces:
            for ifa in (iface.ipv6, iface.ipv4):
                if ifa is not None and family in (None, ifa.version):
                    out.append(ifa.ip)
        return out

    def address_on(self, network: str, family: int) -> IPAddress | None:
        for iface in self.ifaces:
            if iface.network == network:
                ifa = iface.ipv6 if family == 6 else iface.ipv4
                return ifa.ip if ifa else None
        return None


@dataclass(frozen=True)
class Plan:
    lab: str
    topology: Topology
    nodes: dict[str, NodePlan]
    bridges: dict[str, str]  # network name -> bridge name in the hub
    owned: dict[str, tuple[IPNetwork, ...]] = field(default_factory=dict)  # node -> extra prefixes

    def node(self, name: str) -> NodePlan:
        return self.nodes[name]

    def spec(self, name: str) -> NodeBase:
        return self.topology.nodes[name]


def make_plan(topo: Topology, lab: str, *, forwards: Callable[[str], bool],
              owned_prefixes: Callable[[str, NodeBase, Topology], list[IPNetwork]]) -> Plan:
    """Plan addresses and routes. `forwards(kind)` says whether a kind routes packets;
    `owned_prefixes` lists prefixes a node answers for beyond its links (NAT64 prefix, pool)."""
    names = list(topo.nodes)
    for name, node in topo.nodes.items():
        seen: dict[str, int] = {}
        for i, link in enumerate(node.links):
            if link.network not in topo.networks:
                raise PlanError(("nodes", name, "links", i, "network"),
                                f"unknown network {link.network!r}; networks are: "
                                + ", ".join(sorted(topo.networks)))
            if link.network in seen:
                raise PlanError(("nodes", name, "links", i, "network"),
                                f"{name!r} is already linked to {link.network!r} (links[{seen[link.network]}])")
            seen[link.network] = i
    addrs = _plan_addresses(topo, names, forwards)
    owned = {n: tuple(owned_prefixes(n, topo.nodes[n], topo)) for n in names}
    _check_overlaps(topo, owned)
    nodes: dict[str, NodePlan] = {}
    for idx, name in enumerate(names):
        spec = topo.nodes[name]
        ifaces = []
        for i, link in enumerate(spec.links):
            slot = addrs[(name, i)]
            v6 = slot[0] if isinstance(slot[0], IPv6Interface) else None
            v4 = slot[1] if isinstance(slot[1], IPv4Interface) else None
            peer = f"{name}-e{i}" if len(f"{name}-e{i}") <= 15 else f"~{idx}e{i}"
            if link.mtu is not None and link.mtu < 1280 and v6 is not None:
                raise PlanError(("nodes", name, "links", i, "mtu"),
                                f"an IPv6 link needs an MTU of at least 1280 (RFC 8200), not {link.mtu}")
            ifaces.append(IfacePlan(f"eth{i}", peer, link.network, v6, v4, link.mtu))
        nodes[name] = NodePlan(name, spec.kind, idx, tuple(ifaces), (), forwards(spec.kind))
    for name in names:
        routes = _plan_routes(topo, nodes, owned, name)
        routes = _apply_explicit_routes(topo, nodes, name, routes)
        nodes[name] = NodePlan(**{**nodes[name].__dict__, "routes": tuple(routes)})
    bridges = {net: net for net in topo.networks}
    return Plan(lab, topo, nodes, bridges, owned)


def _plan_addresses(topo: Topology, names: list[str], forwards: Callable[[str], bool]) -> Slots:
    out: Slots = {}
    for net_name, net in topo.networks.items():
        members = [(n, i, link) for n in names for i, link in enumerate(topo.nodes[n].links)
                   if link.network == net_name]
        members.sort(key=lambda m: (not forwards(topo.nodes[m[0]].kind), names.index(m[0]), m[1]))
        for family, prefix in ((6, net.ipv6), (4, net.ipv4)):
            taken: dict[IPAddress, tuple[str, int]] = {}
            for n, i, link in members:
                explicit = link.ipv6 if family == 6 else link.ipv4
                loc = ("nodes", n, "links", i, "ipv6" if family == 6 else "ipv4")
                if explicit is None:
                    continue
                if prefix is None:
                    raise PlanError(loc, f"network {net_name!r} has no IPv{family} prefix")
                reserved = (prefix.network_address, prefix.broadcast_address) \
                    if family == 4 and prefix.prefixlen < 31 else (prefix.network_address,)
                if explicit not in prefix or explicit in reserved:
                    raise PlanError(loc, f"{explicit} is not a host address in {prefix} "
                                         f"(network {net_name!r})")
                if explicit in taken:
                    raise PlanError(loc, f"{explicit} is already used by node {taken[explicit][0]!r}")
                taken[explicit] = (n, i)
            hosts = prefix.hosts() if prefix is not None else iter(())
            for n, i, link in members:
                slot = out.setdefault((n, i), [None, None])
                explicit = link.ipv6 if family == 6 else link.ipv4
                if prefix is None:
                    continue
                addr = explicit
                if addr is None:
                    addr = next((h for h in hosts if h not in taken), None)
                    if addr is None:
                        raise PlanError(("networks", net_name), f"{prefix} has too few addresses "
                                                                f"for its {len(members)} links")
                    taken[addr] = (n, i)
                iface = ipaddress.ip_interface(f"{addr}/{prefix.prefixlen}")
                slot[0 if family == 6 else 1] = iface
    return out


def _check_overlaps(topo: Topology, owned: dict[str, tuple[IPNetwork, ...]]) -> None:
    seen: list[tuple[IPNetwork, Loc]] = []
    for net_name, net in topo.networks.items():
        for fam, prefix in (("ipv6", net.ipv6), ("ipv4", net.ipv4)):
            if prefix is not None:
                seen.append((prefix, ("networks", net_name, fam)))
    for node, prefixes in owned.items():
        for p in prefixes:
            seen.append((p, ("nodes", node)))
    seen = [(p, loc) for p, loc in seen if p.prefixlen > 0]  # a default route overlaps all by design
    for i, (a, loc_a) in enumerate(seen):
        for b, loc_b in seen[:i]:
            if a.version == b.version and a.overlaps(b):
                raise PlanError(loc_a, f"{a} overlaps {b} (at {'.'.join(map(str, loc_b))})")


def _neighbors(nodes: dict[str, NodePlan], name: str, family: int) -> Iterator[tuple[str, IPAddress]]:
    """(neighbor, its address) pairs sharing a network in `family`, in file order."""
    me = nodes[name]
    for iface in me.ifaces:
        mine = iface.ipv6 if family == 6 else iface.ipv4
        if mine is None:
            continue
        for other in nodes.values():
            if other.name == name:
                continue
            addr = other.address_on(iface.network, family)
            if addr is not None:
                yield other.name, addr


def _plan_routes(topo: Topology, nodes: dict[str, NodePlan], owned: dict[str, tuple[IPNetwork, ...]],
                 name: str) -> list[RoutePlan]:
    me = nodes[name]
    routes: list[RoutePlan] = []
    for family in (6, 4):
        if not me.addresses(family):
            continue
        attached = {i.network for i in me.ifaces}
        targets: list[tuple[IPNetwork, set[str]]] = []
        for net_name, net in topo.networks.items():
            prefix = net.ipv6 if family == 6 else net.ipv4
            if prefix is None or net_name in attached:
                continue
            holders = {n.name for n in nodes.values()
                       if n.forwards and n.address_on(net_name, family) is not None}
            targets.append((prefix, holders))
        for owner, prefixes in owned.items():
            if owner == name:
                continue
            for p in prefixes:
                if p.version == family:
                    targets.append((p, {owner}))
        for prefix, holders in targets:
            via = _first_hop(nodes, name, family, holders)
            if via is not None:
                routes.append(RoutePlan(prefix, via))
    return routes


def _first_hop(nodes: dict[str, NodePlan], src: str, family: int, holders: set[str]) -> IPAddress | None:
    """Breadth-first over forwarding nodes; returns the first hop's address or None."""
    queue: deque[tuple[str, IPAddress]] = deque()
    seen = {src}
    for nb, addr in _neighbors(nodes, src, family):
        if nb not in seen and nodes[nb].forwards:
            seen.add(nb)
            queue.append((nb, addr))
    while queue:
        cur, first = queue.popleft()
        if cur in holders:
            return first
        for nb, _ in _neighbors(nodes, cur, family):
            if nb not in seen and nodes[nb].forwards:
                seen.add(nb)
                queue.append((nb, first))
    return None


def _apply_explicit_routes(topo: Topology, nodes: dict[str, NodePlan], name: str,
                           routes: list[RoutePlan]) -> list[RoutePlan]:
    """Each explicit route replaces the planned one to the same destination, in every
    family that the destination, the next hop and the node all have."""
    me = nodes[name]
    for i, r in enumerate(topo.nodes[name].routes):
        loc = ("nodes", name, "routes", i)
        dsts = _route_dsts(topo, r.to, loc)
        vias = _route_vias(nodes, name, r.via, loc + ("via",))
        pairs = [(d, vias[d.version]) for d in dsts if d.version in vias and me.addresses(d.version)]
        if not pairs:
            fams = "/".join(f"IPv{d.version}" for d in dsts)
            raise PlanError(loc, f"route to {r.to} ({fams}) via {r.via}: {name!r} has no next hop "
                                 "and address in a common family")
        for d, via in pairs:
            routes = [x for x in routes if x.dst != d] + [RoutePlan(d, via)]
    return routes


def _route_dsts(topo: Topology, to: str, loc: Loc) -> list[IPNetwork]:
    if to == "default":
        return [ip_network("::/0"), ip_network("0.0.0.0/0")]
    if to in topo.networks:
        net = topo.networks[to]
        return [p for p in (net.ipv6, net.ipv4) if p is not None]
    try:
        return [ip_network(to)]
    except ValueError:
        raise PlanError(loc + ("to",), f"{to!r} is not 'default', a network name or a prefix") from None


def _route_vias(nodes: dict[str, NodePlan], name: str, via: str, loc: Loc) -> dict[int, IPAddress]:
    """family -> next-hop address; the next hop must be on one of the node's networks."""
    me = nodes[name]
    if via in nodes:
        out: dict[int, IPAddress] = {}
        for fam in (6, 4):
            for nb, addr in _neighbors(nodes, name, fam):
                if nb == via and fam not in out:
                    out[fam] = addr
        if not out:
            raise PlanError(loc, f"node {via!r} shares no network with {name!r}")
        return out
    try:
        addr = ip_address(via)
    except ValueError:
        raise PlanError(loc, f"{via!r} is neither a node nor an address") from None
    on_link = any(ifa is not None and addr in ifa.network
                  for iface in me.ifaces for ifa in (iface.ipv6, iface.ipv4))
    if not on_link:
        raise PlanError(loc, f"{addr} is not on any network {name!r} is linked to")
    return {addr.version: addr}
