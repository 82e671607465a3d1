"""Tier 2: the services labsim starts in nodes run without root once set up, and still answer.

Read from /proc (the real, effective, saved and filesystem uid of each service's process):
tayga (NAT64 node and a client's CLAT) as nobody, the echo backend as nobody (HTTP, HTTPS with
its key, the raw TCP service), the DNS delay relay as nobody (queries still pass, delayed),
the PREF64 sender as nobody (its RAs still give the modern host its prefix), kea as _kea with
its two capabilities only (the legacy host still gets a lease), moto as nobody (HTTPS). The
DNS daemons' drops are covered by tests/netns/test_strict_longest.py. Left as root, on
purpose: hostconf (CAP_NET_ADMIN for its whole life), radvd's privileged helper and nginx's
master (their own privilege separation), slirp4netns (host side).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
from pathlib import Path

import pytest

from labsim.runtime.state import LabState, alive
from labsim.scenario.load import load_scenario
from labsim.scenario.runner import RunOptions, run_scenario
from tests.helpers import REPO

pytestmark = pytest.mark.root

SCENARIO = """\
name: privdrop
topology:
  nat64_prefix: 2001:db8:64::/96
  networks:
    lan: {ipv6: "2001:db8:10::/64", ipv4: 10.10.0.0/24}
    core: {ipv6: "2001:db8:1::/64"}
    v4net: {ipv4: 192.0.2.0/24}
  nodes:
    gw:
      kind: router
      links: [lan, core, v4net]
      ra: {networks: [lan], rdnss: [dns64], pref64: {lifetime: 1800}}
    nat64: {kind: nat64, links: [core, v4net], pool4: 198.18.0.0/24}
    dns64: {kind: dns64, links: [core]}
    ns:
      kind: authdns
      links: [core]
      impair: {dns_delay_ms: 30}
      zones:
        example.test: {records: {api: {A: api}}}
    api:
      kind: backend
      links: [{network: v4net, ipv4: 192.0.2.80}]
      names: [api.example.test]
      tcp_port: 1883
    modern:
      kind: client
      links: [lan]
      slaac: true
      resolver_from_ra: true
      clat: {prefix: auto}
      # IPv6-only on the dual-stack LAN (108 honoured: no lease, no planned IPv4): a host with
      # IPv4 of its own runs no CLAT (Nat464Xlat.requiresClat)
      dhcp4: {ipv6_only_preferred: true}
    legacy:
      kind: client
      links: [lan]
      slaac: true
      resolver_from_ra: true
      dhcp4: {ipv6_only_preferred: false}
    dhcp: {kind: dhcp4, links: [lan]}
steps:
  - name: the PREF64 sender's RAs reach the modern host, whose CLAT runs
    learnt: {from: modern}
    within: 5
    expect: {facts: {nat64_prefix_source: pref64, clat.state: up}}
  - name: kea leases the legacy host an address
    learnt: {from: legacy}
    within: 5
    expect: {facts: {dhcp4.state: bound}}
  - name: through the relay (delayed) and DNS64, then tayga, to the echo backend over HTTPS
    http: {from: modern, url: "https://api.example.test/"}
    expect: {status: 200, remote_ip_in: 2001:db8:64::/96, body: {tls: true}}
  - name: the CLAT's tayga carries an IPv4 literal
    http: {from: modern, url: "http://192.0.2.80/"}
    expect: {status: 200, body: {node: api}}
  - name: the raw TCP service
    tcp: {from: legacy, host: 192.0.2.80, port: 1883}
    expect: {ok: true}
"""


def status_ids(pid: int) -> dict[str, set[int]]:
    """Uid:/Gid: of /proc/PID/status (real, effective, saved, filesystem) and CapEff."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid"):
            out[key] = {int(x) for x in value.split()}
        elif key == "CapEff":
            out[key] = int(value, 16)
    return out


def children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
            for c in (t / "children").read_text().split()]


def service_pids(lab: str) -> dict[str, int]:
    """node/service -> PID of each service that is up."""
    state = LabState.load(lab)
    return {f"{p['node']}/{p['service']}": p["pid"] for p in state.processes
            if p.get("service") and alive(p["pid"], p.get("start"))}


