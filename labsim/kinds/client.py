"""`client`: where checks run. Its own resolv.conf and trust in the lab CA; optionally a host
that configures itself and translates, as IPv6-only and IPv6-mostly networks expect:

- `clat: {prefix: auto | PREFIX}`: a CLAT (464XLAT, tayga as clatd runs it) gives
  applications 192.0.0.2 and an IPv4 default route; with `auto` it comes up once the node
  knows a NAT64 prefix (PREF64 from router advertisements, else RFC 7050 through its own
  resolver) and follows it;
- `slaac: true`: no planned IPv6 address; the address comes from router advertisements;
- `resolver_from_ra: true`: resolv.conf from RDNSS/DNSSL;
- `stack: dhcpcd`: the same configuration done by Debian's dhcpcd 9.4.1 instead of labsim's
  own hostconf (DHCPv4 with or without option 108, router solicitation, SLAAC, RDNSS/DNSSL
  into resolv.conf), to check hostconf's models against a real client; it has no PREF64 and
  no CLAT. labsim.node.dhcpcdview writes the same `learnt.json`.

Its address families are those of its links: a client linked only to IPv6 networks has no
IPv4 address but loopback and no IPv4 route at all (until a CLAT gives it one).
"""

from __future__ import annotations

import json
from typing import Literal

from labsim.kinds.base import FileProbe, Kind, NodeContext, Service
from labsim.kinds.common import base_files
from labsim.model.topology import Nat64Prefix, NodeBase, Strict
from labsim.node import dhcpcdview
from labsim.node.nodeprog import stdlib_program


class ClatSpec(Strict):
    prefix: Literal["auto"] | Nat64Prefix = "auto"  # auto: PREF64, else RFC 7050
    # false: the node is ready before its CLAT is up (a network that may have no NAT64 at all)
    wait: bool = True
    # PREF64 prefix lengths the host honours (Android: only /96); others fall back to RFC 7050
    pref64_lengths: list[Literal[32, 40, 48, 56, 64, 96]] | None = None
    # which of several valid PREF64 prefixes the CLAT uses (RFC 8781 §5 leaves it to the host):
    # sticky: the one in use while it stays valid (Android NetworkStack, updatePref64);
    # newest: the last one first heard
    pref64_policy: Literal["newest", "sticky"] = "newest"


class Dhcp4Spec(Strict):
    # true: asks for option 108 and honours it (RFC 8925: no IPv4 lease on an IPv6-mostly
    # network); false: a legacy host that takes a lease
    ipv6_only_preferred: bool = True


class Schema(NodeBase):
    kind: Literal["client"]
    trust_lab_ca: bool = True  # curl, openssl and python in the node verify lab certificates
    clat: ClatSpec | None = None
    slaac: bool = False  # take IPv6 addresses (and the default route) from router advertisements
    resolver_from_ra: bool = False  # resolv.conf from RDNSS/DNSSL (needs a router sending them)
    dhcp4: Dhcp4Spec | None = None  # IPv4 from a DHCPv4 server (a `dhcp4` node), not the plan
    stack: Literal["hostconf", "dhcpcd"] = "hostconf"  # who does the above: labsim's hostconf or dhcpcd


def self_configuring(spec: Schema) -> bool:
    return bool(spec.clat or spec.slaac or spec.resolver_from_ra or spec.dhcp4)


def _clat_conf(clat: ClatSpec) -> dict:
    out: dict = {"prefix": str(clat.prefix)}
    if not clat.wait:
        out["wait"] = False
    if clat.pref64_lengths:
        out["pref64_lengths"] = clat.pref64_lengths
    if clat.pref64_policy != "newest":
        out["pref64_policy"] = clat.pref64_policy
    return out


def _dhcp_iface(ctx: NodeContext):
    return next((i for i in ctx.node.ifaces if i.ipv4 is not None), None)


