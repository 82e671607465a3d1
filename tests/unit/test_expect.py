"""Tier 1: expectations read typed facts; `tries`, `success_ratio`, `split` and `within` run
real steps against the fake runtime (no root, no lab)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from labsim.checks.reasons import Reason
from labsim.checks.result import (Diagnosis, DnsResult, HttpResult, HttpTimings, MeasureResult, PingResult,
                                  ResolveResult, TcpResult, ToolRun, tool_failure)
from labsim.checks.stats import Series, summarize
from labsim.scenario import runner
from labsim.scenario.expect import Expect, evaluate, inapplicable, per_try
from labsim.scenario.model import Step

from tests.unit.scripted import curl_reply, dns_answer, env_for, handler


def http_ok(status=200, remote_ip="2001:db8:64::c000:202", body='{"a": {"b": [1, 2]}}', **kw) -> HttpResult:
    r = HttpResult(node="client", target="http://a.test/", ok=True, timings_ms=HttpTimings(total=12.0), **kw)
    r.facts.status, r.facts.remote_ip, r.facts.body = status, remote_ip, body
    r.facts.json = {"a": {"b": [1, 2]}} if body.startswith("{") else None
    r.facts.headers = {"content-type": "application/json"}
    return r


def verdicts(exp: dict, result) -> dict[str, bool]:
    return {o.what: o.passed for o in per_try(Expect.model_validate(exp), result)}


@pytest.mark.parametrize("exp, passed", [
    ({}, {"ok": True}),
    ({"status": 200}, {"ok": True, "status": True}),
    ({"status": 404}, {"ok": True, "status": False}),
    ({"remote_ip_in": "2001:db8:64::/96"}, {"ok": True, "remote_ip_in": True}),
    ({"remote_ip_in": "192.0.2.0/24"}, {"ok": True, "remote_ip_in": False}),
    ({"family": 6}, {"ok": True, "family": True}),
    ({"body": {"a.b.1": 2, "a.x": None}}, {"ok": True, "body.a.b.1": True, "body.a.x": True}),
    ({"body": {"a.b.5": 1}}, {"ok": True, "body.a.b.5": False}),
    ({"body_contains": '"b": [1'}, {"ok": True, "body_contains": True}),
    ({"headers": {"Content-Type": "application/json"}}, {"ok": True, "header Content-Type": True}),
    ({"warnings": []}, {"ok": True, "warnings": True}),
    ({"max_ms": 10}, {"ok": True, "max_ms": False}),
    ({"ok": False}, {"ok": False}),
    ({"reason": "NO_AAAA"}, {"ok": False, "reason": False}),
])
def test_http_expectations(exp, passed):
    assert verdicts(exp, http_ok()) == passed


def test_dns_and_resolve_expectations_read_their_own_facts():
    d = DnsResult(node="c", target="a.test AAAA", ok=False, reason=Reason.NO_AAAA)
    d.facts.rcode, d.facts.answers = "NOERROR", []
    assert verdicts({"ok": False, "reason": "NO_AAAA", "rcode": "NOERROR"}, d) == {"ok": True, "reason": True, "rcode": True}
    r = ResolveResult(node="c", target="a.test", ok=True)
    r.facts.addresses = ["2001:db8:64::c000:202", "2001:db8:64::c000:203"]
    assert verdicts({"addresses_in": "2001:db8:64::/96", "family": 6}, r) == {"ok": True, "addresses_in": True, "family": True}
    assert verdicts({"addresses": ["2001:db8:64:0::c000:203", "2001:db8:64::c000:202"]}, r)["addresses"]
    r2 = ResolveResult(node="c", target="a.test", ok=False, reason=Reason.NXDOMAIN)
    r2.facts.unresolved = Diagnosis(nameserver="2001:db8::53", rcode="NXDOMAIN")
    assert verdicts({"reason": "NXDOMAIN", "rcode": "NXDOMAIN"}, r2) == {"ok": True, "reason": True, "rcode": True}


def test_measure_bounds():
    m = MeasureResult(node="c", target="n{i}.test", ok=False, reason=Reason.DNS_TIMEOUT)
    series = Series()
    for ms, err in ((1.0, None), (2.0, None), (3.0, None), (2000.0, "EAI_AGAIN")):
        series.add(ms, err)
    m.facts.stats = summarize(series)
    assert verdicts({"p50_max_ms": 2.5, "p50_min_ms": 1.0, "p95_max_ms": 2.0, "failures_max": 1}, m) == {
        "p50_max_ms": True, "p50_min_ms": True, "p95_max_ms": False, "failures_max": True}
    assert verdicts({"failures_max": 0}, m) == {"failures_max": False}


def test_a_missing_fact_never_passes():
    """A tool that gave nothing has no facts: every expectation on them fails, none reads as
    a silent pass (before, `failures_max` on no statistics counted 0 failures)."""
    broken = tool_failure("measure", "c", "n{i}.test", ToolRun(tool="python3", returncode=1, stderr="boom"))
    assert verdicts({"failures_max": 5}, broken) == {"failures_max": False}
    assert verdicts({"p50_max_ms": 100}, broken) == {"p50_max_ms": False}
    h = tool_failure("http", "c", "http://a.test/", ToolRun(tool="curl"))
    assert verdicts({"status": 200, "body": {"a": 1}, "headers": {"x": "y"}}, h) == {
        "ok": False, "status": False, "body.a": False, "header x": False}
    assert verdicts({"ok": False, "reason": "TOOL_ERROR"}, h) == {"ok": True, "reason": True}


@pytest.mark.parametrize("exp, check, bad", [
    ({"status": 200}, "dns", ["status"]), ({"rcode": "NOERROR"}, "ping", ["rcode"]),
    ({"p50_max_ms": 3, "body": {"a": 1}}, "http", ["p50_max_ms"]), ({"remote_ip_in": "::/0"}, "resolve", ["remote_ip_in"]),
    ({"status": 200, "headers": {"a": "b"}}, "http", []), ({"addresses_in": "::/0"}, "tcp", []),
])
def test_inapplicable_expectations(exp, check, bad):
    assert inapplicable(Expect.model_validate(exp), check) == bad


def test_ping_loss_expectation_is_the_ok_flag():
    p = PingResult(node="c", target="2001:db8::1", ok=True, reason=Reason.PACKET_LOSS)
    assert verdicts({"reason": "PACKET_LOSS"}, p) == {"ok": False, "reason": True}
    assert verdicts({"ok": True, "reason": "PACKET_LOSS"}, p) == {"ok": True, "reason": True}


def test_tcp_remote_ip():
    t = TcpResult(node="c", target="a.test:443", ok=True)
    t.facts.remote_ip, t.facts.addresses = "2001:db8::2", ["2001:db8::1", "2001:db8::2"]
    assert verdicts({"remote_ip_in": "2001:db8::2/128", "family": 6}, t) == {"ok": True, "remote_ip_in": True, "family": True}


# -- steps through the runner, against the fake runtime ---------------------------------------------
def step_of(raw: dict) -> Step:
    return Step.model_validate(raw)


def run_step(raw: dict, **script):
    env, rt = env_for(handler(**script))
    return runner.run_step(SimpleNamespace(env=env), 0, step_of(raw)), rt


def curl_sequence(*statuses: int):
    """curl answering with these statuses in turn (then the last one forever)."""
    it = itertools.chain(statuses, itertools.repeat(statuses[-1]))
    return lambda call: curl_reply(http_code=next(it), remote_ip="2001:db8::1")


def test_one_try_lists_every_outcome():
    res, _ = run_step({"http": {"from": "client", "url": "http://a.test/"}, "expect": {"status": 200}},
                      curl=curl_sequence(200))
    assert res.passed and res.tries == 1 and res.summary is None
    assert [(o.what, o.passed) for o in res.outcomes] == [("ok", True), ("status", True)]
    assert res.result.facts.status == 200


def test_tries_all_must_pass_and_a_hopeless_step_stops_early():
    res, rt = run_step({"http": {"from": "client", "url": "http://a.test/"}, "tries": 50, "expect": {"status": 200}},
                       curl=curl_sequence(200, 200, 503))
    assert not res.passed and res.tries == 3 and len(rt.calls) == 3  # stopped at the first failure
    assert [o.what for o in res.outcomes] == ["try 3: status", "tries"]
    assert res.summary.count == 3 and res.summary.ok == 3


def test_success_ratio_counts_tries():
    statuses = itertools.cycle([200, 503])
    res, rt = run_step({"http": {"from": "client", "url": "http://a.test/"}, "tries": 10,
                        "expect": {"status": 200, "success_ratio": 0.5}},
                       curl=lambda call: curl_reply(http_code=next(statuses)))
    assert res.passed and res.tries == 10
    assert (res.outcomes[0].what, res.outcomes[0].actual) == ("success_ratio", 0.5)
    # 2 of 10 cannot reach the ratio: the step stops once 6 have failed
    res, rt = run_step({"http": {"from": "client", "url": "http://a.test/"}, "tries": 10,
                        "expect": {"status": 200, "success_ratio": 0.5}}, curl=curl_sequence(200, 503, 200, 503))
    assert not res.passed and res.tries == 8


def test_split_over_tries():
    answers = itertools.cycle(["2001:db8::a", "2001:db8::b"])

    def dns(call):
        return dns_answer(call.data, answers={"AAAA": [next(answers)]})
    res, _ = run_step({"dns": {"from": "client", "name": "a.test", "server": "2001:db8::53"}, "tries": 40,
                       "expect": {"split": {"2001:db8::a": 1, "2001:db8::b": 1}}}, dns=dns)
    assert res.passed, res.outcomes
    assert res.summary.observed == {"2001:db8::a": 20, "2001:db8::b": 20}


def test_split_stops_on_an_unexpected_answer():
    res, _ = run_step({"dns": {"from": "client", "name": "a.test", "server": "2001:db8::53"}, "tries": 40,
                       "expect": {"split": {"2001:db8::a": 1}}},
                      dns=lambda c: dns_answer(c.data, answers={"AAAA": ["2001:db8::c"]}))
    assert not res.passed and res.tries == 1


def test_within_retries_until_the_expectations_hold(monkeypatch):
    monkeypatch.setattr(runner, "RETRY_EVERY_S", 0.01)
    res, rt = run_step({"http": {"from": "client", "url": "http://a.test/"}, "within": 5, "expect": {"status": 200}},
                       curl=curl_sequence(503, 503, 503, 200))
    assert res.passed and len(rt.calls) == 4


def test_within_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(runner, "RETRY_EVERY_S", 0.01)
    res, rt = run_step({"http": {"from": "client", "url": "http://a.test/"}, "within": 0.1, "expect": {"status": 200}},
                       curl=curl_sequence(503))
    assert not res.passed and 2 <= len(rt.calls) <= 12
    assert res.duration_ms >= 80  # it stops when one more wait would pass the deadline


def test_a_broken_tool_fails_the_step_with_its_stderr():
    from labsim.runtime.fake import Reply

    res, _ = run_step({"http": {"from": "client", "url": "http://a.test/"}},
                      curl=Reply("", "curl: (2) option --url: blank argument\n", 2))
    assert not res.passed and res.result.reason is Reason.TOOL_ERROR
    assert "blank argument" in res.result.facts.tool_error.stderr


def test_evaluate_defaults():
    assert [o.passed for o in evaluate(None, [http_ok()])] == [True]


def test_a_step_expecting_what_its_check_never_has_is_refused_at_load():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="a dns check has no status to expect"):
        step_of({"dns": {"from": "c", "name": "a.test"}, "expect": {"status": 200}})
    with pytest.raises(ValidationError, match="a http check has no p95_max_ms"):
        step_of({"http": {"from": "c", "url": "http://a.test/"}, "expect": {"p95_max_ms": 5}})
    assert step_of({"http": {"from": "c", "url": "http://a.test/"}, "expect": {"status": 200, "remote_ip_in": "::/0"}})


def test_facts_paths_read_the_facts_as_the_report_shows_them():
    from labsim.checks.result import LearntResult, Synthesized

    lr = LearntResult(node="modern", target="modern", ok=True)
    lr.facts.nat64_prefix, lr.facts.clat, lr.facts.addresses = "2001:db8:64::/96", {"state": "up", "mtu": 1260}, ["2001:db8:10::5"]
    assert verdicts({"facts": {"clat.state": "up", "clat.mtu": 1260, "dhcp4": None, "nat64_prefx": None,
                               "clat.absent": None},
                     "facts_in": {"nat64_prefix": "2001:db8:64::/96"}, "addresses_in": "2001:db8:10::/64"}, lr) == {
        "ok": True, "facts.clat.state": True, "facts.clat.mtu": True, "facts.dhcp4": True,
        "facts.nat64_prefx": False,  # a typo names no fact: it never passes as null
        "facts.clat.absent": True,  # inside the CLAT's own report a missing key reads as null
        "facts_in.nat64_prefix": False, "addresses_in": True}
    h = http_ok()
    h.facts.synthesized = Synthesized(ipv4="192.0.2.4", prefix="2001:db8:64::/96", address="2001:db8:64::c000:204")
    assert verdicts({"facts": {"synthesized.from": "192.0.2.4"}, "facts_in": {"synthesized.address": "2001:db8:64::/96"}},
                    h) == {"ok": True, "facts.synthesized.from": True, "facts_in.synthesized.address": True}
