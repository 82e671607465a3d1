"""`review --uplink`: the lab reaches the outside through slirp4netns from its NAT64 node.

slirp4netns runs with --disable-host-loopback, so a server on the host's loopback is
unreachable by design (tests/netns/test_uplink_follow.py shows it). "The outside" here is a
network namespace of the test's own: labsim runs in it (`ip netns exec`), so its uplink
leaves from it, and labsim's echo service there, on 203.0.113.1 and 2001:db8:ffff::1
(HTTP, HTTPS and WebSocket), is the real API. Nothing here touches the host's own network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import LABSIM, REPO

pytestmark = pytest.mark.root

V4, V6 = "203.0.113.1", "2001:db8:ffff::1"
NAMES = ["v4.outside.test", "v6.outside.test", "ws.outside.test"]


@pytest.fixture
def outside(tmp_path):
    """A namespace of the test's own with labsim's echo service on 8080 (HTTP, WebSocket) and
    8443 (HTTPS, a certificate from a CA the lab does not know) on both addresses."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert(*NAMES)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ns = f"lsup{os.getpid()}"
    ip = ["ip", "-n", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    server = None
    try:
        for argv in (["link", "set", "lo", "up"], ["link", "add", "ou0", "type", "veth", "peer", "name", "ou1"],
                     ["link", "set", "ou0", "up"], ["link", "set", "ou1", "up"],
                     ["addr", "add", f"{V4}/24", "dev", "ou0"], ["addr", "add", f"{V6}/64", "dev", "ou0", "nodad"]):
            subprocess.run(ip + argv, check=True)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "labsim.node.echo_server",
                                   "--listen", V4, "--listen", V6, "--http", "8080", "--https", "8443",
                                   "--cert", str(cert), "--key", str(key), "--name", "outside"],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.stdout is not None
        line = server.stdout.readline()  # printed once every port is bound
        assert line.startswith("echo: listening"), line
        yield ns
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def review_in(ns: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, LABSIM, "review", "--uplink", "--follow", "0",
                           "--capture", "none", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_http_and_https_through_the_uplink(outside, tmp_path):
    out = tmp_path / "r.json"
    t0 = time.monotonic()
    res = review_in(outside, "--platform", "linux",
                    "--resolve", f"v4.outside.test={V4}", "--resolve", f"v6.outside.test={V6}",
                    "http://v4.outside.test:8080/a", "http://v6.outside.test:8080/b",
                    "https://v4.outside.test:8443/c", "--json", str(out))
    assert res.returncode == 1, res.stdout + res.stderr  # v4-only fails on the ipv6-only network
    assert time.monotonic() - t0 < 240
    got = {r["url"]: {n: row["linux"] for n, row in r["networks"].items()} for r in json.loads(out.read_text())}
    v4, v6 = got["http://v4.outside.test:8080/a"], got["http://v6.outside.test:8080/b"]
    # IPv4-only name: through DNS64/NAT64 and out of the uplink; no AAAA without translation
    a = v4["dns64-nat64"]
    assert (a["verdict"], a["translated"]) == ("PASS", True), a["result"]["detail"]
    assert a["result"]["facts"]["json"]["node"] == "outside" and a["result"]["facts"]["json"]["path"] == "/a"
    assert (v4["ipv6-only"]["verdict"], v4["ipv6-only"]["reason"]) == ("FAIL", "NO_AAAA")
    # IPv6 name: native IPv6 out of the uplink on both networks, never translated
    for net in ("dns64-nat64", "ipv6-only"):
        cell = v6[net]
        assert (cell["verdict"], cell["translated"]) == ("PASS", False), cell["result"]["detail"]
        assert cell["result"]["facts"]["json"]["path"] == "/b"
    # HTTPS: TCP and the TLS handshake crossed NAT64 and the uplink to the outside server,
    # which showed its certificate; the lab does not trust that CA, as a phone would not
    tls = got["https://v4.outside.test:8443/c"]["dns64-nat64"]
    assert (tls["verdict"], tls["reason"]) == ("FAIL", "TLS_VERIFY_FAILED"), tls["result"]["detail"]
    assert tls["result"]["facts"]["remote_ip"].startswith("2001:db8:64::")
    # nothing said this name is not in the lab: with an uplink the name may be outside
    assert "NOT_IN_LAB" not in res.stdout


def test_websocket_through_the_uplink_on_every_platform(outside, tmp_path):
    out = tmp_path / "r.json"
    url = "ws://ws.outside.test:8080/live"
    res = review_in(outside, "--resolve", f"ws.outside.test={V4}", url, "--json", str(out))
    assert res.returncode == 1, res.stdout + res.stderr
    cells = json.loads(out.read_text())[0]["networks"]
    for platform, v in cells["dns64-nat64"].items():
        # the handshake crossed DNS64/NAT64 and slirp to the outside server and reached 101
        assert (v["verdict"], v["result"]["facts"]["status"]) == ("PASS", 101), (platform, v["result"]["detail"])
    assert (cells["ipv6-only"]["linux"]["verdict"], cells["ipv6-only"]["linux"]["reason"]) == ("FAIL", "NO_AAAA")
