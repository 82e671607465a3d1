"""Whether a Ctrl-C has reached this process (standard library only: the entry point installs
it before anything else loads).

A KeyboardInterrupt raised while a library runs Python code from native code can come back
as another exception: pydantic-core builds a model's validator lazily, on first use, and
wraps the interrupt in a `SchemaError` ("Field ...: KeyboardInterrupt"). So once SIGINT has
arrived, whatever error ends the command is the interrupt's doing: exit 130, one line, no
traceback (tests/unit/test_interrupts.py)."""

from __future__ import annotations

import signal

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
