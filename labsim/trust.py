"""What only the command line can grant a file (the trust model: README, "What a file runs,
and as whom"). Standard library only: the CLI declares its flag from here at import, before
any model or kind is loaded.

`--allow-root-nodes` reaches the code that loads files, in this process and in the worker
processes `run -j` spawns (they inherit the environment); the CLI sets the variable from the
flag alone, removing any value it inherited, so only the command line can grant root.
"""

from __future__ import annotations

import os

ALLOW_ROOT_FLAG = "--allow-root-nodes"
ALLOW_ROOT_ENV = "LABSIM_ALLOW_ROOT_NODES"
ALLOW_ROOT_HELP = ("Let a file run what it names as root with the host's file system where it asks "
                   "(`user: root` on a process node or an exec check); without it such a file is refused.")


def grant_root(allowed: bool) -> None:
    """The command line's --allow-root-nodes, for the loaders of this process and of the
    workers it spawns: set from the flag alone, an inherited value removed."""
    if allowed:
        os.environ[ALLOW_ROOT_ENV] = "1"
    else:
        os.environ.pop(ALLOW_ROOT_ENV, None)


def root_allowed() -> bool:
    return os.environ.get(ALLOW_ROOT_ENV) == "1"
