"""`labsim exec`'s fast path (labsim.commands.entry): it must read every argument list it takes the
way the full CLI does, take only labs and nodes that exist, and leave everything else to
the full CLI (which owns the messages and exit codes)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.commands.entry import exec_target, parse_exec

TOKENS = ["--lab", "-l", "--lab=t1", "--lab=", "--", "-x", "--help", "-h", "-lt1", "client",
          "t1", "true", "-s", "--verbose", "a b", ""]


def full_cli_parse(args: list[str]):
    """(lab, node, cmd) as the typer command parses `labsim exec ARGS` (the command body
    strips one leading `--` from cmd), or None where it refuses them."""
    import click
    import typer

    from labsim.commands.cli import app

    command = typer.main.get_command(app).commands["exec"]
    try:
        ctx = command.make_context("exec", list(args))
    except (click.exceptions.ClickException, click.exceptions.Exit, SystemExit):
        return None
    cmd = list(ctx.params["cmd"])
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    return ctx.params["lab"], ctx.params["node"], cmd


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=7))
def test_the_fast_path_parses_what_it_takes_as_the_full_cli_does(args):
    fast = parse_exec(args)
    if fast is not None:
        assert fast == full_cli_parse(args), args
        assert fast[2], "never an empty command"


@pytest.mark.parametrize("args, expected", [
    (["--lab", "t1", "client", "--", "curl", "-s", "http://x/"], ("t1", "client", ["curl", "-s", "http://x/"])),
    (["client", "true"], (None, "client", ["true"])),
    (["-l", "t1", "client", "sh", "-c", "exit 3"], ("t1", "client", ["sh", "-c", "exit 3"])),
    (["client", "--", "--", "x"], (None, "client", ["--", "x"])),  # only the first -- is labsim's
    (["client", "--lab", "t1"], (None, "client", ["--lab", "t1"])),  # after the node: the command's
])
def test_plain_forms_are_taken(args, expected):
    assert parse_exec(args) == expected


@pytest.mark.parametrize("args", [["--help"], ["client"], ["client", "--"], ["-lt1", "client", "true"],
                                  ["--", "client", "true"], ["--lab"], []])
def test_other_forms_go_to_the_full_cli(args):
    assert parse_exec(args) is None


def write_lab(run_dir, lab, runtime="netns", nodes=("client",)):
    (run_dir / lab).mkdir(parents=True)
    (run_dir / lab / "state.json").write_text(json.dumps(
        {"lab": lab, "runtime": runtime, "nodes": {n: {} for n in nodes}}))


def test_targets_come_from_the_lab_state(tmp_path, monkeypatch):
    from labsim.runtime import state

    monkeypatch.setattr(state, "RUN_DIR", tmp_path)
    assert exec_target(["client", "true"]) is None  # no lab up
    write_lab(tmp_path, "t1")
    assert exec_target(["client", "true"]) == ["ip", "netns", "exec", "ls-t1_client", "true"]
    assert exec_target(["--lab", "t1", "router", "true"]) is None  # no such node
    assert exec_target(["--lab", "t2", "client", "true"]) is None  # no such lab
    assert exec_target(["--lab", "../t1", "client", "true"]) is None  # not a lab name
    write_lab(tmp_path, "d1", runtime="docker")
    assert exec_target(["client", "true"]) is None  # two labs up and no --lab
    assert exec_target(["-l", "d1", "client", "id"])[:3] == ["docker", "exec", "-i"]
    assert exec_target(["-l", "d1", "client", "id"])[-2:] == ["ls-d1_client", "id"]
    write_lab(tmp_path, "o1", runtime="other")
    assert exec_target(["-l", "o1", "client", "true"]) is None  # the full CLI says what is wrong
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "state.json").write_text("{not json")
    assert exec_target(["-l", "bad", "client", "true"]) is None
