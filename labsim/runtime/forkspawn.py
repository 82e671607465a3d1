"""The host side of `labsim.node.forkserver`: a child that has imported the lab's in-node Python
programs and forks one per daemon, or per check (`call`), entering the node as `ip netns exec`
does (see there).

The netns runtime starts one as bring-up begins (`NetnsRuntime.preload`), so its imports run
on the other core while namespaces are made. After bring-up it stops spawning daemons (later
starts, a scenario's `start:` action, exec the program as before); in a lab session it stays,
for the checks' agent and socket probe, until the session ends (`Forks.end_session`), and a
runtime made for a lab that is up starts one at its first call. Anything wrong with the server
(it died, it hangs, it answers nonsense) makes `spawn` and `call` return None: the caller then
execs instead, and so do all later ones.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref

from labsim.errors import RuntimeOpError
from labsim.node.forkserver import PAD
from labsim.node.nodeprog import split_program, stdlib_program

# its imports (~0.1-0.2 s of CPU here) come before its first answer; past this, exec instead
REPLY_TIMEOUT_S = 10.0
# what a check runs in its node, kept forkable for a session
CALL_PROGRAMS = frozenset({"labsim.node.agent", "labsim.node.sockprobe"})


class ForkSpawner:
    def __init__(self, lab_dir: str, modules: set[str] | frozenset[str]):
        """The lab's directory goes first on the server's command line (and so on its
        children's: `ps` tells whose they are); logs outside it are refused."""
        self.modules = frozenset(modules)
        self._lock = threading.Lock()  # one request and its answer at a time
        self._ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                stdlib_program(sys.executable, "labsim.node.forkserver", lab_dir, *sorted(self.modules), PAD),
                stdin=theirs.fileno(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True, start_new_session=True)
        # a spawner nobody stops (a runtime dropped without end_session) still stops its server
        self._finalizer = weakref.finalize(self, _stop, self._proc, self._ctl)

    def spawn(self, ns: str, log: str, argv: list[str]) -> int | None:
        """The PID of `argv` (a `nodeprog` program) running in namespace `ns`, or None (not
        preloaded here, or no server): exec it instead."""
        prog = split_program(argv)
        if prog is None or prog[0] not in self.modules:
            return None
        module, args = prog
        return self._ask({"ns": ns, "log": log, "module": module, "args": args, "cmdline": argv}, [],
                         REPLY_TIMEOUT_S)

    def call(self, ns: str, module: str, args: list[str], timeout: float,
             what: str = "") -> subprocess.CompletedProcess | None:
        """Run `module` with `args` in namespace `ns` as `ip netns exec NS python -S ...` would,
        and wait for it: its stdout, stderr and exit code; None when this server cannot (not
        preloaded, no server, no answer in time): exec it instead. Still running after
        `timeout`: killed (its whole session), RuntimeOpError."""
        if module not in self.modules:
            return None
        argv = stdlib_program(sys.executable, module, *args)
        end = time.monotonic() + timeout
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, exit status; not inheritable
        try:
            pid = self._ask({"call": True, "ns": ns, "module": module, "args": args, "cmdline": argv},
                            [w for _, w in pipes], min(REPLY_TIMEOUT_S, timeout))
        finally:
            for _, w in pipes:  # the child holds its copies: EOF comes when it has gone
                os.close(w)
        try:
            if pid is None:
                return None
            got = _read_all([r for r, _ in pipes], end)
            if got is None:
                _kill_session(pid)
                raise RuntimeOpError(f"{what or ns}: {module} still running after {timeout}s")
            out, err, status = got
            code = int(status) if status.strip().lstrip(b"-").isdigit() else -signal.SIGKILL
            return subprocess.CompletedProcess(argv, code, out, err)
        finally:
            for r, _ in pipes:
                os.close(r)

    def _ask(self, req: dict, fds: list[int], timeout: float) -> int | None:
        """The server's PID answer to one request, or None (refused, broken, silent past
        `timeout`: then the server is stopped, and every later request is None)."""
        with self._lock:
            if self._proc is None:
                return None
            try:
                socket.send_fds(self._ctl, [json.dumps(req).encode()], fds)
                if not select.select([self._ctl], [], [], timeout)[0]:
                    raise TimeoutError("no answer")
                reply = json.loads(self._ctl.recv(65536) or b"{}")
            except (OSError, ValueError):
                reply = {}
            pid = reply.get("pid") if isinstance(reply, dict) else None
            if not isinstance(pid, int) or pid <= 0:
                self._stop()  # broken, hung or refused: every later start execs
                return None
            return pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            self._finalizer.detach()
            _stop(proc, self._ctl)


def _stop(proc: subprocess.Popen, ctl: socket.socket) -> None:
    # every request has had its answer (the lock): the server is idle, still importing if
    # nothing came, or hung; its children are in sessions of their own and stay
    proc.kill()
    proc.wait(timeout=5)
    ctl.close()


def _kill_session(pid: int) -> None:
    """A call's child took setsid(): its PID is its session's and process group's."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass  # gone already


def _read_all(fds: list[int], end: float) -> list[bytes] | None:
    """Everything written to each pipe until all reach end of file, or None at `end`."""
    data = {fd: b"" for fd in fds}
    open_fds = list(fds)
    while open_fds:
        left = end - time.monotonic()
        ready = select.select(open_fds, [], [], left)[0] if left > 0 else []
        if not ready:
            return None
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                data[fd] += chunk
            else:
                open_fds.remove(fd)
    return [data[fd] for fd in fds]


class Forks:
    """A netns runtime's fork server through a lab's life: bring-up's daemons (`spawn`), and in
    a lab session the checks' programs too (`call`), until the session ends."""

    def __init__(self, lab_dir: str):
        self.lab_dir = lab_dir
        self._lock = threading.Lock()
        self._server: ForkSpawner | None = None
        self._spawning = False  # bring-up: daemons are forked
        self._session = False  # checks are forked until end_session
        self._ended = False  # a session ended (or the server failed): exec from here

    def begin_session(self) -> None:
        self._session = True

    def preload(self, modules: set[str]) -> None:
        with self._lock:
            if self._server is None and (modules or self._session):
                self._server = ForkSpawner(self.lab_dir, set(modules) | (CALL_PROGRAMS if self._session else set()))
                self._spawning = True

    def spawn(self, ns: str, log: str, argv: list[str]) -> int | None:
        server = self._server
        return server.spawn(ns, log, argv) if server is not None and self._spawning else None

    def call(self, ns: str, module: str, args: list[str], timeout: float,
             what: str = "") -> subprocess.CompletedProcess | None:
        with self._lock:
            if self._server is None and not self._ended and module in CALL_PROGRAMS:
                self._server = ForkSpawner(self.lab_dir, CALL_PROGRAMS)  # a runtime of a lab that is up
                self._session = True
            server = self._server
        if server is None:
            return None
        res = server.call(ns, module, args, timeout, what)
        if res is None and not server.alive():
            self._ended = True
        return res

    def end_bringup(self) -> None:
        """Daemons exec from here; the server stays only for a session's calls."""
        with self._lock:
            self._spawning = False
            if not self._session and self._server is not None:
                self._server.close()
                self._server = None

    def end_session(self) -> None:
        with self._lock:
            self._session, self._spawning, self._ended = False, False, True
            if self._server is not None:
                self._server.close()
                self._server = None
