"""Router advertisements on `router` nodes (`ra:`): who sends what.

- radvd 2.19 (Debian 12) sends the RAs proper, from the interface's own link-local address:
  the network's /64 for SLAAC (on-link, autonomous), RDNSS, DNSSL, the M and O flags and the
  default-router lifetime. It answers router solicitations.
- radvd gained PREF64 (`nat64prefix`) only in 2.20, so PREF64 (RFC 8781, option 38) comes
  from labsim's own sender (`labsim.node.pref64`, in the node): RAs carrying only PREF64, from a
  second link-local address of the router (fe80::64) with router lifetime 0 and the same M/O
  flags, so hosts take the option without it touching their default router or flags. Their
  bytes come from `labsim.node.ndopts` (standard library: the sender starts in ~50 ms, where
  importing scapy takes ~1 s); the unit tests dissect them with scapy's ICMPv6NDOptPREF64.

Pure: the schema, radvd.conf, the PREF64 RA's bytes. Nothing here sends.
"""

from __future__ import annotations

import zlib
from ipaddress import IPv6Address, IPv6Network, ip_address
from typing import Any, Literal, Protocol

from pydantic import Field

from labsim.kinds.base import NodeContext
from labsim.model.plan import PlanError
from labsim.model.topology import Nat64Prefix, NetName, NodeBase, Strict
from labsim.model.types import NodeOrAddress, SearchDomain


class Pref64Spec(Strict):
    prefix: Nat64Prefix | None = None  # default: the topology's nat64_prefix
    lifetime: int = Field(1800, ge=0, le=65528)  # seconds; 0 withdraws (RFC 8781: 8 s units)


class RaSpec(Strict):
    networks: list[NetName] | None = None  # where to advertise; default: every IPv6 network it is on
    slaac: bool = True  # advertise the network's /64 as autonomous (hosts may form addresses)
    rdnss: list[NodeOrAddress] = Field(default_factory=list)  # node names or IPv6 addresses
    dnssl: list[SearchDomain] = Field(default_factory=list)
    managed: bool = False  # M flag: addresses from DHCPv6
    other: bool = False  # O flag: other configuration from DHCPv6
    router_lifetime: int = Field(1800, ge=0, le=9000)  # 0: not a default router
    interval: int = Field(4, ge=4, le=1800)  # MaxRtrAdvInterval (radvd: at least 4 s)
    pref64: Pref64Spec | None = None


class RouterSpec(NodeBase):
    """A `router` node (labsim.kinds.router): kernel forwarding, and RAs when `ra:` is given."""

    kind: Literal["router"]
    ra: RaSpec | None = None  # send router advertisements (radvd, and PREF64 from labsim)


class WritesNodeFiles(Protocol):
    """What `change_pref64` needs of a runtime (labsim.runtime.base.Runtime has both)."""

    def node_dir(self, node: str) -> str: ...

    def write_file(self, node: str, path: str, text: str | bytes, mode: int = 0o644,
                   shared: str | None = None) -> str: ...


def _ra(ctx: NodeContext[RouterSpec]) -> RaSpec:
    ra = ctx.spec.ra
    if ra is None:  # the router calls these only for a node with `ra:`
        raise ValueError(f"router {ctx.name!r} sends no router advertisements")
    return ra


def ra_networks(ctx: NodeContext[RouterSpec]) -> list[tuple[str, str, IPv6Network]]:
    """(network, interface, its IPv6 prefix) for every network the node advertises on."""
    spec = _ra(ctx)
    topo = ctx.plan.topology
    mine = {i.network: i for i in ctx.node.ifaces}
    names = spec.networks if spec.networks is not None else [n for n in mine if topo.networks[n].ipv6]
    out = []
    for i, net in enumerate(names):
        loc = ("nodes", ctx.name, "ra", "networks", i)
        if net not in mine:
            raise PlanError(loc, f"{ctx.name!r} is not linked to network {net!r}")
        prefix = topo.networks[net].ipv6
        if prefix is None:
            raise PlanError(loc, f"network {net!r} has no IPv6 prefix to advertise")
        if spec.slaac and prefix.prefixlen != 64:
            raise PlanError(loc, f"SLAAC needs a /64, network {net!r} is {prefix} (set slaac: false)")
        out.append((net, mine[net].ifname, prefix))
    return out


def rdnss_addresses(ctx: NodeContext[RouterSpec]) -> list[IPv6Address]:
    out = []
    for i, ref in enumerate(_ra(ctx).rdnss):
        try:
            addr = ip_address(ref)
        except ValueError:
            if ref not in ctx.plan.nodes:
                raise PlanError(("nodes", ctx.name, "ra", "rdnss", i),
                                f"{ref!r} is neither a node nor an IP address") from None
            found = ctx.plan.nodes[ref].addresses(6)
            if not found:
                raise PlanError(("nodes", ctx.name, "ra", "rdnss", i), f"node {ref!r} has no IPv6 address") from None
            addr = found[0]
        if not isinstance(addr, IPv6Address):
            raise PlanError(("nodes", ctx.name, "ra", "rdnss", i), f"RDNSS carries IPv6 addresses, not {addr}")
        out.append(addr)
    return out


