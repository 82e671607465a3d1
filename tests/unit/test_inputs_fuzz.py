"""Tier 1, property based: scenario files, HAR captures, URL files, --resolve pairs and
comparison files, valid ones mutated and hostile strings put in every string field. The
loader either accepts the input or raises an InputError naming the file and the line or
entry; never another exception. What it accepts has the shape curl needs (no option-looking
URL, no CR/LF in a header, no '@FILE' body, no NUL)."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labsim.checks.http import HttpCheck
from labsim.errors import InputError, InputErrors
from labsim.measure.compare import load_comparison
from labsim.review.inputs import endpoints_from, parse_resolve
from labsim.scenario import fields
from labsim.scenario.load import load_scenario
from tests.helpers import REPO

# a scenario load plans and dry-renders its lab (~40 ms): fewer examples there, to keep tier 1
# fast; LABSIM_FUZZ_EXAMPLES=2000 for a deeper run
EXAMPLES = int(os.environ.get("LABSIM_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=max(EXAMPLES // 2, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE = [
    "", " ", "-", "-K/etc/passwd", "--config=/etc/passwd", "@/etc/passwd", "@-", "a\nb", "a\r\nX-Injected: 1",
    "x\x00y", "\x7f", "\t", "fe80::1%eth0", "2001:db8::1%x", "192.0.2.1%1", "::", "0.0.0.0/0", "::/0",
    "192.0.2.300", "2001:db8::/129", "../../../../tmp/x", "/dev/zero", "/etc/shadow", "$INCLUDE /etc/shadow",
    "$GENERATE 1-9 x A 1.2.3.4", 'x"; os.execute("touch /tmp/m") --', "ü.example.test", "xn--zz.test",
    "a" * 64 + ".test", "a." * 130, "a" * 70000, "{i}", "{0}", "%s%n", "http://[::1%lo]/", "http://a b/",
    "HTTP://WWW.EXAMPLE.TEST/", "http://www.example.test:99999/", "http://user@www.example.test/",
    "javascript:alert(1)", "ws://www.example.test/", "client", "web", "ns", "nobody", "www.example.test.",
    "*.example.test", "_dmarc.example.test", "TXT", "AAAA", "A", "any", "tcp", "links", "daemons",
]
TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30),
                 st.text(alphabet="abc.-:%@/\n\r\x00[]{}", max_size=20))
VALUE = st.one_of(TEXT, st.integers(-2, 70000), st.none(), st.booleans(), st.floats(allow_nan=True),
                  st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=2))

TOPOLOGY = {
    "networks": {"lan": {"ipv6": "2001:db8:7::/64", "ipv4": "192.0.2.0/24"}},
    "nodes": {
        "client": {"kind": "client", "links": ["lan"]},
        "web": {"kind": "backend", "links": ["lan"], "names": ["www.example.test"]},
        "ns": {"kind": "authdns", "links": ["lan"], "zones": {"example.test": {}}},
    },
}
SCENARIO = {
    "name": "fuzz",
    "description": "a valid scenario, mutated",
    "topology": TOPOLOGY,
    "steps": [
        {"name": "get", "http": {"from": "client", "url": "http://www.example.test/x", "method": "POST",
                                 "headers": {"X-A": "b"}, "cookies": {"s": "1"}, "data": "v=1",
                                 "connect_to": ["www.example.test:80:web:80"]},
         "expect": {"status": 200}},
        {"dns": {"from": "client", "name": "www.example.test", "type": "AAAA", "server": "ns"}},
        {"tcp": {"from": "client", "host": "web", "port": 80}},
        {"tls": {"from": "client", "host": "web", "port": 443, "servername": "www.example.test"}},
        {"resolve": {"from": "client", "name": "www.example.test"}},
        {"ping": {"from": "client", "host": "2001:db8:7::1", "count": 1}},
        {"set_record": {"name": "www.example.test", "type": "A", "values": ["192.0.2.9", "web"]}},
        {"set_record": {"name": "txt.example.test", "type": "TXT", "values": ["hello"]}},
        {"drop": {"node": "web", "from": "client", "to": "2001:db8:7::/64", "proto": "tcp", "port": 80}},
        {"undrop": "web"},
        {"stop": {"node": "web", "service": "echo"}},
        {"move_address": {"node": "client", "network": "lan", "to": "2001:db8:7::99"}},
    ],
}


def paths(doc: Any, prefix: tuple = (), skip: tuple = ()) -> list[tuple]:
    """Every key path in `doc` (mappings and lists), except below `skip`."""
    if prefix[:len(skip)] == skip and skip and len(prefix) >= len(skip):
        return []
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, prefix + (k,), skip)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, prefix + (i,), skip)
    return out


@st.composite
def mutated(draw, base: dict, skip: tuple = ()) -> dict:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(doc, skip=skip)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["value", "value", "string", "delete", "key"]))
        if op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "key" and isinstance(parent, dict):
            parent[draw(TEXT)] = draw(VALUE)
        elif op == "string":
            parent[path[-1]] = draw(TEXT)
        else:
            parent[path[-1]] = draw(VALUE)
    return doc


def assert_input_error(exc: InputError, file: str) -> None:
    for e in exc.errors if isinstance(exc, InputErrors) else [exc]:
        assert e.file == file, e
        assert e.line is not None or e.field, e  # a line, or the entry it is about


def check_accepted_http(spec: HttpCheck) -> None:
    """What reaches curl: a URL it cannot read as an option, one-line header, cookie and
    method words, a body that is not '@FILE', no NUL anywhere (argv cannot hold one)."""
    assert not spec.url.startswith("-") and spec.url.split(":", 1)[0].lower() in ("http", "https")
    one_line = [spec.url, spec.method, *spec.headers, *spec.headers.values(), *spec.cookies,
                *spec.cookies.values(), *spec.connect_to]
    assert all(not any(c in a for c in "\r\n\x00") for a in one_line)
    assert spec.data is None or (not spec.data.startswith("@") and "\x00" not in spec.data)


@SLOW
@given(mutated(SCENARIO, skip=("topology",)))
def test_a_mutated_scenario_loads_or_names_file_and_line(doc):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "s.yml"
        f.write_text(yaml.safe_dump(doc, allow_unicode=True))
        try:
            loaded = load_scenario(f)
        except InputError as exc:
            assert_input_error(exc, str(f))
            return
    for step in loaded.scenario.steps:
        if isinstance(step.spec, HttpCheck):
            check_accepted_http(step.spec)


SENTINEL = "labsim-raw-yaml-here"
# YAML that only raw text can carry: tags and nesting past libyaml's own limit
RAW_YAML = st.one_of(
    st.sampled_from(["!!binary aGVsbG8=", "!!binary /w==", "!!binary MTA=", "[!!binary MTA=]",
                     "{a: !!binary MTA=}", "!!python/object:os.system {}", "!!set {a: null}",
                     "!!timestamp 2001-12-14", "!!float .nan", "!!int 0x10", "!!str", "!<tag:x> 1"]),
    st.integers(60, 1500).map(lambda n: "[" * n + "]" * n),
    st.integers(60, 1500).map(lambda n: "{a: " * n + "1" + "}" * n),
    st.integers(990, 1100).map(lambda n: "[" * n))


@SLOW
@given(mutated(SCENARIO), st.data())
def test_raw_yaml_anywhere_in_a_scenario_or_its_topology_names_file_and_line(doc, data):
    """Tags (!!binary in an expectation, !!python, !!set) and nesting past libyaml's limit,
    put at any path, the embedded topology included: loaded, or file:line."""
    candidates = [p for p in paths(doc) if p]
    path = data.draw(st.sampled_from(candidates))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = SENTINEL
    raw = data.draw(RAW_YAML)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "s.yml"
        f.write_text(yaml.safe_dump(doc, allow_unicode=True, width=10_000).replace(SENTINEL, raw))
        try:
            load_scenario(f)
        except InputError as exc:
            assert_input_error(exc, str(f))
            for e in exc.errors if isinstance(exc, InputErrors) else [exc]:
                assert e.line is not None, e


def test_binary_in_an_expectation_names_file_and_line(tmp_path):
    """`!!binary` in `remote_ip_in` crashed the error formatter (KeyError 'ip_v4_network')."""
    doc = copy.deepcopy(SCENARIO)
    doc["steps"][0]["expect"] = {"remote_ip_in": SENTINEL, "status": 200}
    f = tmp_path / "s.yml"
    for raw in ("!!binary aGVsbG8=", "1.2.3.4.5"):
        f.write_text(yaml.safe_dump(doc, width=10_000).replace(SENTINEL, raw))
        try:
            load_scenario(f)
        except InputError as exc:
            assert exc.line is not None and "remote_ip_in" in str(exc) and "lax-or-strict" not in str(exc), str(exc)
        else:
            raise AssertionError(f"{raw} accepted")


@SLOW
@given(st.sampled_from(["url", "method", "data", "header", "header_name", "cookie", "connect_to"]), TEXT)
def test_every_http_string_field_takes_hostile_text(which, text):
    spec: dict = {"from": "client", "url": "http://www.example.test/"}
    if which in ("url", "method", "data"):
        spec[which] = text
    elif which == "header":
        spec["headers"] = {"X-A": text}
    elif which == "header_name":
        spec["headers"] = {text: "v"}
    elif which == "cookie":
        spec["cookies"] = {"c": text}
    else:
        spec["connect_to"] = [text]
    doc = {**SCENARIO, "steps": [{"http": spec}]}
    test_a_mutated_scenario_loads_or_names_file_and_line.hypothesis.inner_test(doc)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=10)
HAR = {"log": {"entries": [{"request": {"method": "GET", "url": "https://api.example.test/feed"}},
                           {"request": {"method": "POST", "url": "https://api.example.test/login"}}]}}


@SETTINGS
@given(st.one_of(mutated(HAR), JSON, st.binary(max_size=60)))
def test_a_har_capture_gives_endpoints_or_names_file_and_entry(doc):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "app.har"
        if isinstance(doc, bytes):
            f.write_bytes(doc)
        else:
            f.write_text(json.dumps(doc))
        try:
            eps = endpoints_from([], None, f)
        except InputError as exc:
            assert_input_error(exc, str(f))
            return
    for e in eps:
        assert fields.http_url(e.url) == e.url and e.method in ("GET", "HEAD", "OPTIONS")


@SETTINGS
@given(st.one_of(st.binary(max_size=120),
                 st.lists(st.one_of(TEXT, st.builds(lambda m, u: f"{m} {u}", TEXT, TEXT)), max_size=5)
                 .map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))))
def test_a_url_file_gives_endpoints_or_names_file_and_line(data):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "urls.txt"
        f.write_bytes(data)
        try:
            eps = endpoints_from([], f, None)
        except InputError as exc:
            assert_input_error(exc, str(f))
            for e in exc.errors if isinstance(exc, InputErrors) else [exc]:
                assert e.line is not None
            return
    from labsim.review.urls import endpoint_url  # http(s), ws(s), tcp://HOST:PORT

    for e in eps:
        assert endpoint_url(e.url) == e.url and not e.url.startswith("-")


@SETTINGS
@given(st.lists(st.one_of(TEXT, st.builds(lambda n, a: f"{n}={a}", TEXT, TEXT)), max_size=3))
def test_resolve_pairs_are_names_and_unscoped_addresses_or_an_input_error(items):
    try:
        out = parse_resolve(items)
    except InputError:
        return
    for name, addr in out.items():
        fields.dns_name(name)
        assert "%" not in addr and fields.address(addr) == addr


COMPARISON = {
    "name": "fuzz",
    "topology": str(REPO / "topologies" / "resolution.yml"),
    "from": "client",
    "measure": {"name": "n{i}-{run}.wild.example.test", "count": 5, "gap_ms": 0, "max_seconds": 5},
    "variants": {"plain": {}, "other": {"from": "client", "count": 3, "name": "x{i}.wild.example.test",
                                        "nodes": {"ns": {"impair": {"loss": 0.1}}}}},
}


@SLOW
@given(mutated(COMPARISON))
def test_a_mutated_comparison_loads_or_names_file_and_line(doc):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "c.yml"
        f.write_text(yaml.safe_dump(doc, allow_unicode=True))
        topo = doc.get("topology") if isinstance(doc, dict) else None
        files = {str(f)} | ({str(Path(d) / topo)} if isinstance(topo, str) and "\x00" not in topo else set())
        try:
            load_comparison(f)
        except InputError as exc:
            for e in exc.errors if isinstance(exc, InputErrors) else [exc]:
                assert e.file in files, e
                assert e.line is not None or e.field, e
