"""The four DNS64 implementations (unbound, BIND 9, Knot Resolver, PowerDNS Recursor) give the
same answers: one lab with a resolver per implementation and option set, queried from a
client node, answers compared without TTLs (what each renders and refuses:
tests/unit/test_dns64_parity.py)."""

from __future__ import annotations

import sys
import time
import uuid
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest


from labsim.loader import LoadedLab, load_lab_text

from tests.unit.test_dns64_parity import IMPLEMENTATIONS

root = pytest.mark.root


PREFIX = IPv6Network("2001:db8:64::/96")
PREFIX64 = IPv6Network("2001:db8:6464::/64")
MAPPED = "::ffff:192.0.2.12"
MAPPED_MIXED = "::ffff:192.0.2.13"
MAPPED_ONLY = "::ffff:192.0.2.14"

# resolver node -> (implementation, extra options)
RESOLVERS = {
    **{f"r-{i}": (i, "") for i in IMPLEMENTATIONS},
    "x-bind9": ("bind9", 'exclude: ["::ffff:0:0/96"]'),
    "x-knot": ("knot", 'exclude: ["::ffff:0:0/96"]'),
    "x-pdns-recursor": ("pdns-recursor", 'exclude: ["::ffff:0:0/96"]'),
    "p-unbound": ("unbound", f'prefix: "{PREFIX64}"'),
    "p-bind9": ("bind9", f'prefix: "{PREFIX64}"'),
    **{f"n-{i}": (i, "synthesize: false") for i in IMPLEMENTATIONS},
}
PLAIN = [f"r-{i}" for i in IMPLEMENTATIONS]
EXCLUDING = ["x-bind9", "x-knot", "x-pdns-recursor"]
SLASH64 = ["p-unbound", "p-bind9"]
NO_SYNTH = [f"n-{i}" for i in IMPLEMENTATIONS]
CLIENTS = {f"c-{r}": r for r in PLAIN + ["p-bind9", "n-pdns-recursor"]}  # a client per resolver it uses


def parity_topology(name: str) -> str:
    lines = [
        f"name: {name}",
        f"nat64_prefix: {PREFIX}",
        "networks:",
        '  v6: {ipv6: "2001:db8:1::/64"}',
        "nodes:",
        "  client: {kind: client, links: [v6]}",
        "  ns:",
        "    kind: authdns",
        "    links: [v6]",
        "    zones:",
        "      example.test:",
        "        records:",
        "          v4only: {A: 192.0.2.10}",
        "          multi: {A: [192.0.2.20, 192.0.2.21]}",
        '          dual: {A: 192.0.2.11, AAAA: "2001:db8:1::11"}',
        f'          mapped: {{A: 192.0.2.12, AAAA: "{MAPPED}"}}',
        "          alias: {CNAME: alias2.example.test.}",
        "          alias2: {CNAME: v4only.example.test.}",
        "          away: {CNAME: far.example.net.}",
        f'          mixed: {{A: 192.0.2.13, AAAA: ["{MAPPED_MIXED}", "2001:db8:1::13"]}}',
        "          alias-mapped: {CNAME: mapped.example.test.}",
        f'          mapped-only: {{AAAA: "{MAPPED_ONLY}"}}',
        "  ns2:",
        "    kind: authdns",
        "    links: [v6]",
        "    zones:",
        "      example.net:",
        "        records:",
        "          far: {A: 198.51.100.7}",
    ]
    for node, (impl, extra) in RESOLVERS.items():
        lines.append(f"  {node}: {{kind: dns64, implementation: {impl}, links: [v6]"
                     + (f", {extra}" if extra else "") + "}")
    for client, resolver in CLIENTS.items():
        lines.append(f"  {client}: {{kind: client, links: [v6], resolver: {{nameservers: [{resolver}]}}}}")
    return "\n".join(lines) + "\n"


def synth(ipv4: str, prefix: IPv6Network = PREFIX) -> str:
    from labsim.node.nat64prefix import embed

    return str(embed(ipv4, prefix))


