"""The in-container launcher of the docker runtime: runs the bring-up's commands and daemons
from inside the container, so each costs a fork instead of a `docker exec` (~50 ms of
dockerd, containerd and runc per command on this host).

It is the container's own command (under tini), run as a script on the image's python3
(`python3 -I -S .../nodeagent.py`: standard library only, no site, no labsim package
import), so everything it starts has exactly what a `docker exec` gets: the container's
namespaces, capabilities, seccomp and AppArmor profile, cgroup, rlimits and environment.
Nothing from the host is handed to it but argv lists.

It listens on an abstract unix socket, which exists only in the container's network
namespace: only the host (root, entering that namespace) and the container itself can reach
it, never another container. It serves the first connection, then, at end of input (the
host's bring-up is done, or the host process died), replaces itself with `sleep infinity`,
what the container ran before this launcher existed; with nobody connecting within
IDLE_S it does the same. Requests, one at a time (SOCK_SEQPACKET messages, JSON headers,
data in chunks):

    {"op": "run", "argv": [...], "timeout": s, "input": n}  + n bytes of stdin
        -> {"code": c, "timeout": bool, "out": n1, "err": n2}  + stdout, stderr
    {"op": "spawn", "argv": [...], "log": path}
        -> {"child": true} from the daemon itself just before its exec (the host reads the
           daemon's host PID from that message's SCM_CREDENTIALS), then
           {"ok": true} or {"error": msg, "code": 126|127}
The daemon is forked twice (its parent is the container's init, tini, which reaps it, as
the shim reaps an exec'd process) and runs in its own session, output appended to `log`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

NAME = b"\0labsim-node-agent"
CHUNK = 65536  # data message size (well under the socket's send buffer)
MAX_MSG = 1 << 18
IDLE_S = 120.0  # no host within this: the launcher is not wanted (a fresh runtime, a dead host)
SLEEP = ["sleep", "infinity"]


def send(sock: socket.socket, head: dict, *blobs: bytes) -> None:
    """One JSON header message, then each blob in CHUNK-sized messages."""
    sock.send(json.dumps(head).encode())
    for blob in blobs:
        for i in range(0, len(blob), CHUNK):
            sock.send(blob[i:i + CHUNK])


def recv_head(sock: socket.socket) -> dict | None:
    data = sock.recv(MAX_MSG)
    return json.loads(data) if data else None


def recv_blob(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(MAX_MSG)
        if not chunk:
            raise EOFError("connection closed mid-message")
        buf += chunk
    return bytes(buf)


def _run(sock: socket.socket, req: dict) -> None:
    data = recv_blob(sock, req.get("input", 0)) if req.get("input") is not None else None
    out = err = b""
    timed_out = False
    try:
        stdin = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
        res = subprocess.run(req["argv"], capture_output=True, timeout=req["timeout"], **stdin)
        # killed by signal N: 128 + N, as docker exec and a shell report it
        code = res.returncode if res.returncode >= 0 else 128 - res.returncode
        out, err = res.stdout, res.stderr
    except subprocess.TimeoutExpired:  # killed and reaped by subprocess.run
        code, timed_out = -9, True
    except FileNotFoundError as exc:  # as a shell reports it
        code, err = 127, f"{req['argv'][0]}: {exc.strerror}\n".encode()
    except PermissionError as exc:
        code, err = 126, f"{req['argv'][0]}: {exc.strerror}\n".encode()
    send(sock, {"code": code, "timeout": timed_out, "out": len(out), "err": len(err)}, out, err)


def _spawn(sock: socket.socket, req: dict) -> None:
    rfd, wfd = os.pipe()  # both close-on-exec: EOF on rfd means the daemon's exec succeeded
    pid = os.fork()
    if pid == 0:  # intermediate: exits at once, so the daemon's parent becomes tini
        try:
            os.close(rfd)
            os.setsid()
            if os.fork() == 0:
                _daemon(sock, req, wfd)
        finally:
            os._exit(0)
    os.close(wfd)
    os.waitpid(pid, 0)
    with os.fdopen(rfd, "rb") as r:
        failed = r.read()
    if failed:
        code, msg = failed.decode(errors="replace").split(" ", 1)
        send(sock, {"error": msg, "code": int(code)})
    else:
        send(sock, {"ok": True})


def _daemon(sock: socket.socket, req: dict, wfd: int) -> None:
    """In the twice-forked child: never returns."""
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # python changed these
            signal.signal(sig, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDONLY)
        log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sock.send(b'{"child": true}')  # carries this process's PID (SCM_CREDENTIALS)
        os.execvp(req["argv"][0], req["argv"])
    except FileNotFoundError as exc:
        os.write(wfd, f"127 {req['argv'][0]}: {exc.strerror}".encode())
    except PermissionError as exc:
        os.write(wfd, f"126 {req['argv'][0]}: {exc.strerror}".encode())
    except BaseException as exc:  # noqa: BLE001 - reported to the host, then this child ends
        os.write(wfd, f"126 {type(exc).__name__}: {exc}".encode())
    os._exit(127)


def serve(sock: socket.socket) -> None:
    while True:
        try:
            req = recv_head(sock)
        except OSError:
            return
        if req is None:
            return
        try:
            {"run": _run, "spawn": _spawn}[req["op"]](sock, req)
        except (OSError, EOFError):
            return


def container_environ() -> None:
    """The environment a `docker exec` gets: the container's init's (this interpreter added
    LC_CTYPE, PEP 538's locale coercion, which no daemon should inherit)."""
    try:
        with open("/proc/1/environ", "rb") as f:
            pairs = [kv.partition(b"=") for kv in f.read().split(b"\0") if kv]
        os.environb.clear()
        os.environb.update({k: v for k, _, v in pairs})
    except OSError:
        if os.environ.get("LC_CTYPE") == "C.UTF-8":
            del os.environ["LC_CTYPE"]


def main() -> None:
    container_environ()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(NAME)
        listener.listen(1)
        listener.settimeout(IDLE_S)
        conn, _ = listener.accept()
    except OSError:  # includes the timeout: nobody wants this launcher
        conn = None
    listener.close()
    if conn is not None:
        conn.settimeout(None)
        serve(conn)
        conn.close()
    sys.stdout.flush()
    os.execvp(SLEEP[0], SLEEP)


if __name__ == "__main__":
    main()
