"""`labsim bench resolvers`: comparison files checked before anything runs (exit 2 with the
line), and the shipped comparison's medians in the order the mechanisms dictate."""

from __future__ import annotations


import pytest

from tests.helpers import REPO, run_labsim
from labsim.errors import InputError
from labsim.measure.compare import load_comparison
from labsim.checks.stats import Series, percentile, summarize

def cli(*args: str):
    """`labsim ARGS` in this process (a subprocess per case costs a second of imports)."""
    from typer.testing import CliRunner

    from labsim.commands.cli import app

    res = CliRunner().invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


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


@pytest.mark.parametrize("topology, fragment", [
    ("- a\n- b\n", "a topology is a mapping"), ("nodes: [client, ns]\n", "a topology is a mapping"),
    ("name: x\n", "a topology is a mapping"),
])
def test_a_list_shaped_comparison_topology_is_an_input_error(tmp_path, topology, fragment):
    topo = tmp_path / "t.yml"
    topo.write_text(topology)
    f = tmp_path / "c.yml"
    f.write_text(f"name: t\ntopology: {topo}\nvariants:\n  a: {{}}\n")
    with pytest.raises(InputError) as info:
        load_comparison(f)
    assert info.value.file == str(topo) and fragment in info.value.message
    res = cli("bench", "resolvers", str(f))
    assert res.exit_code == 2 and "Traceback" not in res.stderr and str(topo) in res.stderr


@pytest.mark.parametrize("target, fragment", [("/dev/zero", "not a regular file"), ("/etc", "not a regular file"),
                                              ("nope.yml", "cannot read file")])
def test_a_comparison_topology_must_be_a_regular_file(tmp_path, target, fragment):
    f = tmp_path / "c.yml"
    f.write_text(f"name: t\nfrom: client\ntopology: {target}\nvariants:\n  a: {{}}\n")
    with pytest.raises(InputError) as info:
        load_comparison(f)
    assert (info.value.file, info.value.line, info.value.field) == (str(f), 3, "topology")
    assert fragment in info.value.message


@pytest.mark.parametrize("variants, fragment", [
    ('  a: {name: "x\\n$INCLUDE /etc/shadow"}\n', "DNS name"),
    ('  a: {name: "-x.example.test"}\n', "DNS name"),
])
def test_comparison_measure_names_are_dns_names(tmp_path, variants, fragment):
    with pytest.raises(InputError, match=fragment):
        load_comparison(comparison(tmp_path, variants))


def test_validate_checks_comparison_files(tmp_path):
    res = cli("validate", str(REPO / "compare" / "ipv6-only-client.yml"))
    assert res.exit_code == 0 and "valid" in res.stdout
    bad = comparison(tmp_path, "  a: {from: laptop}\n")
    res = cli("validate", str(bad))
    assert res.exit_code == 2 and f"{bad}:5" in res.stderr


def test_every_bad_variant_is_reported_at_once(tmp_path):
    f = comparison(tmp_path, "  a: {from: laptop}\n  ok: {}\n  b: {nodes: {nosuch: {}}}\n")
    with pytest.raises(InputError) as info:
        load_comparison(f)
    assert [(e.line, e.field) for e in info.value.errors] == [(5, "variants.a.from"), (7, "variants.b.nodes.nosuch")]


def test_two_labs_of_one_configuration_plan_identically():
    """The A/A comparison across labs: `lab-2` restates the base topology's own resolver, so it
    gets a lab of its own with the very same plan (nodes, addresses, daemons' settings); twins
    share their lab. What differs between the two labs is only which processes run them."""
    _, plans = load_comparison(REPO / "compare" / "two-labs-one-config.yml")
    by = {p.name: p for p in plans}
    assert by["lab-1"].patch_key == by["lab-1-twin"].patch_key != by["lab-2"].patch_key == by["lab-2-twin"].patch_key
    assert by["lab-1"].lab.topology == by["lab-2"].lab.topology
    assert by["lab-1"].lab.plan == by["lab-2"].lab.plan
    assert by["lab-1"].measure == by["lab-2"].measure and by["lab-1"].node == by["lab-2"].node
