"""Resolver comparison reports: a side-by-side table, JSON, a latency CDF plot (PNG), and a
self-contained HTML page holding both. Each variant's p50 and p95 are shown as a ratio to the
baseline variant with their bootstrap interval, and "no difference" when it covers 1."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from labsim.checks.result import dump
from labsim.checks.stats import cdf
from labsim.measure.compare import VariantResult
from labsim.report.inert import inert, inert_text, visible

COLUMNS = ("p50", "p90", "p95", "p99", "max", "mean", "min")
RATIOS = ("p50", "p95")
# ten colours, then the same ten dashed, dotted, dash-dotted: 40 variants stay apart
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
LINESTYLES = ("solid", "dashed", "dotted", "dashdot")


def _h(x: object) -> str:
    """Outside text (names from the comparison file, failures from the nodes) for the page."""
    return html.escape(visible(x), quote=True)


def _plot_label(x: object) -> str:
    # matplotlib reads text between two $ as math, and bad math raises when the figure is drawn
    return visible(x).replace("$", r"\$")


def _ms(v) -> str:
    return "—" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.2f}")


def style(i: int) -> tuple[str, str]:
    """The colour and line style of the i-th variant's line."""
    return COLOURS[i % len(COLOURS)], LINESTYLES[(i // len(COLOURS)) % len(LINESTYLES)]


def ratio_text(r: VariantResult, stat: str) -> str:
    """'1.02× [0.95–1.10] no difference', 'baseline', or '—' when it could not be computed."""
    if r.name == r.baseline:
        return "baseline"
    ci = r.vs_baseline.get(stat)
    if not ci:
        return "—"
    verdict = ci["verdict"] if ci["verdict"] == "no difference" else f"{ci['verdict']} than {r.baseline}"
    return f"{ci['ratio']:.2f}× [{ci['lo']:.2f}–{ci['hi']:.2f}] {verdict}" + (" †" if r.baseline_in_other_lab else "")


def other_lab_note(results: list[VariantResult]) -> str:
    """Why a ratio across labs is marked ('' when every variant shares the baseline's lab)."""
    if not any(r.baseline_in_other_lab for r in results):
        return ""
    base = results[0].baseline
    waits = {r.lab: r.lab_cpu_wait_us for r in results}
    shown = "; ".join(f"lab {lab} {us:g} µs" for lab, us in sorted(waits.items()) if us is not None)
    return (f"†: measured in another lab than {base}: two sets of daemons, which the scheduler can keep "
            "waiting for a CPU unequally for a whole run under load, which interleaving cannot even out; "
            "an A/A pair across labs once read 0.57× here. Put variants to compare in one lab where you can."
            + (f" Each lab's daemons waited for a CPU, per timeslice: {shown}." if shown else ""))


def _value(v) -> str:
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v) if v else "nothing"
    if isinstance(v, dict):
        return "; ".join(f"{k} {_value(x)}" for k, x in v.items())
    return str(v)


def describe(r: VariantResult) -> str:
    """What the variant changes, in words: where lookups run, which node fields it sets, and how
    the measurement differs from the comparison's default."""
    parts = [r.description.rstrip(".")] if r.description else []
    parts.append(f"lookups from {r.node}")
    if r.patch:
        for node, fields in r.patch.items():
            parts.append(f"on node {node}: " + "; ".join(f"{k} set to {_value(v)}" for k, v in fields.items()))
    else:
        parts.append("the base topology unchanged")
    m = r.measure
    how = f"{m['count']} lookups of {m['name']}"
    if m.get("gap_ms"):
        how += f", {m['gap_ms']:g} ms apart"
    how += f", at most {m['max_seconds']:g} s"
    parts.append(how)
    return "; ".join(parts)


def render_table(name: str, results: list[VariantResult], console: Console) -> None:
    # names come from the comparison file and failures from the nodes: shown, never read as markup
    table = Table(title=inert_text(f"resolution latency: {name} (ms, getaddrinfo in the node)"),
                  title_justify="left")
    base = results[0].baseline if results else ""
    ratio_cols = tuple(f"{c} / {base}" for c in RATIOS) if base else ()
    for col in ("variant", "from", "n", "fail", *COLUMNS, *ratio_cols):
        table.add_column(inert_text(col), justify="left" if col in ("variant", "from", "fail", *ratio_cols)
                         else "right", no_wrap=col in ("variant", "from"))
    for r in results:
        s = r.stats
        fails = ", ".join(f"{k}×{v}" for k, v in s.failures.items()) or "0"
        table.add_row(inert_text(r.name), inert_text(r.node), str(s.count), inert_text(fails),
                      *(_ms(getattr(s, c)) for c in COLUMNS),
                      *((inert_text(ratio_text(r, c)) for c in RATIOS) if base else ()))
    console.print(table)
    if base:
        console.print(f"ratios: the variant's percentile over {inert(base)}'s, with a 95% bootstrap interval over "
                      "the interleaved rounds; \"no difference\" when the interval covers 1", emoji=False)
        if note := other_lab_note(results):
            console.print(inert_text(note))


@dataclass
class BenchReport:
    """`bench resolvers --json`: every variant's statistics and samples."""

    comparison: str
    variants: list[VariantResult]


def to_json(name: str, results: list[VariantResult]) -> str:
    return json.dumps(dump(BenchReport(name, results)), indent=1)


def figure(name: str, results: list[VariantResult]):
    """The CDF plot as a matplotlib Figure (the caller closes it)."""
    from matplotlib.figure import Figure  # no pyplot: no display, no global state

    fig = Figure(figsize=(9, 5), dpi=110)
    ax = fig.subplots()
    for i, r in enumerate(results):
        ok = [m for m, e in zip(r.samples_ms, r.errors, strict=True) if e is None]
        if ok:
            xs, ys = cdf([max(m, 0.01) for m in ok])
            colour, dash = style(i)
            ax.step(xs, ys, where="post", color=colour, linestyle=dash,
                    label=_plot_label(f"{r.name} (p50 {_ms(r.stats.p50)} ms)"))
    ax.set_xscale("log")
    ax.set_xlabel("lookup latency, ms (log scale)")
    ax.set_ylabel("share of lookups")
    ax.set_title(_plot_label(f"{name}: getaddrinfo latency CDF per variant"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", handlelength=3)
    fig.tight_layout()
    return fig


def plot_png(name: str, results: list[VariantResult]) -> bytes:
    buf = io.BytesIO()
    figure(name, results).savefig(buf, format="png")
    return buf.getvalue()


def to_html(name: str, description: str, results: list[VariantResult], png: bytes) -> str:
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>".format(
            _h(r.name), _h(r.node), r.stats.count,
            _h(", ".join(f"{k}×{v}" for k, v in r.stats.failures.items()) or "0"),
            "".join(f"<td class=n>{_ms(getattr(r.stats, c))}</td>" for c in COLUMNS)
            + "".join(f"<td>{_h(ratio_text(r, c))}</td>" for c in RATIOS)) for r in results)
    changes = "".join(f"<li><b>{_h(r.name)}</b>: {_h(describe(r))}</li>" for r in results)
    img = base64.b64encode(png).decode()
    base = results[0].baseline if results else ""
    head = "".join(f"<th>{_h(c)}</th>" for c in ("variant", "from", "n", "failures", *COLUMNS,
                                                *(f"{c} / {base}" for c in RATIOS)))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>labsim: {_h(name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}</style>
</head><body>
<h1>Resolution latency: {_h(name)}</h1>
<p>{_h(description)}</p>
<p>Milliseconds per <code>getaddrinfo</code>, timed inside the node through its own resolv.conf.
Variants were measured interleaved: in each round a slice of every variant, in shuffled order.
A ratio is the variant's percentile over {_h(base)}'s, with a 95% bootstrap interval over
the rounds; "no difference" when the interval covers 1.</p>
<table><tr>{head}</tr>{rows}</table>
{f"<p>{_h(note)}</p>" if (note := other_lab_note(results)) else ""}
<h2>Latency CDF</h2>
<img alt="latency CDF per variant" src="data:image/png;base64,{img}">
<h2>Variants</h2><ul>{changes}</ul>
</body></html>
"""
