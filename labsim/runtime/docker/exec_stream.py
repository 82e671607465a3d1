"""`docker exec` through the API: run a command to completion (bounded, stdout and stderr
apart, exit code as a shell reports it), or start one detached and learn its host PID."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time

from labsim.errors import RuntimeOpError
from labsim.runtime.docker.client import docker_sdk, op_error


def run(cli, container: str, node: str, argv: list[str], timeout: float,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    docker = docker_sdk()
    api = cli.api
    try:
        eid = api.exec_create(container, argv, stdin=input is not None, stdout=True, stderr=True)["Id"]
        sock = api.exec_start(eid, socket=True)
    except docker.errors.DockerException as exc:
        raise op_error(f"node {node}: docker exec {argv[0]}", exc) from exc
    raw = getattr(sock, "_sock", sock)
    deadline = time.monotonic() + timeout
    try:
        if input is not None:
            raw.sendall(input)
            raw.shutdown(socket.SHUT_WR)  # the process sees end of input
        out, err = read_frames(raw, deadline)
    except TimeoutError as exc:
        _kill(cli, eid)
        raise RuntimeOpError(f"node {node}: {argv[0]} still running after {timeout}s") from exc
    finally:
        sock.close()
    code = _exit_code(cli, eid, deadline)
    if code is None:
        _kill(cli, eid)
        raise RuntimeOpError(f"node {node}: {argv[0]} still running after {timeout}s")
    if code in (126, 127) and out.startswith(b"OCI runtime exec failed"):
        # the command could not be started: report it as a shell would (127: not found)
        out, err = b"", out
        code = 127 if b"not found" in err else 126
    return subprocess.CompletedProcess(argv, code, out, err)


def start_detached(cli, container: str, node: str, argv: list[str]) -> int:
    """Start `argv` in the container without waiting; returns its host PID."""
    docker = docker_sdk()
    api = cli.api
    try:
        eid = api.exec_create(container, argv, stdout=False, stderr=False)["Id"]
        api.exec_start(eid, detach=True)
        deadline = time.monotonic() + 5
        while True:
            info = api.exec_inspect(eid)
            if info.get("Pid"):
                return info["Pid"]
            if not info.get("Running") and info.get("ExitCode") is not None:
                raise RuntimeOpError(f"node {node}: {shlex.join(argv[4:])[:80]} exited at once "
                                     f"(exit {info['ExitCode']})")
            if time.monotonic() > deadline:
                raise RuntimeOpError(f"node {node}: docker exec reported no PID")
            time.sleep(0.002)
    except docker.errors.DockerException as exc:
        raise op_error(f"node {node}: docker exec {argv[4] if len(argv) > 4 else argv[0]}", exc) from exc


def _exit_code(cli, eid: str, deadline: float) -> int | None:
    # the stream ends as the process exits; its exit code is recorded a moment later
    while True:
        info = cli.api.exec_inspect(eid)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return info["ExitCode"]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.002)


def _kill(cli, eid: str) -> None:
    try:
        pid = cli.api.exec_inspect(eid).get("Pid")
        if pid:
            os.kill(pid, 9)
    except (ProcessLookupError, docker_sdk().errors.DockerException):
        pass


def read_frames(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Docker's multiplexed exec stream (8-byte headers: stream id, length) until EOF."""
    bufs = {1: bytearray(), 2: bytearray()}
    pending = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError as exc:
            raise TimeoutError from exc
        if not chunk:
            break
        pending += chunk
        while len(pending) >= 8:
            length = int.from_bytes(pending[4:8], "big")
            if len(pending) < 8 + length:
                break
            stream = pending[0]
            bufs.get(stream, bufs[1]).extend(pending[8:8 + length])
            del pending[:8 + length]
    return bytes(bufs[1]), bytes(bufs[2])
