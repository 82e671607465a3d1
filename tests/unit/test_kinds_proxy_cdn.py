"""The `proxy` and `cdn` kinds without root: rendered configs against golden files and the
daemons' own config checks (the real labs: tests/netns/test_kinds_proxy_cdn.py).

Golden files live in tests/unit/golden/kinds/<node>/<path> (as in test_render.py). Regenerate
them after an intended change with

    LABSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_kinds_proxy_cdn.py

and review the diff (git diff tests/unit/golden/kinds) before committing it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import assert_golden

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext, TcpProbe
from labsim.bringup.labca import LabCA
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
            if os.geteuid() != 0:
                # in a user namespace nginx cannot chown its temp dirs to the unmapped
                # www-data (EINVAL), nor to its default `nobody`: the namespace's root is
                # the one mapped user, so check the rest of the config as it
                text = text.replace("user www-data www-data;\n", "user root root;\n")
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
    assert not {"daemon", "chroot", "stats", "pidfile"} & set(directives)
    # root dropped: haproxy as its own user, nginx workers as www-data
    assert "    user haproxy" in conf(topo, "px-haproxy").splitlines()
    assert "user www-data www-data;" in conf(topo, "px-nginx").splitlines()


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
