"""`labsim bench resolvers`: comparison files checked before anything runs (exit 2 with the
line), and the shipped comparison's medians in the order the mechanisms dictate."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO, run_labsim
from labsim.measure.compare import load_comparison


@pytest.mark.root
def test_shipped_comparison_orders_the_medians(tmp_path):
    out, html, png = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "r.png"
    res = run_labsim("bench", "resolvers", "compare/ipv6-only-client.yml", "--json", str(out),
                     "--html", str(html), "--png", str(png), timeout=600)
    assert res.returncode == 0, res.stderr
    p50 = {v["name"]: v["stats"]["p50"] for v in json.loads(out.read_text())["variants"]}
    assert p50["good-order"] < 50 and p50["unreachable-noroute"] < 50
    assert p50["good-order"] < p50["upstream-50ms"] < p50["bad-order-timeout1"] < p50["bad-order"]
    assert 100 <= p50["upstream-50ms"] < 500  # two upstream round trips per synthesized answer
    assert 900 <= p50["bad-order-timeout1"] <= 1500 and p50["bad-order"] >= 2000
    for impl in ("unbound", "bind9", "knot", "pdns-recursor"):  # every DNS64 answers cold names fast
        assert p50[f"dns64-{impl}"] < 50, impl
    assert html.read_text().count("<tr>") == len(p50) + 1 and "data:image/png;base64," in html.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for variant in ("good-order", "bad-order", "upstream-50ms"):
        assert variant in res.stdout  # the side-by-side table


@pytest.mark.root
def test_identical_variants_measure_equal_beside_a_cpu_hog():
    """A/A: `good-order` and its twin (the same node, resolver and measurement, under another
    name) measured interleaved while a CPU hog spins beside them: their p50 and p95 ratios
    cover 1. In the same run `upstream-50ms` (a real difference) comes out slower, so the
    intervals are not merely too wide to say anything.

    The twin shares good-order's lab on purpose: two labs of the same configuration are two
    sets of daemons, and once (under the hog, in CI) they read 0.57x [0.50-0.66], never
    reproduced since; the pair across labs is the next test's, which checks the mark the
    report puts on such ratios (README, "Resolution latency")."""
    import dataclasses
    import subprocess
    import sys

    from labsim.commands.bench import run_comparison

    _, plans = load_comparison(REPO / "compare" / "ipv6-only-client.yml")
    by_name = {p.name: p for p in plans}
    slow = by_name["upstream-50ms"]
    slow.measure = slow.measure.model_copy(update={"count": 20})  # ~0.2 s a lookup
    twin = dataclasses.replace(by_name["good-order"], name="good-order-twin")
    chosen = [by_name["good-order"], twin, slow]
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + 300\n"
                            "while time.monotonic() < end: pass"])  # bounded even if never killed
    try:
        results = run_comparison(chosen, baseline="good-order", rounds=10)
    finally:
        hog.kill()
        hog.wait()
    base, same, slower = results
    assert base.stats.count == same.stats.count == 100 and not same.stats.failures
    assert sorted(set(same.rounds)) == list(range(10))  # a slice in every round
    # the report's 95% intervals of an identical pair exclude 1 in about 1 run of 20 per
    # figure, as they should (measured: 5 of 64 under load and a hog): the test asks the same
    # samples for 99.9% intervals, so it fails when the method is biased, not by design
    from labsim.checks.stats import by_round, ratio_ci

    rounds = [by_round(r.samples_ms, r.errors, r.rounds, 10) for r in (base, same)]
    for p in (50, 95):
        ci = ratio_ci(rounds[0], rounds[1], p, level=0.999)
        assert ci.lo <= 1 <= ci.hi, (p, ci)
        assert same.vs_baseline[f"p{p}"]["lo"] <= same.vs_baseline[f"p{p}"]["hi"]
    assert slower.vs_baseline["p50"]["verdict"] == "slower" and slower.vs_baseline["p50"]["lo"] > 1


@pytest.mark.root
def test_two_labs_of_one_configuration_are_measured_and_marked_apart():
    """A/A across labs (compare/two-labs-one-config.yml): the same unbound configuration in two
    labs, a twin in each. Every lookup is made in the lab its variant names (lab numbers in the
    JSON), and the ratios whose baseline ran in the other lab are marked, with the reason under
    the table: two labs are two sets of daemons, and their difference is the machine's
    (README, "Resolution latency"), which interleaving cannot even out."""
    import io

    from rich.console import Console

    from labsim.commands.bench import run_comparison
    from labsim.report import compare as report

    _, plans = load_comparison(REPO / "compare" / "two-labs-one-config.yml")
    results = run_comparison(plans, rounds=5, lab_prefix="aa")  # "aa": an A/A pair
    by = {r.name: r for r in results}
    assert [by[n].lab for n in ("lab-1", "lab-1-twin", "lab-2", "lab-2-twin")] == [1, 1, 2, 2]
    assert [by[n].baseline_in_other_lab for n in ("lab-1", "lab-1-twin", "lab-2", "lab-2-twin")] == \
        [False, False, True, True]
    for r in results:
        assert r.stats.count == 100 and not r.stats.failures, (r.name, r.stats.failures)
        assert sorted(set(r.rounds)) == list(range(5))
        assert r.lab_cpu_wait_us is not None and r.lab_cpu_wait_us >= 0  # the lab's daemons ran
    assert by["lab-1"].lab_cpu_wait_us == by["lab-1-twin"].lab_cpu_wait_us  # one lab, one figure
    out = io.StringIO()
    report.render_table("two-labs-one-config", results, Console(file=out, width=250))
    lines = out.getvalue().splitlines()
    assert not any("†" in line for line in lines if "lab-1-twin" in line)
    across = [line for line in lines if line.lstrip("│ ").startswith("lab-2")]
    assert len(across) == 2 and all(line.count("†") == 2 for line in across), across  # p50 and p95
    assert "†: measured in another lab than lab-1" in out.getvalue()
    assert "per timeslice: lab 1 " in out.getvalue() and "; lab 2 " in out.getvalue()
