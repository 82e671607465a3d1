"""Dropping root in labsim's own in-node servers (echo backend, DNS delay relay, PREF64
sender, moto), once they hold what needed it: their sockets bound (ports below 1024, raw
ICMPv6), their keys and configuration read; and tayga's argv, which drops with its own
options.

Standard library only: these servers run on the docker node image's python3 too. The user
is `nobody`/`nogroup`, which exist on the host (netns runtime) and in the node image alike
(base-passwd gives both uid/gid 65534); the image cannot grow a dedicated user without a
rebuild. `nobody` owns no file, so a server that writes anything writes through a file
descriptor it opened as root.

Everything the server imports later must then be readable by `nobody`: the servers import
what they use before the drop, and the standard library lives in /usr/lib.

Also the confinement of what a file asks to run (a `process` node, its `setup`, an `exec`
check), run as a program (`confine_argv` builds its argv):

    python -S -c BOOT SRC labsim.node.privdrop [--mount-ns] [--node-dir D] [--user U [--group G]] -- ARGV

`--mount-ns`: a mount namespace of its own (no propagation either way) in which every mount
of the host is read-only (mount_setattr, recursive: /, /etc's lab binds, /var, /proc...),
/tmp, /var/tmp, /run and /dev/shm are empty tmpfs of its own, and only the node's own
directory is writable again (bound back, since /run's tmpfs hides it when it lies there).
`--expose DIR`: DIR stays reachable, read-only, by any user even below a directory closed
to others (labsim's own Python, e.g. a pyenv under /root). `--user`: then drop root like
setpriv --reuid --regid --init-groups --reset-env. Then exec
ARGV in place (the PID labsim records stays the program's).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the servers importing this module never need them
    import ctypes

USER, GROUP = "nobody", "nogroup"
MODULE = "labsim.node.privdrop"
CLONE_NEWNS = 0x20000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added after the unified table)
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY = 1
# made empty and private: the places programs write scratch files, sockets and pid files in
PRIVATE_DIRS = (("/tmp", "1777"), ("/var/tmp", "1777"), ("/run", "0755"), ("/dev/shm", "1777"))
# setpriv --reset-env's PATH for a user, with sbin too: exec checks may run ip, ss, ...
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def user_args(ap: argparse.ArgumentParser) -> None:
    """`--user`/`--group`: drop root to them once set up (kinds pass USER and GROUP)."""
    ap.add_argument("--user", help="drop root to this user once the sockets are bound")
    ap.add_argument("--group", help="and to this group (default: the user's own)")


def drop_root(user: str | None, group: str | None = None) -> None:
    """setgroups([]), setgid, setuid, in that order (after setuid there is no right left to
    change groups). From root, setuid sets the real, effective and saved uid and clears every
    capability, so nothing can take root back; that is checked, not assumed. Without root
    (a test on high ports) there is nothing to drop."""
    if user is None or os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    os.setgroups([])
    os.setgid(gid)
    os.setuid(pw.pw_uid)
    if 0 in os.getresuid() or 0 in os.getresgid() or os.getgroups():
        raise OSError(f"dropping root to {user} left uids {os.getresuid()}, gids {os.getresgid()}")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise OSError(f"still able to become root after dropping to {user}")


def tayga_argv(conf: str) -> list[str]:
    """tayga as a service (NAT64 node, CLAT): it reads its config and attaches to its TUN
    (CAP_NET_ADMIN) as root, then chroots into its data-dir and drops to nobody/nogroup with
    its own options (--chroot, --user, --group: setregid, setgroups, setreuid); after that it
    only reads and writes the TUN's descriptor and dynamic.map in the data-dir, which must
    exist, owned by the user. Its config stays outside, root's."""
    return ["tayga", "-c", conf, "--nodetach", "--user", USER, "--group", GROUP, "--chroot"]


def confine_argv(python: str, argv: list[str], *, mount_ns: bool, user: str | None,
                 group: str | None = None, node_dir: str | None = None,
                 expose: tuple[str, ...] = ()) -> list[str]:
    """argv running `argv` confined (see the module's docstring); `python` is the node's."""
    from labsim.node.nodeprog import BOOT, SRC

    head = [python, "-S", "-c", BOOT, SRC, MODULE]
    if mount_ns:
        head.append("--mount-ns")
        if node_dir:
            head += ["--node-dir", node_dir]
        for path in expose:
            head += ["--expose", path]
    if user:
        head += ["--user", user, *(["--group", group] if group else [])]  # default: the user's own
    return [*head, "--", *argv]


def _libc() -> ctypes.CDLL:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    import ctypes

    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _set_readonly(libc: ctypes.CDLL, path: str, readonly: bool) -> None:
    """mount_setattr(2) on `path` and every mount below it: read-only set or cleared."""
    import ctypes
    import struct

    attr = struct.pack("QQQQ", MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ret = libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                       ctypes.c_uint(AT_RECURSIVE), buf, ctypes.c_size_t(len(attr)))
    _check(ret, f"mount_setattr {path} {'read-only' if readonly else 'read-write'}")


def closed_ancestor(path: str) -> str | None:
    """The topmost directory above `path` that others cannot enter (mode without o+x)."""
    parts = os.path.abspath(path).split("/")[1:]
    for i in range(1, len(parts)):
        above = "/" + "/".join(parts[:i])
        if not os.stat(above).st_mode & 0o001:
            return above
    return None


