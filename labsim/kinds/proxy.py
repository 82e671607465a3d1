"""`proxy`: a dual-stack TCP proxy in front of a backend that only has IPv4 (nginx or haproxy).

The failure catalog's row 2: a network with IPv6 only and no NAT64 still reaches an
IPv4-only API when the API's name has an AAAA record pointing at a proxy that has both
families. The proxy listens on every address of the node (`[::]:P` and `0.0.0.0:P`) and
forwards each port to the same port upstream as plain TCP, so TLS passes through untouched
and clients see the backend's own certificate.

`upstream` is a node name (its IPv4 address if it has one, else IPv6: an address written
into the config, as a hard-coded deployment would), an IP literal, or a DNS name. A DNS name
is resolved while the proxy runs, through the node's own nameservers, and re-resolved once a
second, so a changed record is followed without a restart:

- nginx 1.22 (open source) has no `resolve` parameter on upstream servers (that is NGINX
  Plus), but a stream `proxy_pass` whose address comes from a variable is resolved per
  connection through the stream `resolver` (cached for its `valid=` time). `set` exists in
  stream since 1.19.3 (ngx_stream_set_module), so `set $upstream name:port; proxy_pass
  $upstream;` does it.
- haproxy: a `resolvers` section and `server ... resolvers lab init-addr none`.

Both resolve only A records when the proxy has IPv4 (the backend this kind stands in front
of has no IPv6; a DNS64 resolver's synthesized AAAA would lead back to a NAT64).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from labsim.kinds import escape
from labsim.kinds.base import IPAddress, Kind, NodeContext, Probe, Service, TcpProbe
from labsim.kinds.common import base_files, nameserver_addresses
from labsim.model.plan import PlanError
from labsim.model.topology import NodeBase
from labsim.model.types import UpstreamRef, is_ip_literal

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+"
                      r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")
NGINX_USER = "www-data"
HAPROXY_USER = "haproxy"  # the Debian package's own user
RESOLVE_VALID_S = 1  # how long a resolved upstream address is kept before asking again

TcpPort = Annotated[int, Field(ge=1, le=65535)]


class Schema(NodeBase):
    kind: Literal["proxy"]
    implementation: Literal["nginx", "haproxy"] = "nginx"
    ports: list[TcpPort] = Field(default_factory=lambda: [80, 443], min_length=1)
    upstream: UpstreamRef  # a node name, an IP literal or a DNS name resolved at run time

    @field_validator("ports")
    @classmethod
    def _distinct(cls, ports: list[int]) -> list[int]:
        if len(set(ports)) != len(ports):
            raise ValueError("a port is listed twice")
        return ports


# -- upstream references (shared with `cdn`) -------------------------------------------------
def is_ip(text: str) -> bool:
    return is_ip_literal(text)  # no scope id ('%...'), unlike ipaddress alone


def is_dns_name(text: str) -> bool:
    """A name with a dot that is not an IP literal; node names never contain a dot."""
    return "." in text and not is_ip(text)


def node_address(ctx: NodeContext[Schema], node: str, loc: tuple[str | int, ...]) -> IPAddress:
    """The address a config hard-codes for a node: IPv4 if it has one, else IPv6."""
    if node not in ctx.plan.nodes:
        raise PlanError(loc, f"{node!r} is neither a node, an IP address nor a DNS name "
                             f"(a DNS name has a dot)")
    other = ctx.plan.nodes[node]
    addrs = other.addresses(4) or other.addresses(6)
    if not addrs:
        raise PlanError(loc, f"node {node!r} has no address")
    return addrs[0]


def resolve_host(ctx: NodeContext[Schema], host: str, loc: tuple[str | int, ...]) -> str:
    """An IP literal or DNS name as given; a node name becomes its address."""
    if is_ip(host):
        return host
    if is_dns_name(host):
        if not DNS_NAME.match(host):
            raise PlanError(loc, f"{host!r} is not a valid DNS name")
        return host
    return str(node_address(ctx, host, loc))


def resolver_nameservers(ctx: NodeContext[Schema], loc: tuple[str | int, ...]) -> list[str]:
    """The node's resolv.conf nameservers, which run-time resolution uses; at least one."""
    servers = nameserver_addresses(ctx)
    if not servers:
        raise PlanError(loc, f"node {ctx.name!r} resolves a DNS name at run time but has no "
                             f"nameserver: add a dns64 or authdns node, or 'resolver: "
                             f"{{nameservers: [...]}}'")
    return servers


