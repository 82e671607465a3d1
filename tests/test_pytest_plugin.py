"""The pytest plugin, tested the way pytest tests plugins: `pytester` runs a real pytest
session over scenario files written to a temporary project."""

from __future__ import annotations

import pytest

TOPOLOGY = """
  networks: {lan: {ipv6: "2001:db8:7::/64"}}
  nodes:
    client: {kind: client, links: [lan]}
    ns:
      kind: authdns
      links: [lan]
      zones: {example.test: {records: {www: {AAAA: "2001:db8:7::99"}}}}
"""


def scenario(name: str, steps: str) -> str:
    return f"name: {name}\ntopology:{TOPOLOGY}steps:\n{steps}"


@pytest.fixture
def project(pytester):
    pytester.makeini("[pytest]\nlabsim_scenarios = scenarios/*.yml\n")
    pytester.mkdir("scenarios")
    return pytester


def test_a_bad_scenario_is_a_collection_error_with_file_and_line(project):
    (project.path / "scenarios" / "bad.yml").write_text(
        scenario("bad", "  - dns: {from: client, name: www.example.test}\n  - htp: {from: client}\n"))
    res = project.runpytest("--collect-only")
    res.stdout.fnmatch_lines(["*bad.yml:12: steps[[]1[]]: a step needs exactly one of: resolve, dns, http*"])
    assert res.ret == pytest.ExitCode.INTERRUPTED


def test_files_outside_the_patterns_are_not_collected(project):
    (project.path / "other.yml").write_text("just: data\n")
    (project.path / "scenarios" / "ok.yml").write_text(
        scenario("ok", "  - dns: {from: client, name: www.example.test, server: ns}\n"))
    res = project.runpytest("--collect-only", "-q")
    res.stdout.fnmatch_lines(["scenarios/ok.yml::ok"])
    assert "other.yml" not in res.stdout.str()


@pytest.mark.root
def test_scenarios_run_as_items_and_failures_show_the_step_table(project):
    (project.path / "scenarios" / "good.yml").write_text(scenario("good", (
        "  - dns: {from: client, name: www.example.test, server: ns}\n"
        "    expect: {addresses: ['2001:db8:7::99']}\n")))
    (project.path / "scenarios" / "wrong.yml").write_text(scenario("wrong", (
        "  - dns: {from: client, name: www.example.test, server: ns}\n"
        "    expect: {addresses: ['2001:db8:7::1']}\n")))
    res = project.runpytest("-p", "no:cacheprovider", "--labsim-json", str(project.path / "out"))
    res.assert_outcomes(passed=1, failed=1)
    text = res.stdout.str()  # (fnmatch would read the brackets below as character classes)
    assert "FAIL wrong" in text
    assert "step 1 addresses: expected ['2001:db8:7::1'], got ['2001:db8:7::99']" in text
    assert (project.path / "out" / "good.json").exists()
