"""Interrupts, for the full CLI and the fast paths alike: whether a Ctrl-C has reached this
process (standard library only: the entry point installs it before anything else loads),
SIGTERM and SIGHUP as interrupts, and the line that says what an interrupt left.

A KeyboardInterrupt raised while a library runs Python code from native code can come back
as another exception: pydantic-core builds a model's validator lazily, on first use, and
wraps the interrupt in a `SchemaError` ("Field ...: KeyboardInterrupt"). So once SIGINT has
arrived, whatever error ends the command is the interrupt's doing: exit 130, one line, no
traceback (tests/unit/test_interrupts.py)."""

from __future__ import annotations

import signal
import sys

_seen = False


def _handler(signum, frame):
    global _seen
    _seen = True
    raise KeyboardInterrupt


def install() -> None:
    """Ctrl-C raises KeyboardInterrupt as by default, and is remembered."""
    signal.signal(signal.SIGINT, _handler)


def seen() -> bool:
    return _seen


def interrupt_on_term() -> None:
    """SIGTERM and SIGHUP become KeyboardInterrupt, so a command's cleanup runs on every exit
    path (`exec` replaces the process: its command gets the default handlers back)."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def interrupted_message() -> str:
    """What an interrupt left: labs this process brought up to stay are up (and how to remove
    them); anything else it created was removed on the way out."""
    lab_mod = sys.modules.get("labsim.bringup.lab")
    kept = sorted(getattr(lab_mod, "KEPT_UP", ()))
    if not kept:
        return "interrupted; what it had created was removed"
    from labsim.runtime.state import LabState

    present = set(LabState.all_labs())
    up = [name for name in kept if name in present]
    if not up:
        return "interrupted; what it had created was removed"
    return (f"interrupted; lab {', '.join(up)} {'is' if len(up) == 1 else 'are'} up: "
            f"remove {'it' if len(up) == 1 else 'them'} with labsim down {' '.join(up)}")
