"""Comparisons that hold on a noisy machine: interleaved rounds, ratios to a baseline with a
bootstrap interval, "no difference" when it covers 1; the report's words and line styles."""

from __future__ import annotations

import json
import random
from html import escape as html_escape

from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.measure.compare import VariantResult
from labsim.checks.stats import Stats, RatioCI, by_round, percentile, ratio_ci, slices
from labsim.report import compare as report


def rounds_of(rng: random.Random, load: list[float], per_round: int, scale: float = 1.0) -> list[list[float]]:
    """Latencies of one variant: each round's machine load multiplies a noisy base cost."""
    return [[scale * m * rng.lognormvariate(0, 0.3) for _ in range(per_round)] for m in load]


def test_identical_variants_under_drifting_load_show_no_difference():
    rng = random.Random(1)
    load = [1, 1, 3, 3, 1, 8, 1, 1, 2, 1]  # a CPU hog comes and goes between rounds
    a, b = rounds_of(rng, load, 10), rounds_of(rng, load, 10)
    for p in (50, 95):
        ci = ratio_ci(a, b, p, seed=3)
        assert ci.lo <= 1 <= ci.hi and ci.verdict == "no difference", ci


def test_measured_one_after_the_other_the_same_variants_look_different():
    """Why rounds are interleaved: the same two variants, the first measured in the quiet
    half, the second in the loaded half, would be called different."""
    rng = random.Random(1)
    quiet, loaded = rounds_of(rng, [1] * 5, 20), rounds_of(rng, [3] * 5, 20)
    ci = ratio_ci(quiet, loaded, 50, seed=3)
    assert ci.lo > 1 and ci.verdict == "slower"


def test_a_real_difference_is_found_with_its_size():
    rng = random.Random(2)
    load = [1, 2, 1, 1, 4, 1, 1, 1, 2, 1]
    base, slow = rounds_of(rng, load, 10), rounds_of(rng, load, 10, scale=2.0)
    ci = ratio_ci(base, slow, 50, seed=0)
    assert ci.verdict == "slower" and 1.5 < ci.ratio < 2.7 and ci.lo < ci.ratio < ci.hi
    fast = ratio_ci(slow, base, 95, seed=0)
    assert fast.verdict == "faster" and fast.hi < 1 and fast.stat == "p95"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(0.01, 1000), min_size=1, max_size=8), min_size=1, max_size=6),
       st.floats(0.1, 10), st.sampled_from([50, 95]))
def test_the_ratio_is_the_ratio_of_the_percentiles(base, k, p):
    other = [[m * k for m in r] for r in base]
    ci = ratio_ci(base, other, p, reps=50)
    flat = sorted(m for r in base for m in r)
    assert abs(ci.ratio - percentile(sorted(m * k for m in flat), p) / percentile(flat, p)) < 1e-9
    assert ci.lo <= ci.hi


def test_nothing_to_compare_is_none_not_a_number():
    assert ratio_ci([[], []], [[1.0], [2.0]], 50) is None
    assert RatioCI("p50", 1.3, 1.1, 1.6, 0.95).verdict == "slower"
    assert RatioCI("p50", 0.9, 0.7, 1.0, 0.95).verdict == "no difference"


def test_failed_samples_stay_out_of_the_rounds():
    assert by_round([1.0, 2000.0, 3.0, 4.0], [None, "EAI_AGAIN", None, None], [0, 0, 2, 2], 3) == [[1.0], [], [3.0, 4.0]]


@given(st.integers(1, 100000), st.integers(1, 1000))
def test_slices_share_out_every_sample_evenly(count, rounds):
    got = slices(count, rounds)
    assert len(got) == rounds and sum(got) == count
    assert max(got) - min(got) <= 1


def test_few_samples_are_spread_over_the_rounds():
    assert slices(5, 10) == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]


def result(i: int, name: str, patch=None, ratio=None) -> VariantResult:
    ms = [float(i + 1 + k) for k in range(20)]
    return VariantResult(name, "client", "" if i else "the working IPv6 resolver only.",
                         Stats(count=20, failures={}, min=1, p50=ms[9], p90=1, p95=ms[18], p99=1, max=1, mean=1),
                         ms, [None] * 20, {"name": "n{i}.test", "count": 20, "gap_ms": 1100.0, "max_seconds": 30.0},
                         patch or {}, baseline="v0", vs_baseline={"p50": ratio, "p95": None} if ratio else {})


def test_every_line_in_the_plot_is_told_apart_past_ten_variants():
    results = [result(i, f"v{i}") for i in range(14)]
    fig = report.figure("t", results)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 14
    looks = {(line.get_color(), line.get_linestyle()) for line in lines}
    assert len(looks) == 14


def test_variants_are_described_in_words():
    r = result(1, "rotate", patch={"client-dropped": {"resolver": {"options": ["timeout:2", "rotate"]}}})
    text = report.describe(r)
    assert '{"' not in text and '":' not in text and "[" not in text  # no JSON
    assert "on node client-dropped: resolver set to options timeout:2, rotate" in text
    assert "20 lookups" in text and "1100 ms apart" in text
    assert "base topology unchanged" in report.describe(result(0, "v0"))
    html = report.to_html("t", "d", [result(0, "v0"), r], b"")
    assert "{&quot;" not in html and "options timeout:2, rotate" in html


