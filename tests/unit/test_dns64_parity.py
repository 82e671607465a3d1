"""The four DNS64 implementations (unbound, BIND 9, Knot Resolver, PowerDNS Recursor) give
the same answers for the same topology options.

Here, without root: what each renders (golden files in tests/unit/golden/dns64/<implementation>/),
and what each refuses at load time (an option it cannot honour is an InputError, never a
silent drop). The answers themselves, from real resolvers: tests/netns/test_dns64_parity.py.

Regenerate the golden files after an intended change with

    LABSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_dns64_parity.py -k golden
"""

from __future__ import annotations

import os
from ipaddress import IPv6Network
from pathlib import Path

import pytest

from tests.helpers import assert_golden

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import LoadedLab, load_lab_text

IMPLEMENTATIONS = ["unbound", "bind9", "knot", "pdns-recursor"]
GOLDEN = Path(__file__).parent / "golden" / "dns64"
UPDATE = os.environ.get("LABSIM_UPDATE_GOLDEN") == "1"
root = pytest.mark.root

# -- without root: rendering and load-time refusals ------------------------------------------
GOLDEN_TOPOLOGY = """
name: g
nat64_prefix: 2001:db8:64::/96
networks:
  v6: {ipv6: "2001:db8:1::/64"}
  v4: {ipv4: 192.0.2.0/24}
nodes:
  nat64: {kind: nat64, links: [v6, v4], uplink: true}
  ns:
    kind: authdns
    links: [v6]
    zones: {example.test: {}, sub.example.test: {}, 2.0.192.in-addr.arpa: {}}
  ns2: {kind: authdns, links: [v6, v4], zones: {example.net: {}}}
  unbound: {kind: dns64, links: [v6]}
  bind9: {kind: dns64, implementation: bind9, links: [v6, v4], exclude: ["::ffff:0:0/96", "2001:db8:bad::/48"]}
  knot: {kind: dns64, implementation: knot, links: [v6], exclude: ["::ffff:0:0/96"]}
  pdns-recursor: {kind: dns64, implementation: pdns-recursor, links: [v6, v4], exclude: ["::ffff:0:0/96"]}
"""


def ctx(loaded: LoadedLab, node: str) -> NodeContext:
    plan = loaded.plan
    return NodeContext(plan, plan.nodes[node], loaded.topology.nodes[node], dir=f"/labsim/{node}")


def own_files(loaded: LoadedLab, node: str) -> dict[str, str]:
    """What the node's implementation renders, without the /etc files every node gets."""
    files = registry.get("dns64").render(ctx(loaded, node))
    return {p: t for p, t in files.items() if not p.startswith("/etc/")}


def topo(nodes: str, head: str = "nat64_prefix: 2001:db8:64::/96\n") -> str:
    return (f"name: t\n{head}networks:\n  v6: {{ipv6: \"2001:db8:1::/64\"}}\nnodes:\n"
            "  ns: {kind: authdns, links: [v6], zones: {example.test: {}}}\n" + nodes)


@pytest.fixture(scope="module")
def golden_lab() -> LoadedLab:
    return load_lab_text(GOLDEN_TOPOLOGY)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_golden(golden_lab, impl):
    files = own_files(golden_lab, impl)
    assert_golden(GOLDEN / impl, files, impl)


@pytest.mark.parametrize("impl, binaries, packages, service", [
    ("unbound", ("unbound",), ("unbound",), "unbound"),
    ("bind9", ("named", "named-checkconf"), ("bind9", "bind9-utils"), "named"),
    ("knot", ("kresd", "dig"), ("knot-resolver", "dnsutils"), "kresd"),
    ("pdns-recursor", ("pdns_recursor",), ("pdns-recursor",), "pdns-recursor"),
])
def test_needs_and_services_per_implementation(golden_lab, impl, binaries, packages, service):
    kind = registry.get("dns64")
    assert kind.needs(golden_lab.topology.nodes[impl]) == (binaries, packages)
    names = [s.name for s in kind.services(ctx(golden_lab, impl))]
    assert service in names
    for svc in kind.services(ctx(golden_lab, impl)):
        assert not svc.host  # runs inside the node, in the foreground
        paths = [a[a.index("/labsim/"):] for a in svc.argv if "/labsim/" in a]
        assert paths and all(p.startswith(f"/labsim/{impl}") for p in paths), svc.argv


def test_config_checks_in_setup(golden_lab):
    kind = registry.get("dns64")
    # unbound checks its own configuration at start (a bad one: its errors in its log, exit 1)
    assert kind.setup(ctx(golden_lab, "unbound")) == []
    # the directory a daemon writes in after dropping root: made with its owner and mode at once
    own = ["install", "-d", "-o"]
    assert kind.setup(ctx(golden_lab, "bind9")) == [
        own + ["bind", "-g", "bind", "-m", "0750", "/labsim/bind9/run"],
        ["named-checkconf", "-z", "/labsim/bind9/named.conf"]]
    assert kind.setup(ctx(golden_lab, "pdns-recursor")) == [
        own + ["pdns", "-g", "pdns", "-m", "0750", "/labsim/pdns-recursor/run"],
        ["pdns_recursor", "--config-dir=/labsim/pdns-recursor", "--config=check"]]
    assert kind.setup(ctx(golden_lab, "knot")) == [  # kresd has no check mode
        own + ["knot-resolver", "-g", "knot-resolver", "-m", "0750", "/labsim/knot/run"],
        own + ["knot-resolver", "-g", "knot-resolver", "-m", "0750", "/labsim/knot/stub/run"]]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_readiness_probe_is_local_data(golden_lab, impl):
    probe, *more = registry.get("dns64").probes(ctx(golden_lab, impl))
    assert (probe.qname, probe.rdtype, probe.rcode) == ("ipv4only.arpa.", "A", "NOERROR")
    assert probe.server == golden_lab.plan.nodes[impl].addresses()[0]
    if impl == "knot":  # the back kresd has a probe of its own, so its exit is seen at once
        (back,) = more
        assert back.service == "kresd-stub" and "@127.0.0.170" in back.argv
        assert [s.name for s in registry.get("dns64").services(ctx(golden_lab, impl))] == ["kresd", "kresd-stub"]
    else:
        assert more == []


