"""What each kind renders: apple-review against golden files, plus targeted checks (no root).

Golden files live in tests/golden/apple-review/<node>/<path>, where <path> is what render()
returns without its leading '/' (etc/resolv.conf, unbound.conf, zones/example.test.zone).
Regenerate them after an intended change with

    LABSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_render.py

and review the diff (git diff tests/golden) before committing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.helpers import edited, assert_golden

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext, TcpProbe
from labsim.loader import LoadedLab, load_lab, load_lab_text
from labsim.node.nodeprog import split_program

HERE = Path(__file__).parent
APPLE_REVIEW = HERE.parent.parent / "topologies" / "apple-review.yml"
GOLDEN = HERE / "golden" / "apple-review"
UPDATE = os.environ.get("LABSIM_UPDATE_GOLDEN") == "1"
APPLE_NODES = ["client", "dns64", "nat64", "ns", "api", "www", "secure"]


def ctx(loaded: LoadedLab, node: str) -> NodeContext:
    plan = loaded.plan
    return NodeContext(plan, plan.nodes[node], loaded.topology.nodes[node], dir=f"/labsim/{node}",
                       python="python3")


def kind(loaded: LoadedLab, node: str):
    return registry.get(loaded.plan.nodes[node].kind)


def render(loaded: LoadedLab, node: str) -> dict[str, str]:
    return kind(loaded, node).render(ctx(loaded, node))


def argv(loaded: LoadedLab, node: str) -> list[str]:
    (service,) = kind(loaded, node).services(ctx(loaded, node))
    return service.argv


def listen_args(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "--listen"]


@pytest.fixture(scope="module")
def apple() -> LoadedLab:
    return load_lab(APPLE_REVIEW)


# -- golden files --------------------------------------------------------------------------
def test_golden_nodes_are_the_topology_nodes(apple):
    assert list(apple.plan.nodes) == APPLE_NODES
    if not UPDATE:
        assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == sorted(APPLE_NODES)


@pytest.mark.parametrize("node", APPLE_NODES)
def test_render_matches_golden(apple, node):
    files = {path.lstrip("/"): text for path, text in render(apple, node).items()}
    assert_golden(GOLDEN / node, files, node)


# -- targeted checks on apple-review -------------------------------------------------------
def test_unbound_serves_test_tld_through_a_stub_zone_at_the_ns_node(apple):
    conf = render(apple, "dns64")["unbound.conf"]
    lines = conf.splitlines()
    assert '  local-zone: "test." nodefault' in lines
    ns_addr = str(apple.plan.nodes["ns"].addresses(6)[0])
    assert ns_addr == "2001:db8:1::4"
    i = lines.index("stub-zone:")
    assert lines[i:i + 3] == ["stub-zone:", '  name: "example.test."', f"  stub-addr: {ns_addr}"]
    assert "  dns64-prefix: 2001:db8:64::/96" in lines
    assert '  directory: "/labsim/dns64"' in lines


def test_zone_file_publishes_the_ipv4_only_api(apple):
    zone = render(apple, "ns")["zones/example.test.zone"]
    assert re.search(r"^api\s+60\s+IN\s+A\s+192\.0\.2\.2$", zone, re.M), zone
    assert not re.search(r"^api\s.*\sAAAA\s", zone, re.M)  # AAAA is DNS64's job
    assert zone.startswith("$ORIGIN example.test.\n")


def test_pdns_points_at_its_own_directory(apple):
    files = render(apple, "ns")
    assert "bind-config=/labsim/ns/named.conf" in files["pdns.conf"].splitlines()
    assert files["named.conf"] == ('zone "example.test" { type master; '
                                   'file "/labsim/ns/zones/example.test.zone"; };\n')


def test_tayga_uses_the_network_specific_prefix(apple):
    conf = render(apple, "nat64")["tayga.conf"].splitlines()
    assert "prefix 2001:db8:64::/96" in conf
    assert "dynamic-pool 198.18.0.0/24" in conf
    assert "tun-device nat64" in conf
    batch = render(apple, "nat64")["tun.ip"].splitlines()
    assert "route add 2001:db8:64::/96 dev nat64" in batch
    assert "route add 198.18.0.0/24 dev nat64" in batch
    setup = kind(apple, "nat64").setup(ctx(apple, "nat64"))
    assert ["ip", "-batch", "/labsim/nat64/tun.ip"] in setup
    assert not [argv for argv in setup if argv[0] in ("sh", "bash")]  # argv lists, no shell


def test_client_resolver_is_the_dns64_node(apple):
    dns64 = str(apple.plan.nodes["dns64"].addresses(6)[0])
    assert render(apple, "client")["/etc/resolv.conf"] == (
        f"# labsim: resolver of node client\nnameserver {dns64}\n")
    assert dns64 == "2001:db8:1::3"


def test_every_node_resolves_files_then_dns(apple):
    for node in APPLE_NODES:
        files = render(apple, node)
        assert "hosts:          files dns" in files["/etc/nsswitch.conf"].splitlines()
        own = [str(a) for a in apple.plan.nodes[node].addresses()]
        assert [line.split("\t")[0] for line in files["/etc/hosts"].splitlines()[2:]] == own


def test_ipv4_only_api_listens_on_0000(apple):
    args = argv(apple, "api")
    assert listen_args(args) == ["0.0.0.0"]
    assert args[0] == "python3" and split_program(args)[0] == "labsim.node.echo_server"
    assert split_program(args)[1][:2] == ["--name", "api"]
    assert args[args.index("--cert") + 1] == "/labsim/api/tls/cert.pem"
    assert kind(apple, "api").tls(ctx(apple, "api")).names == ["api.example.test", "assets.example.test", "api", "192.0.2.2"]


# -- backends: where they listen -----------------------------------------------------------
BACKEND = """
name: t
networks:
  ds: {ipv6: "2001:db8:1::/64", ipv4: 10.0.0.0/24}
  v6: {ipv6: "2001:db8:2::/64"}
  v4: {ipv4: 10.0.1.0/24}
