"""The review as a self-contained HTML page (no scripts, no external resources), read as the
console table is (labsim.review.report):

    verdict matrix   one row per endpoint, failures first; a column per network, split into
                     one column per platform only when the platforms of that network differ
                     somewhere (a row where they agree is one cell across them)
    what to fix      each reason seen, with its hint; the captures behind the failures
    cells            grouped by endpoint (failures first): per cell the reason, the hint, how
                     it got there, timings and the raw facts. FAIL and WARN are open, PASS folded

Every value is escaped (`_e`); bodies are cut short. The CSS wraps anywhere (long URLs, JSON)
so the page fits a narrow window without scrolling sideways.
"""

from __future__ import annotations

import html
import json
from typing import Any

from labsim.checks.reasons import Reason
from labsim.checks.result import dump
from labsim.report.inert import visible
from labsim.review.run import EndpointReview, Verdict

CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:1em 1.5em;max-width:110em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}h3{font-size:1em;margin:0}
.matrix{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left;overflow-wrap:break-word}
td.ep,td small{overflow-wrap:anywhere}
th{background:#f3f3f3}th.net{text-align:center}td.ep{width:32%}
.PASS{background:#d9f2d9}.WARN{background:#fff0c2}.FAIL{background:#f8d0d0}
.none{background:#eee;color:#777}
td a{color:inherit;font-weight:bold}small,.muted{color:#555}
ul.fix li,ul.caps li{margin:.2em 0;overflow-wrap:anywhere}
section.endpoint{border:1px solid #ddd;border-radius:4px;margin:.8em 0;padding:.4em .6em}
section.endpoint>h3{overflow-wrap:anywhere}
details{margin:.3em 0 .3em .5em}summary{cursor:pointer;overflow-wrap:anywhere}
summary .PASS,summary .WARN,summary .FAIL{padding:0 .3em;font-weight:bold}
details p{margin:.3em 0 .3em 1em;overflow-wrap:anywhere}
details pre{margin:.3em 0 .3em 1em;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere;
 background:#fafafa;padding:.4em}
@media (max-width:900px){body{padding:.5em;font-size:13px}th,td{padding:3px 4px}td.ep{width:28%}
 details{margin-left:0}details p,details pre{margin-left:.3em}}
"""
FACT_KEYS = ("status", "remote_ip", "addresses", "tried", "attempts", "synthesized", "clat", "location",
             "ipv4_literal_urls", "banner", "tls_version", "accept_ok", "unresolved", "curl_exit", "tool_error")
RANK = {"FAIL": 0, "WARN": 1, "PASS": 2}
VIA = {"nat64": "NAT64", "synthesized": "synthesized", "clat": "via CLAT"}


def _e(x: object) -> str:
    """Any value for the page, text or attribute: markup escaped, control characters (which
    HTML forbids) and lone surrogates (which UTF-8 cannot hold) shown as \\xNN."""
    return html.escape(visible(x), quote=True)


def _code(x: str) -> str:
    """A reason code that may break after its underscores (NO_<wbr>ROUTE), not inside a word."""
    return _e(x).replace("_", "_<wbr>")


def _rank(r: EndpointReview) -> int:
    """An endpoint's place: its worst verdict; one nothing reached (no verdict) comes last."""
    return min((RANK[v.verdict] for v in r.cells()), default=len(RANK))


def _agree(row: dict[str, Verdict] | None) -> bool:
    """Every platform has the same verdict and reason (the console's test for one cell)."""
    return not row or len({(v.verdict, v.reason) for v in row.values()}) == 1


def _name(r: EndpointReview) -> str:
    e = r.endpoint
    return e.url if e.method == "GET" else f"{e.method} {e.url}"


def _facts(v: Verdict) -> str:
    """What the server said (status, address) and how it got there: shown, never obeyed."""
    facts = v.result.facts
    bits = [str(x) for x in (getattr(facts, "status", None), getattr(facts, "remote_ip", None)) if x]
    if v.via in VIA:
        bits.append(f"({VIA[v.via]})")
    return " ".join(bits)


def _anchor(i: int, net: str, platform: str) -> str:
    return _e(f"c{i}-{net}-{platform}")


def _cell(i: int, vs: list[Verdict], span: int = 1, label: bool = False) -> str:
    """One cell of the matrix: the verdict (a link to its details), reason and facts. `vs`
    holds one verdict, or every platform's when they agree (facts shown when all the same)."""
    v = vs[0]
    reason = f"<br>{_code(v.reason.value)}" if v.reason else ""
    bits = {_facts(x) for x in vs}
    facts = f"<br><small>{_e(bits.pop())}</small>" if len(bits) == 1 and "" not in bits else ""
    who = f"<small>{_e(v.platform)}</small> " if label else ""
    colspan = f' colspan="{span}"' if span > 1 else ""
    title = "" if len(vs) == 1 else f' title="{_e("all platforms: " + ", ".join(x.platform for x in vs))}"'
    return (f'<td class="{_e(v.verdict)}"{colspan}{title}>{who}<a href="#{_anchor(i, v.network, v.platform)}">'
            f"{_e(v.verdict)}</a>{reason}{facts}</td>")


def _matrix(reviews: list[tuple[int, EndpointReview]], networks: tuple[str, ...],
            platforms: tuple[str, ...]) -> str:
    # a network gets a column per platform only where its platforms differ for some endpoint
    split = {net: len(platforms) > 1 and not all(_agree(r.verdicts.get(net)) for _, r in reviews)
             for net in networks}
    two = any(split.values())
    rowspan = ' rowspan="2"' if two else ""
    head, sub = [], []
    for net in networks:
        if split[net]:
            head.append(f'<th class="net" colspan="{len(platforms)}">{_e(net)}</th>')
            sub += [f"<th>{_e(p)}</th>" for p in platforms]
        else:
            note = "<br><small>all platforms agree</small>" if len(platforms) > 1 else ""
            head.append(f'<th class="net"{rowspan}>{_e(net)}{note}</th>')
    thead = f'<tr><th{rowspan}>endpoint</th>{"".join(head)}</tr>'
    if two:
        thead += f"<tr>{''.join(sub)}</tr>"
    body = []
    for i, r in reviews:
        where = f"<br><small>found in {_e(r.endpoint.found_in)}</small>" if r.endpoint.found_in else ""
        cells = []
        for net in networks:
            row = r.verdicts.get(net) or {}
            span = len(platforms) if split[net] else 1
            present = [row[p] for p in platforms if p in row] or list(row.values())
            if not present:
                colspan = f' colspan="{span}"' if span > 1 else ""
                cells.append(f'<td class="none"{colspan}>not reached</td>')
            elif not split[net] or _agree(row):
                cells.append(_cell(i, present, span))
            else:
                for p in platforms:
                    cells.append(_cell(i, [row[p]]) if p in row else '<td class="none">not reached</td>')
        body.append(f'<tr><td class="ep">{_e(_name(r))}{where}</td>{"".join(cells)}</tr>')
    return f'<div class="matrix"><table><thead>{thead}</thead><tbody>{"".join(body)}</tbody></table></div>'


def _to_fix(reviews: list[tuple[int, EndpointReview]]) -> str:
    """Each reason seen, once, with what to do; then the captures behind the failures."""
    seen: list[Reason] = []
    caps: dict[str, str] = {}
    for _, r in reviews:
        for v in r.cells():
            if v.reason and v.reason not in seen:
                seen.append(v.reason)
            for c in v.captures:
                caps.setdefault(c.path, f"{v.network} {c.node}: {c.summary} ({c.path})")
    out = ""
    if seen:
        out += '<h2>What to fix</h2><ul class="fix">' + "".join(
            f"<li><b>{_e(x.value)}</b>: {_e(x.hint)}</li>" for x in seen) + "</ul>"
    if caps:
        out += '<h2>Captures</h2><ul class="caps">' + "".join(f"<li>{_e(c)}</li>" for c in caps.values()) + "</ul>"
    return out


def _cells(reviews: list[tuple[int, EndpointReview]], networks: tuple[str, ...],
           platforms: tuple[str, ...]) -> str:
    """The per-cell details, one section per endpoint, its failures first."""
    order = {(n, p): k for k, (n, p) in enumerate((n, p) for n in networks for p in platforms)}
    out = []
    for i, r in reviews:
        cells = sorted(r.cells(), key=lambda v: (RANK[v.verdict], order.get((v.network, v.platform), len(order))))
        if not cells:
            continue
        n = {k: sum(v.verdict == k for v in cells) for k in RANK}
        tally = ", ".join(f"{c} {k}" for k, c in n.items() if c)
        out.append(f'<section class="endpoint" id="e{i}"><h3>{_e(_name(r))} <small>({tally})</small></h3>'
                   + "".join(_detail(_anchor(i, v.network, v.platform), v) for v in cells) + "</section>")
    return "".join(out)


def to_html(reviews: list[EndpointReview], networks: tuple[str, ...], platforms: tuple[str, ...],
            title: str = "labsim app-review replay") -> str:
    n = {"PASS": 0, "WARN": 0, "FAIL": 0}
    for r in reviews:
        for counted in r.cells():
            n[counted.verdict] += 1
    # failures first, then warnings, then passes; the given order within each (stable sort);
    # `i` stays the endpoint's index, so anchors do not depend on the order
    ranked = sorted(enumerate(reviews), key=lambda ir: _rank(ir[1]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><h1>{_e(title)}</h1>
<p>{n['FAIL']} FAIL, {n['WARN']} WARN, {n['PASS']} PASS in {sum(n.values())} cells
(endpoint &times; network &times; platform) over {len(reviews)} endpoints.</p>
{_matrix(ranked, networks, platforms)}
{_to_fix(ranked)}
<h2>Cells</h2>
<p class="muted">Grouped by endpoint, failures first; passing cells are folded.</p>
{_cells(ranked, networks, platforms)}
</body></html>
"""


def _detail(anchor: str, v: Verdict) -> str:
    res = v.result
    dumped: dict[str, Any] = dump(res)
    raw = dumped["facts"]
    facts = {k: raw[k] for k in FACT_KEYS if raw.get(k) not in (None, [], {}, "")}
    if v.clat_host:
        facts["clat_host"] = v.clat_host
    shared = f" <small>(same run as {_e(v.shared_with)})</small>" if v.shared_with else ""
    reason = f" {_e(v.reason.value)}" if v.reason else ""
    hint = f"<p><b>{_e(v.reason.value)}</b>: {_e(v.hint or v.reason.hint)}</p>" if v.reason else ""
    timings = ", ".join(f"{k} {t:.1f} ms" for k, t in dumped["timings_ms"].items() if t is not None)
    is_open = " open" if v.verdict != "PASS" else ""
    return (f'<details id="{anchor}"{is_open}><summary>{_e(v.network)} &middot; {_e(v.platform)}: '
            f'<span class="{_e(v.verdict)}">{_e(v.verdict)}</span>{reason}{shared}</summary>{hint}'
            f"<p>how: {_e(v.via)}; check {_e(res.check)} from node {_e(res.node)}; {v.ms:.0f} ms</p>"
            f"<p>target: {_e(res.target)}</p>"
            f"<p>timings: {_e(timings or 'none')}</p>"
            + (f"<p>detail: {_e(res.detail)}</p>" if res.detail else "")
            + f"<pre>{_e(json.dumps(facts, indent=1, default=str))}</pre></details>")
