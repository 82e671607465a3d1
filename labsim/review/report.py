"""The review verdict table: one row per endpoint, a column per network, and what to fix.

Platforms appear side by side only where they differ: a cell where every platform has the
same verdict and reason stays one verdict, else one line per platform.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from labsim.report.inert import inert, inert_text, visible
from labsim.review.run import EndpointReview

STYLE = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold red"}
VIA = {"nat64": "NAT64", "synthesized": "synthesized", "clat": "via CLAT"}


def _facts(v) -> str:
    facts = v.result.facts
    bits = []
    status, remote = getattr(facts, "status", None), getattr(facts, "remote_ip", None)
    if status:
        bits.append(str(status))
    if remote:
        bits.append(str(remote))
    if v.via in VIA:
        # a CLAT carrying a name: no AAAA reached the client, only the CLAT saved it
        bits.append(f"({VIA[v.via]}{': A-only name' if getattr(v, 'note', None) else ''})")
    return " ".join(bits)


def cell(v, label: str = "") -> Text:
    t = inert_text(label, newlines=False)  # the platform's name, padded
    t.append(v.verdict, style=STYLE[v.verdict])
    if v.reason:
        t.append(f" {v.reason.value}")
    bits = _facts(v)  # what the server said (status, address): shown, never obeyed
    if bits and not label:
        t.append_text(inert_text("\n" + bits, style="dim"))
    elif bits:
        t.append_text(inert_text(" " + bits, style="dim"))
    return t


def network_cell(row: dict | None) -> Text:
    if not row:
        return Text("— not reached", style="dim")
    verdicts = list(row.values())
    if len({(v.verdict, v.reason) for v in verdicts}) == 1:
        return cell(verdicts[0])
    width = max(len(p) for p in row)
    out = Text()
    for i, (platform, v) in enumerate(row.items()):
        if i:
            out.append("\n")
        out.append_text(cell(v, f"{platform:<{width}} "))
    return out


def render(reviews: list[EndpointReview], networks: tuple[str, ...], console: Console) -> None:
    table = Table(title="app-review replay", title_justify="left", show_lines=True)
    table.add_column("endpoint", overflow="fold")
    for n in networks:
        table.add_column(n)
    for r in reviews:
        # --follow finds URLs, and says where (JSON keys included), in what servers answered
        name = inert_text(r.endpoint.url if r.endpoint.method == "GET" else f"{r.endpoint.method} {r.endpoint.url}",
                          newlines=False)
        if r.endpoint.found_in:
            name.append_text(inert_text(f"\n  found in {visible(r.endpoint.found_in, newlines=False)}",
                                        style="dim italic"))
        table.add_row(name, *(network_cell(r.verdicts.get(n)) for n in networks))
    console.print(table)
    seen: dict[tuple, None] = {}  # (reason, platform when its hint is the platform's own)
    for r in reviews:
        for v in r.cells():
            if v.reason:
                own = v.hint if v.hint and v.hint != v.reason.hint else None
                seen[(v.reason, v.platform if own else None, own or v.reason.hint)] = None
    for reason, platform, hint in seen:
        label = f"{reason.value} ({platform})" if platform else reason.value
        console.print(f"  [bold]{inert(label)}[/]: {inert(hint)}", highlight=False, emoji=False)
    shown = set()
    for r in reviews:  # the packets behind the failures: one capture per network
        for v in r.cells():
            for c in v.captures:
                if c.path not in shown:
                    shown.add(c.path)
                    console.print(inert_text(f"  capture {v.network} {c.node}: {c.summary}  ({c.path})"),
                                  highlight=False)


def counts(reviews: list[EndpointReview]) -> dict[str, int]:
    out = {"PASS": 0, "WARN": 0, "FAIL": 0}
    for r in reviews:
        for v in r.cells():
            out[v.verdict] += 1
    return out
