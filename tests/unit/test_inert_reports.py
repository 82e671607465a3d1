"""Tier 1: every string from outside is inert in every report.

A step's name from a scenario file, a server's Location header and body, a program's stderr,
a JSON key `--follow` reports, error texts: results built with rich markup, terminal escape
sequences, NUL and lone surrogates in them render in the console (no MarkupError, no raw
control byte reaches the terminal, the escape shown as the text \\x1b), in JUnit XML (parses,
the replacement visible), in HTML (no live tag, parses) and in JSON (exact).
"""

from __future__ import annotations

import html.parser
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from labsim.checks.reasons import Reason
from labsim.checks.result import ExecFacts, ExecResult, HttpFacts, HttpResult, ToolRun
from labsim.checks.stats import Stats
from labsim.measure.compare import VariantResult
from labsim.report import compare as compare_report
from labsim.report import console as console_report
from labsim.report.inert import inert, inert_text, visible, xml_text
from labsim.report.junit import to_xml
from labsim.review import report as review_report
from labsim.review.report_html import to_html as review_html
from labsim.review.report_junit import to_junit
from labsim.review.run import Endpoint, EndpointReview, judge
from labsim.scenario.capture import Capture
from labsim.scenario.expect import Outcome
from labsim.scenario.runner import ScenarioResult, StepResult

TITLE = "[/]\x1b]0;pwned\x07"
LOCATION = "http://x/[bold]\x1b[2J"
STDERR = "starting\x00 \x1b[31mred\x1b[0m\nlast line [/] \x1b]0;t\x07 \x9b2J \ud800"
JSON_KEY = "$.\x1b]0;pwned\x07[/]k"
SCRIPT = "<script>alert(1)</script>"
# a raw C0 (but newline, tab) or C1 control character, or a lone surrogate
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
NETS = ("dns64-nat64", "ipv6-only")


def hostile_run() -> list[ScenarioResult]:
    http = HttpResult(node="client", target=LOCATION, ok=False, reason=Reason.TOOL_ERROR,
                      detail=f"curl said {SCRIPT} \x1b[2J",
                      facts=HttpFacts(url=LOCATION, status=302, remote_ip="2001:db8::1", location=LOCATION,
                                      headers={"location": LOCATION}, body=SCRIPT,
                                      tool_error=ToolRun(tool="curl", returncode=2, stderr=STDERR,
                                                         problem="no write-out marker")))
    ex = ExecResult(node="client", target="prog", ok=True,
                    facts=ExecFacts(argv=["prog"], exit_status=1, stderr=STDERR, stdout="[bold]x\x1b[2J"))
    steps = [
        StepResult(0, TITLE, "http", False, result=http, duration_ms=12.0,
                   outcomes=[Outcome("status", 200, f"[/]\x1b]0;x\x07{SCRIPT}", False)],
                   captures=[Capture("client\x1b[2J", "/tmp/[/]p.pcap", "DNS \x1b]0;q\x07 [bold]")]),
        StepResult(1, "[bold red]exec[/bold red]\\", "exec", False, result=ex, duration_ms=3.0,
                   outcomes=[Outcome("stderr_contains", "ok", STDERR, False)]),
        StepResult(2, "action \x00", "stop", True, did="did [/] \x1b[2J", duration_ms=1.0),
        StepResult(3, "broken", "http", False, error="error [/]\x1b[2J\x00 end\\"),
    ]
    a = ScenarioResult(TITLE, "s/[/].yml", "lab", description=f"[bold]{SCRIPT}\x1b[2J", steps=steps)
    b = ScenarioResult("no-lab [/]", "s.yml", "lab", error=f"node '\x1b]0;x\x07': [/] {SCRIPT}\x00\\")
    return [a, b]


def hostile_reviews() -> list[EndpointReview]:
    out = []
    for i, (url, found) in enumerate(((f"http://a.test/{SCRIPT}[/]", None),
                                      ("http://cdn.test/\x1b]0;x\x07[bold]",
                                       f"JSON body of http://a.test/ at {JSON_KEY}"))):
        res = HttpResult(node="client", target=url, ok=i == 0, reason=None if i == 0 else Reason.CONNECT_REFUSED,
                         detail=f"{SCRIPT}\x1b[2J\x00",
                         facts=HttpFacts(url=url, status=302, remote_ip="2001:db8::1\x1b[2J", location=LOCATION,
                                         body=SCRIPT, headers={"x-\x1b": SCRIPT}))
        rev = EndpointReview(Endpoint(url, found_in=found, depth=i))
        for net in NETS:
            rev.verdicts[net] = {"linux": judge(net, res, None)}
        out.append(rev)
    return out


