"""A fork server for labsim's own in-node programs while a netns lab comes up, and for the
checks of a lab session (the agent, the socket probe).

Each of labsim's standard-library daemons (the echo backend, the DNS delay relay, the PREF64
sender, hostconf) is a Python program, and most of its start is the interpreter importing
the standard library: about 0.1 s of CPU for an echo backend on this project's 2-core
machine. apple-review starts three at once beside unbound and pdns, and with those imports
its bring-up took 0.37-0.40 s against 0.23 s with listeners that import nothing.

This process imports the lab's programs once (`python -S`, from labsim's source root, like
`nodeprog.stdlib_program`), then forks one child per daemon. The child does what
`ip netns exec NS` does before its exec (iproute2 `netns_switch`: setns into
/run/netns/NS, a mount namespace of its own with no propagation back, /sys remounted for
the namespace, each entry of /etc/netns/NS bind-mounted over /etc), takes a session of its
own, stdin from /dev/null, stdout and stderr appended to its log, no other descriptor, and
runs the module as `python -m` would (`__main__`), its command line showing the argv it
would have been exec'd with. So it sees the node exactly as the exec'd program does; what
differs is its parent (this server, then init).

    python -S -c BOOT SRC labsim.node.forkserver LAB_DIR MODULE... PAD   (fd 0: a unix
                                                                         SOCK_SEQPACKET socket)
Protocol, one JSON object a message on fd 0, a reply for each:
  {"ns", "log", "module", "args", "cmdline"} -> {"pid": n}: a daemon as above; it reports its own
      failures in its log and exits 1.
  {"call": true, "ns", "module", "args", "cmdline"} with three descriptors (SCM_RIGHTS: the write
      ends of the caller's pipes for stdout, stderr and the exit status) -> {"pid": n} at once,
      never waiting for the child, so calls overlap: a short run of the module (the check agent,
      the socket probe) in its node as `ip netns exec NS python -S ...` would run it, stdout and
      stderr on the first two, its exit code in decimal on the third just before it exits
      (nothing there: killed). Nothing is resolved or TLS-configured in this process before
      forking: the child's libc reads the node's resolv.conf and nsswitch, `ssl` the node's
      trust store, as a fresh interpreter's would.
  anything refused -> {"error": msg} (a module not preloaded, a log outside LAB_DIR, a namespace
      name with '/', the wrong descriptors, a failed fork).
At the end of input the server exits; its children live on. Started and spoken to by
`runtime/forkspawn.py`. Standard library only, and root only (setns, mount).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import runpy
import signal
import socket
import sys
import traceback

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS, CLONE_NEWNET = 0x20000, 0x40000000
MS_RDONLY, MS_BIND, MS_REC, MS_SLAVE = 1, 4096, 16384, 1 << 19
MNT_DETACH = 2
NETNS_RUN_DIR, NETNS_ETC_DIR = "/run/netns", "/etc/netns"

_libc = ctypes.CDLL(None, use_errno=True)


def _call(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_netns(name: str) -> None:
    """What `ip netns exec NAME` does before it execs (iproute2 lib/namespace.c)."""
    fd = os.open(f"{NETNS_RUN_DIR}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _call(_libc.setns(fd, CLONE_NEWNET), f"setns into {name}")
    finally:
        os.close(fd)
    _call(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # no mount made here propagates back to the host's namespace
    _call(_libc.mount(b"", b"/", b"none", MS_SLAVE | MS_REC, None), "mount --make-rslave /")
    # a /sys that describes the network namespace (/sys/class/net)
    flags = MS_RDONLY if os.statvfs("/sys").f_flag & os.ST_RDONLY else 0
    if _libc.umount2(b"/sys", MNT_DETACH) != 0:
        flags |= MS_BIND  # none to unmount: ip overlays one (and fails as we do, if it must)
    _call(_libc.mount(name.encode(), b"/sys", b"sysfs", flags, None), "mount sysfs on /sys")
    etc = f"{NETNS_ETC_DIR}/{name}"
    try:
        entries = sorted(os.listdir(etc))
    except OSError:
        entries = []
    for entry in entries:  # ip reports a failed bind and goes on; so does this, in the log
        if _libc.mount(f"{etc}/{entry}".encode(), f"/etc/{entry}".encode(), b"none", MS_BIND, None) != 0:
            err = ctypes.get_errno()
            print(f"Bind {etc}/{entry} -> /etc/{entry} failed: {os.strerror(err)}", file=sys.stderr)


PAD = " " * 3000  # the server's last argument: room for its children's command lines (ps shows blanks)


def set_cmdline(argv: list[str]) -> None:
    """Show `argv` as this process's command line (/proc/PID/cmdline, ps), as if it had been
    exec'd: written over the server's own argument strings, which the padding argument makes
    long enough (nothing reads them once Python has started; the rest is zeroed, so the
    list ends in empty strings). An argv that does not fit leaves the server's line."""
    data = b"\0".join(a.encode() for a in argv) + b"\0"
    try:  # cosmetic: never a reason for the daemon not to start
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    except (OSError, ValueError, IndexError):
        return
    if 0 < start < end and len(data) <= end - start:
        ctypes.memmove(start, data, len(data))
        ctypes.memset(start + len(data), 0, end - start - len(data))


