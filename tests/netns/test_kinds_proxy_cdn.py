"""The `proxy` and `cdn` kinds in real labs: an IPv6-only network with no NAT64 reaches an
IPv4-only API through them (what they render is tests/unit/test_kinds_proxy_cdn.py)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest


from labsim.loader import load_lab_text

from tests.unit.test_kinds_proxy_cdn import NETWORKS


def unique(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def run_in(lab_name: str, node: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
    from labsim.runtime.netns import node_ns

    return subprocess.run(["ip", "netns", "exec", node_ns(lab_name, node), *argv],
                          capture_output=True, text=True, timeout=timeout)


MARK = "\n@@labsim@@"


def curl(lab_name: str, url: str, *extra: str) -> dict:
    """curl from the client: status, remote ip, response headers (lower-case), echo JSON."""
    res = run_in(lab_name, "client", "curl", "-sS", "-m", "5", "-D", "-", *extra,
                 "-w", MARK + "%{http_code} %{remote_ip}", url)
    out, _, tail = res.stdout.rpartition(MARK)
    code, remote = (tail.split() + ["0", ""])[:2]
    head, _, body = out.partition("\n\n")  # text mode: CRLF reads as LF
    headers: dict[str, list[str]] = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    try:
        echo = json.loads(body)
    except json.JSONDecodeError:
        echo = None
    return {"code": int(code), "remote": remote, "headers": headers, "echo": echo,
            "stderr": res.stderr, "exit": res.returncode}


def echo_header(echo: dict, name: str) -> str | None:
    return next((v for k, v in echo["headers"].items() if k.lower() == name.lower()), None)


def point_record(lab_name: str, state_dir: Path, owner: str, old: str, new: str) -> None:
    """Repoint `owner` A from `old` to `new` in ns's example.test zone, served at once."""
    zone = state_dir / "nodes" / "ns" / "zones" / "example.test.zone"
    text = zone.read_text()
    line = f"{owner} 60 IN A {old}\n"
    assert line in text, text
    zone.write_text(text.replace(line, f"{owner} 60 IN A {new}\n"))
    res = run_in(lab_name, "ns", "pdns_control", f"--config-dir={state_dir}/nodes/ns",
                 "bind-reload-now", "example.test")
    assert res.returncode == 0, res.stderr + res.stdout


def wait_for(check, timeout: float = 5.0, step: float = 0.2):
    """The first truthy result of check() within `timeout`, else the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)


class Lab:
    def __init__(self, text: str, prefix: str):
        from labsim.bringup import lab

        self.lab = lab
        self.name = unique(prefix)
        self.loaded = load_lab_text(text, name=self.name)
        self.state_dir: Path | None = None

    def __enter__(self) -> "Lab":
        try:
            res = self.lab.up(self.loaded)
        except BaseException:
            self.down()
            raise
        self.state_dir = res.state.dir
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def down(self) -> None:
        from labsim.errors import LabNotFoundError
        from labsim.bringup.lab import lab_namespaces

        try:
            self.lab.down(self.name)
        except LabNotFoundError:
            pass
        assert lab_namespaces(self.name) == []

    def addr(self, node: str, family: int) -> str:
        return str(self.loaded.plan.nodes[node].addresses(family)[0])


# IPv6-only client and DNS, IPv4-only backends, no NAT64: only the proxy joins the families
PROXY_LAB = """\
name: placeholder
{networks}
nodes:
  client: {{kind: client, links: [v6net], resolver: {{nameservers: [ns]}}}}
  ns:
    kind: authdns
    links: [v6net]
    zones:
      example.test:
        records:
          api: {{A: [backend], AAAA: [proxy]}}
  proxy:
    kind: proxy
    implementation: {implementation}
    links: [v6net, v4net]
    upstream: api.example.test
  backend: {{kind: backend, links: [v4net], tls_names: [api.example.test]}}
  backend2: {{kind: backend, links: [v4net], tls_names: [api.example.test]}}
