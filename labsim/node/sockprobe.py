"""In-node probe for endpoints curl cannot speak (Debian's curl 7.88 has no ws:// support):
resolve through the node's libc and connect in order as an application does, optionally
TLS (verified against the node's trust store, which holds the lab CA), then the WebSocket
opening handshake (RFC 6455 §4: 101 and a matching Sec-WebSocket-Accept), or a banner read.

    python -m labsim.node.sockprobe ws|tcp HOST PORT [--tls] [--path P] [--connect ADDR]
                                      [--banner-ms N] [--timeout S]

`--connect ADDR` connects there instead of resolving HOST (a synthesized address); the
Host header and TLS server name stay HOST. Prints the agent's tcp shape (resolve,
attempts, connected, ms) plus `tls`, `ws` and `banner`. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import errno
import hashlib
import os
import socket
import ssl
import sys
import time

from labsim.node.agent import resolve, write_json

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HEAD_MAX = 16384


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def connect(host: str, port: int, timeout: float, addr: str | None) -> tuple[socket.socket | None, dict[str, Any]]:
    res = resolve(addr or host)
    out: dict[str, Any] = {"resolve": res, "attempts": [], "connected": None, "ms": None}
    for a in res["addresses"]:
        s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        t0 = time.perf_counter()
        try:
            s.connect((a, port))
        except OSError as exc:
            code = "ETIMEDOUT" if isinstance(exc, TimeoutError) else errno.errorcode.get(exc.errno or 0, str(exc.errno))
            out["attempts"].append({"address": a, "error": code, "ms": (time.perf_counter() - t0) * 1000})
            s.close()
            continue
        out["connected"], out["ms"] = a, (time.perf_counter() - t0) * 1000
        out["attempts"].append({"address": a, "error": None, "ms": out["ms"]})
        return s, out
    return None, out


def handshake(s: socket.socket, host: str, port: int, path: str, tls: bool) -> dict[str, Any]:
    key = base64.b64encode(os.urandom(16)).decode()
    default = 443 if tls else 80
    authority = host if port == default else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        authority = f"[{host}]" if port == default else f"[{host}]:{port}"
    req = (f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
    t0 = time.perf_counter()
    s.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    ms = (time.perf_counter() - t0) * 1000
    text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2) if lines and lines[0] else []
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    ok = status == 101 and headers.get("sec-websocket-accept") == accept_for(key) \
        and headers.get("upgrade", "").lower() == "websocket"
    return {"status": status, "headers": headers, "accept_ok": headers.get("sec-websocket-accept") == accept_for(key),
            "ok": ok, "ms": ms, "complete": b"\r\n\r\n" in head}


def probe(kind: str, host: str, port: int, tls: bool, path: str, addr: str | None,
          banner_ms: float, timeout: float) -> dict[str, Any]:
    s, out = connect(host, port, timeout, addr)
    if s is None:
        return out
    try:
        if tls:
            ctx = ssl.create_default_context()
            t0 = time.perf_counter()
            try:
                s = ctx.wrap_socket(s, server_hostname=host)
                out["tls"] = {"ok": True, "version": s.version(), "ms": (time.perf_counter() - t0) * 1000}
            except ssl.SSLCertVerificationError as exc:
                out["tls"] = {"ok": False, "verify_code": exc.verify_code, "error": exc.verify_message}
                return out
            except (ssl.SSLError, OSError) as exc:
                out["tls"] = {"ok": False, "verify_code": None, "error": str(exc)}
                return out
        try:
            if kind == "ws":
                out["ws"] = handshake(s, host, port, path, tls)
            elif banner_ms > 0:
                s.settimeout(banner_ms / 1000)
                try:
                    out["banner"] = s.recv(512).decode("utf-8", "replace")
                except TimeoutError:
                    out["banner"] = ""
        except TimeoutError:
            out["error"] = "ETIMEDOUT"
        except OSError as exc:
            out["error"] = errno.errorcode.get(exc.errno or 0, str(exc))
    finally:
        s.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("ws", "tcp"))
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--path", default="/")
    ap.add_argument("--connect")
    ap.add_argument("--banner-ms", type=float, default=300.0)
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args(argv)
    write_json(probe(a.kind, a.host, a.port, a.tls, a.path, a.connect, a.banner_ms, a.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
