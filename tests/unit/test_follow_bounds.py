"""Tier 1: with an uplink, what `review --follow` finds is not fetched when it leads into this
host or the user's own network (loopback, link-local, metadata, private, unspecified,
multicast, or a name the lab's DNS resolves to one); it is reported as skipped instead, in
JSON and JUnit. Without an uplink nothing is skipped. Report bodies are cut to 4 KiB unless
asked for in full. All with the fake runtime: curl and DNS are scripted, nothing is sent."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from ipaddress import IPv4Network, IPv6Network, ip_address

import pytest

from labsim.checks.result import HttpFacts, HttpResult
from labsim.errors import InputError
from labsim.review.follow import Found, TargetGuard
from labsim.review.matrix import lab_lookup, review_network
from labsim.review.options import ReviewOptions
from labsim.review.platforms import runners
from labsim.review.run import Endpoint, EndpointReview, Verdict
from labsim.review.urls import blocked_kind, literal_address
from tests.unit.scripted import curl_reply, dns_answer, env_for, handler

NAT64 = IPv6Network("2001:db8:64::/96")
LAB = (IPv6Network("2001:db8:1::/64"), IPv4Network("192.0.2.0/24"))


# -- the address filter --------------------------------------------------------------------
@pytest.mark.parametrize("host,kind", [
    ("127.0.0.1", "loopback"), ("127.1", "loopback"), ("2130706433", "loopback"), ("0x7f.0.0.1", "loopback"),
    ("::1", "loopback"), ("[::1]", "loopback"),
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("64:ff9b::a9fe:a9fe", "metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("10.0.2.2", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "private"), ("fd00::2", "private"), ("fc00::1", "private"),
    ("::ffff:10.0.2.2", "private"), ("2001:db8:64::a00:202", "private"),  # 10.0.2.2 behind NAT64
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("255.255.255.255", "reserved"),
])
def test_blocked_addresses(host, kind):
    addr = literal_address(host)
    assert addr is not None
    got = blocked_kind(addr, (NAT64,), LAB)
    assert got is not None and got[0] == kind, got


@pytest.mark.parametrize("host", ["93.184.216.34", "2606:2800:220:1::1", "172.32.0.1", "100.128.0.1",
                                  "2001:db8:64::5db8:d822",  # a public IPv4 address behind NAT64
                                  "192.0.2.2", "2001:db8:1::10"])  # the lab's own networks
def test_public_and_the_labs_own_addresses_pass(host):
    addr = literal_address(host)
    assert addr is not None and blocked_kind(addr, (NAT64,), LAB) is None


def test_names_are_not_addresses():
    assert literal_address("api.example.test") is None and literal_address("cafe") is None
    assert literal_address("1e5.example") is None


def guard(table: dict[str, list[str] | None]) -> TargetGuard:
    return TargetGuard(LAB, (NAT64,), lambda name: (table[name], "TIMEOUT") if table[name] is None
                       else (table[name], ""))


def test_names_are_judged_by_what_the_labs_dns_gives():
    g = guard({"intranet.test": ["10.1.2.3"], "meta.test": ["2001:db8:64::a9fe:a9fe"],
               "mixed.test": ["93.184.216.34", "192.168.0.9"], "cdn.test": ["2606:2800:220:1::1"],
               "gone.test": [], "slow.test": None, "lab.test": ["2001:db8:1::10"]})
    skip = {n: g.check(Found(f"http://{n}/", "x")) for n in
            ("intranet.test", "meta.test", "mixed.test", "cdn.test", "gone.test", "slow.test", "lab.test",
             "localhost", "a.localhost")}
    assert {n: s.kind if s else None for n, s in skip.items()} == {
        "intranet.test": "private", "meta.test": "metadata",
        "mixed.test": "private",  # any blocked address: curl may connect to that one
        "cdn.test": None, "gone.test": None, "lab.test": None,
        "slow.test": "unchecked",  # no answer is no proof: curl would ask again
        "localhost": "loopback", "a.localhost": "loopback"}
    s = skip["intranet.test"]
    assert s is not None and "intranet.test resolves in the lab's DNS to 10.1.2.3" in s.why


# -- review_network: skipped targets are never fetched --------------------------------------
BODY = json.dumps({"a": "http://127.0.0.1:8080/admin", "b": "http://10.0.2.2:8080/x",
                   "c": "http://169.254.169.254/latest/meta-data/", "d": "http://intranet.test/",
                   "e": "http://cdn.test/app.js", "f": "http://[fd00:ec2::254]/"})


def _lab_env():
    def curl(call):
        url = next(a for a in call.argv if a.startswith("http://"))
        if url == "http://api.test/":
            return curl_reply(status=302, http_code=302, body=BODY, remote_ip="2001:db8:1::10",
                              headers={"location": "http://192.168.1.1/login", "content-type": "application/json"})
        return curl_reply(body="ok", remote_ip="2606:2800:220:1::1")

    names = {"intranet.test.": {"A": ["10.1.2.3"]}, "cdn.test.": {"AAAA": ["2606:2800:220:1::1"]}}

    def dns(d):
        from dns.message import from_wire

        q = from_wire(d.data)
        return dns_answer(d.data, answers=names.get(str(q.question[0].name), {}))
    return env_for(handler(curl=curl, dns=dns))


def fetched(rt) -> set[str]:
    return {next(a for a in c.argv if a.startswith("http")) for c in rt.calls
            if getattr(c, "argv", ("",))[0] == "curl"}


def make(url, method, found_in, depth):
    return Endpoint(url, method, found_in, depth)


def test_with_an_uplink_follow_fetches_only_what_leaves_the_users_network():
    env, rt = _lab_env()
    g = TargetGuard(LAB, (NAT64,), lab_lookup(env, "client"))
    run = review_network(env, [Endpoint("http://api.test/")], runners(("linux",), "client", False),
                         5.0, 2, NAT64, make, g)
    assert fetched(rt) == {"http://api.test/", "http://cdn.test/app.js"}
    kinds = {s.url: s.kind for s in run.skipped}
    assert kinds == {"http://127.0.0.1:8080/admin": "loopback", "http://10.0.2.2:8080/x": "private",
                     "http://169.254.169.254/latest/meta-data/": "metadata", "http://intranet.test/": "private",
                     "http://[fd00:ec2::254]/": "metadata", "http://192.168.1.1/login": "private"}
    redirect = next(s for s in run.skipped if s.url == "http://192.168.1.1/login")
    assert redirect.found_in == "redirect (302) from http://api.test/"


def test_without_an_uplink_follow_is_unchanged():
    env, rt = _lab_env()
    run = review_network(env, [Endpoint("http://api.test/")], runners(("linux",), "client", False),
                         5.0, 1, NAT64, make)
    assert not run.skipped
    assert "http://10.0.2.2:8080/x" in fetched(rt) and "http://169.254.169.254/latest/meta-data/" in fetched(rt)


# -- reports ---------------------------------------------------------------------------------
def _reviewed(body: str) -> EndpointReview:
    res = HttpResult(node="client", target="http://api.test/", ok=True)
    res.facts = HttpFacts(url="http://api.test/", status=200, body=body, json={"k": body},
                          bytes_received=len(body.encode()))
    r = EndpointReview(Endpoint("http://api.test/"))
    r.verdicts["dns64-nat64"] = {"linux": Verdict("dns64-nat64", "PASS", None, res)}
    return r


def test_json_bodies_are_cut_to_4_kib_with_their_length_unless_full_bodies():
    body = "é" * 5000  # 10000 bytes: the cut must not split a character
    cut = _reviewed(body).to_dict()["networks"]["dns64-nat64"]["linux"]["result"]["facts"]
    assert len(cut["body"].encode()) <= 4096 and cut["body"] == "é" * 2048
    assert (cut["body_bytes"], cut["body_truncated"], cut["json"]) == (10000, True, None)
    full = _reviewed(body).to_dict(full_bodies=True)["networks"]["dns64-nat64"]["linux"]["result"]["facts"]
    assert full["body"] == body and "body_truncated" not in full
    small = _reviewed("short").to_dict()["networks"]["dns64-nat64"]["linux"]["result"]["facts"]
    assert small["body"] == "short" and small["json"] == {"k": "short"} and "body_truncated" not in small


def test_skipped_targets_in_json_and_junit(tmp_path, monkeypatch):
    from labsim.commands import review as cmd
    from labsim.review.follow import Skipped
    from labsim.review.options import ReviewOutputs

    s = Skipped("http://10.0.2.2:8080/x", "JSON body of http://api.test/ at $.b", "private",
                "10.0.2.2, private (10.0.0.0/8)")
    reviews = [_reviewed("ok"), EndpointReview(Endpoint(s.url, "GET", s.found_in), skipped=s)]
    monkeypatch.setattr("labsim.review.run.run_review", lambda *a, **kw: reviews)
    out = ReviewOutputs(json=tmp_path / "r.json", junit=tmp_path / "r.xml")
    code = cmd.review_and_report(None, [], ReviewOptions(networks=("dns64-nat64",), uplink=True), out)
    assert code == 0  # a skipped target is no failure
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc[1]["skipped"] == {"url": s.url, "found_in": s.found_in, "kind": "private", "why": s.why}
    assert doc[1]["networks"] == {} and doc[0]["skipped"] is None
    case = ET.parse(tmp_path / "r.xml").getroot().find(".//testcase[@classname='review.follow']")
    assert case is not None and case.get("name") == s.url
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("type") == "private" and "10.0.2.2" in (skipped.get("message") or "")


def test_options_are_checked_when_built():
    with pytest.raises(InputError, match="--network 'moon'"):
        ReviewOptions(networks=("moon",))
    with pytest.raises(InputError, match="--capture 'some'"):
        ReviewOptions(capture="some")
    opts = ReviewOptions(resolve={"a.test": "2001:db8::1"})
    with pytest.raises(TypeError):
        opts.resolve["b.test"] = "2001:db8::2"
    assert ip_address(opts.resolve["a.test"]).version == 6


def test_the_uplink_never_gives_the_lab_the_hosts_loopback():
    from labsim.kinds import registry
    from labsim.kinds.base import NodeContext
    from labsim.loader import load_lab_text

    loaded = load_lab_text("name: u\nnat64_prefix: 2001:db8:64::/96\nnetworks:\n"
                           "  v6: {ipv6: \"2001:db8:1::/64\"}\n  v4: {ipv4: 192.0.2.0/24}\n"
                           "nodes:\n  nat64: {kind: nat64, links: [v6, v4], uplink: true}\n")
    plan = loaded.plan
    c = NodeContext(plan, plan.nodes["nat64"], loaded.topology.nodes["nat64"], dir="/labsim/nat64")
    uplink = next(s for s in registry.get("nat64").services(c) if s.name == "uplink")
    assert uplink.argv[0] == "slirp4netns" and "--disable-host-loopback" in uplink.argv


# -- --follow exact: one resource once, every bound reported ---------------------------------
@pytest.mark.parametrize("a, b", [
    ("HTTP://Example.COM:80", "http://example.com/"),
    ("http://example.com.", "http://example.com/"),
    ("https://a.test:443/x", "https://a.test/x"),
    ("wss://a.test:443/ws", "wss://a.test/ws"),
    ("http://a.test/a/./b/../c", "http://a.test/a/c"),
    ("http://a.test/%7euser/%2f", "http://a.test/~user/%2F"),
    ("https://[2001:DB8::1]:443", "https://[2001:db8::1]/"),
    ("http://a.test/p?q=%3a#frag", "http://a.test/p?q=%3A"),
])
def test_urls_of_one_resource_have_one_normal_form(a, b):
    from labsim.review.urls import normalise

    assert normalise(a) == normalise(b) == b


@pytest.mark.parametrize("a, b", [("http://a.test:8080/", "http://a.test/"), ("http://a.test/x", "http://a.test/X"),
                                  ("http://a.test/?a=1", "http://a.test/?a=2"), ("http://a.test/", "https://a.test/")])
def test_different_resources_stay_different(a, b):
    from labsim.review.urls import normalise

    assert normalise(a) != normalise(b)


def test_one_resource_is_reviewed_once():
    from labsim.review.follow import Follower, Found

    f = Follower(2, {"http://a.test/"})
    got = f.next_hop([Found("HTTP://A.TEST:80", "x"), Found("http://a.test./", "y"),
                      Found("http://B.test:80/x/../y", "z"), Found("http://b.test/y", "w")])
    assert [x.url for x in got] == ["http://b.test/y"]


def test_what_the_bounds_leave_out_is_kept_with_the_bound():
    from labsim.review.follow import MAX_HOSTS, MAX_NEW, Follower, Found

    f = Follower(2, {"http://a.test/"})
    many_hosts = [Found(f"http://h{i}.test/", "body") for i in range(MAX_HOSTS + 3)]
    taken = f.next_hop(many_hosts)
    assert len(taken) == MAX_HOSTS
    assert {lo.bound for lo in f.left_out.values()} == {"max-hosts"} and len(f.left_out) == 3
    same_host = [Found(f"http://a.test/p{i}", "body") for i in range(MAX_NEW)]
    f.next_hop(same_host)
    assert "max-new" in {lo.bound for lo in f.left_out.values()}
    assert len(f.dropped) == len(f.left_out)


def test_depth_and_time_bounds_are_reported(monkeypatch):
    from labsim.review import matrix

    body = json.dumps({"next": "http://cdn.test/app.js"})

    def curl(call):
        url = next(a for a in call.argv if a.startswith("http://"))
        if url == "http://api.test/":
            return curl_reply(body=body, remote_ip="2001:db8:1::10", headers={"content-type": "application/json"})
        return curl_reply(body="ok", remote_ip="2001:db8:1::11")
    env, rt = env_for(handler(curl=curl))
    run = review_network(env, [Endpoint("http://api.test/")], runners(("linux",), "client", False),
                         5.0, 1, NAT64, make)
    assert run.left_out == [] and "http://cdn.test/app.js" in fetched(rt)
    # at the last hop: what the answer names is left out by depth (only when following)
    env, rt = env_for(handler(curl=curl))
    deeper = [Endpoint("http://api.test/", "GET", "x", 1)]
    run = review_network(env, deeper, runners(("linux",), "client", False), 5.0, 1, NAT64, make)
    assert [(lo.url, lo.bound) for lo in run.left_out] == [("http://cdn.test/app.js", "depth")]
    env, rt = env_for(handler(curl=curl))
    assert review_network(env, deeper, runners(("linux",), "client", False), 5.0, 0, NAT64, make).left_out == []
    # out of time: nothing new is fetched, and it is said
    monkeypatch.setattr(matrix, "FOLLOW_MAX_S", -1.0)
    env, rt = env_for(handler(curl=curl))
    run = review_network(env, [Endpoint("http://api.test/")], runners(("linux",), "client", False),
                         5.0, 2, NAT64, make)
    assert fetched(rt) == {"http://api.test/"}
    assert [(lo.url, lo.bound) for lo in run.left_out] == [("http://cdn.test/app.js", "time")]


def test_what_the_echo_backend_reflected_is_not_followed():
    from labsim.review.follow import found_in_answer

    url = "http://echo.test/cb?next=http://x.test/&r=https%3A%2F%2Fy.test%2F"
    echo = {"node": "api", "method": "GET", "path": "/cb", "query": {"next": ["http://x.test/"],
            "r": ["https://y.test/"]}, "raw_query": "next=http://x.test/&r=https%3A%2F%2Fy.test%2F",
            "headers": {"Host": "echo.test", "Referer": "http://z.test/"}, "cookies": {}, "body": "",
            "remote": "2001:db8:1::5", "tls": False}
    facts = HttpFacts(status=200, body=json.dumps(echo), json=echo, headers={"content-type": "application/json"})
    assert found_in_answer(url, facts) == []
    # the same URL in a server's own answer is a pointer the app was given
    own = {"next": "http://x.test/other", "cdn": "https://y.test/"}
    facts = HttpFacts(status=200, body=json.dumps(own), json=own, headers={"content-type": "application/json"})
    assert [f.url for f in found_in_answer("http://api.test/", facts)] == ["http://x.test/other", "https://y.test/"]


def test_left_out_in_console_json_and_junit(tmp_path, monkeypatch, capsys):
    from labsim.commands import review as cmd
    from labsim.review.follow import LeftOut
    from labsim.review.options import ReviewOutputs

    lo = LeftOut("http://h99.test/", "JSON body of http://api.test/ at $.x", "max-hosts")
    reviews = [_reviewed("ok"), EndpointReview(Endpoint(lo.url, "GET", lo.found_in), left_out=lo)]
    monkeypatch.setattr("labsim.review.run.run_review", lambda *a, **kw: reviews)
    out = ReviewOutputs(json=tmp_path / "r.json", junit=tmp_path / "r.xml")
    assert cmd.review_and_report(None, [], ReviewOptions(networks=("dns64-nat64",)), out) == 0
    assert "left out http://h99.test/" in capsys.readouterr().out.replace("\n", "")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc[1]["left_out"] == {"url": lo.url, "found_in": lo.found_in, "bound": "max-hosts"}
    assert doc[1]["networks"] == {} and doc[0]["left_out"] is None
    case = ET.parse(tmp_path / "r.xml").getroot().find(".//testcase[@classname='review.follow']")
    assert case is not None and case.get("name") == lo.url
    el = case.find("skipped")
    assert el is not None and el.get("type") == "max-hosts"