nodes:
  web:
    kind: backend
    links: [%s]
%s"""


@pytest.mark.parametrize("links, extra, listen", [
    ("ds", "", ["::"]),
    ("v6", "", ["::"]),
    ("v4", "", ["0.0.0.0"]),
    ("ds", '    listen: ["0.0.0.0"]\n', ["0.0.0.0"]),
    ("ds", '    listen: ["0.0.0.0", "2001:db8:1::1"]\n', ["0.0.0.0", "2001:db8:1::1"]),
])
def test_backend_listen_addresses(links, extra, listen):
    loaded = load_lab_text(BACKEND % (links, extra))
    assert listen_args(argv(loaded, "web")) == listen


def test_backend_bound_to_0000_is_probed_over_ipv4():
    loaded = load_lab_text(BACKEND % ("ds", '    listen: ["0.0.0.0"]\n'))
    probes = kind(loaded, "web").probes(ctx(loaded, "web"))
    assert probes == [TcpProbe(loaded.plan.nodes["web"].addresses(4)[0], 80),
                      TcpProbe(loaded.plan.nodes["web"].addresses(4)[0], 443)]


def test_backend_without_https_has_no_certificate():
    loaded = load_lab_text(BACKEND % ("v4", "    https_port: null\n    http_port: 8080\n"))
    args = argv(loaded, "web")
    assert args[args.index("--http") + 1] == "8080"
    assert args[args.index("--https") + 1] == "0"
    assert "--cert" not in args
    assert kind(loaded, "web").tls(ctx(loaded, "web")) is None


def test_ipv6_only_backend_bound_to_0000_is_probed_where_it_listens():
    try:
        loaded = load_lab_text(BACKEND % ("v6", '    listen: ["0.0.0.0"]\n'))
    except InputError:
        return
    probes = kind(loaded, "web").probes(ctx(loaded, "web"))
    assert probes and all(p.address.version == 4 for p in probes)


# -- resolvers and zones -------------------------------------------------------------------
def test_resolver_search_nameservers_and_options_in_order(apple):
    text = edited(APPLE_REVIEW.read_text(), 
        "    resolver: {nameservers: [dns64]}",
        "    resolver:\n      nameservers: [dns64, '2001:db8:53::1']\n"
        "      search: [example.test]\n      options: ['timeout:1', 'attempts:2']")
    loaded = load_lab_text(text)
    assert render(loaded, "client")["/etc/resolv.conf"] == (
        "# labsim: resolver of node client\n"
        "search example.test\n"
        "nameserver 2001:db8:1::3\n"
        "nameserver 2001:db8:53::1\n"
        "options timeout:1 attempts:2\n")


def test_default_resolver_is_the_authdns_node_when_there_is_no_dns64():
    loaded = load_lab_text("""
