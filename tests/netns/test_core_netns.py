"""Tier 2: the core acceptance criteria, on real namespaces with real daemons.

Each test drives the installed `labsim` command as a user would, and checks what crossed
the network (status codes, addresses curl connected to, the source address the backend
saw) and what is left on the host afterwards.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import edited, parse_curl, LABSIM, REPO, assert_same_host, host_snapshot, lab_processes, run_labsim

pytestmark = pytest.mark.root

TOPO = "topologies/apple-review.yml"
NAT64_PREFIX = ipaddress.ip_network("2001:db8:64::/96")
POOL4 = ipaddress.ip_network("198.18.0.0/24")
CURL_W = "\n%{http_code} %{remote_ip} %{ssl_verify_result}"


def curl(lab: str, url: str, *extra: str) -> tuple[int, str, dict | None, str]:
    """(http code, remote ip, echo JSON or None, stderr) of curl run in the lab's client."""
    res = run_labsim("exec", "--lab", lab, "client", "--", "curl", "-sS", "-m", "5", *extra,
                     "-w", CURL_W, url)
    code, remote, echo = parse_curl(res.stdout)
    return int(code or 0), remote, echo, res.stderr


@pytest.fixture
def lab(lab_name):
    run_labsim("up", TOPO, "--name", lab_name, check=True)
    return lab_name


def test_ipv6_only_client_reaches_ipv4_api_through_dns64_nat64(lab):
    code, remote, echo, err = curl(lab, "http://api.example.test/path?q=1")
    assert code == 200, err
    assert ipaddress.ip_address(remote) in NAT64_PREFIX  # curl connected to a synthesized address
    assert ipaddress.ip_address(remote).packed[-4:] == ipaddress.ip_address("192.0.2.2").packed
    assert echo["method"] == "GET" and echo["path"] == "/path" and echo["query"] == {"q": ["1"]}
    # the backend saw the packet arrive from the NAT64 pool: it really crossed tayga
    assert ipaddress.ip_address(echo["remote"]) in POOL4


def test_https_verifies_the_lab_ca(lab):
    code, remote, echo, err = curl(lab, "https://api.example.test/")
    assert code == 200, err
    assert echo["tls"] is True
    assert ipaddress.ip_address(remote) in NAT64_PREFIX
    # a name the certificate does not carry fails verification, as in production (curl 60)
    res = run_labsim("exec", "--lab", lab, "client", "--", "curl", "-sS", "-m", "5",
                     "--connect-to", "other.example.test:443:api.example.test:443",
                     "https://other.example.test/")
    assert res.returncode == 60, res.stderr


def test_client_has_no_ipv4_and_resolves_only_synthesized_ipv6(lab):
    v4 = run_labsim("exec", "--lab", lab, "client", "--", "ip", "-4", "-o", "addr", "show", check=True)
    assert [line.split()[3] for line in v4.stdout.splitlines()] == ["127.0.0.1/8"]
    routes = run_labsim("exec", "--lab", lab, "client", "--", "ip", "-4", "route", "show", "table", "all",
                        check=True)
    assert all(" dev lo " in line for line in routes.stdout.splitlines()), routes.stdout
    res = run_labsim("exec", "--lab", lab, "client", "--", "getent", "ahosts", "api.example.test", check=True)
    addrs = {line.split()[0] for line in res.stdout.splitlines()}
    assert addrs == {"2001:db8:64::c000:202"}


def test_exec_passes_the_exit_code_through(lab):
    assert run_labsim("exec", "--lab", lab, "client", "--", "sh", "-c", "exit 7").returncode == 7
    res = run_labsim("exec", "--lab", lab, "nosuchnode", "--", "true")
    assert res.returncode == 2 and "nosuchnode" in res.stderr


def test_down_leaves_nothing_and_host_is_unchanged(lab_name):
    before = host_snapshot(lab_name)
    run_labsim("up", TOPO, "--name", lab_name, check=True)
    during = host_snapshot(lab_name)
    assert f"ls-{lab_name}_client" in during["netns"]
    assert during["links"] == before["links"] and during["routes6"] == before["routes6"]
    assert during["sysctls"] == before["sysctls"] and during["nft"] == before["nft"]
    run_labsim("down", lab_name, check=True)
    assert_same_host(before, host_snapshot(lab_name))
    assert lab_processes(lab_name) == []


