"""The review verdict table: one row per endpoint, a column per network, and what to fix."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..scenario.expect import remote_ip_of, status_of
from ..scenario.review import EndpointReview

STYLE = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold red"}


def cell(v) -> Text:
    t = Text(v.verdict, style=STYLE[v.verdict])
    if v.reason:
        t.append(f" {v.reason.value}")
    bits = []
    status, remote = status_of(v.result), remote_ip_of(v.result)
    if status:
        bits.append(str(status))
    if remote:
        bits.append(remote + (" (NAT64)" if v.translated else ""))
    if bits:
        t.append("\n" + " ".join(bits), style="dim")
    return t


def render(reviews: list[EndpointReview], networks: tuple[str, ...], console: Console) -> None:
    table = Table(title="app-review replay", title_justify="left", show_lines=True)
    table.add_column("endpoint", overflow="fold")
    for n in networks:
        table.add_column(n)
    for r in reviews:
        name = r.endpoint.url if r.endpoint.method == "GET" else f"{r.endpoint.method} {r.endpoint.url}"
        table.add_row(name, *(cell(r.verdicts[n]) for n in networks))
    console.print(table)
    seen = []
    for r in reviews:
        for v in r.verdicts.values():
            if v.reason and v.reason not in seen:
                seen.append(v.reason)
    for reason in seen:
        console.print(f"  [bold]{reason.value}[/]: {reason.hint}", highlight=False)
    shown = set()
    for r in reviews:  # the packets behind the failures: one capture per network
        for v in r.verdicts.values():
            for c in v.captures:
                if c.path not in shown:
                    shown.add(c.path)
                    console.print(f"  capture {v.network} {c.node}: {c.summary}  ({c.path})",
                                  highlight=False, markup=False)