def hostile_variants() -> list[VariantResult]:
    stats = Stats(count=2, failures={"EAI_\x1b[2J[/]": 1}, min=1.0, p50=1.0, p90=1.0, p95=1.0, p99=1.0,
                  max=1.0, mean=1.0)
    return [VariantResult(f"[/]{SCRIPT}\x1b]0;x\x07$\\frac$", "client[bold]", f"desc {SCRIPT}", stats, [1.0, 2.0],
                          [None, "EAI_\x1b"], {"count": 2, "name": "n{i}", "max_seconds": 5}, {},
                          baseline=f"[/]{SCRIPT}\x1b]0;x\x07$\\frac$")]


def console_out(render, *args) -> str:
    buf = io.StringIO()
    render(*args, Console(file=buf, width=200, color_system=None))
    return buf.getvalue()


def assert_inert_console(text: str) -> None:
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text, text
    assert not RAW.search(text), repr(RAW.search(text))
    assert "\\x1b" in text  # the escape is shown, as text


# -- console -------------------------------------------------------------------------------------
def test_run_console_shows_hostile_text_and_obeys_none_of_it():
    text = console_out(console_report.render, hostile_run())
    assert_inert_console(text)
    assert "[/]\\x1b]0;pwned\\x07" in text  # the step's name, as written
    assert "[bold red]exec[/bold red]\\" in text  # markup shown, not applied
    assert "http://x/[bold]\\x1b[2J" in text  # the Location header
    assert "error [/]\\x1b[2J\\x00 end\\" in text  # a step's error, trailing backslash kept
    assert "node '\\x1b]0;x\\x07': [/]" in text  # a scenario's error
    assert "DNS \\x1b]0;q\\x07 [bold]" in text  # a capture's summary


def test_review_console_shows_a_followed_json_key_inert():
    text = console_out(review_report.render, hostile_reviews(), NETS)
    assert_inert_console(text)
    assert "at $.\\x1b]0;pwned\\x07[/]k" in text
    assert f"http://a.test/{SCRIPT}[/]" in text


def test_bench_console_shows_hostile_names_inert():
    text = console_out(compare_report.render_table, "[/]\x1b]0;cmp\x07", hostile_variants())
    assert_inert_console(text)
    assert "EAI_\\x1b[2J[/]" in text


def test_a_failed_run_in_the_pytest_plugin_renders_to_plain_text():
    # what repr_failure shows: the same renderer into a buffer (no colour, no terminal)
    buf = io.StringIO()
    console_report.render(hostile_run()[:1], Console(file=buf, width=150, color_system=None))
    assert_inert_console(buf.getvalue())


# -- JUnit ---------------------------------------------------------------------------------------
def test_run_junit_parses_and_shows_the_replacements():
    xml = to_xml(hostile_run())
    root = ET.fromstring(xml)  # well-formed: no NUL, ESC or surrogate reached the file
    xml.encode("utf-8")
    names = [c.get("name") for c in root.iter("testcase")]
    assert "01 [/]\\x1b]0;pwned\\x07" in names  # an attribute
    failures = " ".join((f.text or "") + (f.get("message") or "") for f in root.iter("failure"))
    assert "starting\\x00 \\x1b[31mred" in failures  # stderr in text
    assert "\\ud800" in failures
    assert any("\\x1b" in (e.get("message") or "") for e in root.iter("error"))


def test_review_junit_parses_and_shows_the_replacements():
    xml = to_junit(hostile_reviews(), NETS)
    root = ET.fromstring(xml)
    xml.encode("utf-8")
    texts = " ".join(e.text or "" for e in root.iter())
    assert "found in: JSON body of http://a.test/ at $.\\x1b]0;pwned\\x07[/]k" in texts
    assert any("\\x1b]0;x\\x07" in (c.get("name") or "") for c in root.iter("testcase"))