"""


@pytest.mark.root
@pytest.mark.parametrize("implementation", ["nginx", "haproxy"])
def test_ipv6_only_network_reaches_ipv4_api_through_proxy(implementation):
    text = PROXY_LAB.format(networks=NETWORKS, implementation=implementation)
    with Lab(text, "px") as lab:
        # haproxy fills the server's address in from its resolvers shortly after start
        r = wait_for(lambda: (x := curl(lab.name, "http://api.example.test/p?q=1"))["code"] == 200 and x)
        assert r, curl(lab.name, "http://api.example.test/p?q=1")
        assert r["remote"] == lab.addr("proxy", 6)  # the client reached the proxy over IPv6
        assert r["echo"]["remote"] == lab.addr("proxy", 4)  # the backend saw the proxy's IPv4
        assert r["echo"]["node"] == "backend" and r["echo"]["raw_query"] == "q=1"

        # TLS passes through: the backend's certificate verifies against the lab CA
        s = curl(lab.name, "https://api.example.test/secure")
        assert s["code"] == 200 and s["exit"] == 0, s["stderr"]
        assert s["echo"]["tls"] is True and s["remote"] == lab.addr("proxy", 6)

        # a changed A record is followed without restarting the proxy
        point_record(lab.name, lab.state_dir, "api", lab.addr("backend", 4), lab.addr("backend2", 4))
        moved = wait_for(lambda: (x := curl(lab.name, "http://api.example.test/"))["echo"]
                         and x["echo"]["node"] == "backend2" and x, timeout=6)
        assert moved, "the proxy kept using the old address"
        assert moved["echo"]["remote"] == lab.addr("proxy", 4)


CDN_LAB = """\
name: placeholder
{networks}
nodes:
  client: {{kind: client, links: [v6net], resolver: {{nameservers: [ns]}}}}
  ns:
    kind: authdns
    links: [v6net]
    zones:
      example.test:
        records:
          api: {{AAAA: [cdn]}}
          rewrite: {{AAAA: [cdn-rw]}}
          origin: {{A: [backend]}}
  cdn:
    kind: cdn
    links: [v6net, v4net]
    origin: http://origin.example.test
    tls_names: [api.example.test]
  cdn-rw:
    kind: cdn
    links: [v6net, v4net]
    origin: https://origin.example.test
    host_header: origin.example.test
    https_port: null
  backend: {{kind: backend, links: [v4net], tls_names: [origin.example.test]}}
  backend2: {{kind: backend, links: [v4net], tls_names: [origin.example.test]}}
"""


@pytest.mark.root
def test_cdn_forwards_every_request_unchanged_and_caches_nothing():
    with Lab(CDN_LAB.format(networks=NETWORKS), "cdn") as lab:
        url = "http://api.example.test/v1/items?a=1&b=x%20y&b=2"
        common = ["-H", "X-Client-Platform: ios/1.2", "-H", "X_Under_Score: yes",
                  "-H", "Cookie: session=abc123; theme=dark"]
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            body = ["--data-binary", f"payload={method.lower()}&x=1"] if method != "GET" else []
            r = curl(lab.name, url, "-X", method, *common, *body)
            assert r["code"] == 200, (method, r["stderr"])
            echo = r["echo"]
            assert r["remote"] == lab.addr("cdn", 6)
            assert echo["method"] == method
            assert echo["path"] == "/v1/items"
            assert echo["raw_query"] == "a=1&b=x%20y&b=2"
            assert echo["query"] == {"a": ["1"], "b": ["x y", "2"]}
            assert echo_header(echo, "X-Client-Platform") == "ios/1.2"
            assert echo_header(echo, "X_Under_Score") == "yes"
            assert echo["cookies"] == {"session": "abc123", "theme": "dark"}
            assert echo["body"] == (f"payload={method.lower()}&x=1" if body else "")
            assert echo_header(echo, "Host") == "api.example.test"  # the client's Host
            assert echo_header(echo, "X-Forwarded-For") == lab.addr("client", 6)
            assert echo["remote"] == lab.addr("cdn", 4) and echo["tls"] is False
            assert r["headers"]["via"] == ["1.1 cdn (labsim-cdn)"]
            assert r["headers"]["server"][0].startswith("labsim-echo/1")  # the origin's own
            assert r["headers"]["cache-control"] == ["no-store"]

        # nothing cached: the same URL with another cookie gets its own answer
        one = curl(lab.name, "http://api.example.test/same", "-H", "Cookie: user=one")
        two = curl(lab.name, "http://api.example.test/same", "-H", "Cookie: user=two")
        assert one["echo"]["cookies"] == {"user": "one"} and two["echo"]["cookies"] == {"user": "two"}

        # HTTPS at the edge with a lab-CA certificate for the public name
        s = curl(lab.name, "https://api.example.test/tls")
        assert s["code"] == 200 and s["exit"] == 0, s["stderr"]
        assert s["headers"]["via"] == ["1.1 cdn (labsim-cdn)"]

        # Host rewritten towards an HTTPS origin whose certificate the edge verifies
        rw = curl(lab.name, "http://rewrite.example.test/x?y=1")
        assert rw["code"] == 200, rw["stderr"]
        assert echo_header(rw["echo"], "Host") == "origin.example.test"
        assert rw["echo"]["tls"] is True and rw["echo"]["raw_query"] == "y=1"
        assert rw["headers"]["via"] == ["1.1 cdn-rw (labsim-cdn)"]

        # the origin's record changes: the edge follows it without a restart
        point_record(lab.name, lab.state_dir, "origin", lab.addr("backend", 4), lab.addr("backend2", 4))
        moved = wait_for(lambda: (x := curl(lab.name, "http://api.example.test/"))["echo"]
                         and x["echo"]["node"] == "backend2" and x, timeout=6)
        assert moved, "the cdn kept using the old origin address"
