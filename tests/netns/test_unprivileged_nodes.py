"""Tier 2 (root): what a file asks to run is unprivileged in its own view of the file system.

A `process` node, its `setup` and an `exec` check, none given a user, each try to create a
file in two host directories the test made writable by anyone: a fresh one under /var/tmp
and one under /etc. They cannot (the host is read-only for them, /var/tmp is their own),
and `id -u` in each is not 0; the node's own directory stays writable. With `user: root`
and --allow-root-nodes (its environment, as the CLI sets it) they can, as uid 0. The echo
backend's process is not uid 0 either. A client's network manager (hostconf), which stays
uid 0, keeps only a network manager's capabilities, and so does every program it runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from labsim.trust import ALLOW_ROOT_ENV
from labsim.runtime.state import LabState, alive
from labsim.scenario.load import load_scenario
from labsim.scenario.runner import RunOptions, run_scenario
from tests.helpers import run_labsim

pytestmark = pytest.mark.root

# prints one line: the uid, and for each directory whether a file could be made there
PROBE = ('printf "uid=%s" "$(id -u)"; for d in "$@"; do n=$(basename "$d"); '
         'if touch "$d/$0-$$" 2>/dev/null; then printf " $n=yes"; else printf " $n=no"; fi; done; echo')

SCENARIO = """\
name: unprivileged
topology:
  networks:
    lan: {ipv6: "2001:db8:71::/64"}
  nodes:
    cl: {kind: client, links: [lan]}
    api: {kind: backend, links: [lan]}
    app:
      kind: process
      links: [lan]
%(user)s      setup: [[/bin/sh, -c, '%(probe)s', setup, "%(vartmp)s", "%(etc)s"]]
      command: [/bin/sh, -c, '(%(probe)s) > {dir}/work/program.out; exec sleep 600',
                program, "%(vartmp)s", "%(etc)s"]
steps:
  - exec:
      from: cl
%(exec_user)s      argv: [/bin/sh, -c, '%(probe)s', check, "%(vartmp)s", "%(etc)s"]
    expect: {exit_status: 0, stdout_contains: "%(expect)s"}
"""


@pytest.fixture
def host_dirs():
    """World-writable directories on the host: only the node's view of them can stop a write."""
    tag = f"h4-{uuid.uuid4().hex[:8]}"
    dirs = [Path("/var/tmp") / tag, Path("/etc") / tag]
    for d in dirs:
        d.mkdir()
        d.chmod(0o1777)
    yield dirs
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def run(tmp_path: Path, lab_name: str, dirs: list[Path], root: bool):
    expect = (f"uid=0 {dirs[0].name}=yes {dirs[1].name}=yes" if root
              else f"uid=65534 {dirs[0].name}=no {dirs[1].name}=no")
    text = SCENARIO % {"probe": PROBE, "vartmp": dirs[0], "etc": dirs[1], "expect": expect,
                       "user": "      user: root\n" if root else "",
                       "exec_user": "      user: root\n" if root else ""}
    path = tmp_path / "unprivileged.yml"
    path.write_text(text)
    result = run_scenario(load_scenario(path, lab_name=lab_name), RunOptions(keep=True))
    assert result.passed, [(s.title, s.error, s.detail if hasattr(s, "detail") else None,
                            getattr(s.result, "facts", None)) for s in result.steps if not s.passed]
    return expect, LabState.load(lab_name)


def service_uid(state: LabState, node: str) -> int:
    (proc,) = [p for p in state.processes if p["node"] == node and alive(p["pid"], p.get("start"))]
    status = Path(f"/proc/{proc['pid']}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("Uid:")).split()[1])


def test_without_a_user_nothing_it_runs_can_write_the_host(tmp_path, lab_name, host_dirs, monkeypatch):
    monkeypatch.delenv(ALLOW_ROOT_ENV, raising=False)
    expect, state = run(tmp_path, lab_name, host_dirs, root=False)
    work = state.dir / "nodes" / "app" / "work"
    assert (work / "program.out").read_text().strip() == expect  # the node's own dir: writable
    assert service_uid(state, "app") == 65534
    assert service_uid(state, "api") != 0  # the echo backend dropped root once bound
    log = (state.dir / "nodes" / "app").glob("*.log")
    assert all("=yes" not in p.read_text() for p in log)
    for d in host_dirs:
        assert list(d.iterdir()) == [], d  # neither the setup, the program nor the check wrote
    run_labsim("down", lab_name, check=True)


def test_with_user_root_and_the_flag_it_can(tmp_path, lab_name, host_dirs, monkeypatch):
    monkeypatch.setenv(ALLOW_ROOT_ENV, "1")  # what --allow-root-nodes sets
    expect, state = run(tmp_path, lab_name, host_dirs, root=True)
    assert (state.dir / "nodes" / "app" / "work" / "program.out").read_text().strip() == expect
    assert service_uid(state, "app") == 0
    made = sorted(p.name.split("-")[0] for d in host_dirs for p in d.iterdir())
    assert made == ["check", "check", "program", "program", "setup", "setup"]
    run_labsim("down", lab_name, check=True)


def test_the_network_manager_keeps_only_its_capabilities():
    """What hostconf does first, in a child: still uid 0, the capability sets cut down (for
    the programs it runs too: `unshare` can no longer make a mount namespace)."""
    from labsim.node.privdrop import NETWORK_MANAGER_CAPS

    prog = ("import subprocess; from labsim.node.privdrop import keep_capabilities, NETWORK_MANAGER_CAPS\n"
            "keep_capabilities(NETWORK_MANAGER_CAPS)\n"
            "print(open('/proc/self/status').read())\n"
            "print('unshare', subprocess.run(['unshare', '--mount', 'true']).returncode)")
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=30, check=True).stdout
    fields = dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
    mask = sum(1 << c for c in NETWORK_MANAGER_CAPS)
    assert fields["Uid"].split()[0] == "0"
    assert {int(fields[f], 16) for f in ("CapEff", "CapPrm", "CapBnd")} == {mask}
    assert "unshare 1" in out  # CAP_SYS_ADMIN is gone for its children as well
