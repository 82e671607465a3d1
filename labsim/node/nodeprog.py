"""How a node runs one of labsim's own standard-library programs (echo backend, DNS delay
relay, PREF64 sender, hostconf, the check agent, the socket probe).

`python -S`: no `site`. On this project's 2-core machine, `site` (and the finder an editable
install adds to it) is 30 ms of the 45 ms an interpreter takes to start, paid by every echo
backend while a lab comes up (three at once in apple-review, on 2 cores) and by every agent
check. These programs import only the standard library and labsim, so they need nothing
from site-packages: the source root goes first on `sys.path` instead, and the module runs as
`-m` would run it (its `__main__` block included). In a container, `PYTHONPATH` (which -S
keeps) finds the package as before; its runtime maps SRC to the mount point.

Programs that need site-packages (moto's `labsim.kinds.cloudserve`) keep `python -m`.
"""

from __future__ import annotations

from pathlib import Path

# the programs started this way: standard library and labsim only (a fork server may
# preload them: runtime/forkspawn.py)
NODE_PROGRAMS = frozenset({"labsim.node.echo_server", "labsim.node.relay", "labsim.node.pref64", "labsim.node.hostconf",
                           "labsim.node.agent", "labsim.node.sockprobe", "labsim.node.forkserver",
                           "labsim.node.dhcpcdview"})
SRC = str(Path(__file__).resolve().parents[2])  # the directory holding the labsim package (above labsim/node/)
# argv after `-c BOOT`: SRC, the module, its arguments; the module sees only its arguments
BOOT = ("import sys, runpy; sys.path.insert(0, sys.argv.pop(1)); "
        "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def stdlib_program(python: str, module: str, *args: str) -> list[str]:
    """argv running labsim's `module` (standard library only) under `python`, without site."""
    if module not in NODE_PROGRAMS:
        raise ValueError(f"{module} is not one of labsim's in-node programs (nodeprog.NODE_PROGRAMS)")
    return [python, "-S", "-c", BOOT, SRC, module, *args]


def split_program(argv: list[str] | tuple[str, ...]) -> tuple[str, list[str]] | None:
    """(module, its arguments) of an argv running a labsim module (either form), else None:
    for tests and fakes that read what a node was asked to run."""
    argv = list(argv)
    if len(argv) > 5 and argv[1:3] == ["-S", "-c"] and argv[3] == BOOT:
        return argv[5], argv[6:]
    if len(argv) > 2 and argv[1] == "-m":
        return argv[2], argv[3:]
    return None
