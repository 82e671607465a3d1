"""The `proxy` and `cdn` kinds: rendered configs (golden files and the daemons' own config
checks, no root) and real labs (root) where an IPv6-only network with no NAT64 reaches an
IPv4-only API through them.

Golden files live in tests/golden/kinds/<node>/<path> (as in test_render.py). Regenerate
them after an intended change with

    LABSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_kinds_proxy_cdn.py

and review the diff (git diff tests/golden/kinds) before committing it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import assert_golden

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext, TcpProbe
from labsim.labca import LabCA
from labsim.loader import LoadedLab, load_lab_text


GOLDEN = Path(__file__).parent / "golden" / "kinds"
UPDATE = os.environ.get("LABSIM_UPDATE_GOLDEN") == "1"

NETWORKS = """\
networks:
  v6net: {ipv6: "2001:db8:1::/64"}
  v4net: {ipv4: 192.0.2.0/24}
"""

# every variant of both kinds in one topology (planning only: never brought up)
RENDER_TOPO = f"""\
name: kinds-render
{NETWORKS}
nodes:
  client: {{kind: client, links: [v6net], resolver: {{nameservers: [ns]}}}}
  ns:
    kind: authdns
    links: [v6net]
    zones:
      example.test:
        records:
          api: {{A: [backend], AAAA: [px-nginx, px-haproxy, edge]}}
  px-nginx: {{kind: proxy, links: [v6net, v4net], upstream: api.example.test}}
  px-haproxy:
    kind: proxy
    implementation: haproxy
    links: [v6net, v4net]
    upstream: api.example.test
  px-static: {{kind: proxy, links: [v6net, v4net], upstream: backend, ports: [8443]}}
  px-static-ha:
    kind: proxy
    implementation: haproxy
    links: [v6net]
    upstream: "2001:db8:1::99"
    ports: [80]
  edge:
    kind: cdn
    links: [v6net, v4net]
    origin: https://api.example.test
    host_header: api.example.test
    tls_names: [www.example.test]
  edge-static: {{kind: cdn, links: [v6net, v4net], origin: backend, https_port: null}}
  backend: {{kind: backend, links: [v4net], tls_names: [api.example.test]}}
