"""The address and route planner: apple-review and small inline topologies (no root)."""

from __future__ import annotations


import pytest

from labsim.loader import load_lab, load_lab_text
from tests.helpers import edited, REPO
from labsim.model.plan import Plan

APPLE_REVIEW = REPO / "topologies" / "apple-review.yml"


def addrs(plan: Plan) -> dict[str, list[str]]:
    """node -> ['eth0 v6net 2001:db8:1::2/64', ...], one entry per planned address."""
    return {n.name: [f"{i.ifname} {i.network} {a}" for i in n.ifaces for a in (i.ipv6, i.ipv4) if a]
            for n in plan.nodes.values()}


def routes(plan: Plan, node: str) -> list[str]:
    return [f"{r.dst} via {r.via}" for r in plan.nodes[node].routes]


@pytest.fixture(scope="module")
def apple() -> Plan:
    return load_lab(APPLE_REVIEW).plan


# -- apple-review --------------------------------------------------------------------------
def test_apple_review_addresses(apple):
    assert addrs(apple) == {
        "client": ["eth0 v6net 2001:db8:1::2/64"],
        "dns64": ["eth0 v6net 2001:db8:1::3/64"],
        "nat64": ["eth0 v6net 2001:db8:1::1/64", "eth1 v4net 192.0.2.1/24"],  # forwarder first
        "ns": ["eth0 v6net 2001:db8:1::4/64"],
        "api": ["eth0 v4net 192.0.2.2/24"],
        "www": ["eth0 v6net 2001:db8:1::5/64", "eth1 v4net 192.0.2.3/24"],
        "secure": ["eth0 v6net 2001:db8:1::6/64", "eth1 v4net 192.0.2.4/24"],
    }


@pytest.mark.parametrize("node, expected", [
    ("client", ["2001:db8:64::/96 via 2001:db8:1::1"]),  # the NAT64 prefix via the nat64 node
    ("dns64", ["2001:db8:64::/96 via 2001:db8:1::1"]),
    ("ns", ["2001:db8:64::/96 via 2001:db8:1::1"]),
    ("nat64", []),  # attached to both networks, owns the prefix and the pool
    ("api", ["198.18.0.0/24 via 192.0.2.1"]),  # the IPv4-only backend routes the pool back
])
def test_apple_review_routes(apple, node, expected):
    assert routes(apple, node) == expected


def test_apple_review_ipv6_only_client_has_no_ipv4_at_all(apple):
    client = apple.nodes["client"]
    assert client.addresses(4) == []
    assert [i.ipv4 for i in client.ifaces] == [None]
    assert [r for r in client.routes if r.family == 4] == []


def test_apple_review_ipv4_only_backend_has_no_ipv6_route(apple):
    api = apple.nodes["api"]
    assert api.addresses(6) == []
    assert [r for r in api.routes if r.family == 6] == []


def test_apple_review_interfaces_bridges_and_owned_prefixes(apple):
    nat64 = apple.nodes["nat64"]
    assert [(i.ifname, i.peer, i.network) for i in nat64.ifaces] == [
        ("eth0", "nat64-e0", "v6net"), ("eth1", "nat64-e1", "v4net")]
    assert apple.bridges == {"v6net": "v6net", "v4net": "v4net"}
    assert [str(p) for p in apple.owned["nat64"]] == ["2001:db8:64::/96", "198.18.0.0/24"]
    assert [n.name for n in sorted(apple.nodes.values(), key=lambda n: n.index)] == [
        "client", "dns64", "nat64", "ns", "api", "www", "secure"]
    assert {n.name for n in apple.nodes.values() if n.forwards} == {"nat64"}


def test_apple_review_plan_is_deterministic(apple):
    again = load_lab(APPLE_REVIEW).plan
    from_text = load_lab_text(APPLE_REVIEW.read_text()).plan
    assert again == apple
    assert from_text == apple
    assert addrs(from_text) == addrs(apple)
    assert {n: routes(from_text, n) for n in from_text.nodes} == {n: routes(apple, n) for n in apple.nodes}


def test_lab_name_override_changes_only_the_lab(apple):
    renamed = load_lab(APPLE_REVIEW, name="t1").plan
    assert renamed.lab == "t1"
    assert addrs(renamed) == addrs(apple)
    assert renamed.nodes["client"].routes == apple.nodes["client"].routes


