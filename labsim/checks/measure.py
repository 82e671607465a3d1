"""`measure`: a series of lookups through the node's own libc and resolv.conf (nameserver
order, timeout, attempts, rotate, ...), timed inside the node, summarized as statistics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..measure.raw import dnsperf_series, dnspython_series
from ..measure.stats import Series, summarize
from .base import CheckEnv, CheckSpec
from .result import CheckResult, Reason

EAI_REASON = {"EAI_AGAIN": Reason.DNS_TIMEOUT, "EAI_NONAME": Reason.NXDOMAIN, "EAI_NODATA": Reason.NO_AAAA,
              "NO_ADDRESS": Reason.NO_ADDRESS, "TIMEOUT": Reason.DNS_TIMEOUT, "NXDOMAIN": Reason.NXDOMAIN,
              "SERVFAIL": Reason.DNS_SERVFAIL}


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
    timeout: float = 3600.0  # the series is bounded by max_seconds


def run_measure(spec: MeasureCheck, env: CheckEnv) -> CheckResult:
    if spec.via == "libc":
        out = env.agent(spec.node, "measure", spec.name, "--count", str(spec.count), "--family", spec.family,
                        "--gap-ms", str(spec.gap_ms), "--max-seconds", str(spec.max_seconds),
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
        out = {"requested": spec.count}
    stats = summarize(series)
    fails = sum(stats.failures.values())
    res = CheckResult("measure", spec.node, spec.name, ok=fails == 0,
                      facts={"stats": stats.to_dict(), "samples_ms": [round(m, 3) for m in series.ms],
                             "errors": series.errors, "requested": out["requested"]},
                      timings_ms={"total": sum(series.ms), **{k: v for k, v in stats.to_dict().items()
                                                              if k.startswith("p") and v is not None}})
    if fails:
        worst = max(stats.failures, key=stats.failures.get)
        res.reason = EAI_REASON.get(worst, Reason.UNKNOWN)
        res.detail = ", ".join(f"{k}×{v}" for k, v in stats.failures.items())
    return res