def host_port(host: str, port: int) -> str:
    """`host:port` with IPv6 literals in brackets (nginx and haproxy both read this)."""
    escape.nginx_word(host)  # the same words are safe in haproxy.cfg
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- nginx (shared with `cdn`) -------------------------------------------------------------
def nginx_main(ctx: NodeContext[Schema], *, stream: bool) -> list[str]:
    """The top of an nginx.conf that keeps everything in the node directory and on stderr."""
    lines = [f"load_module {STREAM_MODULE};"] if stream else []
    return lines + [
        # workers run as www-data (Debian's nginx user); the master keeps root to bind,
        # read the key and create the temp dirs
        f"user {NGINX_USER} {NGINX_USER};",
        "worker_processes 1;",
        f"pid {ctx.dir}/nginx.pid;",
        f"lock_file {ctx.dir}/nginx.lock;",
        "error_log stderr notice;",
        "events {",
        "    worker_connections 1024;",
        "}",
    ]


def nginx_resolver(ctx: NodeContext[Schema], servers: list[str]) -> str:
    # nginx 1.22 has `ipv6=off` but not `ipv4=off` (1.23.1): a node with IPv6 only asks both
    only_v4 = " ipv6=off" if ctx.node.addresses(4) else ""
    addrs = " ".join(escape.nginx_word(f"[{a}]" if ":" in a else a) for a in servers)
    return f"resolver {addrs} valid={RESOLVE_VALID_S}s{only_v4};"


def nginx_listen(port: int, extra: str = "") -> list[str]:
    """Every address of the node, both families, as two sockets."""
    return [f"listen 0.0.0.0:{port}{extra};", f"listen [::]:{port}{extra} ipv6only=on;"]


def nginx_args(ctx: NodeContext[Schema]) -> list[str]:
    # -e: the error log before the config is read (else the compiled-in path)
    return ["-e", "stderr", "-p", f"{ctx.dir}/", "-c", f"{ctx.dir}/nginx.conf", "-g", "daemon off;"]


def indent(lines: list[str], by: int = 1) -> list[str]:
    return [("    " * by + line) if line else line for line in lines]


# -- the proxy ------------------------------------------------------------------------------
def upstream_host(ctx: NodeContext[Schema]) -> str:
    return resolve_host(ctx, ctx.spec.upstream, ("nodes", ctx.name, "upstream"))


def nginx_conf(ctx: NodeContext[Schema]) -> str:
    host = upstream_host(ctx)
    dynamic = is_dns_name(host)
    stream = [
        "log_format proxy '$remote_addr [$time_local] :$server_port -> $upstream_addr "
        "$status $bytes_received/$bytes_sent ${session_time}s';",
        "access_log /dev/stdout proxy;",
        "proxy_connect_timeout 5s;",
    ]
    if dynamic:
        servers = resolver_nameservers(ctx, ("nodes", ctx.name, "upstream"))
        stream += [nginx_resolver(ctx, servers), "resolver_timeout 2s;"]
    for port in ctx.spec.ports:
        server = nginx_listen(port)
        if dynamic:
            # a variable makes nginx resolve the name per connection through `resolver`
            server += [f"set $upstream {host_port(host, port)};", "proxy_pass $upstream;"]
        else:
            server += [f"proxy_pass {host_port(host, port)};"]
        stream += ["", "server {", *indent(server), "}"]
    lines = [f"# labsim: proxy {ctx.name} (nginx stream): TCP ports "
             f"{', '.join(map(str, ctx.spec.ports))} -> {escape.nginx_word(ctx.spec.upstream)}",
             *nginx_main(ctx, stream=True), "stream {", *indent(stream), "}"]
    return "\n".join(lines) + "\n"


