"""Stopping processes a lab started, by PID (teardown, the scenario action `stop`)."""

from __future__ import annotations

import os
import signal
import time


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
    """False once the process is gone: reaped if it is our child, else exited or a zombie.
    A multi-threaded daemon (pdns) shows 'Z' while its other threads still exit and cannot
    be reaped yet; for our own child that means: keep waiting, or it stays a zombie."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
        ours = True
    except ChildProcessError:
        ours = False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return ours or state != "Z"