# -- numbering -----------------------------------------------------------------------------
def test_forwarding_nodes_are_numbered_first_then_file_order():
    plan = load_lab_text("""
name: t
networks:
  lan: {ipv6: "2001:db8:1::/64", ipv4: 10.0.0.0/24}
  wan: {ipv4: 10.0.1.0/24}
nodes:
  a: {kind: client, links: [lan]}
  b: {kind: backend, links: [lan]}
  gw: {kind: router, links: [lan, wan]}
""").plan
    assert addrs(plan) == {
        "a": ["eth0 lan 2001:db8:1::2/64", "eth0 lan 10.0.0.2/24"],
        "b": ["eth0 lan 2001:db8:1::3/64", "eth0 lan 10.0.0.3/24"],
        "gw": ["eth0 lan 2001:db8:1::1/64", "eth0 lan 10.0.0.1/24", "eth1 wan 10.0.1.1/24"],
    }
    assert routes(plan, "a") == ["10.0.1.0/24 via 10.0.0.1"]


def test_explicit_addresses_are_kept_and_skipped_by_numbering():
    plan = load_lab_text("""
name: t
networks:
  lan: {ipv6: "2001:db8:1::/64", ipv4: 10.0.0.0/24}
  wan: {ipv4: 10.0.1.0/24}
nodes:
  a:
    kind: client
    links: [{network: lan, ipv6: "2001:db8:1::1"}]
  b: {kind: client, links: [lan]}
  gw:
    kind: router
    links: [{network: lan, ipv4: 10.0.0.3}, wan]
""").plan
    assert addrs(plan) == {
        "a": ["eth0 lan 2001:db8:1::1/64", "eth0 lan 10.0.0.1/24"],
        "b": ["eth0 lan 2001:db8:1::3/64", "eth0 lan 10.0.0.2/24"],
        "gw": ["eth0 lan 2001:db8:1::2/64", "eth0 lan 10.0.0.3/24", "eth1 wan 10.0.1.1/24"],
    }
    assert routes(plan, "a") == ["10.0.1.0/24 via 10.0.0.3"]


def test_ipv6_only_client_on_a_dual_stack_lab_gets_no_ipv4():
    plan = load_lab_text("""
name: t
networks:
  v6: {ipv6: "2001:db8:1::/64"}
  ds: {ipv6: "2001:db8:2::/64", ipv4: 10.0.2.0/24}
nodes:
  c: {kind: client, links: [v6]}
  r: {kind: router, links: [v6, ds]}
  s: {kind: backend, links: [ds]}
""").plan
    assert addrs(plan)["c"] == ["eth0 v6 2001:db8:1::2/64"]
    assert routes(plan, "c") == ["2001:db8:2::/64 via 2001:db8:1::1"]
    assert routes(plan, "s") == ["2001:db8:1::/64 via 2001:db8:2::1"]


def test_long_node_names_get_short_hub_side_peers():
    plan = load_lab_text("""
name: t
networks: {v6: {ipv6: "2001:db8:1::/64"}, v6b: {ipv6: "2001:db8:2::/64"}}
nodes:
  short: {kind: client, links: [v6]}
  a-rather-long-node-name: {kind: client, links: [v6, v6b]}
""").plan
    assert [i.peer for i in plan.nodes["short"].ifaces] == ["short-e0"]
    assert [i.peer for i in plan.nodes["a-rather-long-node-name"].ifaces] == ["~1e0", "~1e1"]
    assert all(len(i.peer) <= 15 for n in plan.nodes.values() for i in n.ifaces)


# -- routing -------------------------------------------------------------------------------
CHAIN = """
name: t
networks:
  n1: {ipv6: "2001:db8:1::/64", ipv4: 10.0.1.0/24}
  n2: {ipv6: "2001:db8:2::/64", ipv4: 10.0.2.0/24}
  n3: {ipv6: "2001:db8:3::/64", ipv4: 10.0.3.0/24}
nodes:
  c: {kind: client, links: [n1]%s}
  r1: {kind: router, links: [n1, n2]}
  r2: {kind: router, links: [n2, n3]}
  s: {kind: backend, links: [n3]}
"""


@pytest.mark.parametrize("node, expected", [
    ("c", ["2001:db8:2::/64 via 2001:db8:1::1", "2001:db8:3::/64 via 2001:db8:1::1",
           "10.0.2.0/24 via 10.0.1.1", "10.0.3.0/24 via 10.0.1.1"]),
    ("r1", ["2001:db8:3::/64 via 2001:db8:2::2", "10.0.3.0/24 via 10.0.2.2"]),
    ("r2", ["2001:db8:1::/64 via 2001:db8:2::1", "10.0.1.0/24 via 10.0.2.1"]),
    ("s", ["2001:db8:1::/64 via 2001:db8:3::1", "2001:db8:2::/64 via 2001:db8:3::1",
           "10.0.1.0/24 via 10.0.3.1", "10.0.2.0/24 via 10.0.3.1"]),
])
def test_multi_hop_routes_through_two_routers(node, expected):
    plan = load_lab_text(CHAIN % "").plan
    assert routes(plan, node) == expected


