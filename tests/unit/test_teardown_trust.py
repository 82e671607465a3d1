"""Teardown trusts nothing a node could write (issue 24): a state file edited to name host
paths, `..` paths, symlinks planted to point outside, foreign PIDs or namespaces of no lab
makes `down` and `gc` remove none of them, and each refusal is said on stderr. Everything
lives under tmp_path: labsim's run directory, /etc/netns and /run/netns are redirected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

LAB = "h3trust"


@pytest.fixture
def host(tmp_path, monkeypatch):
    """labsim's roots under tmp_path, and host-like files outside them (the sentinels)."""
    from labsim.bringup import teardown
    from labsim.runtime import netns, nsutil, registry, state

    run, etc_netns, run_netns = tmp_path / "run", tmp_path / "etc-netns", tmp_path / "run-netns"
    for d in (run, etc_netns, run_netns):
        d.mkdir()
    monkeypatch.setattr(state, "RUN_DIR", run)
    monkeypatch.setattr(netns, "NETNS_ETC", etc_netns)
    monkeypatch.setattr(teardown, "NETNS_ETC", etc_netns)
    monkeypatch.setattr(nsutil, "NETNS_RUN_DIR", str(run_netns))
    # only the netns runtime: gc must not ask docker about the host's real labs
    monkeypatch.setattr(registry, "RUNTIMES", {"netns": netns.NetnsRuntime})
    etc = tmp_path / "etc"  # stands for the host's /etc
    (etc / "ssh").mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0\n")
    (etc / "ssh" / "sshd_config").write_text("Port 22\n")
    (etc_netns / "other-ns").mkdir()  # another tool's /etc/netns entry
    (run_netns / "other-ns").write_text("")  # and its namespace
    (run_netns / "ls-h3trustx").write_text("")  # another lab whose name starts like this one
    return {"run": run, "etc": etc, "etc_netns": etc_netns, "run_netns": run_netns, "tmp": tmp_path}


def sentinels(host, other_lab: bool = True) -> list:
    etc = host["etc"]
    return [etc, etc / "passwd", etc / "ssh", etc / "ssh" / "sshd_config", host["etc_netns"] / "other-ns",
            host["run_netns"] / "other-ns", *([host["run_netns"] / "ls-h3trustx"] if other_lab else [])]


def write_state(host, **fields) -> dict:
    """The lab's directory as a node could have left it, and a state file naming `fields`."""
    from labsim.runtime.state import process_start_time

    lab_dir = host["run"] / LAB
    node = lab_dir / "nodes" / "n"
    node.mkdir(parents=True)
    (node / "conf").write_text("x")
    (node / "to-etc").symlink_to(host["etc"])  # planted: a symlink out of the node directory
    (node / "to-passwd").symlink_to(host["etc"] / "passwd")
    data = {"lab": "../etc", "runtime": "netns", "status": "creating", "owner_pid": 1 << 22,
            "owner_start": process_start_time(os.getpid()), "namespaces": [], "paths": [],
            "processes": [], **fields}
    (lab_dir / "state.json").write_text(json.dumps(data))
    return data


def hostile_paths(host) -> list[str]:
    etc, lab_dir = host["etc"], host["run"] / LAB
    return [
        str(etc / "passwd"),  # a host path, absolute
        str(etc / "ssh"),  # a host directory
        f"{lab_dir}/../../etc/passwd",  # `..` out of the lab directory
        f"{lab_dir}/nodes/n/to-etc/ssh",  # through a planted symlink
        f"{lab_dir}/nodes/n/to-etc/passwd",
        f"{host['etc_netns']}/other-ns",  # /etc/netns, but not the lab's entry
        f"{host['etc_netns']}/ls-{LAB}_n/../other-ns",
        "etc/passwd",  # relative
        f"{lab_dir}/nodes/n/to-passwd",  # the link itself may go (it is in the lab), never its target
    ]


def test_down_removes_no_path_outside_labsims_roots(host, capsys):
    from labsim.bringup import teardown

    write_state(host, paths=hostile_paths(host),
                namespaces=["other-ns", "../run-netns/other-ns", "ls-h3trustx", f"ls-{LAB}_../other-ns"])
    teardown.down(LAB)
    for p in sentinels(host):
        assert p.exists(), f"{p} was removed"
    assert (host["etc"] / "passwd").read_text() == "root:x:0:0\n"
    assert not (host["run"] / LAB).exists()  # the lab's own directory did go
    err = capsys.readouterr().err
    for refused in (str(host["etc"] / "passwd"), "../../etc/passwd", "to-etc/ssh", "other-ns",
                    "'etc/passwd'", "ls-h3trustx"):
        assert "not removing" in err and refused in err, (refused, err)


