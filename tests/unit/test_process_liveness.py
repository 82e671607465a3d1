"""What `status`, `start` and `stop` call alive: the recorded process, not exited. A zombie
that a container's init has not reaped yet is dead: a scenario's `start` right after its
`stop` must start the daemon again, not report it "already running" (a docker run of
postgres-ipv4-only-listen did, and every later step failed). No root needed."""

from __future__ import annotations

import subprocess
import time

from labsim.runtime.processes import stop_processes
from labsim.runtime.state import alive, process_start_time


def _zombie_of_a_parent_that_never_reaps() -> tuple[subprocess.Popen, int]:
    """`sleep 0` started by a shell that then execs `sleep 30`: nobody reaps the child, as
    nobody but the container's init reaps a daemon labsim stopped in a container."""
    parent = subprocess.Popen(["sh", "-c", "sleep 0 & exec sleep 30"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{parent.pid}/task/{parent.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
            if kids and open(f"/proc/{kids[0]}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                return parent, kids[0]
        except OSError:
            pass
        time.sleep(0.01)
    parent.kill()
    raise AssertionError("no zombie child appeared")


def test_an_unreaped_zombie_is_not_alive_and_a_live_process_is():
    parent, zombie = _zombie_of_a_parent_that_never_reaps()
    try:
        start = process_start_time(zombie)
        assert start is not None  # its /proc entry, start time included, is still there
        assert not alive(zombie, start)
        assert alive(parent.pid, process_start_time(parent.pid))
        t0 = time.monotonic()
        stop_processes({zombie}, grace_s=2.0)  # nothing to wait for: it has exited
        assert time.monotonic() - t0 < 1.0
    finally:
        parent.kill()
        parent.wait(timeout=10)
