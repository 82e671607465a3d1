"""Tier 1: the review's HTML page reads as the console table does, and fits a browser window.

A realistic review (4 platforms x 2 networks x 7 endpoints, one found by --follow, a long URL,
an IPv4 literal the platforms handle differently) is written as HTML without a lab, then:
  - parsed (html.parser): endpoints with a FAIL come first, a network whose platforms agree on
    every endpoint is one column, a row where they agree is one cell across the platforms, the
    per-cell details are grouped by endpoint with FAIL/WARN open and PASS folded, and every
    link in the matrix leads to a cell's details;
  - rendered by headless Chromium at 1400 and 800 px wide: a screenshot is taken, and the page
    scrolls no wider than the window (measured by a script the test adds to its copy; the
    report itself carries none).
Without chromium the browser tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labsim.checks.reasons import Reason
from labsim.checks.result import CheckResult, HttpFacts, HttpResult, HttpTimings, SocketFacts, SocketResult, Synthesized
from labsim.review.inputs import Endpoint
from labsim.review.report_html import to_html
from labsim.review.run import EndpointReview, Verdict, verdict_of
from labsim.scenario.capture import Capture
from tests.helpers import IN_CI

NETS = ("dns64-nat64", "ipv6-only")
PLATFORMS = ("linux", "ios", "android", "macos")
PREFIX = "64:ff9b::"
LONG = ("https://cdn.example.test/assets/v2/images/onboarding/hero-banner-2x-retina-0123456789abcdef0123456789"
        "abcdef.webp?width=2048&height=1024&token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0")


def http(url: str, *, status: int | None = 200, remote: str | None = None, reason: Reason | None = None,
         warnings: tuple[Reason, ...] = (), synth: Synthesized | None = None, detail: str = "",
         method: str = "GET") -> HttpResult:
    ok = reason is None
    return HttpResult(node="client", target=url, ok=ok, reason=reason, detail=detail, warnings=list(warnings),
                      facts=HttpFacts(url=url, method=method, status=status if ok else None, remote_ip=remote,
                                      tried=[remote] if remote else [], synthesized=synth,
                                      body='{"ok": true}' if ok else "", curl_exit=0 if ok else 7),
                      timings_ms=HttpTimings(dns=1.2, connect=3.4 if remote else None, ttfb=12.5 if ok else None))


def cell(net: str, platform: str, res: CheckResult, via: str, shared: str | None = None, **kw) -> Verdict:
    verdict, reason = verdict_of(res)
    return Verdict(net, verdict, reason, res, via in ("nat64", "synthesized", "clat"), platform, via,
                   shared_with=shared, ms=15.0, **kw)


def same_everywhere(net: str, res: CheckResult, via: str) -> dict[str, Verdict]:
    """A name: every platform resolves it alike, so the others share linux's run."""
    return {p: cell(net, p, res, via, None if p == "linux" else "linux") for p in PLATFORMS}


def realistic_reviews() -> list[EndpointReview]:
    v4only = "https://api.example.test/v1/session"
    dual = "https://www.example.test/"
    literal = "http://192.0.2.10/config.json"
    legacy = "https://legacy.example.test/feed"
    login = "https://auth.example.test/login"
    push = "wss://push.example.test/socket"
    nat64 = f"{PREFIX}c000:20a"

    def no_aaaa(url: str) -> HttpResult:
        return http(url, reason=Reason.NO_AAAA, status=None)

    reviews = []

    def add(url: str, rows: dict[str, dict[str, Verdict]], method: str = "GET", found: str | None = None) -> None:
        rev = EndpointReview(Endpoint(url, method, found_in=found, depth=1 if found else 0))
        rev.verdicts.update(rows)
        reviews.append(rev)

    # a dual-stack name passes everywhere (listed first: it must not stay first)
    add(dual, {n: same_everywhere(n, http(dual, remote="2001:db8:10::80"), "native") for n in NETS})
    # an IPv4-only name: NAT64 carries it; with no translation there is no address at all
    add(v4only, {"dns64-nat64": same_everywhere("dns64-nat64", http(v4only, remote=nat64), "nat64"),
                 "ipv6-only": same_everywhere("ipv6-only", no_aaaa(v4only), "none")})
    # an IPv4 literal: linux has no way out; iOS (and macOS without PREF64) synthesize, Android's CLAT translates
    syn = Synthesized(ipv4="192.0.2.10", prefix=f"{PREFIX}/96", address=nat64)
    unreachable = "connect to 192.0.2.10 port 80: Network is unreachable"
    lit_nat64 = {"linux": cell("dns64-nat64", "linux", http(literal, reason=Reason.NO_ROUTE, status=None,
                                                            detail=unreachable), "none"),
                 "ios": cell("dns64-nat64", "ios", http(literal, remote=nat64, synth=syn), "synthesized"),
                 "android": cell("dns64-nat64", "android", http(literal, remote="192.0.2.10"), "clat",
                                 clat_host={"clat": "192.0.0.2", "nat64_prefix": f"{PREFIX}/96"}),
                 "macos": cell("dns64-nat64", "macos", http(literal, remote=nat64, synth=syn), "synthesized")}
    lit_v6 = {p: cell("ipv6-only", p, http(literal, reason=Reason.NO_ROUTE, status=None, detail=unreachable), "none",
                      captures=[Capture("client", "/var/lib/labsim/captures/ipv6-only-client.pcap",
                                        "3 packets: ICMPv6 destination unreachable")])
              for p in PLATFORMS}
    add(literal, {"dns64-nat64": lit_nat64, "ipv6-only": lit_v6})
    # dual-stack, works, but hands the app an IPv4-literal URL
    add(legacy, {n: same_everywhere(n, http(legacy, remote="2001:db8:10::81", warnings=(Reason.IPV4_LITERAL_IN_BODY,)),
                                    "native") for n in NETS})
    # the server fails on every network
    add(login, {n: same_everywhere(n, http(login, remote="2001:db8:10::443", status=503, method="POST"), "native")
                for n in NETS}, method="POST")
    # a WebSocket with a native address
    ws = SocketResult(node="client", target=push, ok=True,
                      facts=SocketFacts(url=push, status=101, accept_ok=True, remote_ip="2001:db8:10::8443",
                                        addresses=["2001:db8:10::8443"]))
    add(push, {n: same_everywhere(n, ws, "native") for n in NETS})
    # found by --follow in a JSON body: a long URL that must wrap
    add(LONG, {"dns64-nat64": same_everywhere("dns64-nat64", http(LONG, remote=f"{PREFIX}c633:6401"), "nat64"),
               "ipv6-only": same_everywhere("ipv6-only", no_aaaa(LONG), "none")},
        found=f"JSON body of {v4only} at $.assets.hero[0].src")
    return reviews


