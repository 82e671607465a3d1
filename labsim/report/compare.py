"""Resolver comparison reports: a side-by-side table, JSON, a latency CDF plot (PNG), and a
self-contained HTML page holding both."""

from __future__ import annotations

import base64
import html
import io
import json

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from ..checks.result import dump
from ..measure.compare import VariantResult
from ..checks.stats import cdf

COLUMNS = ("p50", "p90", "p95", "p99", "max", "mean", "min")


def _ms(v) -> str:
    return "—" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.2f}")


def render_table(name: str, results: list[VariantResult], console: Console) -> None:
    table = Table(title=f"resolution latency: {name} (ms, getaddrinfo in the node)", title_justify="left")
    for col in ("variant", "from", "n", "fail", *COLUMNS):
        table.add_column(col, justify="left" if col in ("variant", "from", "fail") else "right",
                         no_wrap=col in ("variant", "from"))
    for r in results:
        s = r.stats
        fails = ", ".join(f"{k}×{v}" for k, v in s.failures.items()) or "0"
        table.add_row(r.name, r.node, str(s.count), fails, *(_ms(getattr(s, c)) for c in COLUMNS))
    console.print(table)


@dataclass
class BenchReport:
    """`bench resolvers --json`: every variant's statistics and samples."""

    comparison: str
    variants: list[VariantResult]


def to_json(name: str, results: list[VariantResult]) -> str:
    return json.dumps(dump(BenchReport(name, results)), indent=1)


def plot_png(name: str, results: list[VariantResult]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    for r in results:
        ok = [m for m, e in zip(r.samples_ms, r.errors) if e is None]
        if ok:
            xs, ys = cdf([max(m, 0.01) for m in ok])
            ax.step(xs, ys, where="post", label=f"{r.name} (p50 {_ms(r.stats.p50)} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("lookup latency, ms (log scale)")
    ax.set_ylabel("share of lookups")
    ax.set_title(f"{name}: getaddrinfo latency CDF per variant")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def to_html(name: str, description: str, results: list[VariantResult], png: bytes) -> str:
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>".format(
            html.escape(r.name), html.escape(r.node), r.stats.count,
            html.escape(", ".join(f"{k}×{v}" for k, v in r.stats.failures.items()) or "0"),
            "".join(f"<td class=n>{_ms(getattr(r.stats, c))}</td>" for c in COLUMNS)) for r in results)
    changes = "".join(f"<li><b>{html.escape(r.name)}</b>: from {html.escape(r.node)}; "
                      f"{html.escape(json.dumps(r.patch) if r.patch else 'base topology')}; "
                      f"{html.escape(json.dumps(r.measure))}</li>" for r in results)
    img = base64.b64encode(png).decode()
    head = "".join(f"<th>{c}</th>" for c in ("variant", "from", "n", "failures", *COLUMNS))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>labsim: {html.escape(name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}</style>
</head><body>
<h1>Resolution latency: {html.escape(name)}</h1>
<p>{html.escape(description)}</p>
<p>Milliseconds per <code>getaddrinfo</code>, timed inside the node through its own resolv.conf.</p>
<table><tr>{head}</tr>{rows}</table>
<h2>Latency CDF</h2>
<img alt="latency CDF per variant" src="data:image/png;base64,{img}">
<h2>Variants</h2><ul>{changes}</ul>
</body></html>
"""
