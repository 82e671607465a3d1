"""The pytest plugin, tested the way pytest tests plugins: `pytester` runs a real pytest
session over scenario files written to a temporary project."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_pytest_plugin import project, scenario  # noqa: F401 (fixture)


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


@pytest.mark.root
def test_scenario_items_spread_over_xdist_workers(project):
    """Each worker collects the files itself and names its labs `<scenario>-<random>`, so
    `pytest -n 2` runs two scenarios at once, each in its own lab."""
    for name in ("one", "two"):
        (project.path / "scenarios" / f"{name}.yml").write_text(scenario(name, (
            "  - dns: {from: client, name: www.example.test, server: ns}\n"
            "    expect: {addresses: ['2001:db8:7::99']}\n")))
    res = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--labsim-json",
                                       str(project.path / "out"), timeout=180)
    res.assert_outcomes(passed=2)
    assert sorted(p.name for p in (project.path / "out").iterdir()) == ["one.json", "two.json"]
    labs = {json.loads((project.path / "out" / f"{n}.json").read_text())["lab"] for n in ("one", "two")}
    assert len(labs) == 2