def pref64_prefix(ctx: NodeContext[RouterSpec]) -> IPv6Network | None:
    p = _ra(ctx).pref64
    if p is None:
        return None
    prefix = p.prefix or ctx.plan.topology.nat64_prefix
    if prefix is None:
        raise PlanError(("nodes", ctx.name, "ra", "pref64", "prefix"),
                        "PREF64 needs a prefix: set it here or nat64_prefix at the top")
    return prefix


def _onoff(v: bool) -> str:
    return "on" if v else "off"


def router_link_local(name: str) -> IPv6Address:
    """The link-local address radvd sends this router's RAs from (`AdvRASrcAddress`), the same
    on each of its RA interfaces and different per router. radvd otherwise takes the first
    link-local the kernel lists, the newest: the PREF64 sender's fe80::64 once it is added, so
    its RAs (router lifetime 0, no RDNSS) came from the "same" router as radvd's, and hosts that
    keep one RA per router (dhcpcd; the kernel's default route too) lost their default route
    and resolvers every few seconds."""
    return IPv6Address(f"fe80::1:{zlib.crc32(name.encode()) & 0xffff:x}")


def radvd_conf(ctx: NodeContext[RouterSpec]) -> str:
    spec = _ra(ctx)
    rdnss = rdnss_addresses(ctx)
    lines = ["# labsim: router advertisements of node " + ctx.name]
    for net, ifname, prefix in ra_networks(ctx):
        lines += [f"interface {ifname} {{  # network {net}",
                  "  AdvSendAdvert on;",
                  f"  MinRtrAdvInterval {max(3, spec.interval * 3 // 4)};",
                  f"  MaxRtrAdvInterval {spec.interval};",
                  f"  AdvManagedFlag {_onoff(spec.managed)};",
                  f"  AdvOtherConfigFlag {_onoff(spec.other)};",
                  f"  AdvDefaultLifetime {spec.router_lifetime};",
                  f"  AdvRASrcAddress {{ {router_link_local(ctx.name)}; }};",
                  f"  prefix {prefix} {{ AdvOnLink on; AdvAutonomous {_onoff(spec.slaac)}; }};"]
        if rdnss:
            lines.append(f"  RDNSS {' '.join(map(str, rdnss))} {{ AdvRDNSSLifetime {spec.interval * 3}; }};")
        if spec.dnssl:
            lines.append(f"  DNSSL {' '.join(spec.dnssl)} {{ AdvDNSSLLifetime {spec.interval * 3}; }};")
        lines.append("};")
    return "\n".join(lines) + "\n"


def pref64_config(ctx: NodeContext[RouterSpec], generation: int = 0) -> dict[str, Any]:
    """What `labsim.node.pref64` sends, as JSON; actions rewrite it (with a new generation)."""
    spec = _ra(ctx)
    if spec.pref64 is None:  # the router renders it only with `ra: {pref64: ...}`
        raise ValueError(f"router {ctx.name!r} advertises no PREF64")
    prefix = pref64_prefix(ctx)
    return {"interfaces": [ifname for _, ifname, _ in ra_networks(ctx)],
            "prefix": str(prefix), "lifetime": spec.pref64.lifetime, "managed": spec.managed,
            "other": spec.other, "interval": spec.interval, "generation": generation}


def change_pref64(runtime: WritesNodeFiles, node: str, prefix: IPv6Network | None, lifetime: int | None,
                  wait_s: float = 3.0) -> str:
    """Rewrite the router's PREF64 sender configuration (a new generation) and wait, bounded,
    until the sender has advertised it."""
    import json
    import time
    from pathlib import Path

    path = Path(runtime.node_dir(node)) / "pref64.json"
    if not path.exists():
        raise OSError(f"node {node!r} advertises no PREF64 (give its router `ra: {{pref64: ...}}`)")
    cfg = json.loads(path.read_text())
    if prefix is not None:
        cfg["prefix"] = str(prefix)
    if lifetime is not None:
        cfg["lifetime"] = lifetime
    cfg["generation"] += 1
    runtime.write_file(node, "pref64.json", json.dumps(cfg) + "\n")
    sent = Path(str(path) + ".sent")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if json.loads(sent.read_text())["generation"] == cfg["generation"]:
                what = "withdrawn" if cfg["lifetime"] == 0 else f"lifetime {cfg['lifetime']} s"
                return f"{node} advertises PREF64 {cfg['prefix']} ({what})"
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    raise OSError(f"the PREF64 sender did not advertise the change within {wait_s}s")
