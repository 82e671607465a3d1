"""The host side of `labsim.node.forkserver`: a child that has imported the lab's in-node Python
programs and forks one per daemon, entering the node as `ip netns exec` does (see there).

The netns runtime starts one as bring-up begins (`NetnsRuntime.preload`), so its imports run
on the other core while namespaces are made, and stops it when bring-up ends: later starts
(a scenario's `start:` action) exec the program as before. Anything wrong with the server
(it died, it answers nonsense) makes `spawn` return None: the caller then execs instead.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time

from labsim.node.forkserver import PAD
from labsim.node.nodeprog import split_program, stdlib_program

# its imports (~0.1-0.2 s of CPU here) come before its first answer; past this, exec instead
REPLY_TIMEOUT_S = 10.0


class ForkSpawner:
    def __init__(self, lab_dir: str, modules: set[str]):
        """The lab's directory goes first on the server's command line (and so on its
        children's: `ps` tells whose they are); logs outside it are refused."""
        self.modules = frozenset(modules)
        self._lock = threading.Lock()  # one request and its answer at a time
        self._proc: subprocess.Popen | None = subprocess.Popen(
            stdlib_program(sys.executable, "labsim.node.forkserver", lab_dir, *sorted(self.modules), PAD),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True)

    def spawn(self, ns: str, log: str, argv: list[str]) -> int | None:
        """The PID of `argv` (a `nodeprog` program) running in namespace `ns`, or None (not
        preloaded here, or no server): exec it instead."""
        prog = split_program(argv)
        if prog is None or prog[0] not in self.modules:
            return None
        module, args = prog
        with self._lock:
            proc = self._proc
            if proc is None:
                return None
            stdin, stdout = proc.stdin, proc.stdout  # pipes: Popen was given PIPE for both
            if stdin is None or stdout is None:
                return None
            try:
                stdin.write(json.dumps({"ns": ns, "log": log, "module": module, "args": args,
                                        "cmdline": argv}).encode() + b"\n")
                stdin.flush()
                reply = json.loads(_read_line(stdout.fileno(), REPLY_TIMEOUT_S) or b"{}")
            except (OSError, ValueError):
                reply = {}
            pid = reply.get("pid")
            if not isinstance(pid, int) or pid <= 0:
                self._stop()  # broken or refused: every later start execs
                return None
            return pid

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # every request has had its answer (the lock): the server is idle, or still
        # importing if nothing came; its children are in sessions of their own and stay
        proc.kill()
        proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


def _read_line(fd: int, timeout: float) -> bytes:
    """One reply line from the server's stdout (unbuffered reads, so nothing is held back),
    or what came before the deadline or its end of output."""
    end = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf
