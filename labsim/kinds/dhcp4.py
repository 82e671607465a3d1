"""`dhcp4`: a DHCPv4 server (Kea 2.2, `kea-dhcp4`) on one network, with option 108
("IPv6-only preferred", RFC 8925) for IPv6-mostly networks.

Kea sends option 108 only to clients that ask for it (in their parameter request list), as
RFC 8925 §3.3 wants: a host that supports it then takes no lease and waits V6ONLY_WAIT
seconds; a legacy host never asks, and gets a lease with a router (option 3).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Literal

from pydantic import Field

from labsim.kinds.base import FileProbe, Kind, NodeContext, Probe, Service, run_dir
from labsim.kinds.common import base_files
from labsim.model.plan import IfacePlan, NodePlan, PlanError
from labsim.model.topology import NetName, NodeBase
from labsim.model.types import IPv4Addr, NodeOrAddress

V6ONLY_WAIT_MIN = 300  # RFC 8925 §3.4: MIN_V6ONLY_WAIT
# Kea 2.2 has no option to drop root: it runs as Debian's unit runs it (User=_kea with the
# ambient capabilities CAP_NET_RAW, for its raw sockets, and CAP_NET_BIND_SERVICE, port 67),
# here through setpriv; its leases, pid and lock files go to a directory of its own
USER = "_kea"
CAPS = "+net_raw,+net_bind_service"
RUN = "kea"


class Schema(NodeBase):
    kind: Literal["dhcp4"]
    network: NetName | None = None  # default: the node's first link with IPv4
    pool: tuple[IPv4Addr, IPv4Addr] | None = None  # default: the upper half of the prefix
    ipv6_only_preferred: int | None = Field(1800, ge=V6ONLY_WAIT_MIN)  # option 108, seconds; null: not offered
    router: NodeOrAddress | None = None  # option 3: a node or address; default the network's first forwarding node
    lease_seconds: int = Field(600, ge=60)


def _iface(ctx: NodeContext[Schema]) -> tuple[IfacePlan, IPv4Network]:
    """The interface it serves, and that interface's IPv4 network."""
    spec = ctx.spec
    for i in ctx.node.ifaces:
        if i.ipv4 is not None and (spec.network is None or i.network == spec.network):
            return i, i.ipv4.network
    raise PlanError(("nodes", ctx.name, "network" if spec.network else "links"),
                    f"{ctx.name!r} has no IPv4 link{' to ' + spec.network if spec.network else ''} to serve")


def _pool(ctx: NodeContext[Schema], net: IPv4Network) -> tuple[IPv4Address, IPv4Address]:
    if ctx.spec.pool:
        lo, hi = ctx.spec.pool
        if lo not in net or hi not in net or hi < lo:
            raise PlanError(("nodes", ctx.name, "pool"), f"{lo}-{hi} is not a range inside {net}")
        return lo, hi
    hosts = list(net.hosts())
    return hosts[len(hosts) // 2], hosts[-1]


def _ipv4_on(node: NodePlan, network: str) -> IPv4Address | None:
    """`node.address_on(network, 4)`, typed as the IPv4 address it is."""
    for i in node.ifaces:
        if i.network == network:
            return i.ipv4.ip if i.ipv4 else None
    return None


def _router(ctx: NodeContext[Schema], iface: IfacePlan) -> IPv4Address | None:
    ref = ctx.spec.router
    plan = ctx.plan
    if ref is None:
        for n in plan.nodes.values():
            if n.forwards and _ipv4_on(n, iface.network) is not None:
                return _ipv4_on(n, iface.network)
        return None
    if ref in plan.nodes:
        addr = _ipv4_on(plan.nodes[ref], iface.network)
        if addr is None:
            raise PlanError(("nodes", ctx.name, "router"), f"node {ref!r} has no IPv4 address on {iface.network!r}")
        return addr
    try:
        return IPv4Address(ref)
    except ValueError:
        raise PlanError(("nodes", ctx.name, "router"), f"{ref!r} is neither a node nor an IPv4 address") from None


def kea_config(ctx: NodeContext[Schema]) -> dict[str, Any]:
    spec = ctx.spec
    iface, net = _iface(ctx)
    lo, hi = _pool(ctx, net)
    options: list[dict[str, str]] = []
    router = _router(ctx, iface)
    if router is not None:
        options.append({"name": "routers", "data": str(router)})
    if spec.ipv6_only_preferred is not None:
        options.append({"name": "v6-only-preferred", "data": str(spec.ipv6_only_preferred)})
    return {"Dhcp4": {
        # raw sockets: clients with no address yet, answered by broadcast
        "interfaces-config": {"interfaces": [iface.ifname], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True, "name": f"{ctx.dir}/{RUN}/leases4.csv",
                           "lfc-interval": 0},
        "valid-lifetime": spec.lease_seconds,
        "subnet4": [{"id": 1, "subnet": str(net),
                     "pools": [{"pool": f"{lo} - {hi}"}], "option-data": options}],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stderr"}], "severity": "INFO"}],
    }}


class Dhcp4(Kind):
    name = "dhcp4"
    schema = Schema
    packages = ("kea-dhcp4-server",)  # setpriv: util-linux, Essential in Debian
    binaries = ("kea-dhcp4", "setpriv")

    def validate(self, ctx: NodeContext[Schema]) -> None:
        kea_config(ctx)

    def render(self, ctx: NodeContext[Schema]) -> dict[str, str]:
        files = base_files(ctx)
        files["kea-dhcp4.json"] = json.dumps(kea_config(ctx), indent=1) + "\n"
        return files

    def _argv(self, ctx: NodeContext[Schema], mode: str) -> list[str]:
        # as _kea with its two capabilities: setpriv and env exec in place (the PID labsim
        # records is kea's), and no exec gains privileges. The check (-t) runs so too: its
        # logger lock file is then _kea's for the server. Kea's pid and lock files go to its
        # directory in the node's, not the host's /run/kea
        run = f"{ctx.dir}/{RUN}"
        return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", f"--inh-caps={CAPS}",
                f"--ambient-caps={CAPS}", "--no-new-privs", "--",
                "env", f"KEA_PIDFILE_DIR={run}", f"KEA_LOCKFILE_DIR={run}",
                "kea-dhcp4", mode, f"{ctx.dir}/kea-dhcp4.json"]

    def setup(self, ctx: NodeContext[Schema]) -> list[list[str]]:
        return [run_dir(f"{ctx.dir}/{RUN}", USER), self._argv(ctx, "-t")]  # a configuration check

    def services(self, ctx: NodeContext[Schema]) -> list[Service]:
        return [Service("kea", self._argv(ctx, "-c"))]

    def probes(self, ctx: NodeContext[Schema]) -> list[Probe]:
        return [FileProbe(f"{ctx.dir}/kea.log", contains="DHCP4_STARTED", service="kea")]