def test_the_table_says_no_difference_when_the_interval_covers_one():
    same = RatioCI("p50", 1.04, 0.93, 1.12, 0.95).to_dict()
    slower = RatioCI("p50", 2.0, 1.7, 2.4, 0.95).to_dict()
    assert report.ratio_text(result(1, "a", ratio=same), "p50") == "1.04× [0.93–1.12] no difference"
    assert report.ratio_text(result(1, "b", ratio=slower), "p50") == "2.00× [1.70–2.40] slower than v0"
    assert report.ratio_text(result(0, "v0"), "p50") == "baseline"
    assert report.ratio_text(result(1, "c", ratio=same), "p95") == "—"


def test_a_ratio_across_labs_is_marked_and_the_table_says_why():
    """Two labs are two sets of daemons: a ratio whose baseline ran in another lab carries that
    difference too, so the table marks it and explains the mark once; one lab: no mark, no note."""
    same = RatioCI("p50", 1.04, 0.93, 1.12, 0.95).to_dict()
    across = result(1, "lab-2", ratio=same)
    across.baseline_in_other_lab, across.lab = True, 2
    assert report.ratio_text(across, "p50") == "1.04× [0.93–1.12] no difference †"
    assert report.ratio_text(result(1, "twin", ratio=same), "p50") == "1.04× [0.93–1.12] no difference"
    assert report.other_lab_note([result(0, "v0"), result(1, "twin", ratio=same)]) == ""
    note = report.other_lab_note([result(0, "v0"), across])
    assert note.startswith("†: measured in another lab than v0")
    assert html_escape(note) in report.to_html("t", "d", [result(0, "v0"), across], b"")


def test_a_slice_whose_agent_gave_nothing_counts_as_failed_lookups():
    """A slice whose measuring agent failed (exit 1, no JSON) shows as TOOL_ERROR failures in
    its round, never as lookups that silently were not made."""
    from labsim.commands.bench import _measure
    from labsim.measure.compare import Measure, VariantPlan
    from labsim.runtime.fake import Reply
    from tests.unit.scripted import env_for, handler

    calls = []

    def agent(call):
        calls.append(call)
        if len(calls) == 2:
            return Reply("", "Traceback: killed", 1)
        n = int(call.argv[call.argv.index("--count") + 1])
        return Reply(json.dumps({"samples": [{"ms": 0.2, "error": None}] * n, "requested": n}))

    env, _ = env_for(lambda call: agent(call) if "labsim.node.agent" in call.argv else handler()(call))
    plan = VariantPlan("a", "client", Measure(count=12), None, "{}")  # type: ignore[arg-type]
    series, rounds = _measure([plan], {"{}": env}, 3, 0, lambda msg, n: None)["a"]
    assert len(series.ms) == 12 and rounds == [0] * 4 + [1] * 4 + [2] * 4
    assert series.errors == [None] * 4 + ["TOOL_ERROR"] * 4 + [None] * 4


def test_a_labs_cpu_wait_is_read_from_its_live_processes_only():
    """The kernel's per-thread schedstat of the recorded processes: this process has run and
    waited; a recorded PID whose start time is not the live one's is someone else's."""
    import os
    import threading

    from labsim.measure.sched import CpuWait, cpu_wait
    from labsim.runtime.state import process_start_time

    me = {"pid": os.getpid(), "start": process_start_time(os.getpid())}
    first = cpu_wait([me])
    assert first is not None and first.slices > 0 and first.wait_ns >= 0
    worker = threading.Thread(target=lambda: sum(range(200000)))
    worker.start()
    worker.join()
    assert cpu_wait([{**me, "start": me["start"] + 1}]) is None
    assert cpu_wait([{"pid": "1; rm"}, {"node": "x"}]) is None  # nothing readable: no figure
    later = cpu_wait([me])
    assert later.slices >= first.slices and later.wait_ns >= first.wait_ns
    assert CpuWait(3000, 2).per_slice_us() == 1.5 and CpuWait(5, 0).per_slice_us() is None


def test_the_mark_across_labs_gives_each_labs_cpu_wait():
    same = RatioCI("p50", 1.47, 1.04, 3.50, 0.95).to_dict()
    base, across = result(0, "v0"), result(1, "lab-2", ratio=same)
    base.lab_cpu_wait_us, across.lab, across.baseline_in_other_lab, across.lab_cpu_wait_us = 64.0, 2, True, 208.5
    note = report.other_lab_note([base, across])
    assert note.endswith("Each lab's daemons waited for a CPU, per timeslice: lab 1 64 µs; lab 2 208.5 µs.")
    across.lab_cpu_wait_us = base.lab_cpu_wait_us = None  # unreadable: the note without figures
    assert "waited" not in report.other_lab_note([base, across])