class Client(Kind):
    name = "client"
    schema = Schema
    packages = ("curl", "iproute2", "iputils-ping", "dnsutils")
    setting_packages = ("tayga", "dhcpcd-base")  # clat; stack: dhcpcd

    def needs(self, spec):
        dhcpcd = spec.stack == "dhcpcd" and self_configuring(spec)
        return ((("tayga",) if spec.clat else ()) + (("dhcpcd",) if dhcpcd else ()),
                self.packages + (("tayga",) if spec.clat else ()) + (("dhcpcd-base",) if dhcpcd else ()))

    def sysctls(self, node, spec):
        out = {}
        if spec.clat:
            # the CLAT's IPv6 address lives behind the TUN: forward to it, answer NS for it
            out |= {"net.ipv6.conf.all.forwarding": "1", "net.ipv6.conf.all.proxy_ndp": "1"}
        if (spec.clat or spec.slaac or spec.resolver_from_ra) and spec.stack == "hostconf":
            # (dhcpcd handles RAs itself: it turns the kernel's accept_ra off on its links)
            # 2: accept RAs even while forwarding (the CLAT turns forwarding on), so a CLAT
            # host hears PREF64 in RAs even on a network whose RAs carry nothing else for it
            out |= {"net.ipv6.conf.default.accept_ra": "2", "net.ipv6.conf.all.accept_ra": "2",
                    "net.ipv6.conf.default.autoconf": "1" if spec.slaac else "0",
                    "net.ipv6.conf.default.accept_ra_defrtr": "1" if spec.slaac else "0",
                    "net.ipv6.conf.default.accept_ra_pinfo": "1" if spec.slaac else "0"}
        return out

    def render(self, ctx: NodeContext) -> dict[str, str]:
        files = base_files(ctx)
        spec = ctx.spec
        if self_configuring(spec) and spec.stack == "dhcpcd":
            files |= _dhcpcd_files(ctx)
        elif self_configuring(spec):
            files["hostconf.json"] = json.dumps({
                "dir": ctx.dir,
                "clat": _clat_conf(spec.clat) if spec.clat else None,
                "resolver_from_ra": spec.resolver_from_ra,
                "slaac": spec.slaac,
                "dhcp4": {"dev": _dhcp_iface(ctx).ifname,
                          "ipv6_only_preferred": spec.dhcp4.ipv6_only_preferred} if spec.dhcp4 else None,
                "resolver_options": list(spec.resolver.options) if spec.resolver else [],
                "resolv_conf": "/etc/resolv.conf",
            }, indent=1) + "\n"
        return files

    def validate(self, ctx: NodeContext) -> None:
        from labsim.model.plan import PlanError

        spec, topo = ctx.spec, ctx.plan.topology
        mine = {i.network for i in ctx.node.ifaces}
        if spec.dhcp4:
            iface = _dhcp_iface(ctx)
            if iface is None:
                raise PlanError(("nodes", ctx.name, "dhcp4"), "DHCPv4 needs a link to a network with an IPv4 prefix")
            if not any(n.kind == "dhcp4" and iface.network in {i.network for i in n.ifaces}
                       for n in ctx.plan.nodes.values()):
                raise PlanError(("nodes", ctx.name, "dhcp4"),
                                f"no dhcp4 node serves network {iface.network!r}: nothing would answer")
        if spec.stack == "dhcpcd":
            _validate_dhcpcd(ctx.name, spec)
        if spec.slaac or spec.resolver_from_ra:
            advertised = {net for name, n in topo.nodes.items() if (ra := getattr(n, "ra", None))
                          for net in (ra.networks if ra.networks is not None
                                      else [i.network for i in ctx.plan.nodes[name].ifaces])}
            if not mine & advertised:
                field = "slaac" if spec.slaac else "resolver_from_ra"
                raise PlanError(("nodes", ctx.name, field), "no router sends router advertisements "
                                "(`ra:`) on this node's networks: nothing to learn from")

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        out = []
        if ctx.spec.slaac:
            # the plan knows the prefix, not the address: drop the planned one, let SLAAC choose
            out += [["ip", "-6", "addr", "flush", "dev", i.ifname, "scope", "global"]
                    for i in ctx.node.ifaces if i.ipv6 is not None]
        if ctx.spec.dhcp4:
            # IPv4 comes from DHCP (or, with option 108 honoured, not at all)
            out += [["ip", "-4", "addr", "flush", "dev", i.ifname] for i in ctx.node.ifaces if i.ipv4 is not None]
            out.append(["ip", "-4", "route", "flush", "table", "main"])
        return out

    def services(self, ctx: NodeContext) -> list[Service]:
        if not self_configuring(ctx.spec):
            return []
        # hostconf keeps root for its whole life, on purpose: it is the node's network
        # manager, and needs CAP_NET_ADMIN and CAP_NET_RAW whenever the network changes
        # (CLAT TUN made and removed, addresses, routes and proxy NDP on every PREF64 change,
        # DHCPv4 on raw sockets, lease addresses), and rewrites the node's resolv.conf in
        # place (a file it can write only as its owner, root). The tayga it runs as the CLAT
        # drops to nobody (labsim.node.privdrop.tayga_argv). Its capabilities are cut to
        # those (privdrop.NETWORK_MANAGER_CAPS) at its start, for it and every program it
        # runs: no CAP_SYS_ADMIN (mounts, namespaces), modules, ptrace, raw I/O...
        if ctx.spec.stack == "dhcpcd":
            # dhcpcd runs as root and drops to its own user (privilege separation, chroot);
            # the view only reads its events and the kernel's state
            return [Service("dhcpcd", ["sh", f"{ctx.dir}/dhcpcd-start.sh"]),
                    Service("dhcpcdview", stdlib_program(ctx.python, "labsim.node.dhcpcdview",
                                                         f"{ctx.dir}/dhcpcdview.json"))]
        return [Service("hostconf", stdlib_program(ctx.python, "labsim.node.hostconf", f"{ctx.dir}/hostconf.json"))]

    def probes(self, ctx: NodeContext):
        if not self_configuring(ctx.spec):
            return []
        # ready once hostconf reports what the node needs (SLAAC address, resolvers, CLAT)
        service = "dhcpcdview" if ctx.spec.stack == "dhcpcd" else "hostconf"
        return [FileProbe(f"{ctx.dir}/learnt.json", contains='"ready": true', service=service)]


