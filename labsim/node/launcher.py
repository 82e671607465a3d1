"""The in-container launcher of the docker runtime: runs the bring-up's commands and daemons
from inside the container, so each costs a fork instead of a `docker exec` (~50 ms of
dockerd, containerd and runc per command on this host).

It is the container's own command (under tini), run as a script on the image's python3
(`python3 -I -S -X frozen_modules=on .../labsim/node/launcher.py`), so everything it starts has exactly what a
`docker exec`
gets: the container's namespaces, capabilities, seccomp and AppArmor profile, cgroup,
rlimits and (read from its init) environment. Nothing from the host is handed to it but
argv lists. It imports only modules built into the interpreter (`_socket`, `select`,
`_signal`; `os` is frozen): each file a python start opens in the container is a round
trip through fuse-overlayfs, and this start is on the bring-up's critical path (~10 ms
instead of ~30 ms with json/subprocess/socket, far more under load).

It listens on an abstract unix socket, which exists only in the container's network
namespace: only the host (root, entering that namespace) and the container itself can reach
it, never another container. It serves the first connection (the host checks that the peer
is in the container's PID namespace), then, at end of input (the host's bring-up is done,
or the host process died), replaces itself with `sleep infinity`, what the container ran
before this launcher existed; with nobody connecting within IDLE_S it does the same.

Requests (SOCK_SEQPACKET messages; fields NUL-separated, as argv is to the kernel):
    run\\0TIMEOUT\\0N|-\\0ARGV...   + N bytes of stdin in messages
        -> {"code": c, "timeout": bool, "out": n1, "err": n2}  + stdout, stderr in messages
    spawn\\0LOG\\0ARGV...
        -> {"child": true} from the daemon itself just before its exec (the host reads the
           daemon's host PID from that message's SCM_CREDENTIALS), then
           {"ok": true} or {"error": msg, "code": 126|127}
Replies are JSON (written by hand here: numbers, booleans and one escaped string). A daemon
is forked twice (its parent becomes the container's init, tini, which reaps it as the shim
reaps an exec'd process), runs in its own session, output appended to LOG.
"""

import _socket
import os
import select
import sys
import time

# mypy reads any `TYPE_CHECKING` as true; importing `typing` for it would cost this start a
# file open, and `_signal` has no stub of its own (`signal` declares the same functions)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal

NAME = b"\0labsim-node-agent"
CHUNK = 65536  # data message size (well under the socket's send buffer)
MAX_MSG = 1 << 18
IDLE_S = 120.0  # no host within this: the launcher is not wanted (a dead host)
SLEEP = [b"sleep", b"infinity"]
RESET = (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT)  # python changed these


def send(sock: _socket.socket, head: bytes, *blobs: bytes) -> None:
    """One header message, then each blob in CHUNK-sized messages."""
    sock.send(head)
    for blob in blobs:
        for i in range(0, len(blob), CHUNK):
            sock.send(blob[i:i + CHUNK])