def test_up_with_a_name_in_use_is_refused(lab):
    res = run_labsim("up", TOPO, "--name", lab)
    assert res.returncode == 2 and "exists already" in res.stderr
    code, *_ = curl(lab, "http://api.example.test/")
    assert code == 200  # the running lab was not disturbed


def test_two_labs_from_one_file_run_side_by_side(lab_name):
    other = lab_name + "b"
    procs = [subprocess.Popen([LABSIM, "up", TOPO, "--name", n], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in (lab_name, other)]
    try:
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        for n in (lab_name, other):
            code, remote, echo, err = curl(n, "http://api.example.test/")
            assert code == 200 and ipaddress.ip_address(remote) in NAT64_PREFIX, err
        run_labsim("down", other, check=True)
        code, *_ = curl(lab_name, "http://api.example.test/")
        assert code == 200  # taking one lab down leaves the other working
    finally:
        run_labsim("down", other)


def _wait_state(lab: str, ready, deadline_s: float = 30.0) -> dict:
    path = Path(f"/run/labsim/{lab}/state.json")
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            st = json.loads(path.read_text())
            if ready(st):
                return st
        except (OSError, ValueError):
            pass
        time.sleep(0.001)
    raise AssertionError(f"state of {lab} never reached the point to kill at")


@pytest.mark.parametrize("kill_at", ["namespaces", "daemons"])
def test_gc_after_sigkill_mid_bringup_leaves_nothing(lab_name, kill_at, tmp_path):
    before = host_snapshot(lab_name)
    if kill_at == "namespaces":
        # many nodes, so the kill lands while namespaces and veths are being made
        nodes = "".join(f"  c{i}: {{kind: client, links: [lan]}}\n" for i in range(40))
        topo = tmp_path / "many.yml"
        topo.write_text("name: many\nnetworks:\n  lan: {ipv6: '2001:db8:9::/64'}\nnodes:\n" + nodes)
        ready = lambda st: len(st["namespaces"]) >= 10  # noqa: E731
    else:
        topo = REPO / TOPO
        ready = lambda st: len(st["processes"]) >= 1  # noqa: E731
    proc = subprocess.Popen([LABSIM, "up", str(topo), "--name", lab_name], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        st = _wait_state(lab_name, ready)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert st["status"] == "creating"
        assert run_labsim("status", lab_name).returncode == 0  # the half-made lab is visible
        res = run_labsim("gc", check=True)
        assert lab_name in res.stderr
    finally:
        proc.kill()
    assert_same_host(before, host_snapshot(lab_name))
    assert lab_processes(lab_name) == []


def test_a_daemon_that_fails_to_start_is_reported_and_cleaned_up(lab_name, tmp_path):
    before = host_snapshot(lab_name)
    topo = tmp_path / "bad.yml"
    # 192.0.2.99 is not the backend's address: the echo service cannot bind and exits
    text = edited((REPO / TOPO).read_text(), "    names: [api.example.test, assets.example.test]\n",
                  "    names: [api.example.test, assets.example.test]\n    listen: [192.0.2.99]\n")
    topo.write_text(text)
    res = run_labsim("up", str(topo), "--name", lab_name)
    assert res.returncode == 3, res.stderr
    assert "node 'api'" in res.stderr and "exited" in res.stderr
    assert "Cannot assign requested address" in res.stderr  # the log tail says why
    assert_same_host(before, host_snapshot(lab_name))


def test_sigterm_mid_bringup_cleans_up_without_gc(lab_name):
    before = host_snapshot(lab_name)
    proc = subprocess.Popen([LABSIM, "up", TOPO, "--name", lab_name], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_state(lab_name, lambda st: len(st["processes"]) >= 1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "removed" in err
    assert_same_host(before, host_snapshot(lab_name))
    assert lab_processes(lab_name) == []
