"""Wake when something in a directory changes: a Linux inotify descriptor, for `select`.

Readiness probes that wait for a file (a pid file written, a log line, a state file a
helper rewrites) use it instead of re-running a command in the node every few
milliseconds: each such run cost an `ip netns exec` fork, and four of them polling at
once took a fair share of two cores while the daemons they waited for were starting.
The lab directory is the same path on the host for both runtimes (docker bind-mounts it),
so the host watches it directly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# <sys/inotify.h>
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
CHANGES = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE

_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return _libc


class DirWatch:
    """An inotify descriptor on one directory (files created, written, closed, renamed
    into it). `fileno()` is readable after a change; `drain()` empties it."""

    def __init__(self, directory: str):
        lib = _lib()
        fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if lib.inotify_add_watch(fd, os.fsencode(directory), CHANGES) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch {directory}")
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def drain(self) -> None:
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def file_ready(path: str, contains: str | None) -> bool:
    """The file exists and is not empty, and holds `contains` if that is given."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)  # pid files, state files and logs: bounded read
    except OSError:
        return False
    return bool(data) and (contains is None or contains.encode() in data)