def test_gc_removes_no_path_outside_labsims_roots(host, capsys):
    from labsim.bringup import teardown

    write_state(host, paths=hostile_paths(host), namespaces=["other-ns", "ls-h3trustx"])
    removed = teardown.gc()
    assert LAB in removed
    # (ls-h3trustx is an orphan of lab h3trustx to gc, rightly collected as such)
    for p in sentinels(host, other_lab=False):
        assert p.exists(), f"{p} was removed"
    assert not any(str(host["etc"]) in item for item in removed[LAB]), removed
    assert "not removing" in capsys.readouterr().err


def test_a_symlinked_lab_directory_or_state_file_is_not_followed(host):
    from labsim.bringup import teardown
    from labsim.runtime.state import LabState

    # the lab's directory itself a link to the host's /etc: only the link goes
    (host["run"] / LAB).symlink_to(host["etc"])
    assert LAB not in LabState.all_labs()
    LabState(lab=LAB, runtime="netns").forget()
    assert not os.path.lexists(host["run"] / LAB)
    for p in sentinels(host):
        assert p.exists()
    # a state file that is a symlink is not read; down still removes the lab's directory
    (host["run"] / LAB).mkdir(parents=True)
    (host["run"] / LAB / "state.json").symlink_to(host["etc"] / "passwd")
    teardown.down(LAB)
    assert not os.path.lexists(host["run"] / LAB)
    assert (host["etc"] / "passwd").read_text() == "root:x:0:0\n"


def test_a_lab_name_that_is_a_path_is_refused(host):
    from labsim.bringup import teardown
    from labsim.errors import LabNotFoundError

    for name in ("../etc", "..", "/etc", "a/b", "ls_x"):
        with pytest.raises(LabNotFoundError):
            teardown.down(name)
    for p in sentinels(host):
        assert p.exists()


@pytest.fixture
def sleepers():
    """Processes labsim did not start (stand-ins for the host's daemons)."""
    procs = []
    for _ in range(4):  # a few clock ticks apart: their start times order them
        procs.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        time.sleep(0.05)
    yield procs
    for p in procs:
        p.kill()
        p.wait(timeout=10)


def test_down_kills_only_processes_it_can_prove_it_started(host, sleepers, capsys):
    from labsim.bringup import teardown
    from labsim.runtime.state import process_start_time

    older, foreign_none, foreign_wrong, ours = sleepers
    starts = {p.pid: process_start_time(p.pid) for p in sleepers}
    assert all(starts.values())
    data = write_state(host, processes=[
        {"node": "n", "service": "a", "pid": foreign_none.pid, "start": None},  # no start: unproven
        {"node": "n", "service": "b", "pid": foreign_wrong.pid, "start": starts[foreign_wrong.pid] + 7},  # reused
        {"node": "n", "service": "c", "pid": older.pid, "start": starts[older.pid]},
        {"node": "n", "service": "d", "pid": ours.pid, "start": starts[ours.pid]},
        {"node": "n", "service": "e", "pid": os.getpid(), "start": process_start_time(os.getpid())},
        {"node": "n", "service": "f", "pid": "1", "start": 0},
    ])
    # `older` started before the lab's owner (a host daemon older than the lab), `ours` after
    data["owner_start"] = min(starts[ours.pid], starts[older.pid] + 1)
    (host["run"] / LAB / "state.json").write_text(json.dumps(data))
    if starts[older.pid] >= data["owner_start"] or starts[ours.pid] < data["owner_start"]:
        pytest.skip("the stand-ins started within one clock tick: cannot order them")
    removed = teardown.down(LAB)
    assert ours.wait(timeout=10) is not None  # the one provably ours is gone
    assert f"process {ours.pid}" in removed
    for p in (foreign_none, foreign_wrong, older):
        assert p.poll() is None, f"process {p.pid} was killed"
    err = capsys.readouterr().err
    for p in (foreign_none, foreign_wrong, older):
        assert f"process {p.pid}" in err, err
