"""Reading the files that inputs name (a scenario's `topology:`, a comparison's topology, a
review's URL file or HAR capture, a step's `data_file`): regular files only, read with a
size cap, UTF-8 text. `/dev/zero`, a FIFO or a directory is an input error at once, never an
unbounded read or a hang."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from labsim.errors import InputError

MAX_INPUT_BYTES = 1 << 20  # 1 MiB: far above any real topology, URL list or HAR we replay
MAX_HAR_BYTES = 16 << 20  # HAR captures carry response bodies


def read_text(path: str | Path, *, limit: int = MAX_INPUT_BYTES, what: str = "file",
              named_in: str | None = None, line: int | None = None, field: str | None = None) -> str:
    """The file's text. Errors name the file (or, with `named_in`, the file and line that
    named it)."""
    path = Path(path)

    def fail(msg: str, at_line: int | None = None) -> InputError:
        if named_in is not None:
            return InputError(f"{what} {path}: {msg}", file=named_in, line=line, field=field)
        return InputError(msg, file=str(path), line=at_line)

    if "\x00" in str(path):
        raise fail("a file name cannot hold a NUL byte")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise fail(f"cannot read file: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise fail("not a regular file")
    with os.fdopen(fd, "rb") as f:
        if st.st_size > limit:
            raise fail(f"larger than {limit} bytes")
        data = f.read(limit + 1)  # the size can change under us: the cap is on what we read
    if len(data) > limit:
        raise fail(f"larger than {limit} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data[: exc.start].count(b"\n") + 1
        if named_in is not None:
            raise fail(f"not UTF-8 text (line {at}, byte {data[exc.start]:#x})") from None
        raise fail(f"not UTF-8 text (byte {data[exc.start]:#x})", at) from None
    if "\x00" in text:
        at = text[: text.index("\x00")].count("\n") + 1
        if named_in is not None:
            raise fail(f"holds a NUL byte (line {at})")
        raise fail("holds a NUL byte", at)
    return text


def relative_path(base_dir: Path, name: str) -> Path:
    """`name` inside `base_dir`: a relative path with no `..` that stays under it (symlinks
    resolved). Raises ValueError with the reason."""
    p = PurePosixPath(name)
    if not name or p.is_absolute() or name.startswith("~"):
        raise ValueError("must be a relative path (resolved against the scenario's own folder)")
    if ".." in p.parts:
        raise ValueError("must not contain '..'")
    base = base_dir.resolve()
    full = (base / p).resolve()
    if full != base and base not in full.parents:
        raise ValueError("leads outside the scenario's folder (through a symlink)")
    return full
