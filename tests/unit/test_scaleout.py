"""Sharding (every file in exactly one shard, deterministic, balanced by durations) and
merging shard reports (JSON and JUnit counts are the sums)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.errors import InputError
from labsim.scaleout import merge, shard
from tests.helpers import REPO
from tests.unit.cli_inproc import labsim as run_labsim

names = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,12}\.yml", fullmatch=True), unique=True, max_size=40)


@settings(max_examples=100, deadline=None)
@given(names, st.integers(1, 9), st.one_of(st.none(), st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9-]{0,12}\.yml", fullmatch=True), st.floats(0, 1000), max_size=40)))
def test_every_file_in_exactly_one_shard(files, n, durations):
    shards = shard.assign(files, n, durations)
    flat = [f for s in shards for f in s]
    assert sorted(flat) == sorted(files) and len(flat) == len(set(flat))
    assert shards == shard.assign(list(reversed(files)), n, durations)  # order given doesn't matter


@given(st.text(max_size=12))
def test_shard_spec_parses_or_says_why(text):
    try:
        k, n = shard.parse_shard(text)
    except InputError as exc:
        assert "--shard" in str(exc)
    else:
        assert 1 <= k <= n


def test_durations_balance_the_shards():
    durations = {"long.yml": 60.0, "a.yml": 10.0, "b.yml": 10.0, "c.yml": 10.0, "d.yml": 10.0,
                 "e.yml": 10.0, "f.yml": 10.0}
    shards = shard.assign(list(durations), 2, durations)
    assert sorted(map(sorted, shards)) == [["a.yml", "b.yml", "c.yml", "d.yml", "e.yml", "f.yml"], ["long.yml"]]
    # without durations: round-robin by name (long.yml lands with three others)
    assert len(shard.assign(list(durations), 2)[0]) == 4


def test_shards_of_the_shipped_scenarios_cover_each_once(tmp_path):
    files = shard.expand([REPO / "scenarios"])
    assert len(files) >= 8
    one, two = shard.select(files, 1, 2), shard.select(files, 2, 2)
    assert sorted(one + two) == sorted(files) and not set(one) & set(two)
    report = [{"file": str(f), "duration_s": 1.0 + i} for i, f in enumerate(files)]
    (tmp_path / "prev.json").write_text(json.dumps(report))
    d = shard.load_durations(tmp_path / "prev.json")
    one, two = shard.select(files, 1, 2, d), shard.select(files, 2, 2, d)
    assert sorted(one + two) == sorted(files) and not set(one) & set(two)
    total = [sum(d[shard.key(f)] for f in s) for s in (one, two)]
    assert abs(total[0] - total[1]) <= max(d.values())


def test_shard_on_the_command_line_validates_only(tmp_path):
    res = run_labsim("run", "scenarios/", "--shard", "3/2")
    assert res.returncode == 2 and "--shard" in res.stderr
    res = run_labsim("run", "scenarios/", "--shard", "1/2", "--durations", str(tmp_path / "none.json"))
    assert res.returncode == 2 and "cannot read file" in res.stderr


def test_a_bad_file_with_jobs_exits_2_and_the_started_workers_go(tmp_path, monkeypatch):
    """-j starts its workers while the files are checked; a bad file still means exit 2,
    nothing created, and no worker left behind (they made nothing)."""
    import multiprocessing

    from labsim.runtime import state

    monkeypatch.setattr(state, "RUN_DIR", tmp_path / "run")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\ntopology: nope.yml\nsteps: []\n")
    res = run_labsim("run", "-j", "2", str(bad), "scenarios/non-caching-cdn.yml")
    assert res.returncode == 2 and "bad.yml:2: topology" in res.stderr, res.stderr
    assert not (tmp_path / "run").exists()
    assert multiprocessing.active_children() == []


def _junit(suites: list[tuple[str, int, int]]) -> str:
    root = ET.Element("testsuites", name="labsim")
    for name, tests, failures in suites:
        s = ET.SubElement(root, "testsuite", name=name, tests=str(tests), failures=str(failures),
                          errors="0", time="1.500")
        for i in range(tests):
            case = ET.SubElement(s, "testcase", classname=f"labsim.{name}", name=str(i))
            if i < failures:
                ET.SubElement(case, "failure", message="x")
    return ET.tostring(root, encoding="unicode")


def test_merge_sums_junit_and_concatenates_json(tmp_path):
    (tmp_path / "1.xml").write_text(_junit([("a", 3, 1), ("b", 2, 0)]))
    (tmp_path / "2.xml").write_text(_junit([("c", 4, 2)]))
    (tmp_path / "1.json").write_text(json.dumps([{"name": "a", "passed": False}, {"name": "b", "passed": True}]))
    (tmp_path / "2.json").write_text(json.dumps([{"name": "c", "passed": False}]))
    res = run_labsim("merge", *(str(tmp_path / f) for f in ("1.json", "2.json", "1.xml", "2.xml")),
                     "--json", str(tmp_path / "all.json"), "--junit", str(tmp_path / "all.xml"))
    assert res.returncode == 1, res.stderr  # something failed
    root = ET.parse(tmp_path / "all.xml").getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == ["a", "b", "c"]
    assert (root.get("tests"), root.get("failures")) == ("9", "3")
    assert len(root.findall("testsuite/testcase")) == 9 and len(root.findall(".//failure")) == 3
    assert [r["name"] for r in json.loads((tmp_path / "all.json").read_text())] == ["a", "b", "c"]


def test_merge_of_passing_shards_exits_0_and_rejects_junk(tmp_path):
    (tmp_path / "1.xml").write_text(_junit([("a", 1, 0)]))
    (tmp_path / "2.xml").write_text("<html/>")
    assert run_labsim("merge", str(tmp_path / "1.xml")).returncode == 0
    res = run_labsim("merge", str(tmp_path / "1.xml"), str(tmp_path / "2.xml"))
    assert res.returncode == 2 and "not JUnit" in res.stderr
    (tmp_path / "x.json").write_text('{"no": "results"}')
    assert run_labsim("merge", str(tmp_path / "x.json")).returncode == 2
    assert merge.merge_json([]) == []


def test_merge_refuses_the_same_report_twice_and_an_output_without_inputs(tmp_path):
    """`merge a.json a.json` gave double totals; a copy under another name, or the same
    scenario of the same lab in two files, is the same result counted twice: exit 2, nothing
    written. `--junit` with no JUnit input says so instead of writing nothing."""
    rows = [{"name": "a", "lab": "run-1a2b", "passed": True}]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "copy.json").write_text(json.dumps(rows))
    (tmp_path / "other.json").write_text(json.dumps(rows, indent=1))  # same result, other bytes
    (tmp_path / "a.xml").write_text(_junit([("a", 1, 0)]))
    (tmp_path / "b.xml").write_text(_junit([("a", 1, 0)]))
    for pair, said in ((("a.json", "a.json"), "given twice"), (("a.json", "copy.json"), "the same report"),
                       (("a.json", "other.json"), "counted twice"), (("a.xml", "b.xml"), "the same report")):
        out = "--junit" if pair[0].endswith(".xml") else "--json"
        res = run_labsim("merge", *(str(tmp_path / f) for f in pair), out, str(tmp_path / "merged"))
        assert res.returncode == 2 and said in res.stderr, (pair, res.stderr)
        assert not (tmp_path / "merged").exists()
    res = run_labsim("merge", str(tmp_path / "a.json"), "--junit", str(tmp_path / "m.xml"))
    assert res.returncode == 2 and "--junit: no JUnit input" in res.stderr
    assert not (tmp_path / "m.xml").exists()
    # two runs of one scenario (two labs) are two results
    (tmp_path / "run2.json").write_text(json.dumps([{"name": "a", "lab": "run-3c4d", "passed": True}]))
    res = run_labsim("merge", str(tmp_path / "a.json"), str(tmp_path / "run2.json"))
    assert res.returncode == 0 and "2 passed" in res.stdout