def test_empty_exclude_means_nothing_excluded_everywhere():
    """BIND and Knot exclude ::ffff:0:0/96 unless told otherwise; an empty `exclude` must
    mean the same as for unbound and PowerDNS Recursor, which exclude nothing."""
    loaded = load_lab_text(topo("  b: {kind: dns64, implementation: bind9, links: [v6]}\n"
                                "  k: {kind: dns64, implementation: knot, links: [v6]}\n"
                                "  p: {kind: dns64, implementation: pdns-recursor, links: [v6]}\n"))
    assert ("dns64 2001:db8:64::/96 { clients { any; }; exclude { none; }; };"
            in own_files(loaded, "b")["named.conf"])
    assert ("dns64.config({ prefix = '2001:db8:64::', exclude_subnets = {} })"
            in own_files(loaded, "k")["kresd.conf"].splitlines())
    assert "lua-dns-script" not in own_files(loaded, "p")["recursor.conf"]  # the exclusion hook


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_synthesize_false_renders_no_dns64_but_still_serves_ipv4only_arpa(impl):
    loaded = load_lab_text(topo(f"  r: {{kind: dns64, implementation: {impl}, links: [v6], synthesize: false}}\n",
                                head=""))  # no prefix needed without synthesis
    text = "\n".join(own_files(loaded, "r").values())
    assert "dns64" not in text.replace("labsim", "")
    assert "ipv4only.arpa" in text


@pytest.mark.parametrize("impl", ["unbound"])
def test_exclude_is_refused_where_it_cannot_be_honoured(impl):
    text = topo(f"  r:\n    kind: dns64\n    implementation: {impl}\n    links: [v6]\n"
                "    exclude: [\"::ffff:0:0/96\"]\n")
    with pytest.raises(InputError) as info:
        load_lab_text(text, filename="inline.yml")
    err = info.value
    assert (err.file, err.line, err.field) == ("inline.yml", 11, "nodes.r.exclude"), str(err)
    assert err.message == (f"implementation {impl!r} cannot exclude AAAA records by address range "
                           "(RFC 6147 §5.1.4); implementations that can: bind9, knot, pdns-recursor")


def test_exclude_without_synthesis_is_refused():
    text = topo("  r: {kind: dns64, implementation: bind9, links: [v6], synthesize: false,"
                " exclude: [\"::ffff:0:0/96\"]}\n")
    with pytest.raises(InputError, match="'exclude' only applies to DNS64 synthesis"):
        load_lab_text(text)


@pytest.mark.parametrize("impl", ["knot", "pdns-recursor"])
@pytest.mark.parametrize("where", ["node", "topology"])
def test_non_96_prefix_is_refused_where_it_cannot_be_honoured(impl, where):
    if where == "node":
        text = topo(f"  r: {{kind: dns64, implementation: {impl}, links: [v6], prefix: \"2001:db8:6464::/64\"}}\n")
        field = "nodes.r.prefix"
    else:
        text = topo(f"  r: {{kind: dns64, implementation: {impl}, links: [v6]}}\n",
                    head="nat64_prefix: 2001:db8:6464::/64\n")
        field = "nat64_prefix"
    with pytest.raises(InputError) as info:
        load_lab_text(text)
    assert info.value.field == field
    assert info.value.message == (f"implementation {impl!r} synthesizes only with a /96 prefix, not "
                                  "2001:db8:6464::/64; implementations that take /64: unbound, bind9")


@pytest.mark.parametrize("impl", ["unbound", "bind9"])
@pytest.mark.parametrize("length", [32, 40, 48, 56, 64])
def test_every_rfc6052_length_is_accepted_by_unbound_and_bind(impl, length):
    prefix = IPv6Network(("2001:db8:6464::", length), strict=False)
    loaded = load_lab_text(topo(f"  r: {{kind: dns64, implementation: {impl}, links: [v6], prefix: \"{prefix}\"}}\n"))
    assert str(prefix) in "\n".join(own_files(loaded, "r").values())


def test_every_schema_implementation_is_registered():
    from typing import get_args

    from labsim.kinds.dns64 import ImplementationName
    from labsim.kinds.dns64_impl import IMPLEMENTATIONS as REGISTERED

    assert list(get_args(ImplementationName)) == list(REGISTERED) == IMPLEMENTATIONS


def test_unknown_implementation_lists_the_valid_ones():
    with pytest.raises(InputError) as info:
        load_lab_text(topo("  r: {kind: dns64, implementation: dnsmasq, links: [v6]}\n"))
    for impl in IMPLEMENTATIONS:
        assert impl in info.value.message


# -- with root: one lab, every implementation side by side -------------------------------------
