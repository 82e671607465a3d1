"""Tier 2: `kind: process` on real namespaces. The node's program (Python's http.server, a
program labsim did not write) runs as the given user in its workdir with its env (read from
/proc), its setup ran as that user first, its log is what `labsim logs` prints, and the
scenario's `stop`/`start` actions stop it and start it again (a new PID, same user)."""

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
from tests.helpers import assert_same_host, host_snapshot, lab_processes, run_labsim

pytestmark = pytest.mark.root

SCENARIO = """\
name: process-kind
topology:
  networks:
    lan: {ipv6: "2001:db8:7::/64"}
  nodes:
    cl: {kind: client, links: [lan]}
    app:
      kind: process
      links: [lan]
      user: nobody
      group: nogroup
      env: {LABSIM_MARK: "in {dir}"}
      setup: [[touch, made-by-setup]]
      files: {app.conf: "data = {dir}/work\\n", run.sh: "dir=/tmp; echo ${dir} {dir}\\n"}
      expand_dir: [app.conf]
      command: [/usr/bin/python3, -u, -m, http.server, "8080", --bind, "::"]
      ports: [8080]
steps:
  - http: {from: cl, url: "http://[%(app)s]:8080/made-by-setup"}
    expect: {status: 200}
  - stop: app
  - tcp: {from: cl, host: "%(app)s", port: 8080}
    expect: {reason: CONNECT_REFUSED}
  - start: app
  - http: {from: cl, url: "http://[%(app)s]:8080/made-by-setup?again"}
    expect: {status: 200}
"""


def ids(pid: int, what: str) -> set[int]:
    """The real, effective, saved and filesystem ids of a process (`Uid:`/`Gid:` in status)."""
    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith(what))
    return {int(x) for x in line.split()[1:]}


def test_process_runs_as_its_user_logs_and_restarts(tmp_path, lab_name):
    check_process_node(tmp_path, lab_name, "netns")


def check_process_node(tmp_path: Path, lab_name: str, runtime: str) -> None:
    """The whole story on one runtime (tests/docker runs it with docker)."""
    before = host_snapshot(lab_name)
    path = tmp_path / "process-kind.yml"
    path.write_text(SCENARIO % {"app": "2001:db8:7::2"})
    ls = load_scenario(path, lab_name=lab_name)
    assert str(ls.lab.plan.nodes["app"].addresses(6)[0]) == "2001:db8:7::2"
    result = run_scenario(ls, RunOptions(runtime=runtime, keep=True))
    assert result.passed, [(s.title, s.error, s.detail) for s in result.steps if not s.passed]

    state = LabState.load(lab_name)
    runs = [p for p in state.processes if p["node"] == "app"]
    assert [p["service"] for p in runs] == ["python3", "python3"]  # started, then restarted
    first, second = runs
    assert not alive(first["pid"], first.get("start")) and alive(second["pid"], second.get("start"))
    pid = second["pid"]
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    assert ids(pid, "Uid:") == {nobody} and ids(pid, "Gid:") == {nogroup}
    node_dir = state.dir / "nodes" / "app"
    assert os.readlink(f"/proc/{pid}/cwd") == str(node_dir / "work")
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert f"LABSIM_MARK=in {node_dir}".encode() in environ and b"USER=nobody" in environ
    assert (node_dir / "work" / "made-by-setup").stat().st_uid == nobody  # setup ran as the user
    # `{dir}` is replaced in the files named by expand_dir only; others are written as given
    assert (node_dir / "app.conf").read_text() == f"data = {node_dir}/work\n"
    assert (node_dir / "run.sh").read_text() == "dir=/tmp; echo ${dir} {dir}\n"

    logs = run_labsim("logs", "--lab", lab_name, "app", "-n", "0", check=True).stdout
    assert "GET /made-by-setup HTTP" in logs and "GET /made-by-setup?again HTTP" in logs

    run_labsim("down", lab_name, check=True)
    assert not lab_processes(lab_name)
    assert_same_host(before, host_snapshot(lab_name))


