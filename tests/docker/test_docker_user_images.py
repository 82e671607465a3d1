"""User images on the docker runtime: kind `container` (catalog row 9 with the user's own app).

A tiny image is built locally FROM labsim/node:<version> (no registry): a python3 HTTP server
whose bind address is its argument, `0.0.0.0` by default. Two `container` nodes run it on a
dual-stack network with A+AAAA names: `legacy` (the image's own command, 0.0.0.0 only) and
`fixed` (command override binding `::`). An IPv6-only client gets connection refused from
`legacy` (row 9's failure) and an answer from `fixed` (the fix). On the netns runtime a
`container` node is an input error before anything is created.

Outside CI the module skips when docker is unreachable; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from tests.helpers import IN_CI

pytestmark = pytest.mark.root

SERVER = r'''
import http.server, os, socket, sys

bind = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (os.environ.get("WHO", "?") + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET


Server((bind, 8080), Handler).serve_forever()
'''

TOPO = """
name: {name}
networks:
  lan: {{ipv6: "2001:db8:9::/64", ipv4: 192.0.2.0/24}}
  v6only: {{ipv6: "2001:db8:99::/64"}}
nodes:
  r: {{kind: router, links: [lan, v6only]}}
  client6: {{kind: client, links: [v6only], resolver: {{nameservers: [ns]}}}}
  ns: {{kind: authdns, links: [lan], zones: {{example.test: {{}}}}}}
  legacy:
    kind: container
    image: {image}
    env: {{WHO: legacy}}
    ports: [8080]
    links: [lan]
    names: [app.example.test]
  fixed:
    kind: container
    image: {image}
    command: [python3, /srv/serve.py, "::"]
    env: {{WHO: fixed}}
    ports: [8080]
    links: [lan]
    names: [fixed.example.test]
"""


# -- wiring (a no-op once the integration is in labsim.bringup.lab and the registry) ----------------
DNETS: dict[str, dict] = {}  # Docker-network mode for the next `up`, until the model has `docker:`


def _model_has_docker_networks() -> bool:
    from labsim.model.topology import Network

    return "docker" in Network.model_fields


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def user_image(tmp_path_factory):
    """labsim-test/userapp:<random>, FROM the node image; removed after the module."""
    from labsim.errors import EnvironmentMissingError
    from labsim.runtime.docker.image import ensure_image
    from labsim.runtime.docker import docker_client

    try:
        base = ensure_image()
        cli = docker_client()
    except EnvironmentMissingError as exc:
        if IN_CI:
            pytest.fail(f"CI=true and docker is not usable: {exc}")
        pytest.skip(f"docker is not usable: {exc}")
    ctx = tmp_path_factory.mktemp("userapp")
    (ctx / "serve.py").write_text(SERVER)
    (ctx / "Dockerfile").write_text(f"FROM {base}\nCOPY serve.py /srv/serve.py\n"
                                    f'CMD ["python3", "/srv/serve.py"]\n')
    tag = f"labsim-test/userapp:{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    cli.images.build(path=str(ctx), tag=tag, rm=True, forcerm=True, network_mode="none")
    print(f"built {tag} in {time.monotonic() - t0:.2f}s")
    try:
        yield tag
    finally:
        cli.images.remove(tag, force=True)
        cli.close()


@pytest.fixture
def wired(monkeypatch):
    from labsim.bringup import lab

    return lab


@pytest.fixture
def app_lab(wired, user_image, lab_name):
    from labsim.loader import load_lab_text
    from labsim.runtime.docker import DockerRuntime, remove_containers
    from labsim.runtime.state import LabState

    loaded = load_lab_text(TOPO.format(name=lab_name, image=user_image), name=lab_name)
    t0 = time.monotonic()
    res = wired.up(loaded, runtime="docker")
    print(f"up in {time.monotonic() - t0:.2f}s: {res.timings}")
    rt = DockerRuntime(res.state)
    try:
        yield rt
    finally:
        rt.close()
        if LabState.file.fget(LabState(lab=lab_name, runtime="docker")).exists():
            wired.down(lab_name)
        remove_containers(lab_name)


def curl(rt, url: str, *extra: str) -> subprocess.CompletedProcess:
    return rt.exec("client6", ["curl", "-sS", "-m", "5", *extra, url], timeout=15)


# -- tests ---------------------------------------------------------------------------------
def test_containers_run_the_users_image_and_command(app_lab, user_image):
    from labsim.runtime.docker import docker_client

    cli = docker_client()
    try:
        legacy = cli.containers.get(app_lab.container("legacy"))
        fixed = cli.containers.get(app_lab.container("fixed"))
        assert legacy.attrs["Config"]["Image"] == user_image
        assert legacy.attrs["HostConfig"]["NetworkMode"] == "none"
        assert legacy.attrs["Config"]["Cmd"] == ["python3", "/srv/serve.py"]  # the image's own
        assert fixed.attrs["Config"]["Cmd"] == ["python3", "/srv/serve.py", "::"]
        assert "WHO=fixed" in fixed.attrs["Config"]["Env"]
    finally:
        cli.close()


def test_ipv4_bound_user_app_refuses_ipv6_and_the_fix_serves_it(app_lab):
    # the client is IPv6-only and the name has an AAAA: curl connects over IPv6
    res = curl(app_lab, "http://app.example.test:8080/", "-v")
    assert res.returncode == 7, (res.stdout, res.stderr)  # couldn't connect
    # `*   Trying [2001:db8:9::N]:8080...` then `... port 8080 failed: Connection refused`
    assert b"Trying [2001:db8:9::" in res.stderr and b"Connection refused" in res.stderr, res.stderr
    res = curl(app_lab, "http://fixed.example.test:8080/", "-w", "\n%{remote_ip}")
    assert res.returncode == 0, res.stderr
    body, remote = res.stdout.decode().rsplit("\n", 1)
    assert body.strip() == "fixed" and remote.startswith("2001:db8:9::")
    # the legacy app is alive and serves IPv4 (from the router, which has both)
    legacy4 = [i["ipv4"] for i in app_lab.state.nodes["legacy"]["interfaces"] if i["ipv4"]][0]
    res = app_lab.exec("r", ["curl", "-sS", "-m", "5", f"http://{legacy4.split('/')[0]}:8080/"])
    assert res.returncode == 0 and res.stdout.strip() == b"legacy", res.stderr


def test_lab_files_are_mounted_in_the_users_container(app_lab):
    # resolv.conf and hosts are the lab's (bind-mounted from the host, nothing exec'd to do it)
    from labsim.runtime.docker import docker_client

    cli = docker_client()
    try:
        c = cli.containers.get(app_lab.container("fixed"))
        for f in ("resolv.conf", "hosts"):
            res = c.exec_run(["cat", f"/etc/{f}"])
            assert res.output == (app_lab.state.dir / "etc" / "fixed" / f).read_bytes()
        assert b"\tfixed\n" in c.exec_run(["cat", "/etc/hosts"]).output  # the lab's, not Docker's
    finally:
        cli.close()


def test_container_kind_on_netns_is_an_input_error(wired, user_image, lab_name):
    from labsim.errors import InputError
    from labsim.loader import load_lab_text
    from labsim.runtime.state import LabState

    loaded = load_lab_text(TOPO.format(name=lab_name, image=user_image), name=lab_name)
    with pytest.raises(InputError, match="needs --runtime docker"):
        wired.up(loaded, runtime="netns")
    assert not LabState.file.fget(LabState(lab=lab_name, runtime="netns")).exists()


# -- Docker-network mode (catalog row 10) -----------------------------------------------------
DNET_TOPO = """
name: {name}
networks:
  dnet: {{ipv6: "2001:db8:10::/64", ipv4: 198.51.100.0/24{docker}}}
  v6net: {{ipv6: "2001:db8:11::/64"}}