def test_in_node_services_drop_root_and_still_answer(tmp_path, lab_name):
    path = tmp_path / "privdrop.yml"
    path.write_text(SCENARIO)
    result = run_scenario(load_scenario(path, lab_name=lab_name), RunOptions(keep=True))
    assert result.passed, [(s.title, s.error, s.outcomes) for s in result.steps if not s.passed]

    pids = service_pids(lab_name)
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    for svc in ("nat64/tayga", "api/echo", "ns/relay", "gw/pref64"):
        ids = status_ids(pids[svc])
        assert (ids["Uid"], ids["Gid"], ids["CapEff"]) == ({nobody}, {nogroup}, 0), svc
    clat = [c for c in children(pids["modern/hostconf"])
            if Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")[0] == b"tayga"]
    assert len(clat) == 1 and status_ids(clat[0])["Uid"] == {nobody}
    kea = status_ids(pids["dhcp/kea"])
    net_bind_service, net_raw = 1 << 10, 1 << 13
    assert kea["Uid"] == {pwd.getpwnam("_kea").pw_uid} and kea["CapEff"] == net_bind_service | net_raw
    # hostconf keeps root on purpose (see labsim/kinds/client.py)
    assert status_ids(pids["modern/hostconf"])["Uid"] == {0}


def test_drop_root_leaves_no_way_back(tmp_path):
    """In a child: after drop_root, every uid and gid is nobody's, no supplementary group,
    no capability, root's 0600 file (a key) is closed to it, and setuid(0) fails."""
    from labsim.node.privdrop import drop_root

    key = tmp_path / "key.pem"
    key.write_text("secret")
    key.chmod(0o600)
    tmp_path.chmod(0o755)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports and leaves, whatever happens
        try:
            drop_root("nobody", "nogroup")
            try:
                key.read_text()
                readable = True
            except PermissionError:
                readable = False
            try:
                os.setuid(0)
                back = True
            except PermissionError:
                back = False
            cap = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("CapEff"))
            os.write(w, json.dumps([os.getresuid(), os.getresgid(), os.getgroups(), int(cap.split()[1], 16),
                                    readable, back]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        report = json.loads(f.read())
    os.waitpid(pid, 0)
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    assert report == [[nobody] * 3, [nogroup] * 3, [], 0, False, False]


CLOUD = """\
name: privdrop-cloud
topology: %s
steps:
  - name: moto answers over HTTPS with the lab CA's certificate
    tls: {from: client-v6, host: s3.dualstack.eu-central-1.amazonaws.com, port: 443}
    expect: {ok: true}
"""


def test_moto_drops_root_where_its_python_is_open_to_others(tmp_path, lab_name):
    from labsim.kinds.cloudserve import import_dirs, unreadable_dir

    path = tmp_path / "cloud.yml"
    path.write_text(CLOUD % (REPO / "topologies" / "cloud-endpoints.yml"))
    result = run_scenario(load_scenario(path, lab_name=lab_name), RunOptions(keep=True))
    assert result.passed, [(s.title, s.error, s.outcomes) for s in result.steps if not s.passed]
    uid = status_ids(service_pids(lab_name)["cloud/moto"])["Uid"]
    blocked = next(filter(None, map(unreadable_dir, import_dirs())), None)
    log = (LabState.load(lab_name).dir / "nodes" / "cloud" / "moto.log").read_text()
    if blocked is None:
        assert uid == {pwd.getpwnam("nobody").pw_uid}
    else:  # this Python's library is closed to nobody: it says so and keeps serving as root
        assert uid == {0} and f"staying root: {blocked}" in log


def _trace_start(tmp_path, argv: list[str], ready: str) -> list[str]:
    """`argv` under strace (every thread: bind, listen, setuid) in a network namespace of its
    own (`unshare -n`: only a loopback, down) until it prints `ready`; its calls, in order."""
    import shutil
    import subprocess
    import time

    if shutil.which("strace") is None:
        pytest.fail("strace is missing (make setup installs it)")
    trace = tmp_path / "trace"
    proc = subprocess.Popen(["unshare", "-n", "strace", "-f", "-qq", "-e", "trace=bind,listen,setuid",
                             "-o", str(trace), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while ready not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
        assert ready in line, (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return [c.split(None, 1)[1] for c in trace.read_text().splitlines() if c.split(None, 1)[1:]]


def _listens_only_after_the_drop(calls: list[str], binds: int, listens: int) -> None:
    from labsim.node.privdrop import USER

    uid = pwd.getpwnam(USER).pw_uid
    order = [c.split("(", 1)[0] for c in calls if c.startswith(("bind(", "listen(", "setuid("))]
    assert any(c.startswith(f"setuid({uid})") for c in calls), calls
    # (a second setuid is privdrop's check that root cannot be taken back: EPERM)
    first = order.index("setuid")
    assert order[:first] == ["bind"] * binds and order[first:].count("listen") == listens, calls


def test_the_echo_backend_listens_only_once_root_is_gone(tmp_path):
    """Readiness is a TCP connect, so the backend must not accept one while it is root: it
    binds its ports as root, drops to nobody, then listens; on its usual ports, as the
    backend kind runs it."""
    import sys

    from labsim.node.nodeprog import stdlib_program
    from labsim.node.privdrop import GROUP, USER

    argv = stdlib_program(sys.executable, "labsim.node.echo_server", "--name", "api", "--listen", "::",
                          "--http", "80", "--tcp", "1883", "--user", USER, "--group", GROUP)
    _listens_only_after_the_drop(_trace_start(tmp_path, argv, "listening"), binds=2, listens=2)

