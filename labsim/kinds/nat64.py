"""`nat64`: stateless NAT64 with tayga and a dynamic IPv4 pool.

IPv6 packets to the NAT64 prefix are routed to this node (the planner does that), cross the
`nat64` TUN device into tayga and leave as IPv4 from the pool; IPv4 hosts route the pool
back here. tayga refuses the well-known prefix 64:ff9b::/96 with non-global IPv4 (RFC 6052
§3.1), so that combination is an input error at load time, not a silent drop at run time.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from pydantic import field_validator

from labsim.kinds.base import CommandProbe, Kind, LinkProbe, NodeContext, Service, run_dir
from labsim.kinds.common import base_files
from labsim.model.plan import PlanError
from labsim.model.topology import WELL_KNOWN_PREFIX, Nat64Prefix, NodeBase, Topology, is_global_ipv4
from labsim.model.types import IPv4Net
from labsim.node.privdrop import GROUP, USER, tayga_argv

# what tayga 0.9.2 takes for the well-known prefix (it compares only the first 32 bits)
TAYGA_WKP_MATCH = IPv6Network("64:ff9b::/32")

TUN = "nat64"
TUN_BATCH = "tun.ip"  # `ip -batch` file: the TUN up, its addresses and routes
UPLINK_DEV = "tap0"
# slirp4netns's own network: the node is .100 / ::100, .2 / ::2 is the gateway (which would
# be the host's loopback but for --disable-host-loopback), its DNS forwarder at .3 / ::3
SLIRP_CIDR4, SLIRP_DNS4, SLIRP_DNS6 = "10.0.2.0/24", "10.0.2.3", "fd00::3"


class Schema(NodeBase):
    kind: Literal["nat64"]
    prefix: Nat64Prefix | None = None  # default: the topology's nat64_prefix
    pool4: IPv4Net = IPv4Network("198.18.0.0/24")
    translate: bool = True  # false: the node is there but translates nothing (no tayga, no routes to it)
    # a user-mode uplink (slirp4netns) from this node to the outside: the lab's default
    # routes lead here and leave masqueraded, without touching the host's routes or firewall
    uplink: bool = False

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
        owned = [ip_network("::/0"), ip_network("0.0.0.0/0")] if spec.uplink else []
        if not spec.translate:
            return owned
        prefix = _prefix(spec, topo)
        return [p for p in (prefix, spec.pool4) if p is not None] + owned

    def sysctls(self, node, spec):
        return {"net.ipv6.conf.all.forwarding": "1", "net.ipv4.ip_forward": "1"}

    def validate(self, ctx: NodeContext) -> None:
        topo, spec = ctx.plan.topology, ctx.spec
        if spec.uplink:
            clash = [n for n, net in topo.networks.items() if net.ipv4 and net.ipv4.overlaps(ip_network(SLIRP_CIDR4))]
            if clash:
                raise PlanError(("networks", clash[0]), f"{SLIRP_CIDR4} is the uplink's own network "
                                                         "(slirp4netns): pick another prefix")
        prefix = _prefix(spec, topo)
        if prefix is None:
            raise PlanError(("nodes", ctx.name, "prefix"),
                            "a nat64 node needs a prefix: set 'prefix' here or 'nat64_prefix' at the top")
        if not ctx.node.addresses(4) or not ctx.node.addresses(6):
            raise PlanError(("nodes", ctx.name, "links"),
                            "a nat64 node needs an IPv6 and an IPv4 address (link it to both sides)")
        # tayga 0.9.2 (addrmap.c, append_to_prefix) refuses non-global IPv4 whenever the prefix's
        # first 32 bits are 64:ff9b: the well-known prefix and RFC 8215's local-use 64:ff9b:1::/48
        # alike (RFC 8215 §3 allows the latter; tayga does not), so `up` failed after `validate`
        if prefix.subnet_of(TAYGA_WKP_MATCH):
            where = "prefix" if spec.prefix else None
            loc = ("nodes", ctx.name, "prefix") if where else ("nat64_prefix",)
            private = [(f"pool4 {spec.pool4}", spec.pool4)] if not is_global_ipv4(spec.pool4) else []
            private += [(f"network {n!r} {net.ipv4}", net.ipv4) for n, net in topo.networks.items()
                        if net.ipv4 is not None and not is_global_ipv4(net.ipv4)]
            if private:
                what = (f"the well-known prefix {WELL_KNOWN_PREFIX}" if prefix.subnet_of(WELL_KNOWN_PREFIX)
                        else f"{prefix} (inside 64:ff9b::/32, which tayga 0.9.2 treats as the well-known "
                             "prefix, RFC 8215's 64:ff9b:1::/48 included)")
                raise PlanError(loc, f"{what} cannot carry non-global IPv4 ({private[0][0]}): tayga "
                                     "refuses it (RFC 6052 §3.1); use a network-specific prefix such as "
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
        if spec.translate:
            v4, v6 = ctx.node.addresses(4)[0], ctx.node.addresses(6)[0]
            # the TUN's link, addresses and routes: one `ip -batch` (one process, not five:
            # each is a fork and exec in the node, ~50 ms under a docker bring-up's load).
            # Every word is a typed address or prefix, or the constant device name.
            files[TUN_BATCH] = "\n".join([
                f"link set dev {TUN} up",
                # the node's own addresses on the TUN give tayga's ICMP errors a source
                f"addr add {v4}/32 dev {TUN}",
                f"addr add {v6}/128 dev {TUN} nodad",
                f"route add {spec.pool4} dev {TUN}",
                f"route add {_prefix(spec, ctx.plan.topology)} dev {TUN}",
                "",
            ])
        return files

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        spec = ctx.spec
        # argv lists only, run in order; the first failure stops bring-up (no shell anywhere)
        uplink = uplink_nat_rules() if spec.uplink else []
        if not spec.translate:
            return uplink
        return [
            # tayga's data-dir: its chroot and where it keeps dynamic.map, as nobody
            run_dir(f"{ctx.dir}/tayga", USER, GROUP),
            ["tayga", "-c", f"{ctx.dir}/tayga.conf", "--mktun"],
            ["ip", "-batch", f"{ctx.dir}/{TUN_BATCH}"],  # stops at, and names, a failed line
        ] + uplink

    def services(self, ctx: NodeContext) -> list[Service]:
        out = []
        if ctx.spec.translate:
            out.append(Service("tayga", tayga_argv(f"{ctx.dir}/tayga.conf")))
        if ctx.spec.uplink:
            # runs in the host namespace (it opens the host's sockets), attached to the node's.
            # It stays root: it enters the node's namespace as root to open the tap and has no
            # option to change user. Not --enable-sandbox (drops all capabilities but
            # CAP_NET_BIND_SERVICE): its mount namespace takes a copy of /run, /run/netns and
            # every lab's namespace mounts with it, and the lab's next `ip netns exec` failed
            # (setns: EINVAL) in tests/netns/test_uplink.py.
            # --disable-host-loopback: without it 10.0.2.2 / fd00::2 are the host's 127.0.0.1 / ::1,
            # and a server the review talks to (a redirect, a URL in a body) could point the lab
            # at services bound to the host's loopback only
            out.append(Service("uplink", ["slirp4netns", "--configure", "--mtu=65520", "--enable-ipv6",
                                          "--disable-host-loopback",
                                          "--netns-type=path", "{netns}", UPLINK_DEV], host=True))
        return out

    def probes(self, ctx: NodeContext):
        out: list[LinkProbe | CommandProbe] = [LinkProbe(TUN, service="tayga")] if ctx.spec.translate else []
        if ctx.spec.uplink:
            # fails until slirp4netns has put 10.0.2.100 on the tap (a source address that is
            # not local is refused by the route lookup); sends nothing
            out.append(CommandProbe(["ip", "-4", "route", "get", SLIRP_DNS4, "from", "10.0.2.100",
                                     "oif", UPLINK_DEV], service="uplink"))
        return out

    def after_ready(self, ctx: NodeContext) -> list[list[str]]:
        if not ctx.spec.uplink:
            return []
        # slirp4netns gives IPv6 by router advertisement, which a forwarding node ignores:
        # configure its fixed addresses (fd00::100, router fd00::2) instead
        return [["ip", "-6", "addr", "replace", "fd00::100/64", "dev", UPLINK_DEV, "nodad"],
                ["ip", "-6", "route", "replace", "default", "via", "fd00::2", "dev", UPLINK_DEV]]

    def needs(self, spec):
        return (("tayga",) if spec.translate else ()) + (("slirp4netns",) if spec.uplink else ()), \
            ("tayga", "slirp4netns")


def uplink_nat_rules() -> list[list[str]]:
    """Masquerade what leaves through the uplink, in the node's own namespace only (nft
    joins its arguments with spaces, so each is a word of the rule as written)."""
    return [["nft", "add", "table", "inet", "labsim-uplink"],
            ["nft", "add", "chain", "inet", "labsim-uplink", "post",
             "{ type nat hook postrouting priority 100 ; }"],
            ["nft", "add", "rule", "inet", "labsim-uplink", "post", "oifname", UPLINK_DEV, "masquerade"]]


def uplink_node(plan) -> str | None:
    return next((n for n, spec in plan.topology.nodes.items()
                 if spec.kind == "nat64" and spec.uplink), None)
