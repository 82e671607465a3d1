"""Options shared by several commands, declared once: each command takes `runtime_option()`
and gets a runtime name already checked against the runtime records (an unknown one is exit 2
with the valid names, before anything else runs)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, get_args, get_origin

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


# typer (0.29) coerces every parameter's value through a pydantic TypeAdapter: importing
# pydantic and building the adapters is ~0.06-0.1 s of every command (`down`, `status`,
# `logs` need no pydantic at all). labsim's parameters are str, bool, int, float, Path and
# lists of them; a value whose result is certain (a str for str, digits for int, a plain
# decimal for float, a path that is not a directory check) is converted here exactly as the
# adapter would; anything else (a bound not met, "1e3", "yes" for a bool, an unreadable
# file) goes to typer's own adapter, so results and error messages stay typer's.
_UNSURE = object()
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")


def _leaf(annotation: Any, info: Any, value: Any) -> Any:
    """`value` as typer's adapter for `annotation` returns it, or _UNSURE."""
    if annotation is str:
        return value if type(value) is str else _UNSURE
    if annotation is bool:
        return value if type(value) is bool else _UNSURE
    if annotation is int or annotation is float:
        if info.clamp:
            return _UNSURE
        if type(value) is annotation:
            number = value
        elif type(value) is str and (_INT if annotation is int else _FLOAT).fullmatch(value):
            number = annotation(value)
        else:
            return _UNSURE
        if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
            return _UNSURE  # typer's message names the bound
        return number
    if annotation is Path:
        if not (isinstance(value, Path) or (type(value) is str and value)) or info.exists or info.resolve_path \
                or info.allow_dash or info.path_type is not None or info.writable or not info.file_okay \
                or not info.dir_okay:
            return _UNSURE
        path = value if isinstance(value, Path) else Path(value)  # a Path (a default) passes as it is
        if info.readable and os.path.exists(path) and not os.access(path, os.R_OK):
            return _UNSURE  # typer's "is not readable"
        return path
    return _UNSURE


def fast_coercion() -> None:
    """Install the conversion above in typer (once, at the CLI's import); a typer without
    the hook it replaces keeps its own."""
    from typer import _coercion, core

    original: Any = getattr(core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "_labsim_fast", False):
        return

    class FastRuntimeParam(base):  # type: ignore[misc, valid-type]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation, info = self.annotation, self.parameter_info
            if info.parser is None:
                if get_origin(annotation) is list and isinstance(value, (list, tuple)):
                    items = [_leaf(get_args(annotation)[0], info, v) for v in value]
                    if _UNSURE not in items:
                        return items
                else:
                    result = _leaf(annotation, info, value)
                    if result is not _UNSURE:
                        return result
            if "slow" not in self.__dict__:  # typer's own, built once when first needed
                object.__setattr__(self, "slow", original(self.descriptor))
            return self.__dict__["slow"]._coerce_value(value, param=param, ctx=ctx)

    def build(descriptor: Any) -> Any:
        if descriptor.file_annotation is not None:
            return original(descriptor)
        fast = FastRuntimeParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
        object.__setattr__(fast, "descriptor", descriptor)
        return fast

    build._labsim_fast = True  # type: ignore[attr-defined]
    core.build_runtime_param = build


fast_coercion()
