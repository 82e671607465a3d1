"""Statistics of a latency series: count, failures by reason, min, percentiles, max, mean.

Percentiles are nearest-rank on the sorted successful samples (a p99 of 100 samples is the
99th value, never an interpolation between two measurements).
"""

from __future__ import annotations

import math
import random
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
        return [m for m, e in zip(self.ms, self.errors, strict=True) if e is None]


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


# -- comparing two variants measured in the same interleaved rounds -----------------------------
BOOTSTRAP_REPS = 1000
LEVEL = 0.95


@dataclass
class RatioCI:
    """A variant's percentile over the baseline's, with a bootstrap confidence interval."""

    stat: str  # "p50", "p95"
    ratio: float
    lo: float
    hi: float
    level: float

    @property
    def verdict(self) -> str:
        """'no difference' when the interval covers 1: the data cannot tell the two apart."""
        if self.lo <= 1.0 <= self.hi:
            return "no difference"
        return "slower" if self.lo > 1.0 else "faster"

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def by_round(ms: list[float], errors: list[str | None], rounds: list[int], n_rounds: int) -> list[list[float]]:
    """The successful samples of each round, in round order (empty lists for rounds without any)."""
    out: list[list[float]] = [[] for _ in range(n_rounds)]
    for m, e, r in zip(ms, errors, rounds, strict=True):
        if e is None:
            out[r].append(m)
    return out


def ratio_ci(base: list[list[float]], other: list[list[float]], p: float, reps: int = BOOTSTRAP_REPS,
             level: float = LEVEL, seed: int = 0) -> RatioCI | None:
    """percentile(other) / percentile(base) with a two-stage bootstrap interval.

    `base` and `other` hold each round's samples (the same rounds, so the same slices of load).
    Each replicate draws rounds with replacement, the same rounds for both variants (load that
    came and went stays paired), then samples with replacement within each drawn round: the
    interval widens both for drift between rounds and for scatter within them. None when
    either side has no successful sample."""
    if len(base) != len(other):
        raise ValueError("base and other must cover the same rounds")
    flat_b = sorted(m for r in base for m in r)
    flat_o = sorted(m for r in other for m in r)
    pb, po = percentile(flat_b, p), percentile(flat_o, p)
    if pb is None or po is None or pb <= 0:
        return None
    rng = random.Random(seed)
    n = len(base)
    ratios = []
    for _ in range(reps):
        picks = rng.choices(range(n), k=n)
        rb = sorted(m for i in picks if base[i] for m in rng.choices(base[i], k=len(base[i])))
        ro = sorted(m for i in picks if other[i] for m in rng.choices(other[i], k=len(other[i])))
        if rb and ro:
            qb, qo = percentile(rb, p), percentile(ro, p)  # None only for an empty list
            if qb and qb > 0 and qo is not None:
                ratios.append(qo / qb)
    if not ratios:
        return None
    ratios.sort()
    tail = (1 - level) / 2
    lo = ratios[max(0, math.floor(tail * len(ratios)))]
    hi = ratios[min(len(ratios) - 1, math.ceil((1 - tail) * len(ratios)) - 1)]
    return RatioCI(f"p{p:g}", po / pb, lo, hi, level)


def slices(count: int, rounds: int) -> list[int]:
    """Split `count` samples over `rounds` rounds as evenly as possible, spread out (5 over 10
    rounds is every other round, not the first five), so a variant with few samples still
    meets the early and the late load alike."""
    return [(k + 1) * count // rounds - k * count // rounds for k in range(rounds)]