def haproxy_cfg(ctx: NodeContext[Schema]) -> str:
    host = upstream_host(ctx)
    dynamic = is_dns_name(host)
    lines = [
        f"# labsim: proxy {ctx.name} (haproxy): TCP ports "
        f"{', '.join(map(str, ctx.spec.ports))} -> {escape.haproxy_word(ctx.spec.upstream)}",
        "# in the foreground (-db) as started: no daemon, chroot or stats socket; root is",
        "# dropped once the listeners are bound",
        "global",
        "    log stdout format raw local0 info",
        f"    user {HAPROXY_USER}",
        f"    group {HAPROXY_USER}",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    timeout connect 5s",
        "    timeout client 1h",
        "    timeout server 1h",
    ]
    server_opts = ""
    if dynamic:
        servers = resolver_nameservers(ctx, ("nodes", ctx.name, "upstream"))
        lines += ["", "resolvers lab"]
        lines += [f"    nameserver ns{i} {host_port(a, 53)}" for i, a in enumerate(servers)]
        lines += [
            "    accepted_payload_size 1232",
            "    resolve_retries 3",
            "    timeout resolve 1s",
            "    timeout retry 1s",
            *[f"    hold {state} {RESOLVE_VALID_S}s"
              for state in ("valid", "obsolete", "nx", "refused", "timeout", "other")],
        ]
        family = "ipv4" if ctx.node.addresses(4) else "ipv6"
        # init-addr none: start without an address; the resolvers fill it in at once
        server_opts = f" resolvers lab resolve-prefer {family} init-addr none"
    for port in ctx.spec.ports:
        lines += [
            "",
            f"listen port-{port}",
            f"    bind 0.0.0.0:{port}",
            f"    bind [::]:{port} v6only",
            # no `check`: with health checks haproxy sends nothing until the first check
            # passes (~4 s when both start together); without, the server is up as soon as
            # it has an address, and the TCP probe on the listener means ready
            f"    server upstream {host_port(host, port)}{server_opts}",
        ]
    return "\n".join(lines) + "\n"


class Proxy(Kind):
    name = "proxy"
    schema = Schema
    forwards = False  # it terminates TCP and opens its own connections; not a router
    packages = ("nginx-light", "libnginx-mod-stream", "haproxy")
    binaries = ("nginx",)

    def needs(self, spec: NodeBase) -> tuple[tuple[str, ...], tuple[str, ...]]:
        assert isinstance(spec, Schema)  # a proxy node's spec
        if spec.implementation == "haproxy":
            return ("haproxy",), ("haproxy",)
        return ("nginx",), ("nginx-light", "libnginx-mod-stream")

    def render(self, ctx: NodeContext[Schema]) -> dict[str, str]:
        files = base_files(ctx)
        if ctx.spec.implementation == "nginx":
            files["nginx.conf"] = nginx_conf(ctx)
        else:
            files["haproxy.cfg"] = haproxy_cfg(ctx)
        return files

    def setup(self, ctx: NodeContext[Schema]) -> list[list[str]]:
        if ctx.spec.implementation == "nginx":
            return [["nginx", "-t", "-q", *nginx_args(ctx)]]
        return [["haproxy", "-c", "-q", "-f", f"{ctx.dir}/haproxy.cfg"]]

    def services(self, ctx: NodeContext[Schema]) -> list[Service]:
        if ctx.spec.implementation == "nginx":
            return [Service("nginx", ["nginx", *nginx_args(ctx)])]
        return [Service("haproxy", ["haproxy", "-db", "-f", f"{ctx.dir}/haproxy.cfg"])]

    def probes(self, ctx: NodeContext[Schema]) -> list[Probe]:
        addr = ctx.node.addresses()[0]
        return [TcpProbe(addr, port) for port in ctx.spec.ports]

    def validate(self, ctx: NodeContext[Schema]) -> None:
        if is_dns_name(upstream_host(ctx)):
            resolver_nameservers(ctx, ("nodes", ctx.name, "upstream"))
