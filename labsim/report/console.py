"""A rich table per scenario: each step's verdict, reason, key facts and time; failed
expectations spelled out as 'expected X, got Y' under it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..scenario.runner import ScenarioResult, StepResult

KEY_FACTS = ("status", "remote_ip", "addresses", "answers", "rcode", "loss", "location", "exit_status", "pmtu",
             "blackhole", "converged_ms")


def step_facts(s: StepResult) -> str:
    if s.did:
        return s.did
    if s.result is None:
        return s.error or ""
    stats = s.result.facts.get("stats")
    if stats:
        fails = sum(stats["failures"].values())
        nums = " ".join(f"{k}={stats[k]:.1f}ms" for k in ("p50", "p95", "max") if stats.get(k) is not None)
        return f"n={stats['count']} {nums}" + (f" failures={fails}" if fails else "")
    parts = []
    for k in KEY_FACTS:
        v = s.result.facts.get(k)
        if v not in (None, [], ""):
            parts.append(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}")
    summary = s.result.facts.get("tries_summary")
    if summary:
        seen = " ".join(f"{k}×{v}" for k, v in summary["observed"].items())
        return f"{summary['ok']}/{summary['count']} ok; answers: {seen}"
    if s.result.warnings:
        parts.append("warn " + ",".join(w.value for w in s.result.warnings))
    return " ".join(parts)


def render(results: list[ScenarioResult], console: Console) -> None:
    for r in results:
        verdict = Text("PASS", style="bold green") if r.passed else Text("FAIL", style="bold red")
        console.print(Text.assemble(verdict, f" {r.name}", (f" — {r.description}" if r.description else ""),
                                    f"  (lab up {r.bringup_s:.2f}s, total {r.duration_s:.1f}s)"))
        if r.error:
            console.print(f"  [red]error:[/] {r.error}")
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col, kw in (("#", {"justify": "right"}), ("step", {}), ("", {}), ("reason", {}),
                        ("facts", {"overflow": "fold"}), ("ms", {"justify": "right"})):
            table.add_column(col, **kw)
        for s in r.steps:
            mark = Text("ok", style="green") if s.passed else Text("FAIL", style="red")
            reason = s.result.reason.value if s.result and s.result.reason else ""
            table.add_row(str(s.index + 1), s.title, mark, reason, step_facts(s), f"{s.duration_ms:.0f}")
        console.print(table)
        for s in r.steps:
            for o in s.outcomes:
                if not o.passed:
                    console.print(f"  [red]step {s.index + 1}[/] {o.what}: expected {o.expected}, got {o.actual}",
                                  highlight=False)
            for c in s.captures:  # the packets behind the step, read back from its pcap
                console.print(f"  step {s.index + 1} capture {c.node}: {c.summary}  ({c.path})",
                              highlight=False, markup=False)
        console.print()
