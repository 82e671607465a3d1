"""Tier 2 on the docker runtime: apple-review in containers gives what it gives in namespaces.

A container per node from labsim/node:<version> (built offline when missing: ~2 min once),
plumbed with the same veths; the checks are those of test_core_netns: the IPv6-only client
reaches the IPv4-only API through DNS64 + NAT64 (the backend sees a pool address), HTTPS
verifies the lab CA, the client resolves only the synthesized address; teardown, and gc
after a SIGKILL, leave no container, namespace, mount or file.

The lab is driven through `labsim.bringup.lab` (up, down, gc), as the CLI does. Outside CI the
module skips when docker is unreachable; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import IN_CI, REPO, edited, host_snapshot, parse_curl, run_labsim

pytestmark = pytest.mark.root

TOPO = REPO / "topologies" / "apple-review.yml"
NAT64_PREFIX = ipaddress.ip_network("2001:db8:64::/96")
POOL4 = ipaddress.ip_network("198.18.0.0/24")
CURL_W = "\n%{http_code} %{remote_ip} %{ssl_verify_result}"
NODES = ["client", "dns64", "nat64", "ns", "api", "www", "secure"]


def child_up(topo: str, name: str) -> None:
    """`labsim up --runtime docker` in a child process (for the SIGKILL test)."""
    from labsim.bringup import lab
    from labsim.loader import load_lab

    lab.up(load_lab(topo, name=name), runtime="docker")


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def wired(monkeypatch, docker_image):
    from labsim.bringup import lab

    return lab


@pytest.fixture
def dlab(wired, lab_name):
    """A unique lab name; whatever the test leaves (state, containers) is removed after."""
    yield lab_name
    from labsim.runtime.docker import remove_containers
    from labsim.runtime.state import LabState

    if LabState.file.fget(LabState(lab=lab_name, runtime="docker")).exists():
        wired.down(lab_name)
    remove_containers(lab_name)


@pytest.fixture
def docker_lab(wired, dlab):
    lab_name = dlab
    from labsim.loader import load_lab
    from labsim.runtime.docker import DockerRuntime

    res = wired.up(load_lab(TOPO, name=lab_name), runtime="docker")
    rt = DockerRuntime(res.state)
    yield rt
    rt.close()
    if res.state.dir.exists():
        wired.down(lab_name)


def dexec(lab: str, node: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`docker exec` into a node's container, as a user would."""
    return subprocess.run(["docker", "exec", f"ls-{lab}_{node}", *argv], capture_output=True,
                          text=True, timeout=timeout)


def curl(lab: str, url: str, *extra: str) -> tuple[int, str, dict | None, str, int]:
    res = dexec(lab, "client", "curl", "-sS", "-m", "5", *extra, "-w", CURL_W, url)
    code, remote, echo = parse_curl(res.stdout)
    return int(code or 0), remote, echo, res.stderr, res.returncode


