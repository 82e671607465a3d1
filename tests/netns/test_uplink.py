"""`review --uplink`: the lab reaches the outside through slirp4netns from its NAT64 node.
The only outside target allowed here is this host's loopback, so the servers are on
127.0.0.1 and ::1 (10.0.2.2 and fd00::2 from inside the lab), and they count what arrives."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import assert_same_host, host_snapshot, run_labsim

pytestmark = pytest.mark.root


class Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        Counter.hits.append(self.client_address[0])
        body = b"hello from the host's loopback\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def loopback_servers():
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Counter), V6Server(("::1", 0), Counter)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    Counter.hits.clear()
    yield servers[0].server_address[1], servers[1].server_address[1]
    for s in servers:
        s.shutdown()
        s.server_close()


def test_review_through_the_uplink_reaches_the_hosts_loopback(loopback_servers, tmp_path):
    port4, port6 = loopback_servers
    before = host_snapshot("review-")
    out = tmp_path / "r.json"
    res = run_labsim("review", "--uplink", "--resolve", "v4.local.test=10.0.2.2",
                     "--resolve", "v6.local.test=fd00::2",
                     f"http://v4.local.test:{port4}/", f"http://v6.local.test:{port6}/",
                     "--platform", "linux", "--json", str(out), timeout=180)
    assert res.returncode == 1, res.stdout + res.stderr  # v4-only fails on the ipv6-only network
    got = {r["url"]: {n: row["linux"] for n, row in r["networks"].items()} for r in json.loads(out.read_text())}
    v4, v6 = got[f"http://v4.local.test:{port4}/"], got[f"http://v6.local.test:{port6}/"]
    # IPv4-only name: through DNS64/NAT64 and out of the uplink; no AAAA without translation
    assert (v4["dns64-nat64"]["verdict"], v4["dns64-nat64"]["translated"]) == ("PASS", True)
    assert (v4["ipv6-only"]["verdict"], v4["ipv6-only"]["reason"]) == ("FAIL", "NO_AAAA")
    # IPv6 name: native IPv6 out of the uplink on both networks, never translated
    for net in ("dns64-nat64", "ipv6-only"):
        assert (v6[net]["verdict"], v6[net]["translated"]) == ("PASS", False), v6[net]["result"]["detail"]
    # the servers saw it: one request over IPv4, two over IPv6 (slirp connects from loopback)
    assert sorted(Counter.hits) == ["127.0.0.1", "::1", "::1"]
    assert_same_host(before, host_snapshot("review-"))


@pytest.fixture
def loopback_websocket():
    """labsim's own echo service on the host's loopback: it answers WebSocket handshakes."""
    from labsim.node.echo_server import EchoServer

    server = EchoServer("127.0.0.1", 0, "host")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_review_of_a_websocket_through_the_uplink_on_every_platform(loopback_websocket, tmp_path):
    port = loopback_websocket
    before = host_snapshot("review-")
    out = tmp_path / "r.json"
    url = f"ws://ws.local.test:{port}/live"
    res = run_labsim("review", "--uplink", "--resolve", "ws.local.test=10.0.2.2", url,
                     "--json", str(out), timeout=180)
    assert res.returncode == 1, res.stdout + res.stderr
    cells = json.loads(out.read_text())[0]["networks"]
    for platform, v in cells["dns64-nat64"].items():
        # the handshake crossed DNS64/NAT64 and slirp to the host's loopback and reached 101
        assert (v["verdict"], v["result"]["facts"]["status"]) == ("PASS", 101), (platform, v["result"]["detail"])
    assert (cells["ipv6-only"]["linux"]["verdict"], cells["ipv6-only"]["linux"]["reason"]) == ("FAIL", "NO_AAAA")
    assert_same_host(before, host_snapshot("review-"))
