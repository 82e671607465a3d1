"""Root in a node only when a file asks for it and the command line confirms it, and
`reasons` patterns that cannot hang a run (tier 1: no root, nothing created).

- `user: root` (or `group: root`) on a process node, or `user: root` on an exec check, is
  refused at load with file:line, the field and the flag, exit 2 - by `validate`, so by
  `up`/`run`/`review` too (they load the same way); with --allow-root-nodes it loads.
- A value of LABSIM_ALLOW_ROOT_NODES inherited from the environment does not grant root:
  only the flag does.
- What a file names is run confined on the real runtimes (nobody, a mount namespace on
  netns) and as asked with `user: root`.
- `reasons` are RE2: a backreference or lookaround is refused at load with file:line; a
  pattern that backtracks catastrophically in Python's `re` finishes at once over a long output.
"""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from labsim.checks.exec import ExecCheck, interpret
from labsim.checks.reasons import Reason
from labsim.commands.cli import app
from labsim.runtime.records import confinement
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.kinds.common import ALLOW_ROOT_ENV, confined
from labsim.loader import load_lab_text

TOPOLOGY = """\
name: rootcheck
networks:
  lan: {ipv6: "2001:db8:1::/64"}
nodes:
  app:
    kind: process
    links: [lan]
%s    command: [sleep, "100"]
"""

SCENARIO = """\
name: rootcheck
topology:
  networks:
    lan: {ipv6: "2001:db8:1::/64"}
  nodes:
    c: {kind: client, links: [lan]}
steps:
  - exec:
      from: c
%s      argv: ["true"]
"""


@pytest.fixture(autouse=True)
def _no_inherited_grant(monkeypatch):
    monkeypatch.delenv(ALLOW_ROOT_ENV, raising=False)


def validate(tmp_path, text: str, *flags: str, name: str = "f.yml"):
    path = tmp_path / name
    path.write_text(text)
    res = CliRunner().invoke(app, ["validate", *flags, str(path)])
    return res.exit_code, res.output, path


@pytest.mark.parametrize("field, line", [("    user: root\n", 8), ("    user: nobody\n    group: root\n", 9)])
def test_a_process_node_as_root_is_refused_without_the_flag(tmp_path, field, line):
    code, out, path = validate(tmp_path, TOPOLOGY % field)
    assert code == 2, out
    which = "user" if "group" not in field else "group"
    assert f"{path}:{line}" in out.replace("\n", "") and f"nodes.app.{which}" in out
    assert "--allow-root-nodes" in out.replace("\n", "")
    code, out, _ = validate(tmp_path, TOPOLOGY % field, "--allow-root-nodes")
    assert code == 0, out


def test_an_exec_check_as_root_is_refused_without_the_flag(tmp_path):
    code, out, path = validate(tmp_path, SCENARIO % "      user: root\n")
    flat = out.replace("\n", "")
    assert code == 2 and f"{path}:10" in flat and "--allow-root-nodes" in flat, out
    code, out, _ = validate(tmp_path, SCENARIO % "      user: root\n", "--allow-root-nodes")
    assert code == 0, out
    code, out, _ = validate(tmp_path, SCENARIO % "      user: nobody\n")
    assert code == 0, out


def test_the_environment_alone_does_not_grant_root(tmp_path, monkeypatch):
    monkeypatch.setenv(ALLOW_ROOT_ENV, "1")
    code, out, _ = validate(tmp_path, TOPOLOGY % "    user: root\n")
    assert code == 2 and "--allow-root-nodes" in out.replace("\n", ""), out


def node_ctx(body: str, runtime: str) -> NodeContext:
    loaded = load_lab_text(TOPOLOGY % body, filename="lab.yml")
    plan = loaded.plan
    return NodeContext(plan, plan.nodes["app"], loaded.topology.nodes["app"], dir="/run/labsim/r/nodes/app",
                       python="/opt/py/bin/python3", confinement=confinement(runtime))


def test_what_a_file_names_runs_confined_unless_it_asked_for_root(monkeypatch):
    kind = registry.get("process")
    ctx = node_ctx("    setup: [[mkdb]]\n", "netns")
    (svc,) = kind.services(ctx)
    argv = kind.confine(ctx, svc.argv)
    assert argv[0] == "/opt/py/bin/python3" and "labsim.node.privdrop" in argv
    head = argv[:argv.index("--")]
    assert head[head.index("labsim.node.privdrop") + 1:] == [
        "--mount-ns", "--node-dir", "/run/labsim/r/nodes/app", "--expose", "/opt/py",  # its interpreter
        "--user", "nobody", "--group", "nogroup"]
    assert argv[argv.index("--") + 1:] == svc.argv
    mkdir, mkdb = kind.setup(ctx)
    assert kind.confine(ctx, mkdir) == mkdir  # labsim's own: the workdir, made for nobody
    assert mkdir[:6] == ["install", "-d", "-o", "nobody", "-g", "nogroup"]
    assert "--mount-ns" in kind.confine(ctx, mkdb)
    # a container is its own file system: only the user drops
    docker = node_ctx("", "docker")
    argv = kind.confine(docker, kind.services(docker)[0].argv)
    assert "--mount-ns" not in argv and argv[argv.index("--user") + 1] == "nobody"
    # a named user: setpriv drops to it; the mount namespace stays
    named = node_ctx("    user: postgres\n", "netns")
    argv = kind.confine(named, kind.services(named)[0].argv)
    assert "--user" not in argv[:argv.index("--")] and argv[argv.index("--") + 1] == "setpriv"
    monkeypatch.setenv(ALLOW_ROOT_ENV, "1")
    root = node_ctx("    user: root\n", "netns")
    assert kind.confine(root, kind.services(root)[0].argv) == kind.services(root)[0].argv
    assert confined(confinement("netns"), "/py", ["id"], "root") == ["id"]
    assert confinement("fake") == "" and confined("", "/py", ["id"], None) == ["id"]  # a fake runs it as is


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=refused)", "(?<!x)y"])
def test_a_pattern_re2_cannot_take_is_refused_at_load_with_file_line(tmp_path, pattern):
    reasons = f"      reasons: {{'{pattern}': CONNECT_REFUSED}}\n"
    code, out, path = validate(tmp_path, SCENARIO % reasons)
    flat = out.replace("\n", "")
    assert code == 2 and f"{path}:10" in flat and "RE2" in flat, out


def test_a_catastrophic_pattern_over_a_long_output_finishes_at_once():
    """`(a+)+$` over 'a'*N + 'b' backtracks 2^N times in Python's `re`: a run would hang."""
    spec = ExecCheck.model_validate({"from": "c", "argv": ["x"],
                                     "reasons": {"(a+)+$": "CONNECT_REFUSED", "(x+x+)+y": "NXDOMAIN"}})
    out = "a" * 200_000 + "b"
    t0 = time.monotonic()
    res = interpret(spec, 1, out, "", 1.0)
    assert time.monotonic() - t0 < 2.0
    assert res.reason == Reason.UNKNOWN  # no match: the output ends in 'b' (and a line break)
    res = interpret(spec, 1, out, "a" * 50, 1.0)  # stderr ends in a's: it matches, still at once
    assert res.reason == Reason.CONNECT_REFUSED
    res = interpret(spec, 1, "x" * 100_000, "x" * 100_000, 1.0)
    assert res.reason == Reason.UNKNOWN and time.monotonic() - t0 < 4.0
