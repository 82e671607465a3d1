"""The CLI's own conversion of parameter values (labsim.commands.options.fast_coercion) gives
what typer's pydantic adapters give: the same value of the same type, or the same error
message, for every parameter of every command and values typed on a command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer import _coercion
from typer._click.exceptions import BadParameter

from labsim.commands.cli import app

VALUES = [
    None, "", "x", " x ", "12", "-3", "007", "0", "1", "5", "6", "64", "65", "1.5", "-0.25", "1e3", " 2", "2 ",
    "nan", "inf", "1_000", "+4", "true", "yes", "no", "False", True, False, 15.0, 2, 0, Path("apple-review"),
    "apple-review", "/nonexistent/w3p", "/etc", "/etc/hostname", "-", ("a", "b"), ["1", "x"], (), ["2", "3"],
    (Path("/etc"), "/tmp"), 99999999999999999999999,
]


def _params():
    root = typer.main.get_command(app)
    stack = [(name, cmd) for name, cmd in root.commands.items()]
    while stack:
        name, cmd = stack.pop()
        if hasattr(cmd, "commands"):
            stack += [(f"{name} {n}", c) for n, c in cmd.commands.items()]
        for param in cmd.params:
            if hasattr(param, "type_descriptor"):
                yield name, cmd, param


def _outcome(runtime_param, value, param, ctx):
    try:
        got = runtime_param.coerce(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return "error", exc.format_message()
    if isinstance(got, list):  # repr: nan equals itself only so
        return "value", list, [(type(v), repr(v)) for v in got]
    return "value", type(got), repr(got)


PARAMS = list(_params())


@pytest.mark.parametrize(("command", "cmd", "param"), PARAMS, ids=[f"{c}:{p.name}" for c, _, p in PARAMS])
def test_same_as_typers_adapter(command, cmd, param):
    ctx = cmd.make_context(command, ["--help"], resilient_parsing=True)
    fast = param.get_runtime_param()
    assert type(fast).__name__ == "FastRuntimeParam"
    typers = _coercion.build_runtime_param(param.type_descriptor)
    for value in VALUES:
        assert _outcome(fast, value, param, ctx) == _outcome(typers, value, param, ctx), (command, param.name, value)

