"""`review --uplink --follow`: what a lab server names is not a path into this host. A backend
hands out URLs of this host's loopback (127.0.0.1, 10.0.2.2 as slirp4netns would map it, a
name the lab resolves to 10.0.2.2) and the cloud metadata address, in a body and in a
redirect; the test listens on 127.0.0.1 and ::1 on that port. Nothing may arrive there, and
the report lists every such URL as skipped with why. The only listener is the test's own, on
loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import LABSIM, REPO, assert_same_host, host_snapshot, run_labsim

pytestmark = pytest.mark.root


@pytest.fixture
def loopback_listener():
    """Counts connections to one port on 127.0.0.1 and ::1; the port is free on both."""
    hits: list[str] = []
    socks = []
    for _ in range(20):  # a port free on 127.0.0.1 that is also free on ::1
        s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s4.bind(("127.0.0.1", 0))
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s6.bind(("::1", s4.getsockname()[1]))
        except OSError:
            s4.close()
            s6.close()
            continue
        socks = [s4, s6]
        break
    assert socks, "no port free on both 127.0.0.1 and ::1"
    stop = threading.Event()

    def serve(s: socket.socket) -> None:
        s.listen(16)
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, peer = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            hits.append(peer[0])
            conn.close()

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    yield socks[0].getsockname()[1], hits
    stop.set()
    for t in threads:
        t.join(timeout=5)
    for s in socks:
        s.close()


TOPOLOGY = """name: uplinkfollow
nat64_prefix: 2001:db8:64::/96
networks:
  v6net: {{ipv6: "2001:db8:1::/64"}}
  v4net: {{ipv4: 192.0.2.0/24}}
nodes:
  client: {{kind: client, links: [v6net], resolver: {{nameservers: [dns64]}}}}
  dns64: {{kind: dns64, links: [v6net]}}
  nat64: {{kind: nat64, links: [v6net, v4net], pool4: 198.18.0.0/24}}
  ns: {{kind: authdns, links: [v6net], zones: {{example.test: {{}}}}}}
  www:
    kind: backend
    links: [v6net, v4net]
    names: [www.example.test]
    responses:
      /links:
        headers: {{Content-Type: application/json}}
        body: '{body}'
      /go: {{status: 302, headers: {{Location: "http://10.0.2.2:{port}/redirected"}}}}
"""


def test_follow_through_the_uplink_skips_the_hosts_loopback_and_metadata(loopback_listener, tmp_path):
    port, hits = loopback_listener
    body = json.dumps({"a": f"http://127.0.0.1:{port}/a", "b": f"http://10.0.2.2:{port}/b",
                       "c": "http://169.254.169.254/latest/meta-data/", "d": f"http://host.local.test:{port}/d",
                       "e": "http://www.example.test/in-lab"})
    topo = tmp_path / "lab.yml"
    topo.write_text(TOPOLOGY.format(body=body, port=port))
    before = host_snapshot("review-")
    out, junit = tmp_path / "r.json", tmp_path / "r.xml"
    res = run_labsim("review", "--uplink", "--follow", "2", "--topology", str(topo), "--platform", "linux",
                     "--resolve", "host.local.test=10.0.2.2", "--capture", "none",
                     "http://www.example.test/links", "http://www.example.test/go",
                     "--json", str(out), "--junit", str(junit), timeout=240)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    # nothing reached this host's loopback: not through 10.0.2.2, not through the resolved name
    assert hits == []
    doc = json.loads(out.read_text())
    skipped = {r["url"]: r["skipped"] for r in doc if r["skipped"]}
    expected = {f"http://127.0.0.1:{port}/a": "loopback", f"http://10.0.2.2:{port}/b": "private",
                "http://169.254.169.254/latest/meta-data/": "metadata", f"http://host.local.test:{port}/d": "private",
                f"http://10.0.2.2:{port}/redirected": "private"}
    assert {u: s["kind"] for u, s in skipped.items()} == expected, res.stdout
    assert "host.local.test resolves in the lab's DNS to" in skipped[f"http://host.local.test:{port}/d"]["why"]
    assert skipped[f"http://10.0.2.2:{port}/redirected"]["found_in"] == "redirect (302) from http://www.example.test/go"
    for u in expected:  # skipped ones have no verdicts: they were never sent
        assert next(r for r in doc if r["url"] == u)["networks"] == {}
    # the lab's own backend, found the same way, is still followed and judged on both networks
    in_lab = next(r for r in doc if r["url"] == "http://www.example.test/in-lab")
    assert in_lab["found_in"] and set(in_lab["networks"]) == {"dns64-nat64", "ipv6-only"}
    # the console and JUnit say the same
    for u in expected:
        assert f"skipped {u}" in res.stdout, res.stdout
    cases = {c.get("name"): c.find("skipped") for c in ET.parse(junit).getroot().iter("testcase")}
    for u, kind in expected.items():
        el = cases.get(u)
        assert el is not None and el.get("type") == kind
    assert_same_host(before, host_snapshot("review-"))


def test_a_given_endpoint_on_10_0_2_2_does_not_reach_the_hosts_loopback(loopback_listener, tmp_path):
    """The uplink itself (slirp4netns --disable-host-loopback): even a URL the user gave, which
    --follow's filter does not touch, cannot reach a service bound to this host's loopback."""
    port, hits = loopback_listener
    out = tmp_path / "r.json"
    res = run_labsim("review", "--uplink", "--follow", "0", "--platform", "linux", "--network", "dns64-nat64",
                     "--capture", "none", "--resolve", "v4.local.test=10.0.2.2",
                     f"http://v4.local.test:{port}/", "--json", str(out), "--timeout", "3", timeout=180)
    assert res.returncode == 1, res.stdout + res.stderr
    cell = json.loads(out.read_text())[0]["networks"]["dns64-nat64"]["linux"]
    assert cell["verdict"] == "FAIL" and cell["result"]["facts"]["status"] is None
    assert hits == []


SERVER = """
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print(self.client_address[0], self.path, flush=True)
        body = b"hello from outside the lab\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
