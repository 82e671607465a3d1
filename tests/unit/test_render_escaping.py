"""The second line of defence: each rendered format's helper refuses what would change the
file's structure, even when a value gets past the model (built here with model_copy, which
skips validation); and the legal extremes render into files the daemons' own checkers accept
(named-checkconf, named-checkzone, unbound-checkconf, nginx -t, haproxy -c, pdns_recursor
--config=check), in a private network namespace. No root needed (a user namespace will do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest

from tests.helpers import REPO

from labsim.kinds import escape, registry
from labsim.kinds.base import NodeContext
from labsim.loader import LoadedLab, load_lab

HOSTILE = ['a"b', "a'b", "a b", "a\nb", "a;b", "a{b", "a}b", "a#b", "a$b", "a\\b", "a\rb",
           "a\x00b", "a(b", "a,b", "a=b", "", "a\tb"]
HELPERS = {
    "zone file": escape.zone_word, "Lua": escape.lua_str, "nginx": escape.nginx_word,
    "haproxy": escape.haproxy_word, "unbound": escape.unbound_str, "unbound word": escape.unbound_word,
    "BIND string": escape.bind_str, "BIND word": escape.bind_word, "PowerDNS": escape.conf_word,
    "resolv.conf": escape.resolv_word, "hosts": escape.hosts_word, "file name": escape.file_component,
}


@pytest.mark.parametrize("fmt", HELPERS)
@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_each_format_helper_refuses_structure(fmt, value):
    with pytest.raises(escape.UnsafeValue):
        HELPERS[fmt](value)


def test_dollar_is_refused_by_nginx():
    with pytest.raises(escape.UnsafeValue):
        escape.nginx_word("$http_host")


@pytest.mark.parametrize("fmt", HELPERS)
def test_plain_names_and_addresses_pass_unchanged(fmt):
    values = ("2001:db8::1", "192.0.2.1") if fmt.endswith("word") and fmt != "zone file" else \
        ("www.example.test", "2001-db8", "a_b", "192.0.2.1")
    for value in values:
        out = HELPERS[fmt](value)
        assert value in out and len(out) <= len(value) + 2


@pytest.mark.parametrize("text", ['"', "\\", 'a"; $INCLUDE /etc/shadow ; (', "x" * 600, ""])
def test_txt_data_is_quoted_and_parses_back_exactly(text):
    rdata = escape.zone_txt(text)
    zone = dns.zone.from_text(f"$ORIGIN t.\n@ 60 IN SOA a. b. 1 1 1 1 1\n@ 60 IN NS a.\nx 60 IN TXT {rdata}\n",
                              relativize=False)
    (rds,) = [r for _, r in zone.iterate_rdatasets() if r.rdtype == dns.rdatatype.TXT]
    assert b"".join(rds[0].strings).decode() == text


# -- past the model: renderers refuse on their own ------------------------------------------
@pytest.fixture(scope="module")
def longest() -> LoadedLab:
    return load_lab(REPO / "tests" / "data" / "longest-legal.yml")


def _ctx(loaded: LoadedLab, node: str, spec=None, dir: str = "/labsim/x", plan=None) -> NodeContext:
    plan = plan or loaded.plan
    return NodeContext(plan, plan.nodes[node], spec or plan.topology.nodes[node], dir=dir)


def _with_node(loaded: LoadedLab, node: str, **update):
    """The plan with one node's spec changed, unchecked (model_copy skips validation)."""
    from dataclasses import replace

    spec = loaded.plan.topology.nodes[node].model_copy(update=update)
    topo = loaded.plan.topology.model_copy(update={"nodes": {**loaded.plan.topology.nodes, node: spec}})
    return replace(loaded.plan, topology=topo), spec


