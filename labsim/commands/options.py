"""Options shared by several commands, declared once: each command takes `runtime_option()`
and gets a runtime name already checked against the runtime records (an unknown one is exit 2
with the valid names, before anything else runs)."""

from __future__ import annotations

from typing import Any

import typer

from labsim.runtime import registry as runtimes
from labsim.runtime.records import DEFAULT, RECORDS


def _known(name: str) -> str:
    runtimes.get(name)  # an unknown name: InputError (exit 2), listing the valid ones
    return name


def runtime_option(more: str = "") -> Any:
    """`--runtime NAME` (netns by default); `more` adds what this command does with it."""
    help_text = f"Where nodes run: {runtimes.help_text()}." + (f" {more}" if more else "")
    return typer.Option(DEFAULT, "--runtime", metavar="|".join(RECORDS), help=help_text, callback=_known)
