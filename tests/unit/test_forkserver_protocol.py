"""The fork server refuses what it was not started for, before any fork: a module it has not
preloaded, a log outside its lab's directory, a namespace name that is a path, arguments that
are not strings, a call without its three descriptors. A refused, dead or hung server makes the
spawner fall back to exec (None), never a PID of nothing, within the caller's bound. A call's
output, error output and exit code come back through the descriptors it passed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from labsim.node.forkserver import PAD
from labsim.node.nodeprog import stdlib_program
from labsim.runtime.forkspawn import ForkSpawner


def ask(lab_dir: str, *requests: tuple[dict, int]) -> list[dict]:
    """Each request with that many descriptors (pipe write ends) attached; the replies."""
    argv = stdlib_program(sys.executable, "labsim.node.forkserver", lab_dir, "labsim.node.agent", PAD)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.close()
    replies = []
    try:
        for req, nfds in requests:
            pipes = [os.pipe() for _ in range(nfds)]
            socket.send_fds(mine, [json.dumps(req).encode()], [w for _, w in pipes])
            mine.settimeout(60)
            replies.append(json.loads(mine.recv(65536)))
            for r, w in pipes:
                os.close(r)
                os.close(w)
    finally:
        mine.close()  # end of input: the server exits
        proc.wait(timeout=10)
    return replies


def test_requests_it_was_not_made_for_are_refused(tmp_path):
    ok = {"ns": "x", "log": str(tmp_path / "a.log"), "module": "labsim.node.agent", "args": [], "cmdline": ["p"]}
    call = {**ok, "call": True}
    replies = ask(str(tmp_path),
                  ({**ok, "module": "labsim.node.relay"}, 0),
                  ({**ok, "log": "/etc/passwd"}, 0),
                  ({**ok, "log": str(tmp_path / ".." / "elsewhere.log")}, 0),
                  ({**ok, "args": ["--x", 1]}, 0),
                  ({**ok, "cmdline": "python"}, 0),
                  ({**ok, "ns": "../../proc/1/ns/net"}, 0),
                  ({**ok}, 1),
                  ({**call}, 2),
                  ({**call, "module": "labsim.node.sockprobe"}, 3))
    assert [sorted(r) for r in replies] == [["error"]] * 9
    assert "not preloaded" in replies[0]["error"] and "outside" in replies[1]["error"]
    assert "outside" in replies[2]["error"] and "strings" in replies[3]["error"]
    assert "namespace name" in replies[5]["error"] and "no descriptors" in replies[6]["error"]
    assert "3 descriptors" in replies[7]["error"] and "not preloaded" in replies[8]["error"]
    assert not (tmp_path / "a.log").exists()


def test_the_spawner_falls_back_to_exec_when_refused_or_not_preloaded(tmp_path):
    spawner = ForkSpawner(str(tmp_path), {"labsim.node.agent"})
    try:
        relay = stdlib_program(sys.executable, "labsim.node.relay", "--port", "53")
        assert spawner.spawn("x", str(tmp_path / "r.log"), relay) is None  # not preloaded: not asked
        assert spawner.call("x", "labsim.node.relay", [], 5) is None
        outside = stdlib_program(sys.executable, "labsim.node.agent", "resolve", "x")
        assert spawner.spawn("x", "/tmp/elsewhere.log", outside) is None  # refused: server stopped
        assert spawner.spawn("x", str(tmp_path / "a.log"), outside) is None  # and stays so
        assert spawner.call("x", "labsim.node.agent", ["resolve", "x"], 5) is None
    finally:
        spawner.close()


def test_a_call_reports_its_childs_stderr_and_exit_code(tmp_path):
    """A namespace that does not exist: the child fails entering it, as `ip netns exec` would
    fail, and says so on the stderr the caller passed; exit code 1, nothing on stdout."""
    spawner = ForkSpawner(str(tmp_path), {"labsim.node.agent"})
    try:
        res = spawner.call("w3s-no-such-ns", "labsim.node.agent", ["resolve", "localhost"], 30)
        assert res is not None and res.returncode == 1 and res.stdout == b""
        assert b"/run/netns/w3s-no-such-ns" in res.stderr
        assert res.args == stdlib_program(sys.executable, "labsim.node.agent", "resolve", "localhost")
        assert spawner.alive()  # a failed program is no failed server
    finally:
        spawner.close()


def test_a_dead_or_hung_server_means_exec_within_the_calls_bound(tmp_path):
    for how in (signal.SIGKILL, signal.SIGSTOP):
        spawner = ForkSpawner(str(tmp_path), {"labsim.node.agent"})
        try:
            spawner.call("w3s-no-such-ns", "labsim.node.agent", ["resolve", "x"], 30)  # imports done
            assert spawner._proc is not None
            os.kill(spawner._proc.pid, how)
            t0 = time.monotonic()
            assert spawner.call("w3s-no-such-ns", "labsim.node.agent", ["resolve", "x"], 1.0) is None
            assert time.monotonic() - t0 < 3
            assert not spawner.alive()  # stopped (a hung one killed): later calls exec at once
            assert spawner.call("w3s-no-such-ns", "labsim.node.agent", ["resolve", "x"], 30) is None
        finally:
            spawner.close()
