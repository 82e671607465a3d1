"""A topology is data: property tests over every string and address field (no root).

A valid topology with every kind is mutated one field (or key) at a time, with the issue's
hostile strings and with generated text. For every mutation the loader either accepts the
file or raises InputError with a line, never another exception; and when it accepts, every
file the kinds render parses back in its own format (zone files with dnspython, JSON with
json, the daemons' line formats by their grammar) with nothing in it the input did not ask
for: no zone-file directive but $ORIGIN/$TTL, no record type that was not asked for, no
resolv.conf or hosts line of another kind, balanced braces and quotes.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import dns.exception
import dns.rdatatype
import dns.zone
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import LoadedLab, load_lab_text

BASE: dict[str, Any] = {
    "name": "fuzz",
    "description": "every kind, every string field",
    "nat64_prefix": "2001:db8:64::/96",
    "networks": {"v6net": {"ipv6": "2001:db8:1::/64"}, "v4net": {"ipv4": "192.0.2.0/24"}},
    "nodes": {
        "nat64": {"kind": "nat64", "links": ["v6net", "v4net"], "pool4": "198.18.0.0/24"},
        "dns64": {"kind": "dns64", "links": ["v6net"], "exclude": []},
        "knot": {"kind": "dns64", "implementation": "knot", "links": ["v6net"],
                 "exclude": ["::ffff:0:0/96"]},
        "rec": {"kind": "dns64", "implementation": "pdns-recursor", "links": ["v6net"],
                "exclude": ["::ffff:0:0/96"]},
        "bind": {"kind": "dns64", "implementation": "bind9", "links": ["v6net"]},
        "ns": {"kind": "authdns", "links": ["v6net", "v4net"],
               "zones": {"example.test": {
                   "records": {"www": {"A": "backend", "TXT": "hello"},
                               "api": {"AAAA": "2001:db8:1::99"},
                               "alias": {"CNAME": "www"},
                               "@": {"MX": "10 mail", "NS": "ns1.example.test."},
                               "_sip._tcp": {"SRV": "0 5 5060 sip"},
                               "*": {"A": "192.0.2.7"}},
                   "weighted": {"lb": {"A": {"192.0.2.10": 1, "backend": 3}}}}}},
        "backend": {"kind": "backend", "links": ["v4net"], "names": ["app.example.test"],
                    "listen": ["0.0.0.0"], "tls_names": ["app.example.test", "192.0.2.50"],
                    "responses": {"/r": {"status": 302, "headers": {"Location": "/x"}, "body": "b"}}},
        "proxy": {"kind": "proxy", "links": ["v6net", "v4net"], "upstream": "app.example.test"},
        "haproxy": {"kind": "proxy", "implementation": "haproxy", "links": ["v6net", "v4net"],
                    "upstream": "backend"},
        "cdn": {"kind": "cdn", "links": ["v6net", "v4net"], "origin": "http://app.example.test",
                "host_header": "app.example.test:80", "tls_names": ["edge.example.test"]},
        "box": {"kind": "container", "links": ["v6net"], "image": "nginx:1.25",
                "command": ["nginx", "-g", "daemon off;"], "env": {"A": "1"}},
        "client": {"kind": "client", "links": [{"network": "v6net", "ipv6": "2001:db8:1::100"}],
                   "resolver": {"nameservers": ["dns64", "2001:db8:1::2"], "search": ["example.test"],
                                "options": ["timeout:1"]},
                   "routes": [{"to": "default", "via": "nat64"}]},
    },
}

# the examples and their relatives: each must be refused or rendered harmless
HOSTILE = [
    'x 60 IN LUA TXT "os.execute(\'touch /tmp/marker\')" ;',
    "2001:db8::1%anything", "2001:db8:1::5%x'); os.execute('id", "192.0.2.1%eth0",
    "fe80::1%eth0/64", "2001:db8::/64%x",
    "../../../../tmp/x", 'x"; }; zone "y" { type master; file "/etc/shadow', "a;b", "a b",
    "$INCLUDE /etc/shadow", "x\n$INCLUDE /etc/shadow", "x\n$GENERATE 1-9 h$ A 1.2.3.4",
    "lab.test\nnameserver 192.0.2.66", "1\r\nSet-Cookie: a=b", "x\x00y", "\u2028", "x\x1b[31m",
    "192.0.2.1:80\nprogram x\n  command touch /tmp/m", "}; include \"/etc/passwd\"; #",
    "')\nos.execute('id')\n--", "'; os.execute('id'); '", "xn--zz", "ab--cd.example.test",
    "-lead.example.test", "a..b", ".", "", " ", "*", "@", "*.x", "é.test", "ü" * 70,
    "a" * 64 + ".test", ".".join(["a" * 63] * 4) + ".test", "x" * 5000, "http://[::1%x]/",
    "http://a.test/path", "ftp://a", "http://a.test:99999", "$http_host", "${x}",
    "{ a }", "#comment", "0.0.0.0", "::", "::ffff:1.2.3.4", "1.2.3", "2001:db8::1/129",
]


def _paths(data: Any, loc: tuple = ()) -> list[tuple[tuple, str]]:
    """Every string leaf ('value') and every mapping key under a free-form mapping ('key')."""
    out = []
    if isinstance(data, dict):
        free = loc[-1:] in (("zones",), ("records",), ("weighted",), ("responses",), ("headers",),
                            ("env",)) or (len(loc) >= 2 and loc[-2] == "weighted")
        for k, v in data.items():
            if free:
                out.append((loc + (k,), "key"))
            out += _paths(v, loc + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, loc + (i,))
    elif isinstance(data, str):
        out.append((loc, "value"))
    return out


PATHS = [p for p in _paths(BASE) if p[0][-1:] != ("kind",) and p[0] != ("name",)]


def _mutate(path: tuple, what: str, new: str) -> dict:
    data = copy.deepcopy(BASE)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if what == "key":
        parent[new] = parent.pop(path[-1])
    else:
        parent[path[-1]] = new
    return data


def _load(data: dict) -> LoadedLab | None:
    text = yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True,
                     width=10_000)
    try:
        return load_lab_text(text, filename="fuzz.yml")
    except InputError as exc:
        assert exc.file == "fuzz.yml" and exc.line is not None, str(exc)
        assert "\n" not in exc.message or "more errors" in str(exc), str(exc)
        return None


def rendered(loaded: LoadedLab) -> dict[tuple[str, str], str]:
    out = {}
    for name, node in loaded.plan.nodes.items():
        ctx = NodeContext(loaded.plan, node, loaded.topology.nodes[name], dir=f"/labsim/{name}")
        for path, text in registry.get(node.kind).render(ctx).items():
            out[(name, path)] = text
    return out


ASKED_TYPES = {"SOA", "NS", "A", "AAAA", "CNAME", "TXT", "MX", "SRV", "PTR"}
LUA_LINE = re.compile(r"^[a-z0-9_.*@-]+ \d+ IN LUA (A|AAAA) \"pickwrandom\(\{(\{\d+, '[0-9a-f.:]+'\}(, )?)+\}\)\"$")


def check_zone(text: str) -> None:
    lines = text.splitlines()
    for line in lines:
        if line.startswith("$"):
            assert line.split()[0] in ("$ORIGIN", "$TTL"), line
    plain = [line for line in lines if not re.match(r"^\S+ \d+ IN LUA ", line)]
    for line in set(lines) - set(plain):
        assert LUA_LINE.match(line), line
    zone = dns.zone.from_text("\n".join(plain) + "\n", origin=None, relativize=False,
                              check_origin=False, allow_include=False)
    types = {dns.rdatatype.to_text(rds.rdtype) for _, rds in zone.iterate_rdatasets()}
    assert types <= ASKED_TYPES, types


def check_file(path: str, text: str) -> None:
    """The file parses in its format and holds nothing of another structure."""
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), path
    if path.endswith(".zone"):
        check_zone(text)
    elif path.endswith(".json"):
        json.loads(text)
    elif path == "/etc/resolv.conf":
        for line in text.splitlines():
            assert re.match(r"^(# labsim: resolver of node \S+|search( \S+)+|nameserver [0-9a-f.:]+"
                            r"|options( [a-z0-9:-]+)+)$", line), line
    elif path == "/etc/hosts":
        for line in text.splitlines():
            assert re.match(r"^[0-9a-f.:]+\t[A-Za-z0-9._ -]+$", line), line
    elif path.endswith(("nginx.conf", "named.conf")):
        body = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "", text)
        assert body.count("{") == body.count("}"), text
        for line in text.splitlines():
            assert line.count('"') % 2 == 0 and line.count("'") % 2 == 0, line
    elif path.endswith((".lua", "kresd.conf")):
        for line in text.splitlines():
            assert line.count("'") % 2 == 0, line
    elif path.endswith((".conf",)) and ("pdns" in path or "recursor" in path):
        for line in text.splitlines():
            assert re.match(r"^[a-z0-9-]+=[^\n#]*$", line), line
    elif path.endswith("haproxy.cfg"):
        for line in text.splitlines():
            assert re.match(r"^(#.*|global|defaults|resolvers lab|listen port-\d+|    \S.*|)$", line), line
    elif path.endswith("unbound.conf"):
        for line in text.splitlines():
            assert re.match(r"^([a-z-]+:|  [a-z0-9-]+: (\"[^\"\s]*\"|\"dns64 iterator\"|[^\s\"]+)"
                            r"( nodefault| allow)?)$", line), line


def test_the_base_topology_loads_and_every_render_parses():
    loaded = _load(BASE)
    assert loaded is not None
    files = rendered(loaded)
    assert any(p.endswith(".zone") for _, p in files)
    for (_, path), text in files.items():
        check_file(path, text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS),
       st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                 st.text(alphabet=st.sampled_from("aZ09.-_:/%@*;$\"'{}()#\\ \n\r\t"), max_size=30)))
@example(path=(("nodes", "ns", "zones", "example.test", "records", "alias"), "key"), new="@")  # CNAME at the apex
@example(path=(("nodes", "ns", "zones", "example.test", "records", "alias"), "key"), new="www")  # CNAME beside A
@example(path=(("nodes", "ns", "zones", "example.test", "records", "alias"), "key"), new="ns-ns")  # the NS's own name
def test_a_mutated_field_is_refused_with_a_line_or_renders_harmlessly(path, new):
    (loc, what) = path
    loaded = _load(_mutate(loc, what, new))
    if loaded is None:
        return
    for (_, fpath), text in rendered(loaded).items():
        check_file(fpath, text)


def _get(data, loc):
    for part in loc:
        data = data[part]
    return data


ADDRESS_PATHS = [p for p, what in PATHS
                 if what == "value" and "env" not in p
                 and re.fullmatch(r"[0-9a-f:.]*:[0-9a-f:.]*(/\d+)?|[0-9.]+(/\d+)?", _get(BASE, p))]


@pytest.mark.parametrize("loc", ADDRESS_PATHS, ids=lambda loc: ".".join(map(str, loc)))
def test_a_scope_id_is_refused_in_every_address_field(loc):
    value = _get(BASE, loc)
    addr, _, plen = value.partition("/")
    with pytest.raises(InputError) as info:
        load_lab_text(yaml.safe_dump(_mutate(loc, "value", f"{addr}%x{'/' + plen if plen else ''}")),
                      filename="scope.yml")
    assert info.value.line is not None and "scope id" in info.value.message, str(info.value)


def test_every_error_of_a_file_is_reported_at_once():
    data = _mutate(("nodes", "client", "resolver", "search", 0), "value", "a b")
    data["nodes"]["client"]["links"][0]["ipv6"] = "2001:db8:1::100%x"
    data["nodes"]["backend"]["names"] = ["bad_name.example.test"]
    data["nodes"]["proxy"]["upstream"] = "a;b"
    with pytest.raises(InputError) as info:
        load_lab_text(yaml.safe_dump(data), filename="many.yml")
    lines = str(info.value).splitlines()
    assert len(lines) == 4, lines
    assert all(re.match(r"^many\.yml:\d+: nodes\.\S+: ", line) for line in lines), lines
