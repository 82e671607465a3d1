"""Tier 1: the echo backend (labsim.node.echo_server) answers a keep-alive https request
with no Nagle stall: the response leaves in one write, so the client's delayed ACK never
holds half of it back. It used to write the headers and the body separately, and every
https request after the handshake waited ~40 ms (Linux's minimum delayed ACK) for its
body: that was in every https check's timings."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import trustme

from labsim.node.echo_server import EchoServer

STALL_S = 0.040  # the kernel's minimum delayed ACK (TCP_DELACK_MIN)


def _read_response(conn: ssl.SSLSocket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(65536)
        assert chunk, "connection closed before the headers"
        head += chunk
    headers, body = head.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":", 1)[1] for line in headers.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "connection closed before the body"
        body += chunk
    return headers + b"\r\n\r\n" + body


def test_keep_alive_https_answers_without_a_delayed_ack_stall():
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)
    server = EchoServer("127.0.0.1", 0, "api", tls=ctx)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        client = ssl.create_default_context()
        ca.configure_trust(client)
        with socket.create_connection(server.server_address[:2], timeout=10) as raw, \
                client.wrap_socket(raw, server_hostname="localhost") as conn:
            took = []
            for _ in range(6):  # bounded; the first exchange leaves quick-ACK mode behind
                t = time.monotonic()
                conn.sendall(b"GET /v1/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert b'"node": "api"' in _read_response(conn)
                took.append(time.monotonic() - t)
        # the fastest of the later requests: a stall is in every one of them, load is not
        assert min(took[1:]) < STALL_S / 2, [round(x * 1000, 1) for x in took]
    finally:
        server.shutdown()
        server.server_close()
