"""Tier 1, what makes the shipped suite fast without changing what it shows: `-j N` starts
the longest expected scenario first (estimated from the file alone), results stay in the
files' order; `measure` takes `concurrency` (checked at load time); a scenario-long pcap
ring is cut into per-step pcaps by time (records copied as written, bounded)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.errors import InputError
from labsim.scaleout import estimate
from labsim.scaleout.parallel import start_order
from labsim.scenario.load import load_scenario
from labsim.scenario.model import Scenario
from labsim.scenario.pcapslice import Window, records, slice_windows
from labsim.scaleout.shard import expand
from tests.helpers import REPO
from tests.unit.test_scenario_inputs import scenario

# -- scheduling -------------------------------------------------------------------------


def steps_of(*raw: dict) -> Scenario:
    return Scenario.model_validate({"name": "s", "topology": "t.yml", "steps": list(raw)})


def test_declared_waits_make_a_scenario_longer():
    quick = steps_of({"http": {"from": "c", "url": "http://a.test/"}, "expect": {"status": 200}})
    timeout = steps_of({"http": {"from": "c", "url": "http://a.test/", "timeout": 4},
                        "expect": {"reason": "CONNECT_TIMEOUT"}})
    series = steps_of({"measure": {"from": "c", "name": "n{i}.a.test", "count": 6},
                       "expect": {"p50_min_ms": 2000}})
    together = steps_of({"measure": {"from": "c", "name": "n{i}.a.test", "count": 6, "concurrency": 3},
                         "expect": {"p50_min_ms": 2000}})
    s = {k: estimate.scenario_s(v, nodes=3) for k, v in
         {"quick": quick, "timeout": timeout, "series": series, "together": together}.items()}
    assert s["quick"] < 1 and s["timeout"] >= 4 and s["series"] >= 12
    assert s["together"] == pytest.approx(s["series"] - 8)  # 2 rounds of 2 s instead of 6


@given(st.lists(st.floats(0, 1000, allow_nan=False), max_size=40))
def test_longest_first_is_a_permutation_longest_first_ties_in_order(costs):
    order = estimate.longest_first(costs)
    assert sorted(order) == list(range(len(costs)))
    for a, b in zip(order, order[1:]):
        assert costs[a] > costs[b] or (costs[a] == costs[b] and a < b)


def test_the_shipped_suite_starts_with_its_longest_scenario():
    files = expand([REPO / "scenarios"])
    loaded = [load_scenario(f) for f in files]
    first = loaded[start_order(loaded)[0]].scenario.name
    assert first == "slow-resolution-ipv4-nameserver-first"  # the resolver timeouts it measures


# -- measure concurrency ----------------------------------------------------------------

MEASURE = '  - measure: {{from: client, name: "n{{i}}.example.test", {extra}}}\n'


@pytest.mark.parametrize("extra, fragment", [
    ("count: 3, concurrency: 3, gap_ms: 100", "concurrency and gap_ms exclude each other"),
    ("count: 2, concurrency: 3", "concurrency 3 is more than count 2"),
    ("count: 3, concurrency: 3, via: dnsperf, server: ns", "concurrency is for via: libc"),
    ("count: 3, concurrency: 0", "greater than or equal to 1"),
    ("count: 99, concurrency: 33", "less than or equal to 32"),
    ("count: 3, concurrency: two", "integer"),
])
def test_measure_concurrency_is_checked_at_load(tmp_path, extra, fragment):
    with pytest.raises(InputError) as info:
        load_scenario(scenario(tmp_path, MEASURE.format(extra=extra)))
    assert info.value.line == 9 and fragment in str(info.value), info.value


@settings(max_examples=60, deadline=None)
@given(count=st.integers(-2, 40), conc=st.integers(-2, 40), gap=st.sampled_from([0, 0.0, 5]),
       via=st.sampled_from(["libc", "dnspython"]))
def test_measure_concurrency_loads_or_says_why(tmp_path_factory, count, conc, gap, via):
    f = scenario(tmp_path_factory.mktemp("m"), MEASURE.format(
        extra=f"count: {count}, concurrency: {conc}, gap_ms: {gap}, via: {via}, server: ns"))
    valid = 1 <= count and 1 <= conc <= 32 and (conc == 1 or (via == "libc" and not gap and conc <= count))
    try:
        spec = load_scenario(f).scenario.steps[0].spec
    except InputError as exc:
        assert not valid and exc.line == 9 and ("concurrency" in str(exc) or "count" in str(exc)), exc
    else:
        assert valid and spec.concurrency == conc


# -- pcap slicing -----------------------------------------------------------------------

HEAD = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262, 276)  # LINUX_SLL2, microseconds


def pcap(path, stamps: list[float]) -> None:
    with open(path, "wb") as f:
        f.write(HEAD)
        for i, ts in enumerate(stamps):
            data = i.to_bytes(4, "big") * 5
            sec, usec = int(ts), round((ts - int(ts)) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


def read(path) -> list[float]:
    with open(path, "rb") as f:
        return [round(ts, 6) for ts, _ in records(f)]


@settings(max_examples=80, deadline=None)
@given(stamps=st.lists(st.integers(0, 10_000_000), max_size=60).map(sorted),
       split=st.integers(0, 60), windows=st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(0, 3_000_000)),
                                                   min_size=1, max_size=4),
       bound=st.integers(0, 30))
def test_a_window_holds_exactly_its_packets_in_order_bounded(tmp_path_factory, stamps, split, windows, bound):
    d = tmp_path_factory.mktemp("ring")
    ts = [1_700_000_000 + s / 1e6 for s in stamps]
    # a ring: the newer half in the file numbered first, as after tcpdump wrapped around
    pcap(d / "n.pcap0", ts[split:])
    pcap(d / "n.pcap1", ts[:split])
    ws = [Window(1_700_000_000 + a / 1e6, 1_700_000_000 + (a + n) / 1e6, d / f"w{i}.pcap")
          for i, (a, n) in enumerate(windows)]
    slice_windows([d / "n.pcap0", d / "n.pcap1"], ws, bound)
    for w in ws:
        inside = [round(t, 6) for t in ts if w.start <= t <= w.end]
        assert read(w.out) == inside[:bound] and w.dropped == max(0, len(inside) - bound)
        assert w.out.read_bytes()[:24] == HEAD


def test_a_torn_last_record_is_left_out(tmp_path):
    pcap(tmp_path / "n.pcap0", [10.0, 11.0, 12.0])
    raw = (tmp_path / "n.pcap0").read_bytes()
    (tmp_path / "n.pcap0").write_bytes(raw[:-7])  # tcpdump killed mid-write
    (tmp_path / "n.pcap1").write_bytes(b"")  # a ring file tcpdump has only just opened
    w = Window(0, 100, tmp_path / "out.pcap")
    slice_windows([tmp_path / "n.pcap0", tmp_path / "n.pcap1"], [w], 100)
    assert read(w.out) == [10.0, 11.0]


def test_a_window_older_than_a_wrapped_ring_says_it_was_clipped(tmp_path):
    pcap(tmp_path / "n.pcap0", [20.0, 21.0])
    pcap(tmp_path / "n.pcap1", [10.0, 11.0])
    early, late = Window(5.0, 30.0, tmp_path / "a.pcap"), Window(10.5, 30.0, tmp_path / "b.pcap")
    slice_windows([tmp_path / "n.pcap0", tmp_path / "n.pcap1"], [early, late], 100, wrapped=True)
    assert early.clipped and not late.clipped and read(early.out) == [10.0, 11.0, 20.0, 21.0]
    unwrapped = Window(5.0, 30.0, tmp_path / "c.pcap")
    slice_windows([tmp_path / "n.pcap0", tmp_path / "n.pcap1"], [unwrapped], 100)
    assert not unwrapped.clipped