def _child(req: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the daemon, or the call's program (never returns)."""
    code = 1
    status = -1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's SIG_IGN is not the program's
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)  # first: fd 0, the closed control socket's
        if req.get("call"):
            out, err, status = fds
        else:
            out = err = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        if status >= 0:
            os.dup2(status, 3)
            status = 3
        os.closerange(4 if status >= 0 else 3,
                      os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)
        enter_netns(req["ns"])
        set_cmdline(req["cmdline"])
        sys.argv = [req["module"], *req["args"]]
        # as under `python -m`: the module runs as __main__ only (its imports stay preloaded);
        # left in sys.modules, runpy would warn on stderr about running it twice
        sys.modules.pop(req["module"], None)
        code = 0
        runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:
        code = 1
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            if status >= 0:  # last: the caller has all of stdout once it reads this
                os.write(status, str(code).encode())
        finally:
            os._exit(code)


def check(req: object, fds: list[int], modules: list[str], root: str) -> dict[str, Any]:
    """The request, if this server serves it; ValueError naming what is wrong."""
    if not isinstance(req, dict):
        raise ValueError("a request is a JSON object")
    if req.get("module") not in modules:
        raise ValueError(f"not preloaded here: {req.get('module')!r}")
    ns = req.get("ns")
    if not isinstance(ns, str) or not ns or "/" in ns or ns in (".", ".."):
        raise ValueError(f"ns must be a namespace name under {NETNS_RUN_DIR}: {ns!r}")
    if req.get("call"):
        if len(fds) != 3:
            raise ValueError(f"a call comes with 3 descriptors (stdout, stderr, status), not {len(fds)}")
    elif fds:
        raise ValueError("a daemon's start comes with no descriptors")
    elif not os.path.realpath(str(req.get("log"))).startswith(root):
        raise ValueError(f"log outside {root.rstrip('/')}: {req.get('log')!r}")
    for key in ("args", "cmdline"):
        if not isinstance(req.get(key), list) or not all(isinstance(a, str) for a in req[key]):
            raise ValueError(f"{key} must be a list of strings")
    return req


def serve(lab_dir: str, modules: list[str], ctl: socket.socket) -> None:
    for module in modules:  # the point of this process: pay for the imports once
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel while we live
    root = os.path.join(os.path.realpath(lab_dir), "")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 65536, 3)
        except OSError:
            return
        if not msg:
            return  # the caller has gone (or closed its end)
        try:
            req = check(json.loads(msg), fds, modules, root)
            pid = os.fork()
        except (ValueError, OSError) as exc:
            reply: dict[str, Any] = {"error": str(exc)}
            pid = -1
        if pid == 0:
            ctl.close()
            _child(req, fds)
        for fd in fds:  # the child has its copies; later children must not hold them
            os.close(fd)
        if pid > 0:
            reply = {"pid": pid}
        try:
            ctl.send(json.dumps(reply).encode())
        except OSError:
            return


if __name__ == "__main__":
    serve(sys.argv[1], [m for m in sys.argv[2:] if m.strip()],
          socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=0))
