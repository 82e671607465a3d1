"""`labsim bench resolvers`: comparison files checked before anything runs (exit 2 with the
line), and the shipped comparison's medians in the order the mechanisms dictate."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO, run_labsim
from labsim.errors import InputError
from labsim.measure.compare import load_comparison
from labsim.measure.stats import Series, percentile, summarize

HEAD = "name: t\ntopology: {topo}\nfrom: client\nvariants:\n"


def comparison(tmp_path, variants: str):
    f = tmp_path / "c.yml"
    f.write_text(HEAD.format(topo=REPO / "topologies" / "resolution.yml") + variants)
    return f


@pytest.mark.parametrize("variants, line, fragment", [
    ("  a: {cont: 5}\n", 5, "unknown field 'cont'"),
    ("  a: {from: laptop}\n", 5, "no node 'laptop'"),
    ("  a: {nodes: {nosuch: {impair: {loss: 0.1}}}}\n", 5, "no node 'nosuch'"),
    ("  ok: {}\n  b: {nodes: {ns: {impair: {loss: 2}}}}\n", 6, "makes the topology invalid"),
])
def test_a_wrong_comparison_file_names_the_line(tmp_path, variants, line, fragment):
    f = comparison(tmp_path, variants)
    with pytest.raises(InputError) as info:
        load_comparison(f)
    assert info.value.line == line and fragment in str(info.value)
    res = run_labsim("bench", "resolvers", str(f))
    assert res.returncode == 2 and f"{f}:{line}" in res.stderr


def test_statistics_are_nearest_rank():
    s = Series()
    for i in range(1, 101):
        s.add(float(i))
    s.add(5000.0, "EAI_AGAIN")
    st = summarize(s)
    assert (st.count, st.failures, st.p50, st.p90, st.p99, st.max, st.min) == (101, {"EAI_AGAIN": 1}, 50, 90, 99, 100, 1)
    assert percentile([], 50) is None