nodes:
  r: {{kind: router, links: [dnet, v6net]}}
  app: {{kind: client, links: [dnet]}}
  peer: {{kind: backend, links: [v6net], https_port: null}}
"""


@pytest.fixture
def dnet_lab(wired, user_image, lab_name, monkeypatch):
    """up(enable_ipv6) -> DockerRuntime of a lab whose `dnet` is a Docker network."""
    from labsim.loader import load_lab_text
    from labsim.runtime.docker import DockerRuntime, remove_containers, remove_networks
    from labsim.runtime.state import LabState

    made = []

    def up(enable_ipv6: bool):
        name = f"{lab_name}{len(made)}"
        if _model_has_docker_networks():
            docker = f", docker: {{enable_ipv6: {str(enable_ipv6).lower()}}}"
        else:
            docker = ""
            monkeypatch.setitem(DNETS, "dnet", {"enable_ipv6": enable_ipv6})
        loaded = load_lab_text(DNET_TOPO.format(name=name, docker=docker), name=name)
        made.append(name)
        t0 = time.monotonic()
        res = wired.up(loaded, runtime="docker")
        print(f"up (enable_ipv6={enable_ipv6}) in {time.monotonic() - t0:.2f}s")
        rt = DockerRuntime(res.state)
        made[-1] = (name, rt)
        return rt

    yield up
    for name, rt in made:
        rt.close()
        if LabState.file.fget(LabState(lab=name, runtime="docker")).exists():
            wired.down(name)
        remove_containers(name)
        remove_networks(name)


def _addr(rt, node: str, family: str) -> str:
    return next(i[family] for i in rt.state.nodes[node]["interfaces"] if i[family]).split("/")[0]


@pytest.mark.parametrize("enable_ipv6", [False, True])
def test_docker_network_without_ipv6_cannot_reach_ipv6_only_peer(dnet_lab, enable_ipv6):
    from labsim.runtime.docker import docker_client

    rt = dnet_lab(enable_ipv6)
    cli = docker_client()
    try:
        net = cli.networks.get(f"ls-{rt.lab}_dnet")
        assert net.attrs["EnableIPv6"] is enable_ipv6 and net.attrs["Labels"]["labsim.lab"] == rt.lab
        assert set(net.attrs["Containers"]) == {cli.containers.get(rt.container(n)).id for n in ("app", "r")}
    finally:
        cli.close()
    peer = _addr(rt, "peer", "ipv6")
    res = rt.exec("app", ["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                          f"http://[{peer}]/"], timeout=15)
    if enable_ipv6:
        assert res.returncode == 0 and res.stdout == b"200", res.stderr
    else:
        # Docker gave the app no IPv6 address: no route to the IPv6-only peer
        assert res.returncode == 7, (res.stdout, res.stderr)
        addrs = rt.exec("app", ["ip", "-6", "-o", "addr", "show", "scope", "global"]).stdout
        assert addrs == b"", addrs
    # IPv4 across the Docker network works either way (app -> router)
    res = rt.exec("app", ["ping", "-c1", "-W2", _addr(rt, "r", "ipv4")])
    assert res.returncode == 0, res.stdout


def test_down_removes_docker_networks(dnet_lab, wired):
    rt = dnet_lab(False)
    lab = rt.lab
    rt.close()
    wired.down(lab)
    out = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label=labsim.lab={lab}"],
                         capture_output=True, text=True, check=True).stdout
    assert out == ""