def recv_blob(sock: _socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(MAX_MSG)
        if not chunk:
            raise EOFError("connection closed mid-message")
        buf += chunk
    return bytes(buf)


def _json_str(text: str) -> str:
    out = []
    for ch in text:
        out.append(ch if ch >= " " and ch not in '"\\' else f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def _error(exc: OSError, argv0: bytes) -> tuple[int, str]:
    """(exit code, message) as a shell reports a command it cannot start."""
    code = 127 if exc.errno == 2 else 126  # ENOENT: not found; else not executable
    return code, f"{os.fsdecode(argv0)}: {os.strerror(exc.errno or 0)}"


def _child(argv: list[bytes], fds: tuple[int, int, int], err_w: int) -> None:
    """In a forked child: stdio, default signals, exec. Never returns; an exec failure is
    written to `err_w` (close-on-exec: EOF there means the exec succeeded)."""
    try:
        for sig in RESET:
            _signal.signal(sig, _signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(err_w, str(exc.errno or 0).encode())
    finally:
        os._exit(127)


def _exec_error(err_r: int, argv0: bytes) -> tuple[int, str] | None:
    data = os.read(err_r, 64)
    os.close(err_r)
    if not data:
        return None
    return _error(OSError(int(data), ""), argv0)


def _run(sock: _socket.socket, timeout: float, n_in: int | None, argv: list[bytes]) -> None:
    data = recv_blob(sock, n_in) if n_in is not None else None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    x_r, x_w = os.pipe()
    in_r, in_w = os.pipe() if data is not None else (os.open("/dev/null", os.O_RDONLY), -1)
    pid = os.fork()
    if pid == 0:
        _child(argv, (in_r, out_w, err_w), x_w)
    for fd in (in_r, out_w, err_w, x_w):
        os.close(fd)
    failed = _exec_error(x_r, argv[0])
    bufs = {out_r: bytearray(), err_r: bytearray()}
    poll = select.poll()
    for fd in bufs:
        poll.register(fd, select.POLLIN)
    pending = memoryview(data or b"")
    if in_w >= 0:
        os.set_blocking(in_w, False)
        if pending:
            poll.register(in_w, select.POLLOUT)
        else:
            os.close(in_w)
            in_w = -1
    deadline = time.monotonic() + timeout
    open_fds = set(bufs) | ({in_w} if in_w >= 0 else set())
    # the command's exit is an event too (a pidfd): one that closed its output and runs on
    # is bounded by the same deadline, as a `docker exec` is
    try:
        pidfd = os.pidfd_open(pid)
        poll.register(pidfd, select.POLLIN)
        open_fds.add(pidfd)
    except OSError:  # no pidfd here: wait for the exit once the output is closed
        pidfd = -1
    timed_out = False
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for fd, _ in poll.poll(left * 1000):
            if fd == pidfd:
                poll.unregister(pidfd)
                open_fds.discard(pidfd)
                continue
            if fd == in_w:
                try:
                    pending = pending[os.write(in_w, pending[:CHUNK]):]
                except BrokenPipeError:
                    pending = pending[:0]
                if not pending:
                    poll.unregister(in_w)
                    os.close(in_w)
                    open_fds.discard(in_w)
                    in_w = -1
                continue
            chunk = os.read(fd, CHUNK)
            if chunk:
                bufs[fd] += chunk
            else:
                poll.unregister(fd)
                open_fds.discard(fd)
    if timed_out:
        os.kill(pid, _signal.SIGKILL)
    for fd in list(bufs) + [fd for fd in (in_w, pidfd) if fd >= 0]:
        os.close(fd)
    status = os.waitpid(pid, 0)[1]
    code = os.waitstatus_to_exitcode(status)
    code = code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says
    out, err = bytes(bufs[out_r]), bytes(bufs[err_r])
    if failed:
        code, err = failed[0], (failed[1] + "\n").encode()
    head = (f'{{"code": {code:d}, "timeout": {"true" if timed_out else "false"}, '
            f'"out": {len(out):d}, "err": {len(err):d}}}')
    send(sock, head.encode(), out, err)


def _spawn(sock: _socket.socket, log: bytes, argv: list[bytes]) -> None:
    x_r, x_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # intermediate: exits at once, so the daemon's parent becomes tini
        try:
            os.close(x_r)
            os.setsid()
            if os.fork() == 0:
                try:
                    null = os.open("/dev/null", os.O_RDONLY)
                    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    sock.send(b'{"child": true}')  # carries this PID (SCM_CREDENTIALS)
                except OSError as exc:
                    os.write(x_w, str(exc.errno or 0).encode())
                    os._exit(127)
                _child(argv, (null, out, out), x_w)
        finally:
            os._exit(0)
    os.close(x_w)
    os.waitpid(pid, 0)
    failed = _exec_error(x_r, argv[0])
    if failed:
        send(sock, f'{{"error": {_json_str(failed[1])}, "code": {failed[0]:d}}}'.encode())
    else:
        send(sock, b'{"ok": true}')


def serve(sock: _socket.socket) -> None:
    while True:
        try:
            msg = sock.recv(MAX_MSG)
            if not msg:
                return
            op, *fields = msg.split(b"\0")
            if op == b"run":
                _run(sock, float(fields[0]), None if fields[1] == b"-" else int(fields[1]), fields[2:])
            elif op == b"spawn":
                _spawn(sock, fields[0], fields[1:])
            else:
                return
        except (OSError, EOFError):
            return


def container_environ() -> None:
    """The environment a `docker exec` gets: the container's init's (this interpreter added
    LC_CTYPE, PEP 538's locale coercion, which no daemon should inherit)."""
    try:
        fd = os.open("/proc/1/environ", os.O_RDONLY)
        try:
            data = os.read(fd, 1 << 20)
        finally:
            os.close(fd)
        pairs = [kv.partition(b"=") for kv in data.split(b"\0") if kv]
        os.environb.clear()
        os.environb.update({k: v for k, _, v in pairs})
    except OSError:
        if os.environ.get("LC_CTYPE") == "C.UTF-8":
            del os.environ["LC_CTYPE"]


def from_outside(conn: _socket.socket) -> bool:
    """The peer is root outside this container's PID namespace (the host's labsim): the
    kernel reports the PID of a process this namespace cannot see as 0. A process of the
    container itself (a daemon that dropped root, a user's program) is refused, so nothing
    in the container can borrow the launcher's root, even if it got to the socket first."""
    cred = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    pid = int.from_bytes(cred[0:4], sys.byteorder, signed=True)
    uid = int.from_bytes(cred[4:8], sys.byteorder)
    return pid == 0 and uid == 0


def main() -> None:
    container_environ()
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    conn = None
    try:
        listener.bind(NAME)
        listener.listen(1)
        listener.settimeout(IDLE_S)
        # the C socket's accept, returning a bare fd (socket.socket wraps it); not in typeshed
        fd, _ = listener._accept()  # type: ignore[attr-defined]
        conn = _socket.socket(fileno=fd)
        if not from_outside(conn):
            conn.close()
            conn = None
    except OSError:  # includes the timeout: nobody wants this launcher
        pass
    listener.close()
    if conn is not None:
        conn.settimeout(None)
        serve(conn)
        conn.close()
    os.execvp(SLEEP[0], SLEEP)


if __name__ == "__main__":
    main()
