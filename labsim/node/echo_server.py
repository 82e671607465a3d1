"""The backend's echo service: answers every request with what it received, as JSON.

Method, path, query, headers, cookies, body and the peer address come back, so a test can
see exactly what crossed a proxy or CDN. Run inside a node:

    python -m labsim.node.echo_server --listen :: --http 80 --https 443 --cert C --key K

`--listen ::` is dual-stack (IPV6_V6ONLY off); `--listen 0.0.0.0` is IPv4 only, the classic
"daemon bound to 0.0.0.0" mistake a lab can reproduce. With `--user nobody --group nogroup`
(what the backend kind passes) it drops root once every port is bound and the key is read,
and only then listens: a connection accepted (a readiness probe's) means root is gone.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import json
import re
import socket
import socketserver
import ssl
import sys
import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from labsim.node.privdrop import drop_root, user_args


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _peer(address: str) -> str:
    """The peer as it really is: an IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d."""
    try:
        mapped = ipaddress.IPv6Address(address).ipv4_mapped
    except ValueError:
        return address
    return str(mapped) if mapped else address


BYTES_PATH = re.compile(r"/bytes/(\d{1,9})")
MAX_BYTES = 100_000_000


class EchoHandler(BaseHTTPRequestHandler):
    server_version = "labsim-echo/1"
    protocol_version = "HTTP/1.1"
    # a response leaves in one write (flushed after each request), as nginx sends a small
    # one: unbuffered, the headers and the body went as two TLS records, and the second
    # waited on Nagle for the client's delayed ACK, 40 ms on every https check
    wbufsize = 1 << 16

    def _echo(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        fixed = self.server.responses.get(urlsplit(self.path).path)  # type: ignore[attr-defined]
        if fixed is not None:
            return self._fixed(fixed)
        size = BYTES_PATH.fullmatch(urlsplit(self.path).path)
        if size and int(size.group(1)) <= MAX_BYTES:
            return self._bytes(int(size.group(1)))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        cookies = SimpleCookie(self.headers.get("Cookie", ""))
        payload = {
            "node": self.server.node_name,  # type: ignore[attr-defined]
            "method": self.command,
            "path": url.path,
            "query": parse_qs(url.query, keep_blank_values=True),
            "raw_query": url.query,
            "headers": {k: v for k, v in self.headers.items()},
            "cookies": {k: m.value for k, m in cookies.items()},
            "body": body.decode("utf-8", "replace"),
            "remote": _peer(self.client_address[0]),
            "tls": isinstance(self.connection, ssl.SSLSocket),
        }
        data = json.dumps(payload, indent=1).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _bytes(self, n: int) -> None:
        """`/bytes/N`: N bytes of body, for transfers larger than a path's MTU."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk = b"labsim " * 9362  # 65534 bytes
        while n > 0:
            self.wfile.write(chunk[:n])
            n -= min(n, len(chunk))

    def _websocket(self) -> None:
        """The WebSocket opening handshake (RFC 6455 §4.2.2), then one text frame saying who
        answered and from where, and a close frame: enough for a client to see 101 and data."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.command != "GET" or not key or self.headers.get("Sec-WebSocket-Version") != "13":
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.end_headers()
        hello = json.dumps({"node": self.server.node_name, "path": self.path,  # type: ignore[attr-defined]
                            "remote": _peer(self.client_address[0])}).encode()[:125]
        self.wfile.write(bytes([0x81, len(hello)]) + hello + bytes([0x88, 0x02, 0x03, 0xE8]))
        self.close_connection = True

    def _fixed(self, r: dict[str, Any]) -> None:
        data = r.get("body", "").encode()
        self.send_response(r.get("status", 200))
        for k, v in r.get("headers", {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _echo

    def log_message(self, fmt: str, *args: Any) -> None:  # one line per request on stderr
        super().log_message(fmt, *args)


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listen: str, port: int, node_name: str, tls: ssl.SSLContext | None = None,
                 responses: dict[str, Any] | None = None, bind_and_activate: bool = True):
        self.address_family = socket.AF_INET6 if ":" in listen else socket.AF_INET
        self.node_name = node_name
        self.responses = responses or {}
        self.tls = tls
        super().__init__((listen, port), EchoHandler, bind_and_activate)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # the TLS handshake happens in the request's thread, so a silent client (a port
        # probe) never blocks accept()
        # nginx's tcp_nodelay: what a response writes is sent at once, never held for an ACK
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            request.settimeout(10)
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        print(f"echo: {client_address[0]}: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # '::' serves IPv4 too (mapped); an explicit v6 address does not
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # not HTTPServer.server_bind: it calls getfqdn(), a reverse DNS lookup that can hang
        # for seconds when the node's resolver cannot reach its upstream; a daemon must start
        # without DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.node_name, self.server_address[1]


class BannerHandler(socketserver.StreamRequestHandler):
    """A raw TCP service that speaks first (like SMTP or a custom protocol): the banner, then
    each line back, until the client leaves or goes quiet."""

    timeout = 10

    def handle(self) -> None:
        self.wfile.write(self.server.banner.encode() + b"\r\n")  # type: ignore[attr-defined]
        for _ in range(100):
            try:
                line = self.rfile.readline(4096)
            except OSError:
                return
            if not line:
                return
            self.wfile.write(line)


class BannerServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: str, port: int, banner: str, bind_and_activate: bool = True):
        self.address_family = socket.AF_INET6 if ":" in listen else socket.AF_INET
        self.banner = banner
        super().__init__((listen, port), BannerHandler, bind_and_activate)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", default=[])
    ap.add_argument("--http", type=int, default=80)
    ap.add_argument("--https", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--name", default="backend")
    ap.add_argument("--tcp", type=int, default=0, help="a raw TCP service that sends --banner first")
    ap.add_argument("--banner", default="labsim-echo ready")
    ap.add_argument("--responses", help="JSON file: path -> {status, headers, body}")
    user_args(ap)
    args = ap.parse_args(argv)
    responses = json.loads(open(args.responses).read()) if args.responses else {}
    servers: list[socketserver.TCPServer] = []  # bound below, then listening once root is gone
    for listen in args.listen or ["::"]:
        if args.http:
            servers.append(EchoServer(listen, args.http, args.name, responses=responses, bind_and_activate=False))
        if args.https:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(args.cert, args.key)
            servers.append(EchoServer(listen, args.https, args.name, tls=ctx, responses=responses,
                                      bind_and_activate=False))
        if args.tcp:
            servers.append(BannerServer(listen, args.tcp, args.banner, bind_and_activate=False))
    # every port bound (80 and 443 need root), the key and the responses read: nothing
    # left that needs root. Listening comes after the drop, so nothing connects to this
    # process while it is root: the readiness probe's connection says root is gone.
    for server in servers:
        server.server_bind()
    drop_root(args.user, args.group)
    for server in servers:
        server.server_activate()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    print(f"echo: listening on {', '.join(args.listen or ['::'])}", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
