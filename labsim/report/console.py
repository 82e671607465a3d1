"""A rich table per scenario: each step's verdict, reason, key facts and time; failed
expectations spelled out as 'expected X, got Y' under it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from labsim.checks.result import (
    CheckResult,
    DnsResult,
    ExecResult,
    HttpResult,
    MeasureResult,
    PingResult,
    PmtuResult,
    ResolveResult,
    TcpResult,
    TlsResult,
)
from labsim.scenario.runner import ScenarioResult, StepResult


def key_facts(r: CheckResult) -> list[tuple[str, object]]:
    """The facts a reader scans a row for, per check."""
    f = r.facts
    if isinstance(r, HttpResult):
        return [("status", f.status), ("remote_ip", f.remote_ip), ("location", f.location)]
    if isinstance(r, (TcpResult, TlsResult)):
        return [("remote_ip", f.remote_ip), ("addresses", f.addresses)]
    if isinstance(r, ResolveResult):
        return [("addresses", f.addresses)]
    if isinstance(r, DnsResult):
        return [("answers", f.answers), ("rcode", f.rcode)]
    if isinstance(r, PingResult):
        return [("loss", f"{f.loss:.0%}")]
    if isinstance(r, ExecResult):
        return [("exit_status", f.exit_status)]
    if isinstance(r, PmtuResult):
        return [("pmtu", f.pmtu), ("blackhole", f.blackhole or None)]
    return []


def step_facts(s: StepResult) -> str:
    if s.did:
        return s.did
    if s.result is None:
        return s.error or ""
    stats = s.result.facts.stats if isinstance(s.result, MeasureResult) else None
    if stats:
        fails = sum(stats.failures.values())
        nums = " ".join(f"{k}={v:.1f}ms" for k, v in (("p50", stats.p50), ("p95", stats.p95), ("max", stats.max))
                        if v is not None)
        return f"n={stats.count} {nums}" + (f" failures={fails}" if fails else "")
    if s.summary:
        seen = " ".join(f"{k}×{v}" for k, v in s.summary.observed.items())
        return f"{s.summary.ok}/{s.summary.count} ok; answers: {seen}"
    parts = []
    for k, v in key_facts(s.result):
        if v not in (None, [], ""):
            parts.append(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}")
    tool = s.result.facts.tool_error
    if tool is not None and tool.stderr:
        parts.append("stderr: " + tool.stderr.strip().splitlines()[-1][:200])
    if s.result.warnings:
        parts.append("warn " + ",".join(w.value for w in s.result.warnings))
    if s.converged_ms is not None:
        parts.append(f"converged_ms={s.converged_ms}")
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