@pytest.mark.parametrize("node, update", [
    ("ns", {"zones": {'x"; include "/etc/shadow': None}}),
    ("proxy", {"upstream": "a.test;\n} server { listen 1"}),
    ("haproxy", {"upstream": "a.test\nprogram x"}),
    ("cdn", {"host_header": "a.test;\nproxy_pass http://x"}),
], ids=["named.conf-zone", "nginx-upstream", "haproxy-upstream", "nginx-host"])
def test_renderers_refuse_what_got_past_the_model(longest, node, update):
    if node == "ns":
        zone = next(iter(longest.plan.topology.nodes["ns"].zones.values()))
        update = {"zones": {k: zone for k in update["zones"]}}
    plan, spec = _with_node(longest, node, **update)
    from labsim.model.plan import PlanError

    with pytest.raises((escape.UnsafeValue, PlanError)):  # PlanError: the upstream's own check
        registry.get(spec.kind).render(_ctx(longest, node, spec, plan=plan))


@pytest.mark.parametrize("resolver", ["bind9", "unbound", "knot", "recursor"])
def test_resolver_configs_refuse_a_hostile_zone_name(longest, resolver):
    zone = next(iter(longest.plan.topology.nodes["ns"].zones.values()))
    plan, _ = _with_node(longest, "ns", zones={"x'); os.execute('id'); --\"": zone})
    with pytest.raises(escape.UnsafeValue):
        registry.get("dns64").render(_ctx(longest, resolver, plan=plan))


def test_resolv_conf_refuses_a_hostile_search_domain(longest):
    from labsim.model.topology import Resolver

    plan, spec = _with_node(longest, "client", resolver=Resolver.model_construct(
        nameservers=[], options=[], search=["lab.test\nnameserver 192.0.2.66"]))
    with pytest.raises(escape.UnsafeValue):
        registry.get("client").render(_ctx(longest, "client", spec, plan=plan))


# -- the legal extremes, through the daemons' own checkers -----------------------------------
@pytest.fixture(scope="module")
def private_netns() -> list[str]:
    prefix = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    if shutil.which("unshare") is None or subprocess.run(prefix + ["true"], capture_output=True).returncode:
        pytest.skip("cannot make a private network namespace for the config checks")
    return prefix


CHECKED = ["bind9", "unbound", "recursor", "proxy", "haproxy", "cdn"]


@pytest.mark.parametrize("node", CHECKED)
def test_longest_legal_values_pass_the_daemons_checkers(longest, node, tmp_path, private_netns):
    ctx = _ctx(longest, node, dir=str(tmp_path))
    kind = registry.get(ctx.node.kind)
    checks = [argv for argv in kind.setup(ctx) if argv[0] != "install"]  # run dirs need root
    for argv in checks:
        if shutil.which(argv[0]) is None:
            pytest.skip(f"{argv[0]} is not installed")
    for path, text in kind.render(ctx).items():
        if not path.startswith("/etc/"):
            if os.geteuid() != 0:
                text = text.replace("user www-data www-data;\n", "user root root;\n")  # see test_kinds_proxy_cdn
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    (tmp_path / "run").mkdir(exist_ok=True)
    for argv in checks:
        res = subprocess.run(private_netns + argv, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"{argv}\n{res.stdout}\n{res.stderr}"


def test_longest_zone_passes_named_checkzone_and_dnspython(longest, tmp_path):
    if shutil.which("named-checkzone") is None:
        pytest.skip("named-checkzone is not installed")
    ctx = _ctx(longest, "ns")
    files = registry.get("authdns").render(ctx)
    (path, text), = [(p, t) for p, t in files.items() if p.endswith(".zone")]
    zone = Path(path).name.removesuffix(".zone")
    (tmp_path / "z").write_text(text)
    res = subprocess.run(["named-checkzone", "-q", zone, str(tmp_path / "z")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    parsed = dns.zone.from_text(text, relativize=False, check_origin=False)
    types = {dns.rdatatype.to_text(r.rdtype) for _, r in parsed.iterate_rdatasets()}
    assert types == {"SOA", "NS", "A", "AAAA", "TXT", "MX", "CNAME"}
