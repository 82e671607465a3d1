"""Tier 1: one model per platform in `labsim review`, without a lab.

- the derived ipv6-only network has no translation at all: no PREF64 in any router's RAs;
- CLAT siblings of a static client listen to the RAs and never wait for a prefix, so a
  network whose prefix they cannot use (a /64 PREF64 for Android) still plans;
- a literal an answer hands out (a redirect to one, one in a body) is at most WARN where the
  platform reaches literals, FAIL only where the literal itself fails there;
- an android literal on a network where its CLAT is not up is CLAT_DOWN, from its facts;
- a name under no zone of the lab, with no uplink, is NOT_IN_LAB;
- captures go beside the reports, never into the current directory unasked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsim.checks.reasons import Reason
from labsim.commands.review import default_capture_dir, not_in_lab_line
from labsim.loader import load_lab_text
from labsim.review.matrix import review_network
from labsim.review.options import ReviewOptions, ReviewOutputs
from labsim.review.platforms import PLATFORMS, runners
from labsim.review.run import Endpoint, EndpointReview, Verdict, lab_zones, not_in_lab, platform_verdict, review_labs
from tests.unit.scripted import curl_reply, env_for, handler

TOPOLOGY = """name: models
nat64_prefix: 2001:db8:64::/96
networks:
  v6net: {{ipv6: "2001:db8:1::/64"}}
  v4net: {{ipv4: 192.0.2.0/24}}
nodes:
  gw:
    kind: router
    links: [v6net, v4net]
    ra: {{rdnss: [dns64], pref64: {{prefix: "{pref64}"}}}}
  client: {{kind: client, links: [v6net], resolver: {{nameservers: [dns64]}}}}
  dns64: {{kind: dns64, links: [v6net]}}
  nat64: {{kind: nat64, links: [v6net, v4net], pool4: 198.18.0.0/24}}
  ns: {{kind: authdns, links: [v6net], zones: {{example.test: {{}}}}}}
  api: {{kind: backend, links: [v4net], names: [api.example.test]}}
