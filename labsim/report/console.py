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
from labsim.report.inert import inert, inert_text
from labsim.scenario.runner import ScenarioResult, StepResult


def key_facts(r: CheckResult) -> list[tuple[str, object]]:
    """The facts a reader scans a row for, per check."""
    if isinstance(r, HttpResult):
        return [("status", r.facts.status), ("remote_ip", r.facts.remote_ip), ("location", r.facts.location)]
    if isinstance(r, (TcpResult, TlsResult)):
        return [("remote_ip", r.facts.remote_ip), ("addresses", r.facts.addresses)]
    if isinstance(r, ResolveResult):
        return [("addresses", r.facts.addresses)]
    if isinstance(r, DnsResult):
        return [("answers", r.facts.answers), ("rcode", r.facts.rcode)]
    if isinstance(r, PingResult):
        return [("loss", f"{r.facts.loss:.0%}")]
    if isinstance(r, ExecResult):
        return [("exit_status", r.facts.exit_status)]
    if isinstance(r, PmtuResult):
        return [("pmtu", r.facts.pmtu), ("blackhole", r.facts.blackhole or None)]
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
    """Every string from outside (a scenario's names, what servers and programs said) goes in
    through inert_text/inert: its markup is not read and its control characters are shown."""
    for r in results:
        verdict = Text("PASS", style="bold green") if r.passed else Text("FAIL", style="bold red")
        console.print(Text.assemble(verdict, " ", inert_text(r.name, newlines=False),
                                    (Text.assemble(" — ", inert_text(r.description)) if r.description else ""),
                                    f"  (lab up {r.bringup_s:.2f}s, total {r.duration_s:.1f}s)"))
        if r.error:
            console.print(f"  [red]error:[/] {inert(r.error)}", emoji=False)
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("#", justify="right")
        for col in ("step", "", "reason"):
            table.add_column(col)
        table.add_column("facts", overflow="fold")
        table.add_column("ms", justify="right")
        for s in r.steps:
            mark = Text("ok", style="green") if s.passed else Text("FAIL", style="red")
            reason = s.result.reason.value if s.result and s.result.reason else ""
            table.add_row(str(s.index + 1), inert_text(s.title), mark, reason, inert_text(step_facts(s)),
                          f"{s.duration_ms:.0f}")
        console.print(table)
        for s in r.steps:
            for o in s.outcomes:
                if not o.passed:
                    console.print(f"  [red]step {s.index + 1}[/] {inert(o.what)}: expected {inert(o.expected)}, "
                                  f"got {inert(o.actual)}", highlight=False, emoji=False)
            for c in s.captures:  # the packets behind the step, read back from its pcap
                console.print(inert_text(f"  step {s.index + 1} capture {c.node}: {c.summary}  ({c.path})"),
                              highlight=False)
        console.print()
