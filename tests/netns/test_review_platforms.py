"""Tier 2: `labsim review` on the app-review lab per platform, with WebSocket and raw TCP
endpoints, following, and the HTML/JUnit reports (real labs, real daemons, real CLAT)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import run_labsim

pytestmark = pytest.mark.root

LITERAL = "http://192.0.2.2/v1/"
NETS = ("dns64-nat64", "ipv6-only")
# the docker tier runs the derived-network tests again with LABSIM_DIFF_RUNTIME=docker
# (tests/docker/test_client_stacks_docker.py)
RUNTIME = os.environ.get("LABSIM_DIFF_RUNTIME", "netns")


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    d = tmp_path_factory.mktemp("review")
    res = run_labsim("review", "--topology", "topologies/apple-review.yml", "--urls", "topologies/apple-review.urls",
                     "--json", str(d / "r.json"), "--html", str(d / "r.html"), "--junit", str(d / "r.xml"),
                     timeout=240)
    assert res.returncode == 1, res.stdout + res.stderr  # something FAILs: exit 1
    return d, {r["url"]: r for r in json.loads((d / "r.json").read_text())}, res.stdout


def test_ipv4_literal_per_platform(review):
    _, got, _ = review
    a, b = got[LITERAL]["networks"]["dns64-nat64"], got[LITERAL]["networks"]["ipv6-only"]
    assert (a["linux"]["verdict"], a["linux"]["reason"]) == ("FAIL", "IPV4_LITERAL")
    # iOS: getaddrinfo's synthesis (emulated), through the prefix RFC 7050 found
    ios = a["ios"]
    assert ios["verdict"] != "FAIL" and ios["via"] == "synthesized", ios["result"]["detail"]
    assert ios["result"]["facts"]["synthesized"]["prefix"] == "2001:db8:64::/96"
    assert ios["result"]["facts"]["remote_ip"] == "2001:db8:64::c000:202"
    # Android: the literal as written, out of the CLAT (a client node running tayga)
    android = a["android"]
    assert android["verdict"] != "FAIL" and android["via"] == "clat", android["result"]["detail"]
    assert android["result"]["facts"]["remote_ip"] == "192.0.2.2"
    assert android["clat_host"]["clat"]["state"] == "up"
    assert android["result"]["node"] == "client-android"
    # no translation: nothing works for anyone, each for its own reason
    assert {p: (v["verdict"], v["reason"]) for p, v in b.items()} == {
        "linux": ("FAIL", "IPV4_LITERAL"), "ios": ("FAIL", "NO_NAT64_PREFIX"),
        "android": ("FAIL", "CLAT_DOWN"), "macos": ("FAIL", "NO_NAT64_PREFIX")}


@pytest.mark.parametrize("url, status", [("wss://api.example.test/ws", 101), ("ws://api.example.test/ws", 101),
                                         ("tcp://api.example.test:1883", None)])
def test_websocket_and_tcp_on_the_ipv4_only_api(review, url, status):
    _, got, _ = review
    for platform, v in got[url]["networks"]["dns64-nat64"].items():
        assert v["verdict"] == "PASS", (platform, v["result"]["detail"])
        assert v["result"]["facts"]["remote_ip"].startswith("2001:db8:64::")  # through the NAT64 prefix
        assert v["result"]["facts"].get("status") == status
    linux = got[url]["networks"]["ipv6-only"]["linux"]
    assert (linux["verdict"], linux["reason"]) == ("FAIL", "NO_AAAA")
    if url.startswith("tcp"):
        banner = got[url]["networks"]["dns64-nat64"]["linux"]["result"]["facts"]["banner"]
        assert banner.startswith("labsim-broker ready")


def test_follow_reviews_a_host_named_only_in_a_json_body(review):
    _, got, out = review
    assets = got["https://assets.example.test/"]
    assert assets["found_in"] == ("JSON body of http://www.example.test/app-config.json at $.assets_host "
                                  "(host name)")
    assert assets["networks"]["dns64-nat64"]["linux"]["verdict"] == "PASS"
    assert assets["networks"]["ipv6-only"]["linux"]["reason"] == "NO_AAAA"
    assert "found in JSON body of" in out


def test_without_following_it_is_not_reviewed(tmp_path):
    out = tmp_path / "r.json"
    res = run_labsim("review", "--topology", "topologies/apple-review.yml", "--follow", "0",
                     "--platform", "linux", "--network", "dns64-nat64",
                     "http://www.example.test/app-config.json", "--json", str(out), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert [r["url"] for r in json.loads(out.read_text())] == ["http://www.example.test/app-config.json"]


def test_html_and_junit_cover_every_cell(review):
    d, got, _ = review
    cells = sum(len(row) for r in got.values() for row in r["networks"].values())
    assert cells == len(got) * len(NETS) * 4
    root = ET.parse(d / "r.xml").getroot()
    assert len(root.findall(".//testcase")) == cells
    fails = sum(v["verdict"] == "FAIL" for r in got.values() for row in r["networks"].values() for v in row.values())
    assert len(root.findall(".//failure")) == fails
    page = (d / "r.html").read_text()
    assert page.count("<details") == cells and "https://assets.example.test/" in page


# -- a network that advertises PREF64, and a static client ---------------------------------
PREF64_LAB = """name: rvpref64
nat64_prefix: 2001:db8:64::/96
networks:
  v6net: {{ipv6: "2001:db8:1::/64"}}
  v4net: {{ipv4: 192.0.2.0/24}}
