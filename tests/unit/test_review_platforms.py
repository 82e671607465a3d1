"""Tier 1: review platforms, following, endpoint kinds and the HTML/JUnit reports, without a
lab. The WebSocket and banner services run on this host's loopback."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from labsim.checks.reasons import Reason
from labsim.checks.result import HttpFacts, HttpResult
from labsim.errors import InputError
from labsim.node.echo_server import BannerServer, EchoServer
from labsim.node.sockprobe import probe
from labsim.review.follow import MAX_HOSTS, MAX_NEW, Follower, Found, found_in_answer
from labsim.review.platforms import PLATFORMS, clat_siblings, parse_platforms, runners
from labsim.review.report import render
from labsim.review.report_html import to_html
from labsim.review.report_junit import to_junit
from labsim.review.run import Endpoint, EndpointReview, Verdict, endpoints_from
from labsim.review.urls import endpoint_url


# -- platforms ------------------------------------------------------------------------------
def test_platforms_default_all_and_bad_names_are_input_errors():
    assert parse_platforms(None) == PLATFORMS
    assert parse_platforms(["ios", "linux,ios"]) == ("ios", "linux")
    with pytest.raises(InputError, match="choose from linux, ios, android, macos"):
        parse_platforms(["windows"])


def test_platform_models():
    no_pref64 = runners(PLATFORMS, "client", pref64=False)
    assert {p: r.via for p, r in no_pref64.items()} == {
        "linux": "plain", "ios": "synthesize", "android": "clat", "macos": "synthesize"}
    assert no_pref64["android"].node == "client-android"
    # a name gives the same run with or without synthesis; a literal does not
    assert no_pref64["ios"].key(literal=False) == no_pref64["linux"].key(literal=False)
    assert no_pref64["ios"].key(literal=True) != no_pref64["linux"].key(literal=True)
    assert runners(PLATFORMS, "client", pref64=True)["macos"].via == "clat"
    # Android takes PREF64 only at /96; macOS any length RFC 8781 allows
    assert clat_siblings(PLATFORMS, "client", pref64=True) == {
        "client-android": {"prefix": "auto", "pref64_lengths": [96], "pref64_policy": "sticky"},
        "client-macos": {"prefix": "auto", "pref64_lengths": None, "pref64_policy": "newest"}}
    assert clat_siblings(("linux", "ios"), "client", pref64=True) == {}
    # a topology that already has a node of that name keeps it; the sibling takes another
    taken = frozenset({"client", "client-android"})
    assert runners(("android",), "client", False, taken)["android"].node == "client-android2"
    assert list(clat_siblings(("android",), "client", False, taken)) == ["client-android2"]


# -- endpoints ------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["ws://a.test/chat", "wss://a.test:8443/x?y=1", "tcp://a.test:1883",
                                 "tcp://[2001:db8::1]:25", "http://192.0.2.2/"])
def test_endpoint_kinds_accepted(url):
    assert endpoint_url(url) == url
    assert endpoints_from([url], None, None) == [Endpoint(url)]


@pytest.mark.parametrize("url, fragment", [
    ("tcp://a.test", "needs a port"), ("ftp://a.test/", "only http://, https://, ws://"),
    ("ws:///x", "needs a host"), ("tcp://a.test:99999", "out of range"), ("tcp://a.test:25/x", "nothing more"),
    ("wss://a.test/{a,b}", "glob"), ("ws://a.test/ x", "whitespace")])
def test_endpoint_kinds_refused(url, fragment):
    with pytest.raises(ValueError, match=fragment):
        endpoint_url(url)
    with pytest.raises(InputError, match=fragment):
        endpoints_from([url], None, None)


@given(st.one_of(st.text(max_size=60), st.sampled_from(["ws://", "wss://", "tcp://"]).flatmap(
    lambda p: st.text(max_size=40).map(lambda t: p + t))))
@settings(max_examples=300, deadline=None)
def test_any_string_is_an_endpoint_or_a_value_error(text):
    try:
        assert endpoint_url(text) == text
    except ValueError:
        pass


def test_har_entry_without_a_usable_url_names_the_entry(tmp_path):
    har = tmp_path / "app.har"
    har.write_text(json.dumps({"log": {"entries": [
        {"request": {"method": "GET", "url": "wss://api.example.com/live"}},
        {"request": {"method": "GET", "url": "tcp://mqtt.example.com:1883"}},
        {"request": {"method": "GET"}}]}}))
    with pytest.raises(InputError, match="no 'url'") as info:
        endpoints_from([], None, har)
    assert info.value.file == str(har) and info.value.field == "log.entries[2].request"
    har.write_text(json.dumps({"log": {"entries": [{"request": {"url": "wss://api.example.com/live"}}]}}))
    assert endpoints_from([], None, har) == [Endpoint("wss://api.example.com/live")]


# -- following ------------------------------------------------------------------------------
def test_found_in_redirects_json_html_and_text():
    found = found_in_answer("http://a.test/old", HttpFacts(status=302, headers={"location": "/new"}))
    assert found == [Found("http://a.test/new", "redirect (302) from http://a.test/old")]
    doc = {"api": "https://api.b.test/v1/", "assets": {"host": "cdn.c.test"}, "file": "config.json",
           "n": [1, "see wss://live.d.test/ws."]}
    found = found_in_answer("https://a.test/config", HttpFacts(status=200, body=json.dumps(doc), json=doc,
                                                               headers={"content-type": "application/json"}))
    assert [(f.url, f.found_in) for f in found] == [
        ("https://api.b.test/v1/", "JSON body of https://a.test/config at $.api"),
        ("https://cdn.c.test/", "JSON body of https://a.test/config at $.assets.host (host name)"),
        ("wss://live.d.test/ws", "JSON body of https://a.test/config at $.n[1]")]
    page = '<!doctype html><a href="http://x.test/a">x</a> <img src="https://img.y.test/p.png">'
    found = found_in_answer("http://a.test/", HttpFacts(status=200, body=page))
    assert [(f.url, f.found_in) for f in found] == [("http://x.test/a", "HTML body of http://a.test/"),
                                                     ("https://img.y.test/p.png", "HTML body of http://a.test/")]


def test_following_is_bounded_in_endpoints_and_hosts():
    f = Follower(2, {"http://a.test/"})
    many = [Found(f"http://h{i}.test/p{j}", "text") for i in range(30) for j in range(3)]
    got = f.next_hop(many)
    assert len(got) <= MAX_NEW and len({x.url.split('/')[2] for x in got}) <= MAX_HOSTS
    assert f.dropped and not f.next_hop(got)  # nothing twice
    # a bare name of a host already reviewed (an echoed Host header) is not followed
    assert Follower(2, {"http://a.test/"}).next_hop([Found("https://a.test/", "x (host name)")]) == []


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                    lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=8), c, max_size=5),
                    max_leaves=30))
@settings(max_examples=150, deadline=None)
def test_following_never_fails_on_any_json(doc):
    body = json.dumps(doc)
    for f in found_in_answer("http://a.test/", HttpFacts(status=200, body=body, json=doc)):
        assert "://" in f.url and f.found_in


# -- reports --------------------------------------------------------------------------------
def _review(url, cells):
    rev = EndpointReview(Endpoint(url, found_in="JSON body of http://w.test/c at $.x"))
    for net, platform, verdict, reason in cells:
        res = HttpResult(node="client", target=url, ok=verdict != "FAIL", reason=reason,
                         facts=HttpFacts(status=200, body="<script>x</script>"))
        rev.verdicts.setdefault(net, {})[platform] = Verdict(net, verdict, reason, res, platform=platform,
                                                             via="none", ms=12.0)
    return rev


def _sample():
    same = _review("http://same.test/<b>", [(n, p, "PASS", None) for n in ("dns64-nat64", "ipv6-only")
                                             for p in ("linux", "ios")])
    differ = _review("http://192.0.2.2/", [("dns64-nat64", "linux", "FAIL", Reason.IPV4_LITERAL),
                                           ("dns64-nat64", "ios", "PASS", None),
                                           ("ipv6-only", "linux", "FAIL", Reason.IPV4_LITERAL),
                                           ("ipv6-only", "ios", "FAIL", Reason.NO_NAT64_PREFIX)])
    return [same, differ]


def test_console_shows_platforms_only_where_they_differ():
    console = Console(width=200, record=True)
    render(_sample(), ("dns64-nat64", "ipv6-only"), console)
    text = console.export_text()
    same_row = next(line for line in text.splitlines() if "same.test" in line)
    assert "linux" not in same_row and same_row.count("PASS") == 2
    assert "linux FAIL IPV4_LITERAL" in text and "ios   PASS" in text and "NO_NAT64_PREFIX" in text


def test_junit_has_one_testcase_per_cell_and_fails_only_fail():
    reviews = _sample()
    root = ET.fromstring(to_junit(reviews, ("dns64-nat64", "ipv6-only")))
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(r.cells()) for r in reviews) == 8
    assert len(root.findall(".//failure")) == 3
    assert sum(int(s.get("tests")) for s in root.findall("testsuite")) == 8


def test_html_is_self_contained_and_escaped():
    page = to_html(_sample(), ("dns64-nat64", "ipv6-only"), ("linux", "ios"))
    assert "<script" not in page and "&lt;script&gt;" not in page.split("<h2>")[0]
    assert "http://same.test/&lt;b&gt;" in page and "src=" not in page and "http-equiv" not in page
    assert page.count('class="FAIL"><a href=') == 3 and "NO_NAT64_PREFIX" in page


# -- the echo service's WebSocket answer and banner, probed like an app (loopback) ----------
@pytest.fixture
def echo():
    servers = [EchoServer("127.0.0.1", 0, "api"), BannerServer("127.0.0.1", 0, "broker ready")]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield [s.server_address[1] for s in servers]
    for s in servers:
        s.shutdown()
        s.server_close()


def test_websocket_handshake_reaches_101_and_banner_is_read(echo):
    http_port, tcp_port = echo
    out = probe("ws", "127.0.0.1", http_port, False, "/ws", None, 0, 5.0)
    assert out["connected"] == "127.0.0.1" and out["ws"]["status"] == 101 and out["ws"]["ok"]
    out = probe("tcp", "127.0.0.1", tcp_port, False, "/", None, 1000, 5.0)
    assert out["banner"] == "broker ready\r\n"
    # a plain HTTP server that ignores Upgrade is no WebSocket: no 101
    out = probe("ws", "127.0.0.1", tcp_port, False, "/ws", None, 0, 2.0)
    assert not out["ws"]["ok"]


def test_android_clat_honours_pref64_only_at_96(tmp_path):
    """The CLAT's prefix choice with `pref64_lengths: [96]` (the android sibling): a /64 PREF64
    is ignored for RFC 7050's answer; a /96 is taken; without the limit any length is."""
    import time
    from ipaddress import IPv6Network

    from labsim.node.hostconf import HostConf, choose_pref64
    from labsim.node.ndopts import Pref64

    def choose(lengths, pref64):
        hc = HostConf({"dir": str(tmp_path), "clat": {"prefix": "auto", "pref64_lengths": lengths}})
        hc.learnt.take(Pref64(600, IPv6Network(pref64)), time.monotonic())
        hc.pref64_used = choose_pref64(hc.learnt, None, "sticky", lengths)  # what a step chooses
        hc.rfc7050 = [IPv6Network("2001:db8:99::/96")]
        return hc.prefix()

    assert choose([96], "2001:db8:64::/64") == (IPv6Network("2001:db8:99::/96"), "rfc7050")
    assert choose([96], "2001:db8:64::/96") == (IPv6Network("2001:db8:64::/96"), "pref64")
    assert choose(None, "2001:db8:64::/64") == (IPv6Network("2001:db8:64::/64"), "pref64")


@pytest.mark.parametrize("url", ["ftp://a.test/", "tcp://a.test", "ws://a.test/ x", "wss://"])
def test_a_socket_check_refuses_unusable_urls_at_load(url):
    from pydantic import ValidationError

    from labsim.checks.websocket import SocketCheck

    with pytest.raises(ValidationError):
        SocketCheck.model_validate({"from": "client", "url": url})
    assert SocketCheck.model_validate({"from": "client", "url": "tcp://a.test:1883"}).banner_ms == 300.0