class Lab:
    """A running lab and how to ask its resolvers from the client node."""

    def __init__(self, loaded: LoadedLab, up):
        from labsim.checks import CheckEnv
        from labsim.bringup.lab import make_runtime
        from labsim.runtime.state import LabState

        self.loaded = loaded
        self.name = loaded.plan.lab
        self.up = up
        self.runtime = make_runtime(LabState.load(self.name))
        addrs = {n: [str(a) for a in p.addresses()] for n, p in loaded.plan.nodes.items()}
        self.env = CheckEnv(self.runtime, sys.executable, addrs)

    def addr(self, node: str) -> str:
        return str(self.loaded.plan.nodes[node].addresses(6)[0])

    def ask(self, resolver: str, qname: str, rdtype: str) -> tuple[str, list[tuple[str, str, str]]]:
        """(rcode, sorted answer rows without TTLs) of one query from the client."""
        import dns.rcode
        import dns.rdatatype

        from labsim.checks.base import query

        r, _, _ = query(self.env, "client", self.addr(resolver), qname, rdtype, timeout=3.0)
        assert r is not None, f"{resolver} did not answer {qname} {rdtype}"
        rows = sorted((rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype),
                       str(IPv6Address(rd.address)) if rrset.rdtype == dns.rdatatype.AAAA else rd.to_text())
                      for rrset in r.answer for rd in rrset)
        return dns.rcode.to_text(r.rcode()), rows


@pytest.fixture(scope="module")
def parity_lab():
    from labsim.bringup import lab

    name = "d64p" + uuid.uuid4().hex[:8]
    loaded = load_lab_text(parity_topology(name))
    try:
        up = lab.up(loaded)
        running = Lab(loaded, up)
        yield running
        running.runtime.close()
    finally:
        lab.down(name)


def same_everywhere(lab: Lab, resolvers: list[str], qname: str, rdtype: str):
    got = {r: lab.ask(r, qname, rdtype) for r in resolvers}
    first = got[resolvers[0]]
    assert all(v == first for v in got.values()), f"{qname} {rdtype} differs: {got}"
    return first


def aaaa(name: str, *addrs: str) -> list[tuple[str, str, str]]:
    return sorted((name, "AAAA", str(IPv6Address(a))) for a in addrs)


@root
def test_a_only_name_is_synthesized_in_the_prefix(parity_lab):
    rcode, rows = same_everywhere(parity_lab, PLAIN, "v4only.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", aaaa("v4only.example.test.", synth("192.0.2.10")))
    rcode, rows = same_everywhere(parity_lab, PLAIN, "multi.example.test.", "AAAA")
    assert rows == aaaa("multi.example.test.", synth("192.0.2.20"), synth("192.0.2.21"))


@root
def test_dual_stack_name_keeps_its_real_aaaa(parity_lab):
    rcode, rows = same_everywhere(parity_lab, PLAIN + EXCLUDING + SLASH64 + NO_SYNTH, "dual.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", aaaa("dual.example.test.", "2001:db8:1::11"))


@root
def test_a_records_pass_through_unchanged(parity_lab):
    rcode, rows = same_everywhere(parity_lab, PLAIN + NO_SYNTH, "v4only.example.test.", "A")
    assert rows == [("v4only.example.test.", "A", "192.0.2.10")]


@root
def test_without_exclude_a_mapped_aaaa_is_kept_by_all_four(parity_lab):
    rcode, rows = same_everywhere(parity_lab, PLAIN, "mapped.example.test.", "AAAA")
    assert rows == aaaa("mapped.example.test.", MAPPED)


@root
def test_an_excluded_aaaa_is_synthesized_instead(parity_lab):
    rcode, rows = same_everywhere(parity_lab, EXCLUDING, "mapped.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", aaaa("mapped.example.test.", synth("192.0.2.12")))
    # behind a CNAME too
    rcode, rows = same_everywhere(parity_lab, EXCLUDING, "alias-mapped.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", sorted([("alias-mapped.example.test.", "CNAME", "mapped.example.test."),
                                                ("mapped.example.test.", "AAAA", synth("192.0.2.12"))]))
    # excluded, and no A to synthesize from: NODATA
    rcode, rows = same_everywhere(parity_lab, EXCLUDING, "mapped-only.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", [])
    # a real AAAA outside the excluded range still wins
    rcode, rows = same_everywhere(parity_lab, EXCLUDING, "dual.example.test.", "AAAA")
    assert rows == aaaa("dual.example.test.", "2001:db8:1::11")
    # and the plain resolvers return the excluded-elsewhere ones as they are
    rcode, rows = same_everywhere(parity_lab, PLAIN, "mapped-only.example.test.", "AAAA")
    assert rows == aaaa("mapped-only.example.test.", MAPPED_ONLY)