def _validate_dhcpcd(name: str, spec: Schema) -> None:
    from labsim.model.plan import PlanError

    if spec.clat:
        # dhcpcd 9.4.1 defines RDNSS (25) and DNSSL (31) but not PREF64 (38), and runs no CLAT
        raise PlanError(("nodes", name, "clat"), "stack: dhcpcd has no PREF64 and no CLAT (use stack: hostconf)")
    if spec.resolver_from_ra and not spec.slaac:
        # dhcpcd takes router advertisements whole (ipv6rs) or not at all (noipv6rs)
        raise PlanError(("nodes", name, "resolver_from_ra"), "stack: dhcpcd learns RDNSS/DNSSL only "
                        "with SLAAC: set slaac: true too")
    if not self_configuring(spec):
        raise PlanError(("nodes", name, "stack"), "stack: dhcpcd needs something to configure: "
                        "slaac, resolver_from_ra or dhcp4")


def _dhcpcd_files(ctx: NodeContext) -> dict[str, str]:
    spec, d = ctx.spec, ctx.dir
    ifaces = [i.ifname for i in ctx.node.ifaces
              if (spec.slaac and i.ipv6 is not None) or (spec.dhcp4 and i is _dhcp_iface(ctx))]
    v6only = bool(spec.dhcp4 and spec.dhcp4.ipv6_only_preferred)
    return {
        "dhcpcd.conf": dhcpcdview.conf(d, dhcp4=spec.dhcp4 is not None, ipv6_only_preferred=v6only,
                                       ra=spec.slaac, resolver=spec.resolver_from_ra),
        "dhcpcd-hook": dhcpcdview.hook(f"{d}/dhcpcd-events.jsonl"),
        # the docker runtime gives each node its own /run and /var/lib; netns shares the host's
        "dhcpcd-start.sh": dhcpcdview.start_script(d, ifaces, own_mounts=ctx.confinement != "user"),
        "dhcpcdview.json": json.dumps({"dir": d, "slaac": spec.slaac, "resolver_from_ra": spec.resolver_from_ra,
                                       "dhcp4": spec.dhcp4 is not None, "ipv6_only_preferred": v6only,
                                       "resolv_conf": "/etc/resolv.conf"}, indent=1) + "\n",
    }