nodes:
  # RDNSS and PREF64, not a default router: the lab's own routes stay as planned
  gw: {{kind: router, links: [v6net], ra: {{router_lifetime: 0, rdnss: [dns64], pref64: {{prefix: "{pref64}"}}}}}}
  client: {{kind: client, links: [v6net], resolver: {{nameservers: [dns64]}}}}
  dns64: {{kind: dns64, links: [v6net]}}
  nat64: {{kind: nat64, links: [v6net, v4net], pool4: 198.18.0.0/24}}
  ns: {{kind: authdns, links: [v6net], zones: {{example.test: {{}}}}}}
  api: {{kind: backend, links: [v4net], names: [api.example.test]}}
  www:
    kind: backend
    links: [v6net, v4net]
    names: [www.example.test]
    responses:
      /r: {{status: 302, headers: {{Location: "http://{literal}/v1/"}}}}
"""


def _pref64_review(tmp_path, pref64: str, *urls: str):
    topo = tmp_path / "lab.yml"
    topo.write_text(PREF64_LAB.format(pref64=pref64, literal=_api_v4()))
    out = tmp_path / "r.json"
    res = run_labsim("review", "--topology", str(topo), "--follow", "0", "--capture", "none", *urls,
                     "--json", str(out), "--runtime", RUNTIME, timeout=300)
    assert res.returncode in (0, 1), res.stdout + res.stderr  # never exit 3
    return res, {r["url"]: r["networks"] for r in json.loads(out.read_text())}


def _api_v4() -> str:
    from labsim.loader import load_lab_text

    plan = load_lab_text(PREF64_LAB.format(pref64="2001:db8:64::/96", literal="192.0.2.9")).plan
    return str(plan.nodes["api"].addresses(4)[0])


def test_pref64_network_per_platform(tmp_path):
    """With PREF64 in the RAs: the static client's CLAT siblings listen to them; on the
    ipv6-only network (no PREF64 left) android's literal is CLAT_DOWN; a redirect to a literal
    is FAIL on linux and WARN where the platform reaches it."""
    literal = f"http://{_api_v4()}/v1/"
    res, got = _pref64_review(tmp_path, "2001:db8:64::/96", literal, "http://www.example.test/r")
    a, b = got[literal]["dns64-nat64"], got[literal]["ipv6-only"]
    assert (a["android"]["verdict"], a["android"]["via"]) == ("PASS", "clat"), a["android"]["result"]["detail"]
    assert a["android"]["clat_host"]["nat64_prefix_source"] == "pref64"
    assert a["macos"]["via"] == "clat" and a["macos"]["verdict"] == "PASS"
    assert (b["android"]["verdict"], b["android"]["reason"]) == ("FAIL", "CLAT_DOWN"), b["android"]["result"]["detail"]
    assert "no NAT64 prefix known" in b["android"]["result"]["detail"]
    assert (b["linux"]["verdict"], b["linux"]["reason"]) == ("FAIL", "IPV4_LITERAL")
    r = got["http://www.example.test/r"]["dns64-nat64"]
    assert {p: (v["verdict"], v["reason"]) for p, v in r.items()} == {
        "linux": ("FAIL", "REDIRECT_TO_IPV4_LITERAL"), "ios": ("WARN", "REDIRECT_TO_IPV4_LITERAL"),
        "android": ("WARN", "REDIRECT_TO_IPV4_LITERAL"), "macos": ("WARN", "REDIRECT_TO_IPV4_LITERAL")}
    assert r["android"]["hint"].startswith("android carries it through its CLAT")
    # no translation: nobody reaches the literal, so the redirect FAILs everywhere
    assert {v["verdict"] for v in got["http://www.example.test/r"]["ipv6-only"].values()} == {"FAIL"}


def test_static_client_with_a_64_pref64_completes(tmp_path):
    """Android ignores a /64 PREF64: its sibling waits for nothing, and the review gives every
    cell a verdict (CLAT_DOWN, or PASS through a prefix from RFC 7050) instead of exit 3."""
    literal = f"http://{_api_v4()}/v1/"
    _, got = _pref64_review(tmp_path, "2001:db8:64::/64", literal, "http://api.example.test/")
    for net in ("dns64-nat64", "ipv6-only"):
        assert set(got[literal][net]) == {"linux", "ios", "android", "macos"}
    android = got[literal]["dns64-nat64"]["android"]
    assert android["reason"] in (None, "CLAT_DOWN"), android["result"]["detail"]
    assert got["http://api.example.test/"]["dns64-nat64"]["linux"]["verdict"] == "PASS"