# A listener bound where argv[1] says; an IPv6 bind is IPv6 only (V6ONLY), as a `[::]` one can be
LISTEN = ("import socket, sys\n"
          "fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
          "s = socket.socket(fam)\n"
          "if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n"
          "s.bind((sys.argv[1], 8080)); s.listen()\n"
          "while True: s.accept()[0].close()\n")
BINDS = """\
name: process-binds
topology:
  networks:
    lan: {ipv6: "2001:db8:8::/64", ipv4: 192.0.2.0/24}
  nodes:
    cl: {kind: client, links: [lan]}
    any6: {kind: process, links: [lan], command: [python3, "{dir}/listen.py", "::"], ports: [8080],
          files: {listen.py: %(listen)s}}
    own6: {kind: process, links: [lan], command: [python3, "{dir}/listen.py", "2001:db8:8::3"], ports: [8080],
          files: {listen.py: %(listen)s}}
    lo6: {kind: process, links: [lan], command: [python3, "{dir}/listen.py", "::1"], ports: [8080],
          files: {listen.py: %(listen)s}}
    any4: {kind: process, links: [lan], command: [python3, "{dir}/listen.py", 0.0.0.0], ports: [8080],
          files: {listen.py: %(listen)s}}
steps:
  - tcp: {from: cl, host: "2001:db8:8::2", port: 8080}
    expect: {ok: true, family: 6}
  - tcp: {from: cl, host: 192.0.2.2, port: 8080}
    expect: {reason: CONNECT_REFUSED}
  - tcp: {from: cl, host: "2001:db8:8::3", port: 8080}
    expect: {ok: true, family: 6}
  - tcp: {from: cl, host: 192.0.2.3, port: 8080}
    expect: {reason: CONNECT_REFUSED}
  - name: listening on loopback only is listening (bring-up passed); no client reaches it
    tcp: {from: cl, host: "2001:db8:8::4", port: 8080}
    expect: {reason: CONNECT_REFUSED}
  - tcp: {from: cl, host: 192.0.2.4, port: 8080}
    expect: {reason: CONNECT_REFUSED}
  - tcp: {from: cl, host: 192.0.2.5, port: 8080}
    expect: {ok: true, family: 4}
  - name: catalog row 9, told apart by the check, not hidden by readiness
    tcp: {from: cl, host: "2001:db8:8::5", port: 8080}
    expect: {reason: CONNECT_REFUSED}
"""


def test_readiness_finds_a_listener_of_either_family_and_the_checks_tell_them_apart(tmp_path, lab_name):
    """Readiness means "the program listens": an IPv6-only bind (`::` with V6ONLY, the node's
    IPv6 address, ::1) on a dual-stack node comes up as a 0.0.0.0 bind does; which clients
    reach each one is what the scenario's checks say."""
    check_binds(tmp_path, lab_name, "netns")


def check_binds(tmp_path: Path, lab_name: str, runtime: str) -> None:
    before = host_snapshot(lab_name)
    path = tmp_path / "process-binds.yml"
    path.write_text(BINDS % {"listen": json.dumps(LISTEN)})
    ls = load_scenario(path, lab_name=lab_name)
    plan = ls.lab.plan.nodes
    assert [str(a) for n in ("any6", "own6", "lo6", "any4") for a in plan[n].addresses()] == [
        "2001:db8:8::2", "192.0.2.2", "2001:db8:8::3", "192.0.2.3",
        "2001:db8:8::4", "192.0.2.4", "2001:db8:8::5", "192.0.2.5"]
    result = run_scenario(ls, RunOptions(runtime=runtime))
    assert result.passed, [(s.title, s.error, s.detail) for s in result.steps if not s.passed]
    assert len(result.steps) == 8
    assert_same_host(before, host_snapshot(lab_name))
