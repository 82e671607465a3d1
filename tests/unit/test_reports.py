"""Tier 1: the reports users read and parse, from checks run against the fake runtime.

Console, JUnit and JSON output are compared with golden files (tests/unit/golden/reports;
LABSIM_UPDATE_GOLDEN=1 rewrites them), and every JSON report (`run --json`, `review --json`,
`bench resolvers --json`) validates against the schema shipped in the package, which must
equal the one generated from the result types.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import json
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from rich.console import Console

from labsim.checks.http import HttpCheck, run_http
from labsim.checks.measure import MeasureCheck, run_measure
from labsim.checks.reasons import Reason
from labsim.measure.compare import VariantResult
from labsim.report import compare as compare_report
from labsim.report import console as console_report
from labsim.review import report as review_report
from labsim.commands import schema
from labsim.report.junit import to_xml
from labsim.runtime.fake import Reply
from labsim.scenario import runner
from labsim.scenario.model import Step
from labsim.review.run import Endpoint, EndpointReview, judge
from labsim.scenario.runner import ScenarioResult, StepResult

from tests.helpers import assert_golden
from tests.unit.scripted import connect_out, curl_reply, env_for, handler, resolve_out

GOLDEN = Path(__file__).parent / "golden" / "reports"
PING = ("--- 2001:db8::1 ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss, time 402ms\n"
        "rtt min/avg/max/mdev = 0.031/0.045/0.060/0.011 ms\n")


def fake_env():
    def curl(call):
        url = call.argv[-1]
        if url.endswith("/refused"):
            return curl_reply(exitcode=7, http_code=0, errormsg="Failed to connect to a.test port 80: Couldn't connect",
                              stderr="*   Trying [2001:db8::1]:80...\n* connect to 2001:db8::1 port 80 failed: "
                                     "Connection refused\n")
        if url.endswith("/broken"):
            return Reply("", "curl: (2) option --url: is badly used here\n", 2)
        if url.endswith("/legacy"):
            return curl_reply(body='{"cdn": "http://192.0.2.7/img"}', remote_ip="2001:db8:64::c000:207",
                              headers={"Content-Type": "application/json"})
        return curl_reply(body='{"ok": true}', remote_ip="2001:db8:64::c000:202",
                          headers={"Content-Type": "application/json"},
                          stderr="*   Trying [2001:db8:64::c000:202]:80...\n")
    samples = [{"ms": m, "error": e} for m, e in ((1.25, None), (2.5, None), (3.75, None), (2000.0, "EAI_AGAIN"))]
    return env_for(handler(
        curl=curl, ping=Reply(PING),
        agent={"resolve": resolve_out(["2001:db8:64::c000:202"], ms=1.5),
               "tcp": connect_out(["2001:db8::1", "2001:db8::2"], [("2001:db8::1", "ECONNREFUSED"), ("2001:db8::2", None)]),
               "measure": {"samples": samples, "requested": 4}}))[0]


STEPS = [
    {"name": "the client resolves a synthesized AAAA", "resolve": {"from": "client", "name": "api.example.test"},
     "expect": {"addresses_in": "2001:db8:64::/96"}},
    {"http": {"from": "client", "url": "http://api.example.test/v1"}, "expect": {"status": 200, "body": {"ok": True}}},
    {"http": {"from": "client", "url": "http://api.example.test/legacy"}, "expect": {"warnings": []}},
    {"name": "nothing listens", "http": {"from": "client", "url": "http://a.test/refused"}, "expect": {"reason": "CONNECT_REFUSED"}},
    {"http": {"from": "client", "url": "http://a.test/broken"}, "expect": {"status": 200}},
    {"tcp": {"from": "client", "host": "a.test", "port": 443}, "tries": 3, "expect": {"remote_ip_in": "2001:db8::2/128"}},
    {"ping": {"from": "client", "host": "2001:db8::1"}, "expect": {"ok": True}},
    {"measure": {"from": "client", "name": "n{i}.test", "count": 4}, "expect": {"failures_max": 0, "p50_max_ms": 5}},
]


@pytest.fixture(scope="module")
def scenario_results() -> list[ScenarioResult]:
    session = SimpleNamespace(env=fake_env())
    steps = []
    for i, raw in enumerate(STEPS):
        s = runner.run_step(session, i, Step.model_validate(raw))
        s.duration_ms = 10.0 * (i + 1)  # timings are the only thing a fake run cannot fix
        steps.append(s)
    steps.append(StepResult(len(steps), "stop nat64", "stop", True, did="links of nat64 down", duration_ms=42.0))
    a = ScenarioResult("golden", "scenarios/golden.yml", "golden-lab", "every kind of row", passed=False,
                       steps=steps, bringup_s=0.9, duration_s=3.25)
    b = ScenarioResult("no-lab", "scenarios/no-lab.yml", "no-lab-lab", error="node 'ns': unbound not ready after 5.0s",
                       duration_s=5.5)
    return [a, b]


@pytest.fixture(scope="module")
def reviews() -> list[EndpointReview]:
    env = fake_env()
    prefix = ipaddress.ip_network("2001:db8:64::/96")
    out = []
    for url in ("http://api.example.test/v1", "http://api.example.test/legacy", "http://a.test/refused",
                "http://a.test/broken"):
        rev = EndpointReview(Endpoint(url))
        for net in ("dns64-nat64", "ipv6-only"):
            res = run_http(HttpCheck.model_validate({"from": "client", "url": url}), env)
            rev.verdicts[net] = {"linux": judge(net, res, prefix)}
        out.append(rev)
    return out


@pytest.fixture(scope="module")
def variants() -> list[VariantResult]:
    r = run_measure(MeasureCheck.model_validate({"from": "client", "name": "n{i}.test", "count": 4}), fake_env())
    return [VariantResult("good-order", "client", "as shipped", r.facts.stats, r.facts.samples_ms, r.facts.errors,
                          {"count": 4}, {})]


def run_json(results) -> list:
    # as `labsim run --json` writes it
    return json.loads(json.dumps([r.to_dict() for r in results], indent=1, default=str))


def review_json(reviews) -> list:
    return json.loads(json.dumps([r.to_dict() for r in reviews], indent=1, default=str))


def bench_json(variants) -> dict:
    return json.loads(compare_report.to_json("ipv6-only-client", variants))


# -- schema ---------------------------------------------------------------------------------------
def test_shipped_schema_is_the_generated_one():
    assert schema.shipped() == schema.generate(), \
        "regenerate: python -m labsim.commands.schema > labsim/schema/results.schema.json"


@functools.cache
def validator(report: str | None = None):
    s = schema.shipped()
    jsonschema.Draft202012Validator.check_schema(s)
    if report:  # one report's definition only, so a report cannot pass as another kind
        s = {**s, "anyOf": [{"$ref": f"#/$defs/{report}"}]}
    return jsonschema.Draft202012Validator(s)


def test_run_report_validates(scenario_results):
    validator("RunReport").validate(run_json(scenario_results))


def test_review_report_validates(reviews):
    validator("ReviewReport").validate(review_json(reviews))


def test_bench_report_validates(variants):
    validator("BenchReport").validate(bench_json(variants))


def test_the_schema_catches_drift(scenario_results):
    data = run_json(scenario_results)
    data[0]["steps"][1]["result"]["facts"]["stauts"] = 200  # a typo in a field name
    assert not validator("RunReport").is_valid(data)
    data = run_json(scenario_results)
    data[0]["steps"][1]["result"]["reason"] = "NOT_A_REASON"
    assert not validator("RunReport").is_valid(data)
    data = run_json(scenario_results)
    data[0]["steps"][1]["result"]["check"] = "dns"  # http facts under a dns result
    assert not validator("RunReport").is_valid(data)


def test_json_results_load_back_as_typed_results(scenario_results):
    from labsim.checks.result import adapter

    data = run_json(scenario_results)
    again = adapter(list[ScenarioResult]).validate_python(data)
    assert again[0].steps[1].result.facts.status == 200
    assert again[0].steps[4].result.facts.tool_error.tool == "curl"


def test_review_hints_every_reason(reviews):
    data = review_json(reviews)
    for endpoint in data:
        for v in (v for row in endpoint["networks"].values() for v in row.values()):
            assert (v["hint"] is None) == (v["reason"] is None)
            if v["reason"]:
                assert v["hint"] == Reason(v["reason"]).hint


# -- golden output ----------------------------------------------------------------------------------
def console_text(render, *args) -> str:
    buf = io.StringIO()
    render(*args, Console(file=buf, width=160, color_system=None))
    return buf.getvalue()


def test_golden_reports(scenario_results, reviews, variants):
    assert_golden(GOLDEN, {
        "run.txt": console_text(console_report.render, scenario_results),
        "run.junit.xml": to_xml(scenario_results),
        "run.json": json.dumps(run_json(scenario_results), indent=1) + "\n",
        "review.txt": console_text(review_report.render, reviews, ("dns64-nat64", "ipv6-only")),
        "review.json": json.dumps(review_json(reviews), indent=1) + "\n",
        "bench.txt": console_text(compare_report.render_table, "ipv6-only-client", variants),
        "bench.json": json.dumps(bench_json(variants), indent=1) + "\n",
    }, "reports")


def test_console_rows_say_what_a_user_acts_on(scenario_results):
    text = console_text(console_report.render, scenario_results)
    assert "TOOL_ERROR" in text and "option --url: is badly used here" in text
    assert "2/3" not in text and "3/3 ok; answers: 2001:db8::2×3" in text
    assert "CONNECT_REFUSED" in text and "warn IPV4_LITERAL_IN_BODY" in text
    xml = to_xml(scenario_results)
    assert "curl exit: 2" in xml and "reason: TOOL_ERROR" in xml


def test_every_check_has_a_result_type_in_the_reports():
    """A new check adds its facts and result classes and one CheckRecord; RESULTS, AnyResult and
    CHECKS follow from the records, and the schema describes it (regenerate the shipped file)."""
    import typing

    from labsim.checks import CHECKS
    from labsim.checks.result import RESULTS, AnyResult

    union = typing.get_args(typing.get_args(AnyResult)[0])
    assert set(CHECKS) == set(RESULTS) == {cls.check for cls in map(lambda c: c(node="n", target="t", ok=True), union)}
    assert set(union) == set(RESULTS.values())
    defs = schema.shipped()["$defs"]
    assert all(cls.__name__ in defs and f"{cls.__name__[:-6]}Facts" in defs for cls in RESULTS.values())


@pytest.mark.parametrize("ok, status, reason, warnings, expected", [
    (True, 200, None, [], ("PASS", None)),
    (True, 404, None, [], ("WARN", Reason.HTTP_STATUS)),
    (True, 503, None, [], ("FAIL", Reason.HTTP_STATUS)),
    (True, 200, None, [Reason.IPV4_LITERAL_IN_BODY], ("WARN", Reason.IPV4_LITERAL_IN_BODY)),
    (False, None, Reason.NO_AAAA, [], ("FAIL", Reason.NO_AAAA)),
    (False, 302, Reason.REDIRECT_TO_IPV4_LITERAL, [], ("FAIL", Reason.REDIRECT_TO_IPV4_LITERAL)),
    (False, None, Reason.TOOL_ERROR, [], ("FAIL", Reason.TOOL_ERROR)),
    (False, None, None, [], ("FAIL", Reason.UNKNOWN)),
])
def test_review_verdicts(ok, status, reason, warnings, expected):
    from labsim.checks.result import HttpResult
    from labsim.review.run import verdict_of

    r = HttpResult(node="client", target="http://x.test/", ok=ok, reason=reason, warnings=warnings)
    r.facts.status = status
    assert verdict_of(r) == expected


@pytest.mark.parametrize("url, method, fragment", [
    ("http://a.test/x y", "GET", "whitespace"), ("http://a.test/\x01", "GET", "control characters"),
    ("http://a.test/", "GET /", "HTTP method"), ("-K/etc/passwd", "GET", "option")])
def test_review_refuses_an_endpoint_curl_could_misread_before_any_lab(url, method, fragment):
    from labsim.errors import InputError
    from labsim.review.run import review_checks

    with pytest.raises(InputError, match=fragment):
        review_checks("client", [Endpoint(url, method)], 5.0)
    assert [c.url for c in review_checks("client", [Endpoint("https://a.test/ok")], 5.0)] == ["https://a.test/ok"]


def test_a_checks_record_alone_says_which_expectations_apply():
    """APPLIES is derived from the records: each expectation applies to exactly the results
    whose record names it, and to no other (what `inapplicable` refuses at load)."""
    from labsim.checks.result import RECORDS
    from labsim.scenario.expect import APPLIES

    for name, rec in RECORDS.items():
        assert {k for k, kinds in APPLIES.items() if rec.result in kinds} == set(rec.expects), name
    assert set(APPLIES["status"]) == {RECORDS["http"].result}
    assert RECORDS["socket"].expects == frozenset() and RECORDS["ping"].expects == frozenset()