"""


def lab(pref64: str = "2001:db8:64::/96"):
    return load_lab_text(TOPOLOGY.format(pref64=pref64), None, "models.yml")


# -- the two networks -------------------------------------------------------------------------
def test_the_ipv6_only_network_advertises_no_nat64_prefix():
    loaded = lab()
    nets = review_labs(loaded, ReviewOptions(platforms=PLATFORMS), "client", pref64=True)
    plain, translated = nets["ipv6-only"].topology.nodes, nets["dns64-nat64"].topology.nodes
    assert plain["gw"].ra.pref64 is None and translated["gw"].ra.pref64 is not None
    assert plain["gw"].ra.rdnss == translated["gw"].ra.rdnss  # the rest of the RA is as written
    assert plain["dns64"].synthesize is False and plain["nat64"].translate is False
    assert translated["dns64"].synthesize is not False and translated["nat64"].translate is not False


@pytest.mark.parametrize("pref64", ["2001:db8:64::/96", "2001:db8:64::/64"])
def test_siblings_of_a_static_client_listen_to_ras_and_never_wait(pref64):
    """The client is written static (no slaac, no resolver_from_ra); its phone and Mac twins
    take the RA's prefix and RDNSS, as devices do. A /64 PREF64 (which Android ignores) plans
    like a /96: nothing waits for a prefix."""
    nets = review_labs(lab(pref64), ReviewOptions(platforms=PLATFORMS), "client", pref64=True)
    for net in ("dns64-nat64", "ipv6-only"):
        nodes = nets[net].topology.nodes
        assert (nodes["client"].slaac, nodes["client"].clat) == (False, None)
        for sib in ("client-android", "client-macos"):
            spec = nodes[sib]
            assert (spec.slaac, spec.resolver_from_ra, spec.clat.wait) == (True, True, False), (net, sib)
            assert sib in nets[net].plan.nodes  # planned: the lab can come up
    assert nets["dns64-nat64"].topology.nodes["client-android"].clat.pref64_lengths == [96]


def test_siblings_without_router_advertisements_keep_the_planned_address():
    text = TOPOLOGY.format(pref64="2001:db8:64::/96").replace(
        "    ra: {rdnss: [dns64], pref64: {prefix: \"2001:db8:64::/96\"}}\n", "")
    nets = review_labs(load_lab_text(text, None, "m.yml"), ReviewOptions(platforms=PLATFORMS), "client")
    spec = nets["dns64-nat64"].topology.nodes["client-android"]
    assert (spec.slaac, spec.resolver_from_ra, spec.clat.wait) == (False, False, False)


# -- a literal handed out, per platform -------------------------------------------------------
R, B = Reason.REDIRECT_TO_IPV4_LITERAL, Reason.IPV4_LITERAL_IN_BODY


@pytest.mark.parametrize("platform, runner, reaches, literal, want", [
    ("linux", "plain", False, None, "FAIL"),
    ("ios", "synthesize", True, None, "WARN"),
    ("ios", "synthesize", False, None, "FAIL"),  # no prefix to discover (the ipv6-only network)
    ("android", "clat", True, None, "WARN"),
    ("android", "clat", False, None, "FAIL"),  # its CLAT is down
    ("android", "clat", True, "FAIL", "FAIL"),  # --follow reviewed the literal: it fails there
    ("macos", "clat", True, "PASS", "WARN"),
])
def test_redirect_to_a_literal(platform, runner, reaches, literal, want):
    verdict, hint = platform_verdict("FAIL", R, runner, reaches, literal, platform)
    assert verdict == want
    if want == "WARN":
        assert hint and hint.startswith(platform) and "redirect to a name" in hint
    else:
        assert hint is None  # the reason's own hint


@pytest.mark.parametrize("platform, runner, reaches", [("linux", "plain", False), ("ios", "synthesize", True),
                                                        ("android", "clat", True), ("android", "clat", False)])
def test_a_literal_in_a_body_is_never_more_than_warn(platform, runner, reaches):
    verdict, hint = platform_verdict("WARN", B, runner, reaches, None, platform)
    assert verdict == "WARN"
    assert (hint is not None) == reaches


def test_other_reasons_are_left_alone():
    assert platform_verdict("FAIL", Reason.NO_AAAA, "clat", True, None, "android") == ("FAIL", None)
    assert platform_verdict("PASS", None, "synthesize", True, None, "ios") == ("PASS", None)


LEARNT_DOWN = json.dumps({"clat": {"state": "waiting"}, "nat64_prefix": None, "nat64_prefix_source": None})
LEARNT_UP = json.dumps({"clat": {"state": "up"}, "nat64_prefix": "2001:db8:64::/96",
                        "nat64_prefix_source": "pref64"})


def test_android_literal_without_its_clat_is_clat_down():
    """curl in the sibling times out; the cell says why from what the host learnt."""
    curl = curl_reply(exitcode=28, http_code=0, errormsg="Connection timed out after 5001 ms",
                      stderr="*   Trying 192.0.2.2:80...\n* Connection timed out\n")
    env, _ = env_for(handler(curl=curl, learnt=LEARNT_DOWN))
    run = review_network(env, [Endpoint("http://192.0.2.2/v1/")], runners(("android",), "client", False),
                         5.0, 0, None, lambda u, m, f, d: Endpoint(u, m, f, d))
    cell = next(iter(run.cells.values()))["android"]
    assert cell.result.reason == Reason.CLAT_DOWN
    assert "no NAT64 prefix known" in cell.result.detail and cell.clat_host["clat"]["state"] == "waiting"


def test_redirect_cell_knows_whether_the_platform_reaches_literals():
    curl = curl_reply(http_code=302, remote_ip="2001:db8:1::80", headers={"location": "http://192.0.2.2/v1/"})
    env, _ = env_for(handler(curl=curl, learnt=LEARNT_UP,
                             agent={"synthesize": {"from": "192.0.2.1", "answers": [], "error": "NXDOMAIN",
                                                   "ms": 1.0, "prefixes": [], "prefix": None, "address": None}}))
    run = review_network(env, [Endpoint("http://www.example.test/old")],
                         runners(("linux", "ios", "android"), "client", False), 5.0, 0, None,
                         lambda u, m, f, d: Endpoint(u, m, f, d))
    row = next(iter(run.cells.values()))
    # linux never, ios: its resolver gave no prefix, android: its CLAT is up
    assert {p: c.literals for p, c in row.items()} == {"linux": False, "ios": False, "android": True}


def test_a_name_carried_by_the_clat_says_so():
    curl = curl_reply(remote_ip="192.0.2.7", body="ok")
    env, _ = env_for(handler(curl=curl, learnt=LEARNT_UP))
    run = review_network(env, [Endpoint("http://api.example.test/")], runners(("android",), "client", False),
                         5.0, 0, None, lambda u, m, f, d: Endpoint(u, m, f, d))
    cell = next(iter(run.cells.values()))["android"]
    assert cell.via == "clat" and "A-only name" in (cell.note or "")


# -- names the lab does not serve -------------------------------------------------------------
def test_not_in_lab():
    loaded = lab()
    served = lab_zones(loaded, ReviewOptions(resolve={"api.local.test": "2001:db8::10"}))
    assert not_in_lab("https://api.myapp.example/v1/", served)
    for url in ("http://api.example.test/", "http://API.Example.Test./", "http://example.test/",
                "http://api.local.test/", "http://192.0.2.2/", "http://[2001:db8::1]/"):
        assert not not_in_lab(url, served), url
    assert not_in_lab("http://notexample.test/", served)  # a suffix is not a zone


def test_not_in_lab_is_said_once_above_the_table():
    from labsim.checks.result import HttpResult

    res = HttpResult(node="client", target="https://api.myapp.example/v1/", ok=False, reason=Reason.DNS_SERVFAIL)
    rev = EndpointReview(Endpoint("https://api.myapp.example/v1/"))
    rev.verdicts = {n: {"linux": Verdict(n, "FAIL", Reason.NOT_IN_LAB, res)} for n in ("dns64-nat64", "ipv6-only")}
    line = not_in_lab_line([rev])
    assert line is not None and line.count("api.myapp.example") == 1
    assert "--uplink" in line and "--topology" in line and "labsim init" in line
    assert not_in_lab_line([EndpointReview(Endpoint("http://a.test/"))]) is None


# -- captures ---------------------------------------------------------------------------------
def test_captures_go_beside_the_reports(tmp_path):
    assert default_capture_dir(ReviewOutputs(json=tmp_path / "out" / "r.json")) == tmp_path / "out" / "labsim-captures"
    assert default_capture_dir(ReviewOutputs(html=Path("r.html"))) == Path("labsim-captures")
    assert default_capture_dir(ReviewOutputs()) is None  # a temporary directory
    from labsim.review.run import captures_dir

    made = captures_dir(ReviewOptions(capture="failed"))
    try:
        assert made.is_dir() and made.name.startswith("labsim-captures-") and made.parent != Path.cwd()
    finally:
        made.rmdir()