@root
def test_an_rrset_with_excluded_and_other_aaaa(parity_lab):
    """BIND and the PowerDNS hook drop the excluded record and keep the other one. Knot
    Resolver 5.6's dns64 module is lazy ("kills the whole RRset" when one record is
    excluded) and synthesizes instead: a known difference, asserted so a change shows."""
    rcode, rows = same_everywhere(parity_lab, ["x-bind9", "x-pdns-recursor"], "mixed.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", aaaa("mixed.example.test.", "2001:db8:1::13"))
    assert parity_lab.ask("x-knot", "mixed.example.test.", "AAAA") == (
        "NOERROR", aaaa("mixed.example.test.", synth("192.0.2.13")))


@root
def test_nxdomain(parity_lab):
    for qtype in ("AAAA", "A"):
        rcode, rows = same_everywhere(parity_lab, PLAIN + EXCLUDING + SLASH64 + NO_SYNTH,
                                      "nope.example.test.", qtype)
        assert (rcode, rows) == ("NXDOMAIN", [])


@root
def test_cname_chain_to_an_a_only_name(parity_lab):
    rcode, rows = same_everywhere(parity_lab, PLAIN, "alias.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", sorted([
        ("alias.example.test.", "CNAME", "alias2.example.test."),
        ("alias2.example.test.", "CNAME", "v4only.example.test."),
        ("v4only.example.test.", "AAAA", synth("192.0.2.10")),
    ]))


@root
def test_cname_into_another_lab_zone(parity_lab):
    """A CNAME from one lab zone into another served elsewhere (Knot's forwarding holds for
    a whole request, CNAME targets included: its config must not send the target to the
    first zone's server)."""
    rcode, rows = same_everywhere(parity_lab, PLAIN, "away.example.test.", "AAAA")
    assert (rcode, rows) == ("NOERROR", sorted([
        ("away.example.test.", "CNAME", "far.example.net."),
        ("far.example.net.", "AAAA", synth("198.51.100.7")),
    ]))


@root
def test_ipv4only_arpa_rfc7050(parity_lab):
    rcode, rows = same_everywhere(parity_lab, PLAIN + EXCLUDING, "ipv4only.arpa.", "AAAA")
    assert (rcode, rows) == ("NOERROR", aaaa("ipv4only.arpa.", "2001:db8:64::c000:aa", "2001:db8:64::c000:ab"))
    rcode, rows = same_everywhere(parity_lab, PLAIN + EXCLUDING + SLASH64 + NO_SYNTH, "ipv4only.arpa.", "A")
    assert (rcode, rows) == ("NOERROR", [("ipv4only.arpa.", "A", "192.0.0.170"),
                                         ("ipv4only.arpa.", "A", "192.0.0.171")])


@root
def test_slash64_prefix_skips_the_u_octet(parity_lab):
    rcode, rows = same_everywhere(parity_lab, SLASH64, "v4only.example.test.", "AAAA")
    assert rows == aaaa("v4only.example.test.", "2001:db8:6464:0:c0:2:a00:0")
    assert rows == aaaa("v4only.example.test.", synth("192.0.2.10", PREFIX64))
    rcode, rows = same_everywhere(parity_lab, SLASH64, "ipv4only.arpa.", "AAAA")
    assert rows == aaaa("ipv4only.arpa.", synth("192.0.0.170", PREFIX64), synth("192.0.0.171", PREFIX64))


@root
def test_synthesize_false_is_a_plain_resolver(parity_lab):
    for qname in ("v4only.example.test.", "ipv4only.arpa."):
        rcode, rows = same_everywhere(parity_lab, NO_SYNTH, qname, "AAAA")
        assert (rcode, rows) == ("NOERROR", []), qname
    rcode, rows = same_everywhere(parity_lab, NO_SYNTH, "away.example.test.", "A")
    assert rows == sorted([("away.example.test.", "CNAME", "far.example.net."),
                           ("far.example.net.", "A", "198.51.100.7")])


@root
def test_names_outside_the_lab_fail_at_once(parity_lab):
    """No uplink: every implementation gives up at once (no root server is reachable)."""
    for r in PLAIN:
        t0 = time.monotonic()
        rcode, rows = parity_lab.ask(r, "www.example.com.", "AAAA")
        assert (rcode, rows) == ("SERVFAIL", []), r
        assert time.monotonic() - t0 < 1.0, r


@root
@pytest.mark.parametrize("client", list(CLIENTS))
def test_discover_in_node_through_each_resolver(parity_lab, client):
    from labsim.checks.nat64discovery import discover_in_node

    resolver = CLIENTS[client]
    assert parity_lab.env.nameservers(client) == [parity_lab.addr(resolver)]
    expected = {"p-bind9": [PREFIX64], "n-pdns-recursor": []}.get(resolver, [PREFIX])
    assert discover_in_node(parity_lab.env, client) == expected


