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


# typer (0.29) shows each parameter's Python type in help: `<bool>` beside flags that take no
# value and `<list[str]>` beside repeatable options. labsim's help shows what to type instead:
# nothing after a flag, an upper-case placeholder otherwise (TEXT, PATH, N, NUMBER; `...` when
# repeatable); a parameter's own `metavar` wins.
_PLACEHOLDERS = {"str": "TEXT", "path": "PATH", "file": "PATH", "directory": "DIR", "int": "N",
                 "float": "NUMBER", "bool": "BOOLEAN"}


def _placeholder(typer_label: str) -> str:
    label = typer_label.strip("<>")
    many = label.startswith("list[")
    label = label.removeprefix("list[").removesuffix("]")
    if "|" in label:  # choices: shown as they are typed
        return label + ("..." if many else "")
    return _PLACEHOLDERS.get(label, label.upper()) + ("..." if many else "")


def plain_help_types() -> None:
    """Install labsim's placeholders in typer's rich help (once, at the CLI's import)."""
    from typer import core

    if getattr(core.TyperOption, "_labsim_plain", False):
        return

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return str(self.metavar)
        return _placeholder(self.display_type(ctx))

    def argument_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        return _placeholder(self.display_type(ctx))

    core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign]
    core.TyperOption._labsim_plain = True  # type: ignore[attr-defined]


plain_help_types()  # every command module imports this one, so every help shows them
