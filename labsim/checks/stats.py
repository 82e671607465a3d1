"""Statistics of a latency series: count, failures by reason, min, percentiles, max, mean.

Percentiles are nearest-rank on the sorted successful samples (a p99 of 100 samples is the
99th value, never an interpolation between two measurements).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

PERCENTILES = (50, 90, 95, 99)


@dataclass
class Series:
    """One measurement: each sample's latency (ms) and error code (None when it worked)."""

    ms: list[float] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)

    def add(self, ms: float, error: str | None = None) -> None:
        self.ms.append(ms)
        self.errors.append(error)

    @property
    def ok_ms(self) -> list[float]:
        return [m for m, e in zip(self.ms, self.errors) if e is None]


@dataclass
class Stats:
    count: int
    failures: dict[str, int]
    min: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(sorted_ms: list[float], p: float) -> float | None:
    if not sorted_ms:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


def summarize(series: Series) -> Stats:
    ok = sorted(series.ok_ms)
    failures = Counter(e for e in series.errors if e is not None)
    pct = {f"p{p}": percentile(ok, p) for p in PERCENTILES}
    return Stats(count=len(series.ms), failures=dict(failures), min=ok[0] if ok else None,
                 max=ok[-1] if ok else None, mean=sum(ok) / len(ok) if ok else None, **pct)


def cdf(ms: list[float]) -> tuple[list[float], list[float]]:
    """x (latency) and y (share of samples at or below it) for a CDF plot."""
    xs = sorted(ms)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]
