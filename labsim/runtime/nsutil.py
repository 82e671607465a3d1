"""Network-namespace primitives done in a short-lived thread instead of a forked child.

Linux namespaces belong to threads, not processes: a thread can unshare(CLONE_NEWNET) or
setns() into a namespace, create sockets there (a socket stays in the namespace it was born
in) and end, while the rest of the process stays in the host namespace. pyroute2's own
helpers fork a child for each of these, which costs ~3x more per node (docs/facts.md).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from labsim.errors import RuntimeOpError

if TYPE_CHECKING:  # importing pyroute2 costs ~0.16 s: only where IPRoute is used
    from pyroute2 import IPRoute

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8  # a symlink in /run/netns is unlinked, never the mount it points to
NETNS_RUN_DIR = "/run/netns"
NETLINK_ROUTE = 0

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(ret: int, what: str, target: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise RuntimeOpError(f"{what} {target}: {os.strerror(err)}") from OSError(err, os.strerror(err))


def in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` in a fresh thread (whose namespace changes die with it) and return its value."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=run, name="labsim-netns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


_run_dir_ready = False


def _prepare_run_dir() -> None:
    """Make /run/netns a shared mount point of its own, as `ip netns add` does, before the
    first namespace file is mounted in it. If iproute2 did it later, its recursive self-bind
    would copy our namespace mounts on top of the originals: the copies unmount, the hidden
    originals keep the files busy (EBUSY on unlink) until reboot."""
    global _run_dir_ready
    if _run_dir_ready:
        return
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    target = NETNS_RUN_DIR.encode()
    if _libc.mount(b"", target, b"none", MS_SHARED | MS_REC, None) != 0:
        # not a mount point yet (EINVAL): bind it on itself, then share it
        _check(_libc.mount(target, target, b"none", MS_BIND | MS_REC, None), "bind-mount", NETNS_RUN_DIR)
        _check(_libc.mount(b"", target, b"none", MS_SHARED | MS_REC, None), "make shared", NETNS_RUN_DIR)
    _run_dir_ready = True


def create_netns(name: str, sysctls: dict[str, str] | None = None,
                 keep: bool = False) -> socket.socket | None:
    """`ip netns add NAME`, plus namespace-local sysctls written before any interface exists.
    With `keep`, also return a NETLINK_ROUTE socket born in it."""
    made = create_netns_many([(name, sysctls or {})], keep)
    return made[0] if keep else None


def create_netns_many(todo: list[tuple[str, dict[str, str]]], keep: bool = False) -> list[socket.socket]:
    """`create_netns` for many namespaces in one short-lived thread: it unshares into each new
    namespace in turn (a thread start costs about as much as the namespace itself). Stops at
    the first failure; the namespaces made before it stay (the caller recorded them all)."""
    _prepare_run_dir()
    out: list[socket.socket] = []

    def one(name: str, sysctls: dict[str, str]) -> None:
        path = netns_path(name)
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        except FileExistsError as exc:
            raise RuntimeOpError(f"network namespace {name} already exists") from exc
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare for", name)
            for key, value in sysctls.items():
                # /proc/sys/net resolves against the calling thread's namespace
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(value)
            src = f"/proc/self/task/{threading.get_native_id()}/ns/net"
            _check(_libc.mount(src.encode(), path.encode(), b"none", MS_BIND, None), "bind-mount", path)
            if keep:  # a socket stays in the namespace it was born in
                out.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE))
        except BaseException:
            _libc.umount2(path.encode(), MNT_DETACH)  # if it got that far (EINVAL otherwise)
            _unlink_quiet(path)
            raise

    def body() -> None:
        for name, sysctls in todo:
            one(name, sysctls)

    try:
        in_thread(body)
    except BaseException:
        for sock in out:
            sock.close()
        raise
    return out


def remove_netns(name: str) -> bool:
    """`ip netns del NAME`; True if it existed. Tolerates a half-made namespace. NAME is one
    file in /run/netns (a name with '/' or '..' is refused); a symlink there is removed
    itself, what it points to is not unmounted."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise RuntimeOpError(f"{name!r} is not a network namespace name")
    path = netns_path(name)
    if not os.path.lexists(path):
        return False
    # A namespace file can carry more than one mount (a bind made while another process
    # copied the mount table, e.g. `ip netns` re-sharing /run/netns): detach until none is
    # left (umount2 fails once the path is a plain file), bounded, then unlink. EBUSY from
    # unlink means a mount is still there: detach again, a few times at most.
    for _ in range(8):
        for _mount in range(16):
            if _libc.umount2(path.encode(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0:
                break
        try:
            _unlink_quiet(path)
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.05)
    raise RuntimeOpError(f"{path} is still mounted under a later bind of {NETNS_RUN_DIR} "
                         f"(made by another program): unmount {NETNS_RUN_DIR} once no lab runs, then "
                         f"`labsim gc`")


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def socket_in(path: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A socket living in the namespace at `path` (a /run/netns file or /proc/PID/ns/net)."""

    def body() -> socket.socket:
        fd = os.open(path, os.O_RDONLY)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), "setns into", path)
        finally:
            os.close(fd)
        return socket.socket(family, type_, proto)

    try:
        return in_thread(body)
    except FileNotFoundError as exc:
        raise RuntimeOpError(f"no network namespace at {path}") from exc


def iproute_in(path: str) -> IPRoute:
    """A pyroute2 IPRoute whose netlink socket lives in the namespace at `path`."""
    from pyroute2 import IPRoute

    sock = socket_in(path, socket.AF_NETLINK, socket.SOCK_DGRAM, 0)
    return IPRoute(fileno=sock.detach())


def netns_inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pids_in_netns(paths: list[str]) -> list[int]:
    """Every process whose network namespace is one of `paths` (`ip netns pids`, for many).
    A path that is a symlink, or that is this process's own (the host's) namespace, counts
    for nothing: a namespace file swapped for a link to the host's would name every process."""
    own = netns_inode(f"/proc/{os.getpid()}/ns/net")
    wanted = {i for i in (netns_inode(p) for p in paths if not os.path.islink(p)) if i is not None} - {own}
    if not wanted:
        return []
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH, errno.EACCES):
                continue
            raise
        if (st.st_dev, st.st_ino) in wanted:
            out.append(int(entry))
    return out
