"""`backend`: an HTTP and HTTPS echo service (labsim.node.echo_server) with a lab-CA cert;
it answers WebSocket opening handshakes too, and `tcp_port` adds a raw TCP service that
sends `banner` first.

IPv4-only unless linked to an IPv6 network. It listens on `::` (dual-stack) when it has an
IPv6 address, else on 0.0.0.0; `listen: ["0.0.0.0"]` reproduces a daemon bound to IPv4 only.
Its certificate names its `names`, its node name and its addresses (or `tls_names`, to
reproduce a certificate that does not name what clients ask for). `GET /bytes/N` answers N
bytes (transfers larger than a path MTU).
"""

from __future__ import annotations

import json
from ipaddress import ip_address
from typing import Literal

from pydantic import Field

from labsim.kinds.base import Kind, NodeContext, Service, TcpProbe, TlsRequest
from labsim.kinds.common import base_files, https_certificate
from labsim.model.plan import PlanError
from labsim.model.topology import NodeBase, Strict
from labsim.model.types import Body, HeaderName, HeaderValue, IPLiteral, TlsName, UrlPath
from labsim.node.nodeprog import stdlib_program
from labsim.node.privdrop import GROUP, USER


class Response(Strict):
    """A fixed answer for one path, instead of the echo (redirects, bodies that carry URLs)."""

    status: int = Field(200, ge=100, le=599)
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=64)
    body: Body = ""


class Schema(NodeBase):
    kind: Literal["backend"]
    http_port: int | None = Field(80, ge=1, le=65535)
    https_port: int | None = Field(443, ge=1, le=65535)
    listen: list[IPLiteral] | None = Field(None, max_length=16)  # default: ['::'] with IPv6, else ['0.0.0.0']
    tls_names: list[TlsName] | None = Field(None, max_length=64)  # default: names + node name + addresses
    responses: dict[UrlPath, Response] = Field(default_factory=dict, max_length=256)  # path -> fixed answer
    tcp_port: int | None = Field(None, ge=1, le=65535)  # a raw TCP service that speaks first
    banner: str = Field("labsim-echo ready", pattern=r"^[ -~]{1,200}$")  # its first line (printable ASCII)


def listen_addresses(ctx: NodeContext) -> list[str]:
    if ctx.spec.listen:
        return ctx.spec.listen
    return ["::"] if ctx.node.addresses(6) else ["0.0.0.0"]


def probe_address(ctx: NodeContext):
    """An address of the node the service answers on: `::` serves both families (mapped),
    `0.0.0.0` only IPv4, anything else only itself."""
    listen = listen_addresses(ctx)
    mine = ctx.node.addresses()
    if "::" in listen:
        return mine[0]
    if "0.0.0.0" in listen:
        return next((a for a in mine if a.version == 4), None)
    return next((a for a in mine if str(a) in listen), None)


class Backend(Kind):
    name = "backend"
    schema = Schema
    packages = ("python3",)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        files = base_files(ctx)
        if ctx.spec.responses:
            files["responses.json"] = json.dumps(
                {path: r.model_dump() for path, r in ctx.spec.responses.items()}, indent=1)
        return files

    def tls(self, ctx: NodeContext) -> TlsRequest | None:
        return https_certificate(ctx)

    def services(self, ctx: NodeContext) -> list[Service]:
        spec = ctx.spec
        # binds its ports and reads its key as root, then runs as nobody (labsim.node.privdrop)
        argv = stdlib_program(ctx.python, "labsim.node.echo_server", "--name", ctx.name,
                              "--user", USER, "--group", GROUP)
        for addr in listen_addresses(ctx):
            argv += ["--listen", addr]
        argv += ["--http", str(spec.http_port or 0), "--https", str(spec.https_port or 0)]
        if spec.tcp_port:
            argv += ["--tcp", str(spec.tcp_port), "--banner", spec.banner]
        if spec.responses:
            argv += ["--responses", f"{ctx.dir}/responses.json"]
        if spec.https_port:
            tls = self.tls(ctx)
            assert tls is not None  # https_port is set: https_certificate asks for one
            argv += ["--cert", f"{ctx.dir}/{tls.cert}", "--key", f"{ctx.dir}/{tls.key}"]
        return [Service("echo", argv)]

    def probes(self, ctx: NodeContext):
        addr = probe_address(ctx)
        if addr is None:  # listening somewhere the node has no address: probe it as given
            addr = ip_address(listen_addresses(ctx)[0])
        ports = [p for p in (ctx.spec.http_port, ctx.spec.https_port, ctx.spec.tcp_port) if p]
        return [TcpProbe(addr, p) for p in ports]

    def validate(self, ctx: NodeContext) -> None:
        for i, addr in enumerate(ctx.spec.listen or []):
            try:
                ip_address(addr)
            except ValueError:
                raise PlanError(("nodes", ctx.name, "listen", i), f"{addr!r} is not an IP address") from None
        if ctx.spec.listen and "0.0.0.0" in ctx.spec.listen and "::" not in ctx.spec.listen \
                and not ctx.node.addresses(4):
            raise PlanError(("nodes", ctx.name, "listen"),
                            "0.0.0.0 serves IPv4 only and this node has no IPv4 address")