def test_ties_go_to_file_order_and_only_forwarders_carry_traffic():
    plan = load_lab_text("""
name: t
networks:
  n1: {ipv6: "2001:db8:1::/64"}
  n2: {ipv6: "2001:db8:2::/64"}
  island: {ipv6: "2001:db8:9::/64"}
nodes:
  c: {kind: client, links: [n1]}
  multi: {kind: client, links: [n1, n2, island]}
  zr: {kind: router, links: [n1, n2]}
  ar:
    kind: router
    links: [{network: n1, ipv6: "2001:db8:1::1"}, n2]
""").plan
    # zr comes first in the file, so it wins the tie although ar holds the lower address;
    # the multi-homed client is never a next hop, so 'island' is unreachable and unrouted
    assert routes(plan, "c") == ["2001:db8:2::/64 via 2001:db8:1::2"]


def test_nat64_node_prefix_overrides_the_topology_prefix():
    plan = load_lab_text(edited(APPLE_REVIEW.read_text(), 
        "    pool4: 198.18.0.0/24", "    pool4: 198.51.100.0/24\n    prefix: 2001:db8:46::/96")).plan
    assert routes(plan, "client") == ["2001:db8:46::/96 via 2001:db8:1::1"]
    assert routes(plan, "api") == ["198.51.100.0/24 via 192.0.2.1"]


@pytest.mark.parametrize("explicit, expected", [
    pytest.param("{to: '2001:db8:3::/64', via: '2001:db8:1::99'}",
                 ["2001:db8:2::/64 via 2001:db8:1::1", "10.0.2.0/24 via 10.0.1.1",
                  "10.0.3.0/24 via 10.0.1.1", "2001:db8:3::/64 via 2001:db8:1::99"],
                 id="prefix-via-address-replaces-planned"),
    pytest.param("{to: '10.0.3.0/24', via: r1}",
                 ["2001:db8:2::/64 via 2001:db8:1::1", "2001:db8:3::/64 via 2001:db8:1::1",
                  "10.0.2.0/24 via 10.0.1.1", "10.0.3.0/24 via 10.0.1.1"],
                 id="prefix-via-node-uses-its-address-in-that-family"),
    pytest.param("{to: '192.0.2.0/24', via: 10.0.1.50}",
                 ["2001:db8:2::/64 via 2001:db8:1::1", "2001:db8:3::/64 via 2001:db8:1::1",
                  "10.0.2.0/24 via 10.0.1.1", "10.0.3.0/24 via 10.0.1.1", "192.0.2.0/24 via 10.0.1.50"],
                 id="new-prefix-is-added"),
    pytest.param("{to: default, via: '2001:db8:1::1'}",
                 ["2001:db8:2::/64 via 2001:db8:1::1", "2001:db8:3::/64 via 2001:db8:1::1",
                  "10.0.2.0/24 via 10.0.1.1", "10.0.3.0/24 via 10.0.1.1", "::/0 via 2001:db8:1::1"],
                 id="default-via-ipv6-address"),
])
def test_explicit_route_replaces_the_planned_one(explicit, expected):
    plan = load_lab_text(CHAIN % f", routes: [{explicit}]").plan
    assert routes(plan, "c") == expected
    assert routes(plan, "s") == routes(load_lab_text(CHAIN % "").plan, "s")  # others unchanged


def test_default_via_node_on_a_dual_stack_node_covers_both_families():
    plan = load_lab_text(CHAIN % ", routes: [{to: default, via: r1}]").plan
    assert {"::/0 via 2001:db8:1::1", "0.0.0.0/0 via 10.0.1.1"} <= set(routes(plan, "c"))


def test_explicit_route_to_a_dual_stack_network_via_ipv4_address():
    plan = load_lab_text(CHAIN % ", routes: [{to: n3, via: 10.0.1.50}]").plan
    got = routes(plan, "c")
    assert "10.0.3.0/24 via 10.0.1.50" in got
    assert "10.0.3.0/24 via 10.0.1.1" not in got


def test_same_input_same_plan_for_inline_topologies():
    texts = [CHAIN % "", CHAIN % ", routes: [{to: default, via: '2001:db8:1::1'}]"]
    for text in texts:
        a, b = load_lab_text(text).plan, load_lab_text(text).plan
        assert a == b
        assert addrs(a) == addrs(b)
        assert {n: routes(a, n) for n in a.nodes} == {n: routes(b, n) for n in b.nodes}