S((sys.argv[1], 8080), H).serve_forever()
"""


@pytest.fixture
def outside_namespace():
    """A network namespace of the test's own standing in for "this host": labsim runs in it, so
    its uplink leaves from it, and a server there on a non-loopback address is the outside."""
    import time

    ns = f"lsuf{os.getpid()}"
    ip = ["ip", "-n", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    servers: list[subprocess.Popen] = []
    try:
        for argv in (["link", "set", "lo", "up"], ["link", "add", "ou0", "type", "veth", "peer", "name", "ou1"],
                     ["link", "set", "ou0", "up"], ["link", "set", "ou1", "up"],
                     ["addr", "add", "203.0.113.1/24", "dev", "ou0"],
                     ["addr", "add", "2001:db8:ffff::1/64", "dev", "ou0", "nodad"]):
            subprocess.run(ip + argv, check=True)
        for addr in ("203.0.113.1", "2001:db8:ffff::1"):
            servers.append(subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-S", "-c", SERVER, addr],
                                            stdout=subprocess.PIPE, text=True))
        time.sleep(0.5)
        yield ns, servers
    finally:
        for p in servers:
            p.terminate()
            p.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_the_uplink_still_reaches_the_outside(outside_namespace, tmp_path):
    """--disable-host-loopback takes away the host's loopback only: a server elsewhere (here
    203.0.113.1 and 2001:db8:ffff::1 in the test's own namespace) is reached as before."""
    ns, servers = outside_namespace
    out = tmp_path / "r.json"
    res = subprocess.run(["ip", "netns", "exec", ns, LABSIM, "review", "--uplink", "--follow", "0",
                          "--platform", "linux", "--capture", "none",
                          "--resolve", "v4.outside.test=203.0.113.1", "--resolve", "v6.outside.test=2001:db8:ffff::1",
                          "http://v4.outside.test:8080/", "http://v6.outside.test:8080/", "--json", str(out)],
                         capture_output=True, text=True, timeout=180, cwd=REPO)
    assert res.returncode == 1, res.stdout + res.stderr  # v4-only fails on the ipv6-only network
    got = {r["url"]: {n: row["linux"] for n, row in r["networks"].items()} for r in json.loads(out.read_text())}
    v4, v6 = got["http://v4.outside.test:8080/"], got["http://v6.outside.test:8080/"]
    assert (v4["dns64-nat64"]["verdict"], v4["dns64-nat64"]["translated"]) == ("PASS", True)
    assert (v4["ipv6-only"]["verdict"], v4["ipv6-only"]["reason"]) == ("FAIL", "NO_AAAA")
    for net in ("dns64-nat64", "ipv6-only"):
        assert v6[net]["verdict"] == "PASS", v6[net]["result"]["detail"]
    for p in servers:
        p.terminate()
    seen = [line.split() for p in servers for line in (p.communicate(timeout=10)[0] or "").splitlines()]
    assert sorted(path for _, path in seen) == ["/", "/", "/"]  # one over IPv4, two over IPv6
