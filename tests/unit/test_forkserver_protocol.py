"""The fork server refuses what it was not started for, before any fork: a module it has not
preloaded, a log outside its lab's directory, arguments that are not strings. A refused or
broken server makes the spawner fall back to exec (None), never a PID of nothing."""

from __future__ import annotations

import json
import subprocess
import sys

from labsim.node.forkserver import PAD
from labsim.node.nodeprog import stdlib_program
from labsim.runtime.forkspawn import ForkSpawner


def ask(lab_dir: str, *requests: dict) -> list[dict]:
    argv = stdlib_program(sys.executable, "labsim.node.forkserver", lab_dir, "labsim.node.agent", PAD)
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    out = subprocess.run(argv, input=lines, capture_output=True, text=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_requests_it_was_not_made_for_are_refused(tmp_path):
    ok = {"ns": "x", "log": str(tmp_path / "a.log"), "module": "labsim.node.agent", "args": [], "cmdline": ["p"]}
    replies = ask(str(tmp_path),
                  {**ok, "module": "labsim.node.relay"},
                  {**ok, "log": "/etc/passwd"},
                  {**ok, "log": str(tmp_path / ".." / "elsewhere.log")},
                  {**ok, "args": ["--x", 1]},
                  {**ok, "cmdline": "python"})
    assert [sorted(r) for r in replies] == [["error"]] * 5
    assert "not preloaded" in replies[0]["error"] and "outside" in replies[1]["error"]
    assert "outside" in replies[2]["error"] and "strings" in replies[3]["error"]
    assert not (tmp_path / "a.log").exists()


def test_the_spawner_falls_back_to_exec_when_refused_or_not_preloaded(tmp_path):
    spawner = ForkSpawner(str(tmp_path), {"labsim.node.agent"})
    try:
        relay = stdlib_program(sys.executable, "labsim.node.relay", "--port", "53")
        assert spawner.spawn("x", str(tmp_path / "r.log"), relay) is None  # not preloaded: not asked
        outside = stdlib_program(sys.executable, "labsim.node.agent", "resolve", "x")
        assert spawner.spawn("x", "/tmp/elsewhere.log", outside) is None  # refused: server stopped
        assert spawner.spawn("x", str(tmp_path / "a.log"), outside) is None  # and stays so
    finally:
        spawner.close()