@pytest.fixture(scope="module")
def reviews() -> list[EndpointReview]:
    return realistic_reviews()


@pytest.fixture(scope="module")
def page(reviews) -> str:
    return to_html(reviews, NETS, PLATFORMS)


# -- structure -----------------------------------------------------------------------------------
class Tree(html.parser.HTMLParser):
    """Just what the asserts read: header cells, body rows, sections and their details."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.head: list[list[dict]] = []  # rows of <th> attrs (+ "text")
        self.rows: list[list[dict]] = []  # rows of <td> attrs (+ "text")
        self.sections: list[dict] = []  # {"id", "title", "details": [attrs + "summary"]}
        self.tags: list[str] = []
        self._text: list[str] | None = None
        self._in = ""

    def handle_starttag(self, tag, attrs) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "br" and self._text is not None:
            self._text.append("\n")  # a line break in a cell: the verdict, reason and facts stay words apart
        if tag == "tr":
            (self.head if self._in == "thead" else self.rows).append([])
        elif tag in ("thead", "tbody"):
            self._in = tag
        elif tag in ("th", "td"):
            a["text"] = ""
            (self.head if self._in == "thead" else self.rows)[-1].append(a)
            self._text = []
        elif tag == "section":
            self.sections.append({"id": a.get("id"), "title": "", "details": []})
        elif tag == "h3" and self.sections:
            self._text = []
        elif tag == "details":
            self.sections[-1]["details"].append(a)
        elif tag == "summary":
            self._text = []
        self.stack.append((tag, a))

    def handle_endtag(self, tag) -> None:
        text = "".join(self._text or [])
        if tag in ("th", "td"):
            cell = (self.head if self._in == "thead" else self.rows)[-1][-1]
            cell["text"], cell["line"] = text, text.split("\n")[0]
            self._text = None
        elif tag == "h3" and self.sections:
            self.sections[-1]["title"] = text
            self._text = None
        elif tag == "summary":
            self.sections[-1]["details"][-1]["summary"] = text
            self._text = None
        elif tag in ("thead", "tbody"):
            self._in = ""

    def handle_data(self, data) -> None:
        if self._text is not None:
            self._text.append(data)


def tree(page: str) -> Tree:
    t = Tree()
    t.feed(page)
    t.close()
    return t


def verdict_in(text: str) -> str:
    return re.search(r"\b(FAIL|WARN|PASS)\b", text).group(1)  # type: ignore[union-attr]


def test_endpoints_with_failures_come_first_then_warnings_then_passes(page):
    rows = tree(page).rows
    assert len(rows) == 7
    ranks = []
    for row in rows:
        seen = {verdict_in(td["text"]) for td in row[1:]}
        ranks.append(0 if "FAIL" in seen else 1 if "WARN" in seen else 2)
    assert ranks == [0, 0, 0, 0, 1, 2, 2], ranks
    names = [r[0]["line"] for r in rows]
    # within a rank the given order stays: the dual-stack name was given first, it passes: last but one
    assert names[:4] == ["https://api.example.test/v1/session", "http://192.0.2.10/config.json",
                         "POST https://auth.example.test/login", LONG]
    assert names[4:] == ["https://legacy.example.test/feed", "https://www.example.test/", "wss://push.example.test/socket"]


def test_platforms_get_columns_only_where_they_differ(page):
    t = tree(page)
    top = t.head[0]
    assert [h["line"] for h in top] == ["endpoint", "dns64-nat64", "ipv6-only"]
    # dns64-nat64: the literal differs per platform -> one column per platform
    assert top[1].get("colspan") == "4"
    assert [h["text"] for h in t.head[1]] == list(PLATFORMS)
    # ipv6-only: every platform agrees on every endpoint -> one column, spanning both header rows
    assert "colspan" not in top[2] and top[2].get("rowspan") == "2" and "all platforms agree" in top[2]["text"]
    for row in t.rows:
        width = sum(int(td.get("colspan", "1")) for td in row)
        assert width == 1 + 4 + 1, row
    literal = next(r for r in t.rows if r[0]["line"] == "http://192.0.2.10/config.json")
    assert [verdict_in(td["text"]) for td in literal[1:5]] == ["FAIL", "PASS", "PASS", "PASS"]
    assert "NO_ROUTE" in literal[1]["text"] and "(synthesized)" in literal[2]["text"]
    assert "(via CLAT)" in literal[3]["text"]
    # where the platforms of the split network agree, one cell spans them (as the console's one verdict)
    session = next(r for r in t.rows if r[0]["line"] == "https://api.example.test/v1/session")
    assert len(session) == 3 and session[1]["colspan"] == "4" and "PASS" in session[1]["text"]
    assert "(NAT64)" in session[1]["text"] and "NO_AAAA" in session[2]["text"]


def test_cell_details_are_grouped_by_endpoint_failures_open_passes_folded(page, reviews):
    t = tree(page)
    assert sum(len(s["details"]) for s in t.sections) == 4 * 2 * 7  # every cell once
    row_names = [r[0]["line"] for r in t.rows]
    assert [s["title"].rsplit(" (", 1)[0] for s in t.sections] == row_names  # same order as the table
    for s in t.sections:
        index = s["id"][1:]
        assert all(d["id"].startswith(f"c{index}-") for d in s["details"]), s  # this endpoint's cells only
        verdicts = [verdict_in(d["summary"]) for d in s["details"]]
        ranks = [{"FAIL": 0, "WARN": 1, "PASS": 2}[v] for v in verdicts]
        assert ranks == sorted(ranks), verdicts  # failures first inside the endpoint too
        for d, v in zip(s["details"], verdicts, strict=True):
            assert ("open" in d) == (v != "PASS"), (d, v)
    opened = [d for s in t.sections for d in s["details"] if "open" in d]
    assert len(opened) == sum(v.verdict != "PASS" for r in reviews for v in r.cells())


def test_every_matrix_link_leads_to_a_cells_details_and_nothing_is_loaded(page):
    ids = set(re.findall(r'<details id="([^"]+)"', page))
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") and h[1:] in ids for h in hrefs)
    t = tree(page)
    assert not {"script", "link", "img", "iframe"} & set(t.tags) and " src=" not in page
    # what to fix: every reason once, with its hint; the capture behind the ipv6-only failures
    for reason in (Reason.NO_AAAA, Reason.NO_ROUTE, Reason.HTTP_STATUS, Reason.IPV4_LITERAL_IN_BODY):
        assert page.count(f"<li><b>{reason.value}</b>") == 1
    assert page.count("ipv6-only-client.pcap") == 1


# -- in a browser --------------------------------------------------------------------------------
MEASURE = ("<script>var d=document.documentElement,m=document.querySelector('.matrix'),b=document.body;"
           "b.setAttribute('data-scroll',d.scrollWidth);b.setAttribute('data-inner',window.innerWidth);"
           "b.setAttribute('data-table',m.scrollWidth+'/'+m.clientWidth);"
           "b.setAttribute('data-fits',String(d.scrollWidth<=window.innerWidth&&m.scrollWidth<=m.clientWidth));"
           "</script>")


def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        msg = "chromium is not installed (apt-get install chromium)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    return exe  # type: ignore[return-value]


def browse(exe: str, tmp: Path, page: Path, width: int, *extra: str) -> subprocess.CompletedProcess:
    # its own profile directory, so nothing of the user's (or another test's) browser is used
    return subprocess.run([exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           f"--user-data-dir={tmp / f'profile-{width}'}", f"--window-size={width},900",
                           *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=90, check=False)


def test_the_page_renders_in_chromium_at_1400_px(page, tmp_path):
    exe = chromium()
    path = tmp_path / "report.html"
    path.write_text(page)
    png = tmp_path / "out.png"
    res = browse(exe, tmp_path, path, 1400, f"--screenshot={png}")
    assert png.is_file(), res.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a page was drawn, not a blank


@pytest.mark.parametrize("width", [1400, 800])
def test_the_page_does_not_scroll_sideways(page, tmp_path, width):
    exe = chromium()
    path = tmp_path / "measured.html"
    path.write_text(page.replace("</body>", MEASURE + "</body>"))
    res = browse(exe, tmp_path, path, width, "--dump-dom")
    body = re.search(r"<body[^>]*>", res.stdout)
    assert body, (res.returncode, res.stderr[-2000:])
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group()))
    assert attrs.get("inner") == str(width), attrs  # the window was as wide as asked
    assert attrs.get("fits") == "true", attrs