def _expose(libc: ctypes.CDLL, path: str) -> None:
    """Make `path` (read-only) reachable for any user although a directory above it is
    closed (labsim's Python under /root, mode 0700, for an exec check's `{python}`): that
    directory is hidden under an empty tmpfs open to all, and `path` alone bound back."""
    top = closed_ancestor(path)
    if top is None or not os.path.isdir(path):
        return
    keep = os.open(path, os.O_PATH | os.O_DIRECTORY)
    try:
        _check(libc.mount(b"tmpfs", top.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"),
               f"mount tmpfs on {top}")
        os.makedirs(path, mode=0o755, exist_ok=True)
        _check(libc.mount(f"/proc/self/fd/{keep}".encode(), path.encode(), None, MS_BIND | MS_REC, None),
               f"bind {path}")
        _set_readonly(libc, top, True)
    finally:
        os.close(keep)


def enter_mount_ns(node_dir: str | None, expose: list[str] | None = None) -> None:
    """A private mount namespace: the host read-only, scratch directories private, the
    node's own directory writable, `expose`d directories reachable (read-only) by any user.
    Needs CAP_SYS_ADMIN (root on the host: netns runtime)."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # nothing mounted here reaches the host, nothing the host mounts later reaches here
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    keep = os.open(node_dir, os.O_PATH | os.O_DIRECTORY) if node_dir else None
    # exposed directories under a scratch directory (a venv in a checkout under /tmp) are
    # held open now and bound back, read-only, once the scratch directory is a private tmpfs
    hidden = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in expose or ()
              if os.path.isdir(p) and any(p.startswith(d + "/") for d, _ in PRIVATE_DIRS)}
    _set_readonly(libc, "/", True)
    for path, mode in PRIVATE_DIRS:
        if os.path.isdir(path):
            _check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                              f"mode={mode}".encode()), f"mount tmpfs on {path}")
    for path, fd in hidden.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        _check(libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None),
               f"bind {path}")
        _set_readonly(libc, path, True)
        os.close(fd)
    if node_dir and keep is not None:
        os.makedirs(node_dir, exist_ok=True)  # again, when a tmpfs above now hides it
        _check(libc.mount(f"/proc/self/fd/{keep}".encode(), node_dir.encode(), None, MS_BIND | MS_REC, None),
               f"bind {node_dir}")
        _set_readonly(libc, node_dir, False)  # the bind copied the read-only flag
        os.close(keep)
    for path in expose or ():
        _expose(libc, path)


def become(user: str, group: str | None) -> dict[str, str]:
    """Drop root as setpriv --reuid --regid --init-groups does (checked by drop_root's own
    test: no uid 0 left, no way back); returns the environment --reset-env gives."""
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    if os.geteuid() == 0:
        os.initgroups(user, gid)
        os.setgid(gid)
        os.setuid(pw.pw_uid)
    if pw.pw_uid != 0 and (0 in os.getresuid() or 0 in os.getresgid()):
        raise OSError(f"dropping root to {user} left uids {os.getresuid()}, gids {os.getresgid()}")
    env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "SHELL": pw.pw_shell or "/bin/sh",
           "PATH": SAFE_PATH}
    if "TERM" in os.environ:
        env["TERM"] = os.environ["TERM"]
    return env


def main(args: list[str]) -> None:
    ap = argparse.ArgumentParser(prog=MODULE, description="run ARGV confined")
    ap.add_argument("--mount-ns", action="store_true")
    ap.add_argument("--node-dir")
    ap.add_argument("--expose", action="append", default=[])
    user_args(ap)
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    ns = ap.parse_args(args)
    argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    if not argv:
        ap.error("no program to run")
    if ns.mount_ns:
        enter_mount_ns(ns.node_dir, ns.expose)
    env = dict(os.environ)
    if ns.user:
        env = become(ns.user, ns.group)
    try:
        os.chdir("/")  # not a directory of the host's it could write in (process nodes: env --chdir)
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"{MODULE}: {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(126 if not isinstance(exc, FileNotFoundError) else 127)


if __name__ == "__main__":
    main(sys.argv[1:])


# what a node's network manager (hostconf) keeps of root: its network work (addresses,
# routes, TUN, raw DHCP sockets, port 68), starting the CLAT's tayga, which chroots and
# drops to nobody itself (setuid, setgid, chroot; its data dir made and chowned for it),
# stopping that tayga (kill across users) and the node's root-owned files. Gone: mounting
# and entering namespaces (CAP_SYS_ADMIN), modules, ptrace, raw I/O, BPF, time, reboot...
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID = 0, 1, 3, 5, 6, 7
CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_CHROOT = 10, 12, 13, 18
NETWORK_MANAGER_CAPS = frozenset({CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID,
                                  CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_CHROOT})
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522


def keep_capabilities(keep: frozenset[int]) -> None:
    """Stay uid 0 with only the capabilities in `keep`: dropped from the bounding set (so no
    program it runs, root or not, gets the others back) and from its own effective,
    permitted and inheritable sets. Checked, not assumed. Without root: nothing to do."""
    import ctypes

    if os.geteuid() != 0:
        return
    libc = _libc()
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    # a container may lack some of them: keep what there is
    mask = sum(1 << c for c in keep) & _capabilities("CapPrm")
    for cap in range(last + 1):
        if not mask & (1 << cap) and _capabilities("CapBnd") & (1 << cap):
            _check(libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0), f"drop capability {cap}")
    _check(libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0), "clear ambient")
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    # two 32-bit halves of (effective, permitted, inheritable)
    data = (ctypes.c_uint32 * 6)(mask & 0xFFFFFFFF, mask & 0xFFFFFFFF, 0, mask >> 32, mask >> 32, 0)
    _check(libc.capset(header, data), "capset")
    for field in ("CapEff", "CapPrm", "CapBnd"):
        if _capabilities(field) & ~mask:
            raise OSError(f"{field} {_capabilities(field):x} after keeping only {sorted(keep)}")


def _capabilities(field: str) -> int:
    """This process's capability set `field` (CapEff, CapPrm, CapBnd) from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise OSError(f"no {field} in /proc/self/status")
