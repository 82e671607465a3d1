"""The review as a self-contained HTML page (no scripts, no external resources): a verdict
matrix (endpoint x network x platform), and per cell the reason, the hint, how it got there,
timings and the raw facts. Every value is escaped; bodies are cut short."""

from __future__ import annotations

import html
import json

from labsim.checks.result import dump
from labsim.report.inert import visible
from labsim.review.run import EndpointReview

CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
th{background:#f3f3f3}.PASS{background:#d9f2d9}.WARN{background:#fff0c2}.FAIL{background:#f8d0d0}
.none{background:#eee;color:#777}details pre{max-width:60em;overflow:auto;font-size:12px;white-space:pre-wrap}
small{color:#555}
"""
FACT_KEYS = ("status", "remote_ip", "addresses", "tried", "attempts", "synthesized", "clat", "location",
             "ipv4_literal_urls", "banner", "tls_version", "accept_ok", "unresolved", "curl_exit", "tool_error")


def _e(x: object) -> str:
    """Any value for the page, text or attribute: markup escaped, control characters (which
    HTML forbids) and lone surrogates (which UTF-8 cannot hold) shown as \\xNN."""
    return html.escape(visible(x), quote=True)


def to_html(reviews: list[EndpointReview], networks: tuple[str, ...], platforms: tuple[str, ...],
            title: str = "labsim app-review replay") -> str:
    n = {"PASS": 0, "WARN": 0, "FAIL": 0}
    for r in reviews:
        for counted in r.cells():
            n[counted.verdict] += 1
    head = "".join(f'<th colspan="{len(platforms)}">{_e(net)}</th>' for net in networks)
    sub = "".join(f"<th>{_e(p)}</th>" for _ in networks for p in platforms)
    rows = []
    details = []
    for i, r in enumerate(reviews):
        ep = _e(r.endpoint.url if r.endpoint.method == "GET" else f"{r.endpoint.method} {r.endpoint.url}")
        where = f"<br><small>found in {_e(r.endpoint.found_in)}</small>" if r.endpoint.found_in else ""
        cells = []
        for net in networks:
            row = r.verdicts.get(net) or {}
            for p in platforms:
                v = row.get(p)
                if v is None:
                    cells.append('<td class="none">not reached</td>')
                    continue
                anchor = _e(f"c{i}-{net}-{p}")
                reason = f"<br>{_e(v.reason.value)}" if v.reason else ""
                cells.append(f'<td class="{_e(v.verdict)}"><a href="#{anchor}">{_e(v.verdict)}</a>{reason}'
                             f'<br><small>{_e(v.via)}</small></td>')
                details.append(_detail(anchor, r, v))
        rows.append(f"<tr><td>{ep}{where}</td>{''.join(cells)}</tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style></head>
<body><h1>{_e(title)}</h1>
<p>{n['PASS']} PASS, {n['WARN']} WARN, {n['FAIL']} FAIL in {sum(n.values())} cells
(endpoint &times; network &times; platform).</p>
<table><thead><tr><th rowspan="2">endpoint</th>{head}</tr><tr>{sub}</tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Cells</h2>{''.join(details)}
</body></html>
"""


def _detail(anchor: str, r: EndpointReview, v) -> str:
    res = v.result
    raw = dump(res)["facts"]
    facts = {k: raw[k] for k in FACT_KEYS if raw.get(k) not in (None, [], {}, "")}
    if v.clat_host:
        facts["clat_host"] = v.clat_host
    shared = f" (same run as {_e(v.shared_with)})" if v.shared_with else ""
    hint = f"<p><b>{_e(v.reason.value)}</b>: {_e(v.reason.hint)}</p>" if v.reason else ""
    timings = ", ".join(f"{k} {t:.1f} ms" for k, t in dump(res)["timings_ms"].items() if t is not None)
    return (f'<details id="{anchor}"><summary>{_e(r.endpoint.url)} &middot; {_e(v.network)} &middot; '
            f'{_e(v.platform)}: <span class="{_e(v.verdict)}">{_e(v.verdict)}</span>{shared}</summary>{hint}'
            f"<p>how: {_e(v.via)}; check {_e(res.check)} from node {_e(res.node)}; {v.ms:.0f} ms</p>"
            f"<p>timings: {_e(timings)}</p>"
            + (f"<p>detail: {_e(res.detail)}</p>" if res.detail else "")
            + f"<pre>{_e(json.dumps(facts, indent=1, default=str))}</pre></details>")
