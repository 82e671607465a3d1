"""`measure`: a series of lookups through the node's own libc and resolv.conf (nameserver
order, timeout, attempts, rotate, ...), timed inside the node, summarized as statistics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from typing_extensions import TypedDict

from labsim.checks.base import CheckEnv, CheckSpec, guarded
from labsim.checks.reasons import Reason, lookup_reason
from labsim.checks.result import MeasureResult, MeasureTimings, ToolRun
from labsim.checks.series import dnsperf_series, dnspython_series
from labsim.checks.stats import Series, summarize

MAX_CONCURRENCY = 32


class MeasureCheck(CheckSpec):
    name: str  # `{i}` makes every lookup unique (cold cache), e.g. "n{i}-{run}.wild.example.test"
    # libc: getaddrinfo through the node's resolv.conf (what applications see); dnsperf or
    # dnspython: raw queries to `server` (what the resolver does)
    via: Literal["libc", "dnsperf", "dnspython"] = "libc"
    server: str | None = None  # for raw queries: an address or a node name
    type: str = "AAAA"
    rate: int | None = Field(None, ge=1, le=1_000_000)  # dnsperf -Q
    count: int = Field(100, ge=1, le=100000)
    family: Literal["any", "4", "6"] = "any"
    gap_ms: float = Field(0.0, ge=0, le=10000)  # pause between lookups (ICMP rate limits are shared)
    max_seconds: float = Field(120.0, gt=0, le=3600)
    # lookups in flight at once (libc only): each is still timed on its own, so a series of
    # lookups that each wait out a resolver timeout shows the same per-lookup latency in
    # count/concurrency timeouts of wall time. Only for lookups that do not disturb each
    # other (no shared rate limit: that is what gap_ms is for)
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY)
    timeout: float = 3600.0  # the series is bounded by max_seconds

    @model_validator(mode="after")
    def _concurrent(self) -> MeasureCheck:
        if self.concurrency > 1:
            if self.via != "libc":
                raise ValueError(f"concurrency is for via: libc (getaddrinfo); {self.via} paces its own queries")
            if self.gap_ms:
                raise ValueError("concurrency and gap_ms exclude each other: gap_ms spaces lookups one "
                                 "after another, concurrency runs them at once")
            if self.concurrency > self.count:
                raise ValueError(f"concurrency {self.concurrency} is more than count {self.count}")
        return self


class AgentSample(TypedDict):
    ms: float
    error: str | None


class AgentMeasure(TypedDict):
    """What `labsim.node.agent measure` prints."""

    samples: list[AgentSample]
    requested: int


@guarded("measure", lambda spec: spec.name)
def run_measure(spec: MeasureCheck, env: CheckEnv) -> MeasureResult:
    if spec.via == "libc":
        out = env.agent(spec.node, AgentMeasure, "measure", spec.name, "--count", str(spec.count),
                        "--family", spec.family, "--gap-ms", str(spec.gap_ms),
                        "--max-seconds", str(spec.max_seconds), *_concurrency(spec),
                        timeout=spec.max_seconds + 120)
        series = Series()
        for s in out["samples"]:
            series.add(s["ms"], s["error"])
    else:
        server = env.address_of(spec.server) if spec.server else (env.nameservers(spec.node) or [""])[0]
        if spec.via == "dnsperf":
            series = dnsperf_series(env, spec.node, server, spec.name, spec.type, spec.count, spec.rate,
                                    spec.max_seconds)
        else:
            series = dnspython_series(env, spec.node, server, spec.name, spec.type, spec.count, spec.max_seconds)
    return measure_result(spec, series)


def _concurrency(spec: MeasureCheck) -> list[str]:
    # only when asked for: an agent from before the option (a node image) still runs the rest
    return ["--concurrency", str(spec.concurrency)] if spec.concurrency > 1 else []


def measure_result(spec: MeasureCheck, series: Series) -> MeasureResult:
    stats = summarize(series)
    fails = sum(stats.failures.values())
    res = MeasureResult(node=spec.node, target=spec.name, ok=fails == 0 and stats.count > 0,
                        timings_ms=MeasureTimings(total=sum(series.ms), p50=stats.p50, p90=stats.p90,
                                                  p95=stats.p95, p99=stats.p99))
    f = res.facts
    f.stats, f.samples_ms, f.errors, f.requested = stats, [round(m, 3) for m in series.ms], series.errors, spec.count
    if fails:
        worst = max(stats.failures, key=lambda k: stats.failures[k])
        res.reason = lookup_reason(worst)
        res.detail = ", ".join(f"{k}×{v}" for k, v in stats.failures.items())
    elif stats.count == 0:  # the tool ran and measured nothing: no result is not a pass
        res.reason, res.detail = Reason.TOOL_ERROR, "no lookups were measured"
        f.tool_error = ToolRun(tool=spec.via, problem="no lookups were measured")
    return res