# -- HTML ----------------------------------------------------------------------------------------
class _Collect(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def parsed(page: str) -> _Collect:
    p = _Collect()
    p.feed(page)
    p.close()
    return p


def test_review_html_escapes_every_value():
    page = review_html(hostile_reviews(), NETS, ("linux",), title=f"t {SCRIPT}")
    assert "<script>" not in page and not RAW.search(page)
    page.encode("utf-8")  # no lone surrogate: the file can be written
    p = parsed(page)
    assert "script" not in p.tags
    text = "".join(p.text)
    assert SCRIPT in text  # shown as text, not run
    assert "$.\\x1b]0;pwned\\x07[/]k" in text


def test_bench_html_escapes_every_value():
    v = hostile_variants()
    page = compare_report.to_html(f"[/]{SCRIPT}\x1b", f"d {SCRIPT}\x00", v, b"")
    assert "<script>" not in page and not RAW.search(page)
    p = parsed(page)
    assert "script" not in p.tags and SCRIPT in "".join(p.text)


def test_bench_plot_takes_hostile_names():
    # a $...$ pair in a name is matplotlib math, and bad math raises when the figure is drawn
    assert compare_report.plot_png("[/]$\\frac$", hostile_variants())[:4] == b"\x89PNG"


# -- JSON ----------------------------------------------------------------------------------------
def test_json_keeps_outside_text_exactly():
    run = json.loads(json.dumps([r.to_dict() for r in hostile_run()], indent=1, default=str))
    assert run[0]["steps"][0]["title"] == TITLE
    assert run[0]["steps"][0]["result"]["facts"]["tool_error"]["stderr"] == STDERR
    review = json.loads(json.dumps([r.to_dict() for r in hostile_reviews()], indent=1, default=str))
    assert review[1]["found_in"].endswith(JSON_KEY)


# -- properties ----------------------------------------------------------------------------------
# any text, control characters, surrogates and markup brackets well represented
TEXT = st.text(st.one_of(st.characters(exclude_categories=()),
                         st.sampled_from(list("[]/\\#@ab:\n\t\r\x00\x1b\x07\x7f\x85\x9b\ud800\ufffe"))))
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(TEXT)
@example("\\[")  # found by this test: rich drops the backslash of "\\[" in plain text
@example("\\[/]")
@example("a\\")
def test_inert_is_shown_exactly_and_holds_no_control_character(s):
    shown = visible(s)
    assert not RAW.search(shown) and not RAW.search(inert(s))
    assert Text.from_markup(inert(s), emoji=False).plain == shown  # alone
    around = Text.from_markup(f"[bold]x{inert(s)}[/bold]y[red]{inert(s)}[/]", emoji=False)
    assert around.plain == f"x{shown}y{shown}"  # inside tags and right before one
    assert inert_text(s).plain == shown
    if "\t" not in shown and "\n" not in shown:  # (rich expands tabs and may strip at a line end)
        buf = io.StringIO()
        Console(file=buf, width=10_000, color_system=None, soft_wrap=True).print(
            inert(s), emoji=False, highlight=False, end="")
        assert buf.getvalue() == shown


@PROPS
@given(TEXT)
def test_inert_keeps_ordinary_text_as_it_is(s):
    plain = "".join(c for c in s if not RAW.match(c))
    assert visible(plain) == plain


@PROPS
@given(TEXT, TEXT)
def test_xml_text_always_parses_in_an_element_and_an_attribute(text, attr):
    el = ET.Element("e", a=xml_text(attr), **{"b": xml_text(text)})
    el.text = xml_text(text)
    doc = ET.tostring(el, encoding="unicode")
    doc.encode("utf-8")
    back = ET.fromstring(doc)
    # ET writes CR, newline and tab in attributes as character references, so all come back
    # exactly (a CR in text is read back as a newline, as XML 1.0 §2.11 says)
    assert (back.text or "") == xml_text(text).replace("\r\n", "\n").replace("\r", "\n")
    assert back.get("a") == xml_text(attr) and back.get("b") == xml_text(text)


@pytest.mark.parametrize("raw,shown", [("\x1b[2J", "\\x1b[2J"), ("a\x00b", "a\\x00b"), ("\x9b", "\\x9b"),
                                       ("\x7f", "\\x7f"), ("\ud800", "\\ud800"), ("é—✓\n\t", "é—✓\n\t")])
def test_visible_names_each_control_character(raw, shown):
    assert visible(raw) == shown