@root
def test_synthesize_for_an_ipv4_literal(parity_lab):
    from labsim.checks.nat64discovery import synthesize_for

    assert synthesize_for(parity_lab.env, "c-r-knot", "192.0.2.99") == IPv6Address("2001:db8:64::c000:263")
    assert synthesize_for(parity_lab.env, "c-p-bind9", IPv4Address("192.0.2.99")) == \
        IPv6Address(synth("192.0.2.99", PREFIX64))
    with pytest.raises(LookupError, match="synthesizes no AAAA"):
        synthesize_for(parity_lab.env, "c-n-pdns-recursor", "192.0.2.99")


@root
def test_every_daemon_logs_to_its_node_directory(parity_lab):
    from labsim.runtime.state import LabState

    state = LabState.load(parity_lab.name)
    services = {(p["node"], p["service"]) for p in state.processes}
    for node, (impl, _) in RESOLVERS.items():
        expected = {"unbound": {"unbound"}, "bind9": {"named"}, "knot": {"kresd", "kresd-stub"},
                    "pdns-recursor": {"pdns-recursor"}}[impl]
        assert {s for n, s in services if n == node} == expected, node
    for p in state.processes:
        assert p["log"].startswith(str(state.dir)), p


# -- bring-up time, one small lab per implementation ------------------------------------------
@root
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bring_up_is_fast(impl, record_property):
    from labsim.bringup import lab

    name = "d64t" + uuid.uuid4().hex[:8]
    loaded = load_lab_text(f"""
name: {name}
nat64_prefix: {PREFIX}
networks: {{v6: {{ipv6: "2001:db8:1::/64"}}}}
nodes:
  client: {{kind: client, links: [v6], resolver: {{nameservers: [r]}}}}
  ns: {{kind: authdns, links: [v6], zones: {{example.test: {{records: {{v4only: {{A: 192.0.2.10}}}}}}}}}}
  r: {{kind: dns64, implementation: {impl}, links: [v6]}}
""")
    try:
        up = lab.up(loaded)
        for key, value in up.timings.items():
            record_property(key, round(value, 3))
        print(f"{impl}: " + ", ".join(f"{k} {v:.3f}s" for k, v in up.timings.items()))
        assert up.timings["ready_wait"] < 3.0, up.timings
        running = Lab(loaded, up)
        assert running.ask("r", "v4only.example.test.", "AAAA") == (
            "NOERROR", aaaa("v4only.example.test.", synth("192.0.2.10")))
        running.runtime.close()
    finally:
        lab.down(name)


@root
def test_ipv4only_arpa_stays_local_with_an_uplink():
    """With an uplink every other name goes to slirp4netns's forwarder; ipv4only.arpa must
    still come from the resolver itself (unbound: a forward zone for '.' outranks an
    auth-zone, so a stub zone makes a hole in it). Only lab names are asked here."""
    from labsim.bringup import lab

    name = "d64u" + uuid.uuid4().hex[:8]
    nodes = "\n".join(f"  r-{i}: {{kind: dns64, implementation: {i}, links: [v6]}}" for i in IMPLEMENTATIONS)
    loaded = load_lab_text(f"""
name: {name}
nat64_prefix: {PREFIX}
networks: {{v6: {{ipv6: "2001:db8:1::/64"}}, v4: {{ipv4: 192.0.2.0/24}}}}
nodes:
  client: {{kind: client, links: [v6]}}
  nat64: {{kind: nat64, links: [v6, v4], uplink: true}}
  ns: {{kind: authdns, links: [v6], zones: {{example.test: {{records: {{v4only: {{A: 192.0.2.10}}}}}}}}}}
{nodes}
""")
    try:
        running = Lab(loaded, lab.up(loaded))
        resolvers = [f"r-{i}" for i in IMPLEMENTATIONS]
        assert same_everywhere(running, resolvers, "ipv4only.arpa.", "AAAA") == (
            "NOERROR", aaaa("ipv4only.arpa.", "2001:db8:64::c000:aa", "2001:db8:64::c000:ab"))
        assert same_everywhere(running, resolvers, "v4only.example.test.", "AAAA") == (
            "NOERROR", aaaa("v4only.example.test.", synth("192.0.2.10")))
        running.runtime.close()
    finally:
        lab.down(name)
