"""`labsim run -j 2`: two scenarios at once, each in its own lab, reports as with -j 1,
nothing left behind; two shards' reports merge into one."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import host_snapshot, run_labsim
from tests.netns.test_run_cli import write

pytestmark = pytest.mark.root

GOOD = "  - dns: {from: client, name: www.example.test, server: ns}\n    expect: {addresses: ['2001:db8:7::99']}\n"
BAD = "  - dns: {from: client, name: www.example.test, server: ns}\n    expect: {addresses: ['2001:db8:7::1']}\n"


def test_two_jobs_run_two_labs_and_report_in_order(tmp_path):
    files = [write(tmp_path, "pj-one", GOOD), write(tmp_path, "pj-two", GOOD)]
    before = host_snapshot("pj-")
    res = run_labsim("run", "-j", "2", *map(str, files), "--json", str(tmp_path / "r.json"),
                     "--junit", str(tmp_path / "r.xml"), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert [r["name"] for r in results] == ["pj-one", "pj-two"]
    assert all(r["passed"] for r in results)
    labs = [r["lab"] for r in results]
    assert len(set(labs)) == 2 and all(lab.startswith(r["name"][:5]) for lab, r in zip(labs, results))
    assert host_snapshot("pj-") == before


def test_shards_then_merge(tmp_path):
    files = [write(tmp_path, "pm-a", GOOD), write(tmp_path, "pm-b", BAD), write(tmp_path, "pm-c", GOOD)]
    for k in (1, 2):
        res = run_labsim("run", "--shard", f"{k}/2", *map(str, files), "--json", str(tmp_path / f"{k}.json"),
                         "--junit", str(tmp_path / f"{k}.xml"), timeout=120)
        assert res.returncode in (0, 1), res.stderr
    ran = [r["name"] for k in (1, 2) for r in json.loads((tmp_path / f"{k}.json").read_text())]
    assert sorted(ran) == ["pm-a", "pm-b", "pm-c"]
    res = run_labsim("merge", *(str(tmp_path / f"{k}.{e}") for k in (1, 2) for e in ("json", "xml")),
                     "--junit", str(tmp_path / "all.xml"))
    assert res.returncode == 1  # pm-b fails
    root = ET.parse(tmp_path / "all.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
