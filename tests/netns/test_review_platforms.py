"""Tier 2: `labsim review` on the app-review lab per platform, with WebSocket and raw TCP
endpoints, following, and the HTML/JUnit reports (real labs, real daemons, real CLAT)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import run_labsim

pytestmark = pytest.mark.root

LITERAL = "http://192.0.2.2/v1/"
NETS = ("dns64-nat64", "ipv6-only")


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
        assert got[url]["networks"]["dns64-nat64"]["linux"]["result"]["facts"]["banner"].startswith("labsim-broker ready")


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
