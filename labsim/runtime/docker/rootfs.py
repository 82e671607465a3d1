"""The debootstrap tree of an offline image build: made under /var/tmp, removed (mounts
first) on every exit path; one left by a SIGKILLed build is removed by the next build."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from labsim.errors import RuntimeOpError

TMP_PARENT = Path("/var/tmp")  # not /tmp: debootstrap runs programs from the tree (no noexec)
TMP_PREFIX = "labsim-rootfs-"


@contextlib.contextmanager
def rootfs_dir() -> Iterator[Path]:
    """A fresh directory for debootstrap, removed (mounts first) however the block exits."""
    path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=TMP_PARENT))
    try:
        yield path
    finally:
        remove_rootfs(path)


def remove_rootfs(path: Path) -> None:
    for mnt in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    # a bind mount of /dev or /proc must be gone before any rmtree; refuse otherwise
    if _mounts_under(path):
        raise RuntimeOpError(f"{path}: mounts are left under it; not removing it")
    shutil.rmtree(path, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if mnt == str(path) or mnt.startswith(prefix):
            found.append(mnt)
    return found


def remove_stale_rootfs() -> list[str]:
    """Directories left by a build that was SIGKILLed (its PID is in the name)."""
    removed = []
    for d in TMP_PARENT.glob(f"{TMP_PREFIX}*"):
        m = re.match(rf"{TMP_PREFIX}(\d+)-", d.name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            remove_rootfs(d)
            removed.append(str(d))
    return removed


@contextlib.contextmanager
def term_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (so `finally` blocks clean up); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
