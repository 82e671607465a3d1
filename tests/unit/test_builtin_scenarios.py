"""Built-in scenarios are one name away after a pip install: `labsim scenarios` lists them, a
name (or `scenarios/` where no such directory is here) works wherever a scenario file does,
and `validate` takes what `run` takes (several files, a directory)."""

from __future__ import annotations

import json
from pathlib import Path

from labsim import builtin
from labsim.scaleout.shard import expand
from tests.helpers import REPO
from tests.unit.cli_inproc import labsim as run_labsim


def test_scenarios_lists_every_shipped_scenario_with_its_catalog_row(tmp_path):
    res = run_labsim("scenarios", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {p.stem for p in (REPO / "scenarios").glob("*.yml")}
    assert rows["apple-review-nat64"]["catalog"] == 1 and rows["apple-review-nat64"]["steps"] > 0


def test_a_builtin_name_and_scenarios_dir_stand_for_the_shipped_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no scenarios/ here
    assert expand([Path("apple-review-nat64")]) == [builtin.scenarios()["apple-review-nat64"]]
    assert expand([Path("scenarios/")]) == sorted(builtin.scenarios().values())
    (tmp_path / "scenarios").mkdir()  # a local directory of that name wins
    (tmp_path / "scenarios" / "mine.yml").write_text("x: 1\n")
    assert expand([Path("scenarios/")]) == [Path("scenarios/mine.yml")]


def test_validate_takes_names_directories_and_several_files(tmp_path):
    res = run_labsim("validate", "apple-review-nat64", "scenarios/", "apple-review", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) == len(builtin.scenarios()) + 1  # a file named twice is checked once
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nnodes: {c: {kind: nope}}\n")
    res = run_labsim("validate", str(bad), "ipv6-mostly", cwd=tmp_path)
    assert res.returncode == 2 and "bad.yml" in res.stderr
    assert "scenario ipv6-mostly" in res.stdout  # the good one is still checked and said
