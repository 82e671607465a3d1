"""The host's end of a container's launcher (`labsim.node.launcher`): connect to it inside the
container's network namespace, check it is that container's, run commands and start daemons
through it (a fork each, not a `docker exec`)."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time

from labsim.errors import RuntimeOpError
from labsim.node.launcher import MAX_MSG, NAME, recv_blob, send
from labsim.runtime import nsutil

UCRED = struct.Struct("3i")  # pid, uid, gid
CONNECT_S = 5.0  # the launcher listens within ~50 ms of the container's start
REPLY_MARGIN_S = 5.0  # a reply may come this long after the command's own timeout


def _pid_ns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


class AgentConn:
    """One node's launcher, used by one thread at a time (the runtime holds a lock per node)."""

    def __init__(self, sock: socket.socket, node: str):
        self.sock = sock
        self.node = node

    @classmethod
    def connect(cls, netns: str, init_pid: int, node: str) -> AgentConn | None:
        """The launcher of the container whose init is `init_pid`, or None when there is none
        to be had (then the caller uses `docker exec`). The socket is made in the container's
        network namespace (where the abstract name lives); the peer must be a process of the
        container's PID namespace."""
        sock = nsutil.socket_in(netns, socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # PIDs of senders, host view
            deadline = time.monotonic() + CONNECT_S
            pause = 0.001
            while True:  # bounded: the launcher may still be starting (~15 ms, more under load)
                try:
                    sock.connect(NAME)
                    break
                except (ConnectionRefusedError, FileNotFoundError):
                    if time.monotonic() > deadline:
                        sock.close()
                        return None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.016)  # few wakeups for 7 threads on a busy host
            pid = UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size))[0]
            if _pid_ns(pid) != _pid_ns(init_pid):
                raise RuntimeOpError(f"node {node}: the launcher socket is not its container's "
                                     f"(peer PID {pid})")
        except BaseException:
            sock.close()
            raise
        return cls(sock, node)

    def close(self) -> None:
        self.sock.close()  # the launcher becomes `sleep infinity`

    def _recv(self, deadline: float) -> tuple[dict, int | None]:
        """The next header and the host PID of its sender."""
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        data, anc, _, _ = self.sock.recvmsg(MAX_MSG, socket.CMSG_SPACE(UCRED.size))
        if not data:
            raise EOFError(f"node {self.node}: the container's launcher went away")
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = UCRED.unpack(payload[:UCRED.size])[0]
        return json.loads(data), pid

    def run(self, argv: list[str], timeout: float, input: bytes | None) -> subprocess.CompletedProcess:
        try:
            return self._run(argv, timeout, input)
        except (OSError, EOFError) as exc:  # the container went away under it
            raise RuntimeOpError(f"node {self.node}: {argv[0]}: the container's launcher: {exc}") from exc

    def spawn(self, argv: list[str], log: str) -> int:
        """Start `argv` (output appended to `log`); its host PID."""
        try:
            return self._spawn(argv, log)
        except (OSError, EOFError) as exc:
            raise RuntimeOpError(f"node {self.node}: {argv[0]}: the container's launcher: {exc}") from exc

    def _run(self, argv: list[str], timeout: float, input: bytes | None) -> subprocess.CompletedProcess:
        deadline = time.monotonic() + timeout + REPLY_MARGIN_S
        head = [b"run", str(timeout).encode(), b"-" if input is None else str(len(input)).encode()]
        send(self.sock, b"\0".join(head + [os.fsencode(a) for a in argv]), *([input] if input else []))
        try:
            rep, _ = self._recv(deadline)
            out = recv_blob(self.sock, rep["out"])
            err = recv_blob(self.sock, rep["err"])
        except TimeoutError as exc:
            raise RuntimeOpError(f"node {self.node}: {argv[0]} still running after {timeout}s") from exc
        if rep["timeout"]:
            raise RuntimeOpError(f"node {self.node}: {argv[0]} still running after {timeout}s")
        return subprocess.CompletedProcess(argv, rep["code"], out, err)

    def _spawn(self, argv: list[str], log: str) -> int:
        send(self.sock, b"\0".join([b"spawn", os.fsencode(log), *map(os.fsencode, argv)]))
        deadline = time.monotonic() + CONNECT_S
        pid = None
        while True:
            try:
                rep, sender = self._recv(deadline)
            except TimeoutError as exc:
                raise RuntimeOpError(f"node {self.node}: the launcher did not start {argv[0]}") from exc
            if rep.get("child"):
                pid = sender
                continue
            if "error" in rep:
                raise RuntimeOpError(f"node {self.node}: {' '.join(argv)[:80]} exited at once "
                                     f"(exit {rep['code']}): {rep['error']}")
            if not pid:
                raise RuntimeOpError(f"node {self.node}: the launcher reported no PID for {argv[0]}")
            return pid
