"""Tier 1: what `up` and `run` would fail on, `validate` refuses first (file:line, exit 2).

Every scenario action type against every node of a lab holding every kind, and mutated
topology fields, go through both paths: the loader (what `labsim validate` and the loader
`up`/`run` use first), then the pure part of what `up` and each action do when run (the
kinds' renderers, the lab CA issuing each certificate, the nft rules an action writes, the
model change an action makes and the zone files re-rendered from it). Accepted by the loader
means the run path cannot fail on the input; refused means an InputError with a line.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labsim.bringup.impair import drop_script, loss_rules
from labsim.bringup.labca import LabCA
from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import LoadedLab, load_lab_text
from labsim.model.plan import Plan
from labsim.scenario import model as m
from labsim.scenario.load import load_scenario

LABSIM = str(Path(sys.executable).with_name("labsim"))

TOPOLOGY: dict = {
    "nat64_prefix": "2001:db8:64::/96",
    "networks": {"lan": {"ipv6": "2001:db8:7::/64", "ipv4": "192.0.2.0/24"},
                 "v6": {"ipv6": "2001:db8:8::/64"}, "v4": {"ipv4": "198.51.100.0/24"}},
    "nodes": {
        "client": {"kind": "client", "links": ["lan"]},
        "client6": {"kind": "client", "links": ["v6"]},
        "web": {"kind": "backend", "links": ["lan"], "names": ["www.example.test"]},
        "plain": {"kind": "backend", "links": ["v4"], "https_port": None},
        "edge": {"kind": "cdn", "links": ["lan"], "origin": "web", "tls_names": ["edge.example.test"]},
        "api": {"kind": "cloudapi", "links": ["lan"], "names": ["s3.example.test"]},
        "ns": {"kind": "authdns", "links": ["lan"],
               "zones": {"example.test": {"records": {"mail": {"A": "192.0.2.25"},
                                                      "alias": {"CNAME": "mail"}}}}},
        "rtr": {"kind": "router", "links": ["lan", "v6"],
                "ra": {"networks": ["v6"], "pref64": {"lifetime": 1800}}},
        "rtr2": {"kind": "router", "links": ["v6", "v4"], "ra": {"networks": ["v6"]}},
        "bare": {"kind": "router", "links": ["lan", "v4"]},
        "nat64": {"kind": "nat64", "links": ["lan", "v4"], "pool4": "198.18.0.0/24"},
    },
}
NODES = sorted(TOPOLOGY["nodes"])


def write_scenario(tmp: Path, steps: list, topology: dict | None = None) -> Path:
    f = tmp / "s.yml"
    f.write_text(yaml.safe_dump({"name": "t", "topology": topology or TOPOLOGY, "steps": steps},
                                sort_keys=False))
    return f


_CA: list[LabCA] = []


def lab_ca() -> LabCA:
    if not _CA:
        _CA.append(LabCA.create("h"))
    return _CA[0]


def _ctx(plan: Plan, node: str) -> NodeContext:
    return NodeContext(plan, plan.nodes[node], plan.topology.nodes[node], dir=f"/labsim/{node}")


def up_dry_run(plan: Plan, nodes: list[str] | None = None) -> None:
    """What `up` computes for each node before it writes or runs anything (bringup.lab
    _node_services), with the certificate really issued."""
    for name in nodes or list(plan.nodes):
        kind = registry.get(plan.nodes[name].kind)
        ctx = _ctx(plan, name)
        kind.render(ctx)
        tls = kind.tls(ctx)
        if tls is not None:
            lab_ca().issue(tls.names)
        loss_rules(plan.topology.nodes[name], plan.nodes[name])
        kind.setup(ctx)
        kind.services(ctx)
        kind.probes(ctx)


def run_dry_run(plan: Plan, kind: str, a) -> Plan:
    """The pure part of scenario.actions.<kind> (what it computes before it execs), in the
    same order; returns the plan as the action leaves it."""
    authdns = [n for n, p in plan.nodes.items() if p.kind == "authdns"]
    if kind in ("stop", "start") and a.service is not None:
        names = [s.name for s in registry.get(plan.nodes[a.node].kind).services(_ctx(plan, a.node))]
        assert a.service in names, f"{a.service} not among {names}"  # else it would stop/start nothing
    elif kind == "move_address":
        plan = m.with_address(plan, a)[0]
        up_dry_run(plan, authdns)
    elif kind == "set_record":
        plan = Plan(**{**plan.__dict__, "topology": m.with_record(plan, a)})
        up_dry_run(plan, authdns)
    elif kind == "drop":
        if a.icmp:
            m.icmp_rules(plan, a)
        else:
            drop_script(m.networks_of(plan, a.to), m.networks_of(plan, a.source), a.proto, a.port)
    elif kind == "set_pref64":
        files = registry.get(plan.nodes[a.node].kind).render(_ctx(plan, a.node))
        assert "pref64.json" in files  # ra.change_pref64 rewrites it: without it, OSError
    elif kind == "reissue_cert":
        plan = Plan(**{**plan.__dict__, "topology": m.with_cert_names(plan.topology, a)})
        assert registry.get(plan.nodes[a.node].kind).tls(_ctx(plan, a.node)) is not None
        lab_ca().issue(list(a.names))
        up_dry_run(plan, [a.node])
    return plan


# every action type with the parameter variants that matter; {node} is the target
ACTION_VARIANTS: dict[str, list[dict]] = {
    "stop": [{}, {"service": "echo"}, {"service": "radvd"}, {"what": "links"}],
    "start": [{}, {"service": "pref64"}, {"service": "nginx"}, {"what": "links"}],
    "move_address": [{"network": "lan", "to": "2001:db8:7::99"}, {"network": "lan", "to": "192.0.2.99"},
                     {"network": "v6", "to": "2001:db8:8::99"}, {"network": "v4", "to": "198.51.100.99"},
                     {"network": "lan", "to": "2001:db8:7::2"}],
    "set_record": [{"name": "mail.example.test", "type": "CNAME", "values": ["{node}.example.test"]},
                   {"name": "www.example.test", "type": "CNAME", "values": ["mail"]},
                   {"name": "example.test", "type": "CNAME", "values": ["mail"]},
                   {"name": "new.example.test", "type": "AAAA", "values": ["{node}"]},
                   {"name": "alias.example.test", "type": "A", "values": ["{node}"]},
                   {"name": "alias.example.test", "type": "CNAME", "values": ["{node}"]},
                   {"name": "lb.example.test", "type": "A", "weights": {"{node}": 1}},
                   {"name": "new2.example.test", "type": "CNAME", "values": ["{node}.example.test"]},
                   {"name": "mail.example.test", "type": "A", "values": ["{node}"]}],
    "drop": [{"to": "{node}"}, {"from": "{node}", "proto": "tcp", "port": 443},
             {"icmp": ["packet-too-big"], "to": "{node}"}, {"icmp": ["frag-needed"], "from": "{node}"},
             {"icmp": ["packet-too-big", "frag-needed"]}, {"icmp": ["packet-too-big"], "to": "192.0.2.9"}],
    "undrop": [{}],
    "set_pref64": [{"lifetime": 0}, {"prefix": "2001:db8:64::/96"}],
    "reissue_cert": [{"names": ["www.example.test"]}, {"names": ["10.0.0.1", "*.example.test"]}],
    "clamp_mss": [{"mss": 1200}, {"mss": None}],
}


def test_every_action_type_is_covered_and_the_lab_loads(tmp_path):
    assert set(ACTION_VARIANTS) == set(m.ACTIONS)
    loaded = load_scenario(write_scenario(tmp_path, [{"undrop": "client"}]))
    assert {p.kind for p in loaded.lab.plan.nodes.values()} >= {"backend", "cdn", "cloudapi", "authdns", "router"}
    up_dry_run(loaded.lab.plan)


def _fill(value, node: str):
    if isinstance(value, str):
        return value.replace("{node}", node)
    if isinstance(value, list):
        return [_fill(v, node) for v in value]
    if isinstance(value, dict):
        return {_fill(k, node): _fill(v, node) for k, v in value.items()}
    return value


# variants no node of this lab can take (each refusal is asserted to carry a line)
ALWAYS_REFUSED = {("stop", 2), ("start", 2), ("move_address", 4), ("set_record", 0), ("set_record", 1),
                  ("set_record", 2), ("set_record", 4),
                  ("drop", 5), ("reissue_cert", 1)}
STEPS = [(kind, i) for kind, variants in ACTION_VARIANTS.items() for i in range(len(variants))]


def _one_step(tmp: Path, kind: str, i: int, node: str) -> bool:
    params = {"node": node, **_fill(ACTION_VARIANTS[kind][i], node)}
    if kind == "set_record":
        params.pop("node")
    f = write_scenario(tmp, [{kind: params}])
    try:
        loaded = load_scenario(f)
    except InputError as exc:
        assert exc.file == str(f) and exc.line is not None, str(exc)
        assert "topology" not in (exc.field or "") and "nat64_prefix" not in str(exc), str(exc)
        return False
    run_dry_run(loaded.lab.plan, kind, loaded.scenario.steps[0].spec)
    return True


@pytest.mark.parametrize("kind,i", STEPS, ids=[f"{k}-{i}" for k, i in STEPS])
def test_an_action_the_loader_accepts_runs_on_every_node(tmp_path, kind, i):
    accepted = [node for node in NODES if _one_step(tmp_path, kind, i, node)]
    assert accepted or (kind, i) in ALWAYS_REFUSED, "every node refused: the case tests nothing"


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(STEPS), st.sampled_from(NODES)), min_size=2, max_size=4))
@example([(("set_record", 3), "web"), (("set_record", 5), "mail")])  # CNAME beside an earlier record
def test_a_sequence_of_actions_the_loader_accepts_runs(tmp_path_factory, seq):
    """Actions change the lab for the steps after them: the loader checks each against the
    lab as the steps before it left it."""
    tmp = tmp_path_factory.mktemp("seq")
    steps = []
    for (kind, i), node in seq:
        params = {"node": node, **_fill(ACTION_VARIANTS[kind][i], node)}
        if kind == "set_record":
            params.pop("node")
        steps.append({kind: params})
    f = write_scenario(tmp, steps)
    try:
        loaded = load_scenario(f)
    except InputError as exc:
        assert exc.line is not None, str(exc)
        return
    plan = loaded.lab.plan
    for step in loaded.scenario.steps:
        plan = run_dry_run(plan, step.kind, step.spec)


# -- the cases the issue names, each refused at its line ------------------------------------------
def _refused(tmp: Path, steps: list, topology: dict | None = None, *, words: str) -> InputError:
    f = write_scenario(tmp, steps, topology)
    with pytest.raises(InputError) as info:
        load_scenario(f)
    assert info.value.line is not None and words in str(info.value), str(info.value)
    return info.value


def test_set_pref64_on_a_router_that_sends_none_is_refused(tmp_path):
    _refused(tmp_path, [{"set_pref64": {"node": "rtr2", "lifetime": 0}}], words="sends no PREF64")
    _refused(tmp_path, [{"set_pref64": {"node": "client", "lifetime": 0}}], words="sends no PREF64")
    load_scenario(write_scenario(tmp_path, [{"set_pref64": {"node": "rtr", "lifetime": 0}}]))


def test_drop_icmp_to_an_address_of_the_other_family_is_refused(tmp_path):
    _refused(tmp_path, [{"drop": {"node": "rtr", "icmp": ["packet-too-big"], "to": "192.0.2.9"}}],
             words="can match")
    _refused(tmp_path, [{"drop": {"node": "rtr", "icmp": ["frag-needed"], "to": "client6"}}],
             words="can match")
    load_scenario(write_scenario(tmp_path, [{"drop": {"node": "rtr", "icmp": ["packet-too-big"], "to": "client"}}]))


def test_reissue_cert_on_a_node_without_a_certificate_is_refused(tmp_path):
    _refused(tmp_path, [{"reissue_cert": {"node": "client", "names": ["a.test"]}}], words="serves no certificate")
    _refused(tmp_path, [{"reissue_cert": {"node": "plain", "names": ["a.test"]}}], words="serves no HTTPS")


def test_a_service_a_node_does_not_run_is_refused(tmp_path):
    err = _refused(tmp_path, [{"stop": {"node": "web", "service": "nginx"}}], words="runs no service")
    assert "echo" in err.message


def test_set_record_cname_beside_a_nodes_names_is_refused(tmp_path):
    _refused(tmp_path, [{"set_record": {"name": "www.example.test", "type": "CNAME", "values": ["mail"]}}],
             words="CNAME")


@pytest.mark.parametrize("kind", ["web", "edge", "api"])
def test_empty_tls_names_is_refused_for_every_kind_that_has_them(tmp_path, kind):
    topo = copy.deepcopy(TOPOLOGY)
    topo["nodes"][kind]["tls_names"] = []
    # cloudapi's own validate says it first, in its words ("a certificate needs a name")
    err = _refused(tmp_path, [{"undrop": "client"}], topo, words="a certificate needs")
    assert err.field == f"nodes.{kind}.tls_names"


def test_cloudapi_tls_names_are_host_names(tmp_path):
    topo = copy.deepcopy(TOPOLOGY)
    topo["nodes"]["api"]["tls_names"] = ["a b"]
    _refused(tmp_path, [{"undrop": "client"}], topo, words="tls_names")


ZONE = {"name": "z", "networks": {"lan": {"ipv6": "2001:db8:7::/64"}},
        "nodes": {"web": {"kind": "backend", "links": ["lan"], "names": ["www.example.test"]}}}


@pytest.mark.parametrize("records,words", [
    ({"@": {"CNAME": "www"}}, "SOA and NS"),
    ({"www": {"CNAME": "mail"}}, "AAAA"),  # beside the address `names:` gives www
    ({"mail": {"CNAME": "www", "TXT": "x"}}, "TXT"),
    ({"mail": {"CNAME": ["a", "b"]}}, "at most one"),
    ({"ns-ns": {"CNAME": "www"}}, "AAAA"),  # the name server's own name
])
def test_a_cname_with_other_data_at_its_name_is_refused(records, words):
    data = copy.deepcopy(ZONE)
    data["nodes"]["ns"] = {"kind": "authdns", "links": ["lan"], "zones": {"example.test": {"records": records}}}
    with pytest.raises(InputError) as info:
        load_lab_text(yaml.safe_dump(data), filename="z.yml")
    assert info.value.line is not None and words in info.value.message, str(info.value)
    assert "records" in (info.value.field or ""), str(info.value)


# -- topology fields: accepted means `up`'s own computations succeed ------------------------------
def _mutations() -> list[tuple[tuple, object]]:
    return [(("nodes", "web", "tls_names"), []), (("nodes", "edge", "tls_names"), []),
            (("nodes", "api", "tls_names"), []), (("nodes", "api", "tls_names"), ["x y"]),
            (("nodes", "web", "tls_names"), ["*.example.test", "192.0.2.9"]),
            (("nodes", "ns", "zones", "example.test", "records", "alias", "CNAME"), ["a", "b"]),
            (("nodes", "web", "https_port"), None), (("nodes", "edge", "https_port"), None),
            (("nodes", "rtr", "ra", "pref64"), None), (("nodes", "web", "impair"), {"loss": 0.5}),
            (("nodes", "ns", "impair"), {"dns_delay_ms": 10})]


@settings(max_examples=30)
@given(st.lists(st.sampled_from(_mutations()), min_size=1, max_size=3))
@example([(("nodes", "web", "tls_names"), [])])  # crashed `up` in trustme after validating
def test_a_topology_the_loader_accepts_comes_up_in_the_dry_run(muts):
    data = {"name": "eq", **copy.deepcopy(TOPOLOGY)}
    for loc, value in muts:
        parent = data
        for part in loc[:-1]:
            parent = parent[part]
        parent[loc[-1]] = value
    try:
        loaded: LoadedLab = load_lab_text(yaml.safe_dump(data), filename="eq.yml")
    except InputError as exc:
        assert exc.line is not None, str(exc)
        return
    up_dry_run(loaded.plan)


# -- end to end: the command a user runs ----------------------------------------------------------
@pytest.mark.parametrize("case", ["tls", "pref64", "deep", "binary"])
def test_labsim_validate_refuses_with_file_line_and_exit_2(tmp_path, case):
    if case == "tls":
        topo = copy.deepcopy(TOPOLOGY)
        topo["nodes"]["web"]["tls_names"] = []
        f = write_scenario(tmp_path, [{"undrop": "client"}], topo)
    elif case == "pref64":
        f = write_scenario(tmp_path, [{"set_pref64": {"node": "rtr2", "lifetime": 0}}])
    elif case == "deep":
        f = tmp_path / "deep.yml"
        f.write_text("name: x\nnetworks: " + "[" * 1200 + "]" * 1200 + "\n")
    else:
        f = write_scenario(tmp_path, [{"http": {"node": "client", "url": "http://www.example.test/"},
                                       "expect": {"remote_ip_in": "PLACEHOLDER"}}])
        f.write_text(f.read_text().replace("PLACEHOLDER", "!!binary aGVsbG8="))
    res = subprocess.run([LABSIM, "validate", str(f)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert re.search(rf"{re.escape(str(f))}:\d+: ", res.stderr), res.stderr


@pytest.mark.parametrize("ci,derandomized", [("true", True), ("", False)])
def test_property_tests_are_derandomized_in_ci_only(ci, derandomized):
    """CI=true: the same examples every run (a red build is the change's, not the draw's)."""
    code = ("import tests.conftest; from hypothesis import settings as s; d = s.default; "
            "print(d.derandomize, d.deadline, d.print_blob, d.max_examples)")
    env = {"PATH": "/usr/bin:/bin", "CI": ci, "PYTHONPATH": str(Path(__file__).parents[2])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    derandomize, deadline, print_blob, examples = res.stdout.split()
    assert (derandomize, deadline) == (str(derandomized), "None"), res.stdout + res.stderr
    if derandomized:
        assert (print_blob, examples) == ("True", "100")
