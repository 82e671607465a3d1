"""`backend`: an HTTP and HTTPS echo service (labsim.kinds.echo_server) with a lab-CA cert.

IPv4-only unless linked to an IPv6 network. It listens on `::` (dual-stack) when it has an
IPv6 address, else on 0.0.0.0; `listen: ["0.0.0.0"]` reproduces a daemon bound to IPv4 only.
Its certificate names its `names`, its node name and its addresses (or `tls_names`, to
reproduce a certificate that does not name what clients ask for).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..model.topology import NodeBase
from .base import Kind, NodeContext, Service, TcpProbe, TlsRequest
from .common import base_files


class Schema(NodeBase):
    kind: Literal["backend"]
    http_port: int | None = Field(80, ge=1, le=65535)
    https_port: int | None = Field(443, ge=1, le=65535)
    listen: list[str] | None = None  # default: ['::'] with IPv6, else ['0.0.0.0']
    tls_names: list[str] | None = None  # default: names + node name + addresses


def listen_addresses(ctx: NodeContext) -> list[str]:
    if ctx.spec.listen:
        return ctx.spec.listen
    return ["::"] if ctx.node.addresses(6) else ["0.0.0.0"]


class Backend(Kind):
    name = "backend"
    schema = Schema
    packages = ("python3",)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        return base_files(ctx)

    def tls(self, ctx: NodeContext) -> TlsRequest | None:
        if not ctx.spec.https_port:
            return None
        names = ctx.spec.tls_names
        if names is None:
            names = [*ctx.spec.names, ctx.name, *map(str, ctx.node.addresses())]
        return TlsRequest(names)

    def services(self, ctx: NodeContext) -> list[Service]:
        spec = ctx.spec
        argv = [ctx.python, "-m", "labsim.kinds.echo_server", "--name", ctx.name]
        for addr in listen_addresses(ctx):
            argv += ["--listen", addr]
        argv += ["--http", str(spec.http_port or 0), "--https", str(spec.https_port or 0)]
        if spec.https_port:
            tls = self.tls(ctx)
            argv += ["--cert", f"{ctx.dir}/{tls.cert}", "--key", f"{ctx.dir}/{tls.key}"]
        return [Service("echo", argv)]

    def probes(self, ctx: NodeContext):
        listen = listen_addresses(ctx)
        fam = 6 if any(":" in a for a in listen) and ctx.node.addresses(6) else 4
        addr = ctx.node.addresses(fam)[0] if ctx.node.addresses(fam) else ctx.node.addresses()[0]
        ports = [p for p in (ctx.spec.http_port, ctx.spec.https_port) if p]
        return [TcpProbe(addr, p) for p in ports]
