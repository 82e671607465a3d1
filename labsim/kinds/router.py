"""`router`: kernel forwarding between its links. The planner routes through it.

With `ra:` it also sends router advertisements on its IPv6 networks (see `labsim.kinds.ra`):
radvd for the prefix (SLAAC), RDNSS, DNSSL, M/O flags and the default-router lifetime;
labsim's own sender (`labsim.node.pref64`) for PREF64, which radvd 2.19 lacks.
"""

from __future__ import annotations

import json

from labsim.kinds.base import FileProbe, Kind, NodeContext, Probe, Service
from labsim.kinds.common import base_files
from labsim.kinds.ra import (
    RouterSpec,
    pref64_config,
    pref64_prefix,
    ra_networks,
    radvd_conf,
    rdnss_addresses,
    router_link_local,
)
from labsim.model.plan import NodePlan
from labsim.model.topology import NodeBase
from labsim.node.nodeprog import stdlib_program
from labsim.node.privdrop import GROUP, USER

Schema = RouterSpec  # declared beside the RA renderers that read it (kinds/ra.py)


class Router(Kind):
    name = "router"
    schema = Schema
    forwards = True
    setting_packages = ("radvd",)  # ra

    def needs(self, spec: NodeBase) -> tuple[tuple[str, ...], tuple[str, ...]]:
        assert isinstance(spec, Schema)  # a router node's spec
        return (("radvd",) if spec.ra else ()), (("radvd",) if spec.ra else ())

    def sysctls(self, ctx_node: NodePlan, spec: NodeBase) -> dict[str, str]:
        return {"net.ipv6.conf.all.forwarding": "1", "net.ipv4.ip_forward": "1"}

    def validate(self, ctx: NodeContext[Schema]) -> None:
        if ctx.spec.ra:
            ra_networks(ctx)
            rdnss_addresses(ctx)
            pref64_prefix(ctx)

    def render(self, ctx: NodeContext[Schema]) -> dict[str, str]:
        files = base_files(ctx)
        ra = ctx.spec.ra
        if ra:
            files["radvd.conf"] = radvd_conf(ctx)
            if ra.pref64:
                files["pref64.json"] = json.dumps(pref64_config(ctx)) + "\n"
        return files

    def setup(self, ctx: NodeContext[Schema]) -> list[list[str]]:
        if not ctx.spec.ra:
            return []
        source = f"{router_link_local(ctx.name)}/64"  # radvd's RA source (kinds/ra.py)
        return [*(["ip", "-6", "addr", "replace", source, "dev", ifname, "nodad"] for _, ifname, _ in ra_networks(ctx)),
                ["radvd", "--configtest", "-C", f"{ctx.dir}/radvd.conf"]]

    def services(self, ctx: NodeContext[Schema]) -> list[Service]:
        ra = ctx.spec.ra
        if not ra:
            return []
        # -u radvd: radvd's own privilege separation; the daemon runs as radvd and a root
        # helper it forks stays, only to write the interface sysctls radvd asks it for
        out = [Service("radvd", ["radvd", "--nodaemon", "-C", f"{ctx.dir}/radvd.conf", "-m", "stderr",
                                 "-p", f"{ctx.dir}/radvd.pid", "-u", "radvd"])]
        if ra.pref64:
            # root to open its raw sockets, then nobody (labsim.node.privdrop)
            out.append(Service("pref64", stdlib_program(ctx.python, "labsim.node.pref64", f"{ctx.dir}/pref64.json",
                                                        "--user", USER, "--group", GROUP)))
        return out

    def probes(self, ctx: NodeContext[Schema]) -> list[Probe]:
        ra = ctx.spec.ra
        if not ra:
            return []
        out: list[Probe] = [FileProbe(f"{ctx.dir}/radvd.pid", service="radvd")]
        if ra.pref64:
            out.append(FileProbe(f"{ctx.dir}/pref64.json.sent", service="pref64"))
        return out
