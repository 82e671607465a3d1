"""`cdn`: a CDN edge that caches nothing, in front of an origin (nginx HTTP reverse proxy).

The failure catalog's row 4: CloudFront with caching disabled and every method, header,
cookie and query string forwarded, giving an IPv4-only API an IPv6 front door. The edge
listens on every address of the node, both families, over HTTP and HTTPS (a lab-CA
certificate naming the node's `names`, its name and addresses, or `tls_names` to reproduce a
certificate that does not name what clients ask for).

Requests go to the origin as they came: no cache at all, every method, the request URI
exactly as sent (a `proxy_pass` with no URI part), every header (underscores and odd
names included), cookies and bodies of any size. `Host` is the client's unless
`host_header` rewrites it. The edge adds `X-Forwarded-For` towards the origin and a
`Via: 1.1 <node> (labsim-cdn)` response header; the origin's own response headers come
back unchanged (its `Server` and `Date` too, which nginx would otherwise replace).

`origin` is a URL base (`http://api.example.test`, `https://lb.example.test:8443`) or a node
name (`http://<its address>`). A DNS name in it is resolved per request through the node's
own nameservers (nginx `resolver`, answers kept one second), so a changed record is followed;
an HTTPS origin's certificate is verified against the node's CA bundle, which includes the
lab CA when `trust_lab_ca` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from labsim.kinds import escape
from labsim.kinds.base import Kind, NodeContext, Service, TcpProbe, TlsRequest
from labsim.kinds.common import base_files, https_certificate
from labsim.kinds.proxy import (
    indent,
    is_dns_name,
    is_ip,
    nginx_args,
    nginx_listen,
    nginx_main,
    nginx_resolver,
    resolve_host,
    resolver_nameservers,
)
from labsim.model.plan import PlanError
from labsim.model.topology import NodeBase
from labsim.model.types import HostHeader, OriginRef, TlsName

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # with the lab CA appended (trust_lab_ca)
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # nginx makes them all


class Schema(NodeBase):
    kind: Literal["cdn"]
    origin: OriginRef  # URL base (http[s]://host[:port]) or a node name
    host_header: HostHeader | None = None  # Host towards the origin; default: the client's
    http_port: int | None = Field(80, ge=1, le=65535)
    https_port: int | None = Field(443, ge=1, le=65535)
    tls_names: list[TlsName] | None = Field(None, max_length=64)  # default: names + node name + addresses
    trust_lab_ca: bool = True  # the edge verifies an HTTPS origin's lab certificate


@dataclass(frozen=True)
class Origin:
    scheme: str  # http or https
    name: str  # the host as written: a DNS name, a node name or an IP literal
    host: str  # what nginx connects to: the DNS name or an address
    port: int | None

    @property
    def dynamic(self) -> bool:
        return is_dns_name(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


def origin(ctx: NodeContext) -> Origin:
    loc = ("nodes", ctx.name, "origin")
    text = ctx.spec.origin.strip()
    if "://" not in text:
        if is_ip(text) or is_dns_name(text):
            raise PlanError(loc, f"{text!r}: write the origin as a URL, e.g. http://{text}")
        text = f"http://{text}"  # a node name
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise PlanError(loc, f"{ctx.spec.origin!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise PlanError(loc, f"{ctx.spec.origin!r}: the origin is http:// or https://")
    if not url.hostname:
        raise PlanError(loc, f"{ctx.spec.origin!r} has no host")
    if url.path not in ("", "/") or url.query or url.fragment or url.username or url.password:
        raise PlanError(loc, f"{ctx.spec.origin!r}: the origin is scheme, host and port only; "
                             "requests keep their own path and query")
    return Origin(url.scheme, url.hostname, resolve_host(ctx, url.hostname, loc), port)


def ports(ctx: NodeContext) -> list[int]:
    return [p for p in (ctx.spec.http_port, ctx.spec.https_port) if p]


def location(ctx: NodeContext, o: Origin) -> list[str]:
    host = escape.nginx_word(ctx.spec.host_header) if ctx.spec.host_header else "$http_host"
    lines = []
    if o.dynamic:
        # a variable makes nginx resolve the name per request through `resolver`; with no
        # URI part the request URI goes to the origin exactly as the client sent it
        lines += [f"set $origin {escape.nginx_word(o.url)};", "proxy_pass $origin;"]
    else:
        lines += [f"proxy_pass {escape.nginx_word(o.url)};"]
    lines += [
        "proxy_http_version 1.1;",
        f"proxy_set_header Host {host};",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        # the origin's headers back unchanged: no Location/Refresh rewriting, its own
        # Server and Date, and no X-Accel-* acting on the edge
        "proxy_redirect off;",
        "proxy_pass_header Server;",
        "proxy_pass_header Date;",
        "proxy_ignore_headers X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate "
        "X-Accel-Buffering X-Accel-Charset;",
    ]
    if o.scheme == "https":
        lines += [
            "proxy_ssl_server_name on;",
            f"proxy_ssl_name {escape.nginx_word(o.name)};",
            "proxy_ssl_verify on;",
            "proxy_ssl_verify_depth 4;",
            f"proxy_ssl_trusted_certificate {CA_BUNDLE};",
        ]
    lines += [f'add_header Via "1.1 {ctx.name} (labsim-cdn)" always;']
    return lines


def nginx_conf(ctx: NodeContext, tls: TlsRequest | None) -> str:
    o = origin(ctx)
    http = [
        "access_log /dev/stdout;",
        *[f"{t}_temp_path {ctx.dir}/{t}_temp;" for t in TEMP_PATHS],
        "server_tokens off;",
        # nothing is cached: no proxy_cache anywhere; every header and any body size passes
        "underscores_in_headers on;",
        "ignore_invalid_headers off;",
        "client_max_body_size 0;",
    ]
    if o.dynamic:
        servers = resolver_nameservers(ctx, ("nodes", ctx.name, "origin"))
        http += [nginx_resolver(ctx, servers), "resolver_timeout 2s;"]
    server: list[str] = []
    if ctx.spec.http_port:
        server += nginx_listen(ctx.spec.http_port)
    if ctx.spec.https_port and tls is not None:
        server += nginx_listen(ctx.spec.https_port, " ssl")
        server += [f"ssl_certificate {ctx.dir}/{tls.cert};",
                   f"ssl_certificate_key {ctx.dir}/{tls.key};"]
    server += ["", "location / {", *indent(location(ctx, o)), "}"]
    http += ["", "server {", *indent(server), "}"]
    lines = [f"# labsim: cdn {ctx.name} (nginx, nothing cached): ports "
             f"{', '.join(map(str, ports(ctx)))} -> {o.url}",
             *nginx_main(ctx, stream=False), "http {", *indent(http), "}"]
    return "\n".join(lines) + "\n"


class Cdn(Kind):
    name = "cdn"
    schema = Schema
    packages = ("nginx-light",)
    binaries = ("nginx",)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        files = base_files(ctx)
        files["nginx.conf"] = nginx_conf(ctx, self.tls(ctx))
        return files

    def tls(self, ctx: NodeContext) -> TlsRequest | None:
        return https_certificate(ctx)

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        return [["nginx", "-t", "-q", *nginx_args(ctx)]]

    def services(self, ctx: NodeContext) -> list[Service]:
        return [Service("nginx", ["nginx", *nginx_args(ctx)])]

    def probes(self, ctx: NodeContext):
        addrs = ctx.node.addresses(6) or ctx.node.addresses()
        return [TcpProbe(addrs[0], port) for port in ports(ctx)]

    def validate(self, ctx: NodeContext) -> None:
        if not ports(ctx):
            raise PlanError(("nodes", ctx.name), "a cdn needs an 'http_port' or an 'https_port'")
        # an empty `tls_names` is the loader's to refuse, for every kind (loader._check_tls_names)
        o = origin(ctx)
        if o.dynamic:
            resolver_nameservers(ctx, ("nodes", ctx.name, "origin"))
