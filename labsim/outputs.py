"""Files labsim writes for the user (reports, captures, `init`'s project) belong to whoever
owns the directory they are written in.

labsim runs as root; in the runner image (`docker run -v "$PWD:/lab"`) or under sudo, files
it wrote were root's, on the user's own volume or checkout. When the directory a file lands
in is owned by someone else, the file (and every directory labsim made on the way) is given
to that owner and group.
"""

from __future__ import annotations

import os
from pathlib import Path


def give_to_directory_owner(path: Path, top: Path | None = None) -> None:
    """Chown `path` (recursively, if a directory labsim made) and its parents up to `top`
    (exclusive; default: the first existing parent labsim did not create, i.e. `path`'s
    parent) to the owner of the directory above them. A no-op unless root and that owner is
    not root; never follows a symlink."""
    if os.geteuid() != 0:
        return
    path = Path(path)
    anchor = Path(top) if top is not None else path.parent
    try:
        st = os.stat(anchor)
    except OSError:
        return
    if st.st_uid == 0:
        return
    todo = [path]
    p = path.parent
    while top is not None and p != anchor and anchor in p.parents:
        todo.append(p)
        p = p.parent
    for item in todo:
        if item.is_dir() and not item.is_symlink():
            for root, dirs, files in os.walk(item):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), st.st_uid, st.st_gid, follow_symlinks=False)
        if item.exists() or item.is_symlink():
            os.chown(item, st.st_uid, st.st_gid, follow_symlinks=False)


def write_text(path: Path, text: str) -> None:
    """Write a report as the directory's owner would have (see the module's docstring)."""
    path = Path(path)
    path.write_text(text)
    give_to_directory_owner(path)


def make_dirs(path: Path) -> Path:
    """`mkdir -p path`, the new directories given to the owner of the first existing parent."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    path.mkdir(parents=True, exist_ok=True)
    if existing != path:
        first_new = path
        while first_new.parent != existing:
            first_new = first_new.parent
        give_to_directory_owner(first_new, top=existing)
    return path