name: t
networks: {v6: {ipv6: "2001:db8:1::/64"}}
nodes:
  c: {kind: client, links: [v6]}
  ns: {kind: authdns, links: [v6], zones: {example.test: {}}}
""")
    assert "nameserver 2001:db8:1::2\n" in render(loaded, "c")["/etc/resolv.conf"]


def test_zone_records_names_and_node_references():
    loaded = load_lab_text("""
name: t
nat64_prefix: 2001:db8:64::/96
networks:
  ds: {ipv6: "2001:db8:1::/64", ipv4: 10.0.0.0/24}
nodes:
  web: {kind: backend, links: [ds], names: [www.example.test, example.test]}
  ns:
    kind: authdns
    links: [ds]
    zones:
      example.test:
        ttl: 300
        records:
          api: {A: 192.0.2.10, AAAA: web}
          alias: {CNAME: www.example.test.}
          "@": {TXT: '"v=spf1 -all"'}
""")
    zone = render(loaded, "ns")["zones/example.test.zone"]
    body = zone.splitlines()[5:]  # after $ORIGIN, $TTL, SOA, NS and the NS name's address
    assert zone.splitlines()[:5] == [
        "$ORIGIN example.test.", "$TTL 300",
        "@ IN SOA ns-ns.example.test. hostmaster.example.test. 1 3600 600 86400 300",
        "@ IN NS ns-ns.example.test.", "ns-ns.example.test. IN AAAA 2001:db8:1::2"]
    assert body == [
        "ns-ns.example.test. IN A 10.0.0.2",
        "api 300 IN A 192.0.2.10",
        "api 300 IN AAAA 2001:db8:1::1",
        "alias 300 IN CNAME www.example.test.",
        '@ 300 IN TXT "v=spf1 -all"',
        "www 300 IN AAAA 2001:db8:1::1",
        "www 300 IN A 10.0.0.1",
        "@ 300 IN AAAA 2001:db8:1::1",
        "@ 300 IN A 10.0.0.1",
    ]


@pytest.mark.parametrize("zone, local_zone", [
    ("example.test", "test."),
    pytest.param("lab.home.arpa", "home.arpa.", id="lab.home.arpa"),
    ("home.arpa", "home.arpa."),
    ("corp.invalid", "invalid."),
    ("example.com", None),
])
def test_unbound_local_zone_nodefault_for_special_use_names(zone, local_zone):
    loaded = load_lab_text(f"""
name: t
nat64_prefix: 2001:db8:64::/96
networks: {{v6: {{ipv6: "2001:db8:1::/64"}}}}
nodes:
  dns64: {{kind: dns64, links: [v6]}}
  ns: {{kind: authdns, links: [v6], zones: {{{zone}: {{}}}}}}
""")
    lines = render(loaded, "dns64")["unbound.conf"].splitlines()
    nodefault = [line.strip() for line in lines if "local-zone:" in line]
    assert nodefault == ([f'local-zone: "{local_zone}" nodefault'] if local_zone else [])
    assert f'  name: "{zone}."' in lines


def test_unbound_nodefault_for_a_documentation_reverse_zone():
    loaded = load_lab_text("""
name: t
nat64_prefix: 2001:db8:64::/96
networks: {v6: {ipv6: "2001:db8:1::/64"}}
nodes:
  dns64: {kind: dns64, links: [v6]}
  ns:
    kind: authdns
    links: [v6]
    zones:
      2.0.192.in-addr.arpa: {records: {"10": {PTR: api.example.test.}}}
""")
    lines = render(loaded, "dns64")["unbound.conf"].splitlines()
    assert '  local-zone: "2.0.192.in-addr.arpa." nodefault' in lines


def test_render_is_deterministic(apple):
    again = load_lab(APPLE_REVIEW)
    for node in APPLE_NODES:
        assert render(again, node) == render(apple, node)
