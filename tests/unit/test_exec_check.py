"""Tier 1: the `exec` check — the argv it runs (no shell), how output becomes facts and a
reason, the expectations on it, and its input errors. Programs run for real on the host
through a runtime stand-in that has no namespace (the netns tier runs them in nodes)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labsim.checks import CHECKS
from labsim.checks.base import CheckEnv
from labsim.checks.exec import ExecCheck, exec_argv, interpret, parse_json, run_exec
from labsim.checks.result import Reason
from labsim.scenario.expect import Expect, evaluate
from labsim.scenario.model import Step


class HostRuntime:
    """Runs argv directly on the host: enough to observe the timeout wrapper and output."""

    def exec(self, node, argv, timeout=30.0, input=None):
        return subprocess.run(argv, input=input, capture_output=True, timeout=timeout)


ENV = CheckEnv(HostRuntime(), sys.executable)


def spec(**kw) -> ExecCheck:
    return ExecCheck.model_validate({"from": "client", **kw})


def test_registered_with_the_other_checks():
    assert CHECKS["exec"][0] is ExecCheck


def test_argv_runs_under_timeout_with_env_and_python_placeholder():
    s = spec(argv=["{python}", "-c", "print('{python}')"], env={"A": "1 2"}, timeout=3)
    assert exec_argv(s, "/venv/bin/python") == [
        "timeout", "--kill-after=1", "3", "env", "A=1 2", "/venv/bin/python", "-c", "print('{python}')"]


def test_json_stdout_exit_status_and_duration_are_facts():
    r = run_exec(spec(argv=["{python}", "-c", "import json; print(json.dumps({'a': {'b': [1, 2]}}))"]), ENV)
    assert r.ok and r.reason is None and r.facts.exit_status == 0
    assert r.facts.json == {"a": {"b": [1, 2]}} and r.timings_ms.total > 0
    outs = evaluate(Expect(exit_status=0, stdout={"a.b.1": 2}, max_ms=30000), [r])
    assert all(o.passed for o in outs), outs


def test_a_stalled_program_is_killed_at_the_timeout_and_keeps_its_output():
    prog = "import sys, time; print('partial', flush=True); time.sleep(30)"
    r = run_exec(spec(argv=["{python}", "-c", prog], timeout=0.5), ENV)
    assert not r.ok and r.reason == Reason.TIMEOUT and r.facts.timed_out
    assert r.facts.stdout == "partial\n" and r.timings_ms.total < 5000


def test_reasons_map_the_programs_own_error_text():
    prog = "import sys; sys.exit('socket.gaierror: Name or service not known')"
    s = spec(argv=["{python}", "-c", prog], reasons={"Name or service": "NXDOMAIN", "refused": "CONNECT_REFUSED"})
    r = run_exec(s, ENV)
    assert r.reason == Reason.NXDOMAIN and r.facts.exit_status == 1
    assert r.detail == "exit status 1: socket.gaierror: Name or service not known"
    outs = evaluate(Expect(reason=Reason.NXDOMAIN, stderr_contains="gaierror", exit_status=1), [r])
    assert all(o.passed for o in outs), outs


def test_a_non_zero_exit_status_expected_means_a_failure_expected():
    r = run_exec(spec(argv=["false"]), ENV)
    assert r.reason == Reason.UNKNOWN
    assert all(o.passed for o in evaluate(Expect(exit_status=1), [r]))
    failed = [o for o in evaluate(Expect(), [r]) if not o.passed]
    assert [o.what for o in failed] == ["ok"]


def test_nothing_goes_through_a_shell():
    r = run_exec(spec(argv=["echo", "$HOME; rm -rf /", "`id`"]), ENV)
    assert r.facts.stdout == "$HOME; rm -rf / `id`\n"


@pytest.mark.parametrize("raw, fragment", [
    ({"argv": []}, "at least 1"),
    ({"argv": ["a\0b"]}, "NUL"),
    ({"argv": ["x"], "env": {"A-B": "1"}}, "environment variable"),
    ({"argv": ["x"], "reasons": {"(": "NXDOMAIN"}}, "regular expression"),
    ({"argv": ["x"], "reasons": {"x": "NOT_A_REASON"}}, "NOT_A_REASON"),
    ({"argv": "echo hi"}, "list"),
])
def test_bad_specs_are_input_errors(raw, fragment):
    with pytest.raises(ValidationError, match=fragment):
        Step.model_validate({"exec": {"from": "client", **raw}})


def test_last_line_json_after_log_lines():
    assert parse_json("starting\nconnected\n{\"ok\": true}\n") == {"ok": True}
    assert parse_json("not json {") is None


@settings(max_examples=200, deadline=None)
@given(code=st.integers(-255, 255), out=st.text(), err=st.text())
def test_any_output_becomes_a_result(code, out, err):
    r = interpret(spec(argv=["x"], reasons={"a+": "NO_ROUTE"}), code, out, err, 1.0)
    assert r.ok == (code == 0)
    assert (r.reason is None) == r.ok
    assert r.to_dict()["facts"]["exit_status"] == code