"""
RENDER_NODES = ["px-nginx", "px-haproxy", "px-static", "px-static-ha", "edge", "edge-static"]


@pytest.fixture(scope="module")
def topo() -> LoadedLab:
    return load_lab_text(RENDER_TOPO)


def ctx(loaded: LoadedLab, node: str, dir: str | None = None) -> NodeContext:
    plan = loaded.plan
    return NodeContext(plan, plan.nodes[node], loaded.topology.nodes[node],
                       dir=dir or f"/labsim/{node}", python="python3")


def kind(loaded: LoadedLab, node: str):
    return registry.get(loaded.plan.nodes[node].kind)


# -- tier 1: golden files ------------------------------------------------------------------
@pytest.mark.parametrize("node", RENDER_NODES)
def test_render_matches_golden(topo, node):
    files = {path.lstrip("/"): text for path, text in kind(topo, node).render(ctx(topo, node)).items()}
    assert_golden(GOLDEN / node, files, node)


def test_golden_dirs_are_the_render_nodes():
    if not UPDATE:
        assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == sorted(RENDER_NODES)


# -- tier 1: the daemons' own config checks ------------------------------------------------
@pytest.fixture(scope="module")
def private_netns() -> list[str]:
    """A command prefix for a throwaway network namespace. `nginx -t` binds its listen
    sockets, so on the host it would need ports 80 and 443 free (and root); in a namespace
    of its own it touches nothing (without root, inside a user namespace too)."""
    prefix = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    if shutil.which("unshare") is None or subprocess.run(prefix + ["true"], capture_output=True).returncode:
        pytest.skip("cannot make a private network namespace for the config checks")
    return prefix


@pytest.mark.parametrize("node", RENDER_NODES)
def test_daemon_accepts_rendered_config(topo, node, tmp_path, private_netns):
    """What setup() runs before bring-up (nginx -t, haproxy -c), on the rendered files."""
    c = ctx(topo, node, dir=str(tmp_path))
    k = kind(topo, node)
    for binary in {argv[0] for argv in k.setup(c)}:
        if shutil.which(binary) is None:
            pytest.skip(f"{binary} is not installed")
    for path, text in k.render(c).items():
        if not path.startswith("/etc/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    tls = k.tls(c)
    if tls is not None:
        chain, key = LabCA.create("kinds-render").issue(tls.names)
        (tmp_path / tls.cert).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / tls.cert).write_bytes(chain)
        (tmp_path / tls.key).write_bytes(key)
    setup = k.setup(c)
    assert setup, "a config check runs before the daemon starts"
    for argv in setup:
        res = subprocess.run(private_netns + argv, capture_output=True, text=True, timeout=20)
        assert res.returncode == 0, f"{' '.join(argv)}\n{res.stdout}\n{res.stderr}"


# -- tier 1: what the configs say ----------------------------------------------------------
def conf(loaded: LoadedLab, node: str) -> str:
    files = kind(loaded, node).render(ctx(loaded, node))
    return files.get("nginx.conf") or files["haproxy.cfg"]


def test_dns_upstream_is_resolved_at_run_time_through_the_node_nameservers(topo):
    nginx = conf(topo, "px-nginx")
    assert "resolver [2001:db8:1::2] valid=1s ipv6=off;" in nginx
    assert "set $upstream api.example.test:443;" in nginx and "proxy_pass $upstream;" in nginx
    haproxy = conf(topo, "px-haproxy")
    assert "nameserver ns0 [2001:db8:1::2]:53" in haproxy
    assert "server upstream api.example.test:443 resolvers lab resolve-prefer ipv4 init-addr none" in haproxy
    assert " check" not in haproxy  # no health checks: the server is up once resolved


def test_node_upstream_is_its_hard_coded_ipv4_address(topo):
    backend = topo.plan.nodes["backend"].addresses(4)[0]
    nginx = conf(topo, "px-static")
    assert f"proxy_pass {backend}:8443;" in nginx
    assert "resolver" not in nginx
    assert "server upstream [2001:db8:1::99]:80\n" in conf(topo, "px-static-ha")


def test_proxy_listens_on_both_families_and_probes_each_port(topo):
    nginx = conf(topo, "px-nginx")
    for port in (80, 443):
        assert f"listen 0.0.0.0:{port};" in nginx and f"listen [::]:{port} ipv6only=on;" in nginx
        assert f"bind 0.0.0.0:{port}\n    bind [::]:{port} v6only" in conf(topo, "px-haproxy")
    first = topo.plan.nodes["px-nginx"].addresses()[0]
    assert kind(topo, "px-nginx").probes(ctx(topo, "px-nginx")) == [TcpProbe(first, 80), TcpProbe(first, 443)]


def test_daemons_run_in_the_foreground_inside_the_node_dir(topo):
    (svc,) = kind(topo, "px-nginx").services(ctx(topo, "px-nginx"))
    assert svc.argv == ["nginx", "-e", "stderr", "-p", "/labsim/px-nginx/", "-c",
                        "/labsim/px-nginx/nginx.conf", "-g", "daemon off;"]
    (svc,) = kind(topo, "px-haproxy").services(ctx(topo, "px-haproxy"))
    assert svc.argv == ["haproxy", "-db", "-f", "/labsim/px-haproxy/haproxy.cfg"]
    for node in ("px-nginx", "edge"):
        text = conf(topo, node)
        assert "daemon" not in text.replace("daemon off", "")
        system = ("/usr/lib/nginx/modules/", "/etc/ssl/certs/", "/dev/stdout")
        paths = [w.rstrip(";") for w in text.split() if w.startswith("/") and w != "/" and not w.startswith(system)]
        assert paths and all(p.startswith(f"/labsim/{node}/") for p in paths), paths
    directives = [line.split()[0] for line in conf(topo, "px-haproxy").splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
    assert not {"daemon", "chroot", "user", "group", "stats", "pidfile"} & set(directives)


def test_cdn_forwards_everything_and_caches_nothing(topo):
    edge = conf(topo, "edge")
    assert "proxy_cache" not in edge and "proxy_store" not in edge
    assert "set $origin https://api.example.test;" in edge and "proxy_pass $origin;" in edge
    assert "proxy_set_header Host api.example.test;" in edge
    assert "proxy_ssl_name api.example.test;" in edge and "proxy_ssl_verify on;" in edge
    assert 'add_header Via "1.1 edge (labsim-cdn)" always;' in edge
    static = conf(topo, "edge-static")
    backend = topo.plan.nodes["backend"].addresses(4)[0]
    assert f"proxy_pass http://{backend};" in static and "proxy_set_header Host $http_host;" in static
    assert "ssl" not in static and "resolver" not in static


def test_cdn_certificate_and_probes(topo):
    c = ctx(topo, "edge")
    assert kind(topo, "edge").tls(c).names == ["www.example.test"]
    assert topo.topology.nodes["edge"].trust_lab_ca is True
    v6 = topo.plan.nodes["edge"].addresses(6)[0]
    assert kind(topo, "edge").probes(c) == [TcpProbe(v6, 80), TcpProbe(v6, 443)]
    s = ctx(topo, "edge-static")
    assert kind(topo, "edge-static").tls(s) is None
    v6 = topo.plan.nodes["edge-static"].addresses(6)[0]
    assert kind(topo, "edge-static").probes(s) == [TcpProbe(v6, 80)]


BROKEN = [
    ("kind: proxy\n    links: [v6net]\n    upstream: nowhere",
     "nodes.x.upstream", "'nowhere' is neither a node"),
    ("kind: proxy\n    links: [v4net]\n    upstream: api.example.test",
     "nodes.x.upstream", "has no nameserver"),
    ("kind: proxy\n    links: [v6net]\n    upstream: backend\n    ports: [80, 80]",
     "nodes.x.ports", "listed twice"),
    ("kind: proxy\n    links: [v6net]\n    upstream: backend\n    ports: [0]",
     "nodes.x.ports[0]", "greater than or equal to 1"),
    ("kind: proxy\n    links: [v6net]\n    implementation: envoy\n    upstream: backend",
     "nodes.x.implementation", "'nginx' or 'haproxy'"),
    ("kind: cdn\n    links: [v6net]\n    origin: ftp://backend",
     "nodes.x.origin", "http:// or https://"),
    ("kind: cdn\n    links: [v6net]\n    origin: http://backend/api",
     "nodes.x.origin", "scheme, host and port only"),
    ("kind: cdn\n    links: [v6net]\n    origin: http://nowhere",
     "nodes.x.origin", "'nowhere' is neither a node"),
    ("kind: cdn\n    links: [v4net]\n    origin: http://api.example.test",
     "nodes.x.origin", "has no nameserver"),
    ("kind: cdn\n    links: [v6net]\n    origin: backend\n    http_port: null\n    https_port: null",
     "nodes.x", "needs an 'http_port' or an 'https_port'"),
    ("kind: cdn\n    links: [v6net]\n    origin: backend\n    host_header: 'a; b'",
     "nodes.x.host_header", "not a host name"),
]


@pytest.mark.parametrize("node,where,message", BROKEN)
def test_bad_references_fail_at_load_with_their_location(node, where, message):
    text = f"""\
name: broken
{NETWORKS}
nodes:
  ns: {{kind: authdns, links: [v6net], zones: {{example.test: {{}}}}}}
  backend: {{kind: backend, links: [v4net]}}
  x:
    {node}
"""
    with pytest.raises(InputError) as err:
        load_lab_text(text)
    assert where in str(err.value) and message in str(err.value), str(err.value)


# -- tier 2: real labs ---------------------------------------------------------------------
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
        from labsim import lab

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
        from labsim.lab import lab_namespaces

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
