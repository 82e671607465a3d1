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
