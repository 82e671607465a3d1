"""Stopping processes a lab started, by PID (teardown, the scenario action `stop`)."""

from __future__ import annotations

import os
import signal
import time

from labsim.runtime.state import exited


def stop_processes(pids: set[int], grace_s: float = 1.0) -> None:
    """SIGTERM, wait up to `grace_s`, then SIGKILL what is left; reap our own children."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = set(pids)
    while left and time.monotonic() < deadline:
        left = {p for p in left if _running(p)}
        if left:
            time.sleep(0.01)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while left and time.monotonic() < deadline:
        left = {p for p in left if _running(p)}
        if left:
            time.sleep(0.01)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """False once the process is gone: reaped if it is our child, else exited (state.exited:
    gone, or a zombie with no thread left; the same test `alive` makes, so a `start` right
    after a `stop` sees the daemon stopped). A multi-threaded daemon (pdns) shows 'Z' while
    its other threads still exit; our own child stays ours to reap, or it stays a zombie."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
        ours = True
    except ChildProcessError:
        ours = False
    return ours or not exited(pid)
