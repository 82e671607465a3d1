"""A fork server for labsim's own in-node programs while a netns lab comes up.

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

    python -S -c BOOT SRC labsim.node.forkserver LAB_DIR MODULE... PAD
Protocol, one JSON object a line: stdin {"ns", "log", "module", "args", "cmdline"} -> stdout
{"pid": n} (the child's PID; it reports its own failures in its log and exits 1), or
{"error": msg} (a module not preloaded, a log outside LAB_DIR, a failed fork). At end of
input the server exits; its children live on. Started and spoken to by
`runtime/forkspawn.py`. Standard library only, and root only (setns, mount).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import runpy
import signal
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


def _child(req: dict[str, Any]) -> None:
    """In the forked child: become the daemon (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's SIG_IGN is not the program's
        os.setsid()
        log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)
        enter_netns(req["ns"])
        set_cmdline(req["cmdline"])
        sys.argv = [req["module"], *req["args"]]
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
        finally:
            os._exit(code)


def serve(lab_dir: str, modules: list[str]) -> None:
    for module in modules:  # the point of this process: pay for the imports once
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel while we live
    root = os.path.join(os.path.realpath(lab_dir), "")
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req.get("module") not in modules:
                raise ValueError(f"not preloaded here: {req.get('module')!r}")
            if not os.path.realpath(str(req.get("log"))).startswith(root):
                raise ValueError(f"log outside {lab_dir}: {req.get('log')!r}")
            for key in ("args", "cmdline"):
                if not isinstance(req.get(key), list) or not all(isinstance(a, str) for a in req[key]):
                    raise ValueError(f"{key} must be a list of strings")
            sys.stdout.flush()
            pid = os.fork()
        except (ValueError, OSError) as exc:
            print(json.dumps({"error": str(exc)}), flush=True)
            continue
        if pid == 0:
            _child(req)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    serve(sys.argv[1], [m for m in sys.argv[2:] if m.strip()])