def lab_containers(lab: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=labsim.lab={lab}",
                          "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def snapshot(lab: str) -> dict:
    """The host as conftest sees it, minus mounts of containers that are not this lab's
    (docker's overlay and netns mounts come and go with anyone's containers)."""
    snap = host_snapshot(lab)
    snap["mounts"] = [m for m in snap["mounts"]
                      if not m.startswith(("/var/lib/docker/", "/run/docker/"))]
    return snap


def assert_gone(lab: str, before: dict) -> None:
    assert lab_containers(lab) == []
    after = snapshot(lab)
    for key in before:
        assert before[key] == after[key], f"host {key} changed"
    assert not Path(f"/run/labsim/{lab}").exists()
    assert not any(n.startswith(f"ls-{lab}") for n in os.listdir("/run/netns")) \
        if os.path.isdir("/run/netns") else True


# -- the lab works as on netns -----------------------------------------------------------------
def test_ipv6_only_client_reaches_ipv4_api_through_dns64_nat64(docker_lab):
    code, remote, echo, err, rc = curl(docker_lab.lab, "http://api.example.test/path?q=1")
    assert code == 200, err
    assert ipaddress.ip_address(remote) in NAT64_PREFIX  # a synthesized address
    assert ipaddress.ip_address(remote).packed[-4:] == ipaddress.ip_address("192.0.2.2").packed
    assert echo["node"] == "api" and echo["path"] == "/path" and echo["query"] == {"q": ["1"]}
    # the backend saw the packet arrive from the NAT64 pool: it crossed tayga in the nat64 container
    assert ipaddress.ip_address(echo["remote"]) in POOL4


def test_https_verifies_the_lab_ca(docker_lab):
    code, remote, echo, err, _ = curl(docker_lab.lab, "https://api.example.test/")
    assert code == 200, err
    assert echo["tls"] is True and ipaddress.ip_address(remote) in NAT64_PREFIX
    res = dexec(docker_lab.lab, "client", "curl", "-sS", "-m", "5", "--connect-to",
                "other.example.test:443:api.example.test:443", "https://other.example.test/")
    assert res.returncode == 60, res.stderr  # a name the certificate lacks fails, as in production


def test_client_has_no_ipv4_and_resolves_only_synthesized_ipv6(docker_lab):
    lab = docker_lab.lab
    v4 = dexec(lab, "client", "ip", "-4", "-o", "addr", "show")
    assert [line.split()[3] for line in v4.stdout.splitlines()] == ["127.0.0.1/8"]
    res = dexec(lab, "client", "getent", "ahosts", "api.example.test")
    assert res.returncode == 0, res.stderr
    assert {line.split()[0] for line in res.stdout.splitlines()} == {"2001:db8:64::c000:202"}
    # the lab's resolv.conf and hosts, not Docker's
    assert "nameserver 2001:db8:1::" in dexec(lab, "client", "cat", "/etc/resolv.conf").stdout
    assert "\tclient\n" in dexec(lab, "client", "cat", "/etc/hosts").stdout


def test_nodes_are_containers_without_docker_networks(docker_lab):
    import docker

    cli = docker.from_env()
    try:
        for node in NODES:
            c = cli.containers.get(f"ls-{docker_lab.lab}_{node}")
            assert c.status == "running"
            assert (c.labels["labsim.lab"], c.labels["labsim.node"]) == (docker_lab.lab, node)
            assert c.attrs["HostConfig"]["NetworkMode"] == "none"
    finally:
        cli.close()
    # the daemons run in their containers; the recorded PID is the daemon's (host view)
    procs = {(p["node"], p["service"]): p for p in docker_lab.state.processes}
    tayga = procs[("nat64", "tayga")]
    assert Path(f"/proc/{tayga['pid']}/comm").read_text().strip() == "tayga"
    assert os.readlink(f"/proc/{tayga['pid']}/ns/net") == os.readlink(docker_lab.netns_path("nat64"))
    assert "unbound" in dexec(docker_lab.lab, "dns64", "ps", "-e", "-o", "comm").stdout


def test_exec_semantics(docker_lab):
    rt = docker_lab
    res = rt.exec("client", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (res.returncode, res.stdout, res.stderr) == (7, b"out\n", b"err\n")
    data = os.urandom(300_000)
    assert rt.exec("client", ["cat"], input=data).stdout == data
    assert rt.exec("client", ["no-such-command"]).returncode == 127
    from labsim.errors import RuntimeOpError

    t = time.monotonic()
    with pytest.raises(RuntimeOpError, match="still running"):
        rt.exec("client", ["sleep", "30"], timeout=0.5)
    assert time.monotonic() - t < 5
    # labsim's own programs run on the image's python3 (host interpreter paths are mapped)
    out = rt.exec("client", [sys.executable, "-m", "labsim.node.agent", "resolve", "api.example.test"])
    assert out.returncode == 0, out.stderr
    assert "2001:db8:64::c000:202" in out.stdout.decode()


def test_rewritten_etc_file_is_seen_at_once(docker_lab):
    rt = docker_lab
    rt.write_file("client", "/etc/resolv.conf", "nameserver 2001:db8:1::99\n")
    assert rt.exec("client", ["cat", "/etc/resolv.conf"]).stdout == b"nameserver 2001:db8:1::99\n"
    rt.write_file("client", "/etc/labsim-new/x.conf", "x\n")  # a path the image does not have
    assert rt.exec("client", ["cat", "/etc/labsim-new/x.conf"]).stdout == b"x\n"


def test_daemons_drop_root_in_their_containers(docker_lab):
    """tayga and the echo backends run as the image's nobody (uid 65534 there and on the
    host: no user namespace), with no capability left, and still answer (the tests above)."""
    for p in docker_lab.state.processes:
        if p.get("service") in ("tayga", "echo"):
            status = dict(line.split(":", 1) for line in Path(f"/proc/{p['pid']}/status").read_text().splitlines())
            assert status["Uid"].split() == ["65534"] * 4, p
            assert status["Gid"].split() == ["65534"] * 4, p
            assert int(status["CapEff"], 16) == 0, p
    users = dexec(docker_lab.lab, "api", "ps", "-o", "user=", "-C", "python3").stdout.split()
    assert users == ["nobody"]


def test_stopped_daemon_is_seen_as_exited(docker_lab):
    from labsim.bringup.readiness import _exited
    from labsim.runtime.processes import stop_processes

    echo = next(p for p in docker_lab.state.processes if p["node"] == "www")
    assert not _exited(echo["pid"])
    stop_processes({echo["pid"]}, grace_s=2.0)  # what a scenario's `stop` does
    # it is not our child: gone once containerd's shim has reaped it (a moment after exit)
    end = time.monotonic() + 2
    while not _exited(echo["pid"]) and time.monotonic() < end:
        time.sleep(0.01)
    assert _exited(echo["pid"])
    assert dexec(docker_lab.lab, "www", "sh", "-c", "ps -e -o comm | grep -c python3").stdout.strip() == "0"


def test_cli_up_exec_down(docker_image, dlab):
    """`labsim up --runtime docker`, `labsim exec` (docker exec, exit code passed through),
    `labsim down`: once the CLI knows the docker runtime."""
    if "docker" not in run_labsim("up", "--help").stdout:
        msg = "`labsim up` has no --runtime docker yet (integration pending)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    run_labsim("up", str(TOPO), "--name", dlab, "--runtime", "docker", check=True)
    res = run_labsim("exec", "--lab", dlab, "client", "--", "curl", "-sS", "-m", "5", "-w", CURL_W,
                     "http://api.example.test/")
    code, remote = res.stdout.rpartition("\n")[2].split()[:2]
    assert code == "200" and ipaddress.ip_address(remote) in NAT64_PREFIX, res.stderr
    assert run_labsim("exec", "--lab", dlab, "client", "--", "sh", "-c", "exit 7").returncode == 7
    assert f"{dlab} up (docker" in run_labsim("status", dlab).stdout
    run_labsim("down", dlab, check=True)
    assert lab_containers(dlab) == []


# -- teardown ------------------------------------------------------------------------------
def test_down_leaves_nothing(wired, dlab):
    lab_name = dlab
    from labsim.loader import load_lab

    before = snapshot(lab_name)
    wired.up(load_lab(TOPO, name=lab_name), runtime="docker")
    assert sorted(c.split("_", 1)[1] for c in lab_containers(lab_name)) == sorted(NODES)
    during = snapshot(lab_name)
    assert during["links"] == before["links"] and during["routes6"] == before["routes6"]
    assert during["sysctls"] == before["sysctls"] and during["nft"] == before["nft"]
    removed = wired.down(lab_name)
    assert sum(r.startswith("container ") for r in removed) == len(NODES)
    assert_gone(lab_name, before)


def test_failed_bringup_removes_its_containers(wired, dlab, tmp_path):
    lab_name = dlab
    from labsim.errors import ReadinessError
    from labsim.loader import load_lab

    before = snapshot(lab_name)
    topo = tmp_path / "bad.yml"
    # 192.0.2.99 is not the backend's address: the echo service cannot bind and exits
    topo.write_text(edited(TOPO.read_text(), "    names: [api.example.test, assets.example.test]\n",
                           "    names: [api.example.test, assets.example.test]\n    listen: [192.0.2.99]\n"))
    with pytest.raises(ReadinessError) as err:
        wired.up(load_lab(topo, name=lab_name), runtime="docker")
    assert "node 'api'" in str(err.value) and "exited" in str(err.value)
    assert "Cannot assign requested address" in str(err.value)  # the log tail, from the container
    assert_gone(lab_name, before)


@pytest.mark.parametrize("kill_at", ["containers", "daemons"])
def test_gc_after_sigkill_mid_bringup(wired, dlab, kill_at):
    lab_name = dlab
    before = snapshot(lab_name)
    ready = {"containers": lambda st: len(st["containers"]) >= 1 and not st["processes"],
             "daemons": lambda st: len(st["processes"]) >= 2}[kill_at]
    code = f"import tests.docker.test_docker_runtime as t; t.child_up({str(TOPO)!r}, {lab_name!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    path = Path(f"/run/labsim/{lab_name}/state.json")
    st = None
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                st = json.loads(path.read_text())
                if ready(st):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        else:
            raise AssertionError("the bring-up never reached the point to kill at")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert st["status"] == "creating" and st["runtime"] == "docker"
    time.sleep(0.5)  # let dockerd finish what the killed client had asked for
    removed = wired.gc()
    assert lab_name in removed, removed
    assert_gone(lab_name, before)


def test_gc_finds_containers_the_state_missed(wired, dlab):
    lab_name = dlab
    """Containers labelled for a lab are removed even if the state never listed them."""
    import docker
    from labsim.runtime.docker import destroy_docker_state
    from labsim.runtime.docker.image_spec import image_name
    from labsim.runtime.state import LabState

    cli = docker.from_env()
    try:
        cli.containers.run(image_name(), ["sleep", "infinity"], name=f"ls-{lab_name}_stray", detach=True,
                           init=True, network_mode="none",
                           labels={"labsim.lab": lab_name, "labsim.node": "stray"})
    finally:
        cli.close()
    st = LabState(lab=lab_name, runtime="docker", status="orphan")
    st.dir.mkdir(parents=True, exist_ok=True)
    assert destroy_docker_state(st) == [f"container ls-{lab_name}_stray"]
    assert lab_containers(lab_name) == []


# -- the image -----------------------------------------------------------------------------
def test_image_is_current_and_rebuild_is_a_no_op(docker_image):
    from labsim.runtime.docker import image

    st = image.status()
    assert st.present and st.current, st
    t = time.monotonic()
    assert image.build_image(offline=True) == docker_image
    assert time.monotonic() - t < 2.0  # the label matches: nothing is built
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", docker_image, "sh", "-c",
                          "for b in tayga unbound named kresd pdns_recursor pdns_server nginx haproxy "
                          "named-checkconf radvd curl ip ping nft dig dnsperf python3; do "
                          "command -v $b >/dev/null || echo $b; done"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "", f"missing in the image: {out.stdout}{out.stderr}"


def test_image_python_has_the_pinned_pip_packages(docker_image):
    """docker/node-python.txt is on the image's python3 (boto3 and moto's server for kind
    `cloudapi`), at the pinned versions, ahead of Debian's own python3 packages."""
    from labsim.runtime.docker.image_spec import python_requirements

    pins = {r.split("==")[0].split("[")[0]: r.split("==")[1] for r in python_requirements()}
    probe = ("import importlib.metadata as m, boto3, moto.server; print(boto3.__file__); "
             f"print(*[m.version(n) for n in {sorted(pins)!r}])")
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", docker_image, "python3", "-c",
                          probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path, versions = out.stdout.splitlines()
    assert path.startswith("/opt/labsim-python/")
    assert versions.split() == [pins[n] for n in sorted(pins)]


def test_package_list_covers_every_kind():
    """One list: every package a kind declares is in the image, except what runs on the host."""
    from labsim.kinds import registry
    from labsim.runtime.docker import HOST_BINARIES
    from labsim.runtime.docker import image_spec as image

    declared = {p for kind in registry.KINDS.values() for p in kind.packages}
    assert declared - set(image.packages()) - set(HOST_BINARIES) == set()
    assert "dnsperf" in image.packages()  # raw query series run dnsperf inside nodes


def test_image_commands(docker_image):
    from typer.testing import CliRunner

    from labsim.commands.cli import app

    res = CliRunner().invoke(app, ["image", "status"])
    assert res.exit_code == 0 and "current" in res.stdout, res.stdout
    res = CliRunner().invoke(app, ["image", "build", "--offline"])
    assert res.exit_code == 0 and res.stdout.strip() == docker_image, res.stdout


def test_image_build_temp_dirs_are_removed(tmp_path, monkeypatch):
    """Every exit path of the offline build removes its debootstrap tree, mounts first; a
    tree left by a SIGKILLed build (dead PID in its name) goes with the next build."""
    from labsim.runtime.docker import rootfs as image

    monkeypatch.setattr(image, "TMP_PARENT", tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with image.rootfs_dir() as root:
            (root / "proc").mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "none", str(root / "proc")], check=True)
            (root / "proc" / "x").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    stale = tmp_path / f"{image.TMP_PREFIX}999999999-abc"
    (stale / "etc").mkdir(parents=True)
    live = tmp_path / f"{image.TMP_PREFIX}{os.getpid()}-abc"
    live.mkdir()
    assert image.remove_stale_rootfs() == [str(stale)]
    assert [p.name for p in tmp_path.iterdir()] == [live.name]


def test_apt_sources_are_read_from_the_host_config(tmp_path):
    from labsim.runtime.docker import apt_sources as image

    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "# off\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n")
    (d / "security.list").write_text("deb [signed-by=/k.gpg] http://sec.example/debian-security bookworm-security main\n")
    (d / "other.list.disabled").write_text("deb http://nope.example/ bookworm main\n")
    (d / "thirdparty.list").write_text("deb http://3rd.example/ stable main\n")
    src = image.debian_archive("bookworm", tmp_path)
    assert src.uris == ["http://mirror.example/debian"]
    text = image.image_sources("bookworm", tmp_path)
    assert "http://mirror.example/debian" in text and "http://sec.example/debian-security" in text
    assert "off.example" not in text and "nope.example" not in text and "3rd.example" not in text


def test_every_shipped_scenario_passes_on_docker(docker_image, tmp_path):
    """Parity: the scenario suite that runs on netns (pytest collects it) runs on docker too."""
    from tests.helpers import REPO, run_labsim

    files = sorted(str(p) for p in (REPO / "scenarios").glob("*.yml"))
    res = run_labsim("run", "--runtime", "docker", *files, "--json", str(tmp_path / "r.json"), timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    import json

    results = json.loads((tmp_path / "r.json").read_text())
    assert len(results) == len(files) and all(r["passed"] for r in results)
