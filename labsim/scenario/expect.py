"""Expectations on a check's result, each evaluated to (what, expected, actual, passed).

Per-try expectations (status, reason, remote_ip_in, ...) hold for every try unless
`success_ratio` is set; then a try counts as a success when all of them hold for it, and the
share of successes must reach the ratio. `split` compares the observed share of each answer
with the expected one, inside an exact two-sided binomial 99.9% interval.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from labsim.checks.reasons import Reason
from labsim.checks.result import (
    RECORDS,
    RESULTS,
    CheckResult,
    DnsResult,
    ExecResult,
    HttpResult,
    LearntResult,
    MeasureResult,
    PmtuResult,
    ResolveResult,
    TcpResult,
    TlsResult,
    dump,
)
from labsim.checks.stats import Stats

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool | None = None  # default: true, unless `reason` is expected
    reason: Reason | None = None
    status: int | None = None
    rcode: str | None = None
    remote_ip_in: IPNet | None = None
    family: int | None = Field(None, ge=4, le=6)
    addresses: list[str] | None = None  # exactly these (any order)
    addresses_in: IPNet | None = None  # every address inside this prefix
    body: dict[str, Any] | None = None  # dotted path into the JSON body -> value
    body_contains: str | None = None
    facts: dict[str, Any] | None = None  # dotted path into the result's facts -> value
    facts_in: dict[str, IPNet] | None = None  # dotted path -> the IP address there is in this prefix
    headers: dict[str, str] | None = None  # response headers (names case-insensitive)
    warnings: list[Reason] | None = None  # exactly these warnings
    max_ms: float | None = Field(None, gt=0)  # total time of each try
    success_ratio: float | None = Field(None, ge=0, le=1)
    split: dict[str, float] | None = None  # answer -> expected share over the tries
    # latency statistics of a `measure` step (milliseconds)
    p50_min_ms: float | None = Field(None, ge=0)
    p50_max_ms: float | None = Field(None, ge=0)
    p95_max_ms: float | None = Field(None, ge=0)
    p99_max_ms: float | None = Field(None, ge=0)
    failures_max: int | None = Field(None, ge=0)
    # a `within` step: the time until its expectations first held (e.g. a DNS failover)
    converged_max_ms: float | None = Field(None, gt=0)
    # an `exec` step: the program's exit status, its output, stdout's JSON (dotted paths)
    exit_status: int | None = None
    stdout_contains: str | None = None
    stderr_contains: str | None = None
    stdout: dict[str, Any] | None = None
    # any check: numeric bounds on dotted paths into its facts (`facts` above: equality)
    facts_min: dict[str, float] | None = None
    facts_max: dict[str, float] | None = None


@dataclass
class Outcome:
    """One expectation against what was seen; both sides kept as plain JSON values."""

    what: str
    expected: Any
    actual: Any
    passed: bool

    def __post_init__(self) -> None:
        self.expected, self.actual = _plain(self.expected), _plain(self.actual)


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


# -- what a result shows, read from its typed facts (None where the check has no such fact) --
def status_of(r: CheckResult) -> int | None:
    return r.facts.status if isinstance(r, HttpResult) else None


def rcode_of(r: CheckResult) -> str | None:
    if isinstance(r, DnsResult):
        return r.facts.rcode
    unresolved = r.facts.unresolved if isinstance(r, (ResolveResult, HttpResult, TcpResult, TlsResult)) else None
    return unresolved.rcode if unresolved else None


def remote_ip_of(r: CheckResult) -> str | None:
    return r.facts.remote_ip if isinstance(r, (HttpResult, TcpResult, TlsResult, PmtuResult)) else None


def addresses_of(r: CheckResult) -> list[str]:
    if isinstance(r, DnsResult):
        return r.facts.answers
    if isinstance(r, (ResolveResult, TcpResult, TlsResult, LearntResult)):
        return r.facts.addresses
    return []


def stats_of(r: CheckResult) -> Stats | None:
    return r.facts.stats if isinstance(r, MeasureResult) else None


# which results each expectation can be checked on (from each check's record); any other is
# refused when the scenario loads
APPLIES: dict[str, tuple[type[CheckResult], ...]] = {
    k: tuple(r.result for r in RECORDS.values() if k in r.expects)
    for k in sorted({k for r in RECORDS.values() for k in r.expects})}


def inapplicable(exp: Expect, check: str) -> list[str]:
    """The expectations `exp` sets that a `check` result never has facts for."""
    cls = RESULTS[check]
    return [k for k, kinds in APPLIES.items() if getattr(exp, k) is not None and cls not in kinds]


def observed_value(r: CheckResult) -> str | None:
    """What one try 'answered', for splits: the first DNS answer, the address connected to,
    or the first address resolved."""
    if isinstance(r, DnsResult):
        return r.facts.answers[0] if r.facts.answers else None
    found = addresses_of(r)
    return remote_ip_of(r) or (found[0] if found else None)


def per_try(exp: Expect, r: CheckResult) -> list[Outcome]:
    out = []
    bounds = (exp.p50_min_ms, exp.p50_max_ms, exp.p95_max_ms, exp.p99_max_ms, exp.failures_max)
    if exp.ok is not None or exp.reason is not None or all(b is None for b in bounds):
        # latency bounds alone are the whole expectation: a slow series may lose a lookup
        # expecting a failure reason or a non-zero exit status means expecting a failure
        want_ok = exp.ok if exp.ok is not None else (exp.reason is None and not exp.exit_status)
        out.append(Outcome("ok", want_ok, r.ok, r.ok == want_ok))
    if exp.reason is not None:
        out.append(Outcome("reason", exp.reason.value, r.reason.value if r.reason else None, r.reason == exp.reason))
    if exp.status is not None:
        out.append(Outcome("status", exp.status, status_of(r), status_of(r) == exp.status))
    if exp.rcode is not None:
        out.append(Outcome("rcode", exp.rcode, rcode_of(r), rcode_of(r) == exp.rcode))
    addrs = addresses_of(r)
    ip = remote_ip_of(r)
    if exp.remote_ip_in is not None:
        out.append(Outcome("remote_ip_in", exp.remote_ip_in, ip, _in(ip, exp.remote_ip_in)))
    if exp.family is not None:
        seen = [ip] if ip else addrs
        fams = sorted({ipaddress.ip_address(a).version for a in seen if _is_ip(a)})
        out.append(Outcome("family", exp.family, fams, fams == [exp.family]))
    if exp.addresses is not None:
        out.append(Outcome("addresses", sorted(exp.addresses), sorted(addrs),
                           sorted(map(_norm, addrs)) == sorted(map(_norm, exp.addresses))))
    if exp.addresses_in is not None:
        out.append(Outcome("addresses_in", exp.addresses_in, addrs,
                           bool(addrs) and all(_in(a, exp.addresses_in) for a in addrs)))
    http = r.facts if isinstance(r, HttpResult) else None
    if exp.body is not None:
        for path, want in exp.body.items():
            got = _dig(http.json if http else None, path)
            out.append(Outcome(f"body.{path}", want, got, got == want))
    if exp.facts or exp.facts_in:  # dotted paths into the facts as the JSON report shows them
        plain = dump(r.facts)
        for path, want in (exp.facts or {}).items():
            got = _fact(plain, path)
            out.append(Outcome(f"facts.{path}", want, got, got is not NO_SUCH_FACT and got == want))
        for path, net in (exp.facts_in or {}).items():
            got = _fact(plain, path)
            out.append(Outcome(f"facts_in.{path}", net, got, got is not NO_SUCH_FACT and _in(got, net)))
    if exp.body_contains is not None:
        out.append(Outcome("body_contains", exp.body_contains, None,
                           http is not None and exp.body_contains in http.body))
    if exp.headers is not None:
        for k, want in exp.headers.items():
            got = http.headers.get(k.lower()) if http else None
            out.append(Outcome(f"header {k}", want, got, got == want))
    if exp.warnings is not None:
        got = sorted(w.value for w in r.warnings)
        out.append(Outcome("warnings", sorted(w.value for w in exp.warnings), got,
                           got == sorted(w.value for w in exp.warnings)))
    out += _stat_outcomes(exp, stats_of(r))
    out += exec_outcomes(exp, r)
    if exp.max_ms is not None:
        ms = r.timings_ms.total
        out.append(Outcome("max_ms", exp.max_ms, ms, ms is not None and ms <= exp.max_ms))
    return out


def _stat_outcomes(exp: Expect, stats: Stats | None) -> list[Outcome]:
    out = []
    for name, bound in (("p50_min_ms", exp.p50_min_ms), ("p50_max_ms", exp.p50_max_ms),
                        ("p95_max_ms", exp.p95_max_ms), ("p99_max_ms", exp.p99_max_ms)):
        if bound is not None:
            got = None if stats is None else {"p50": stats.p50, "p95": stats.p95, "p99": stats.p99}[name[:3]]
            ok = got is not None and (got >= bound if name.endswith("min_ms") else got <= bound)
            out.append(Outcome(name, bound, None if got is None else round(got, 2), ok))
    if exp.failures_max is not None:
        fails = sum(stats.failures.values()) if stats else None
        out.append(Outcome("failures_max", exp.failures_max, fails, fails is not None and fails <= exp.failures_max))
    return out


def exec_outcomes(exp: Expect, r: CheckResult) -> list[Outcome]:
    """An `exec` step's exit status and output, and numeric bounds on any check's facts."""
    f, out = (r.facts if isinstance(r, ExecResult) else None), []
    if exp.exit_status is not None:
        got = f.exit_status if f else None
        out.append(Outcome("exit_status", exp.exit_status, got, got == exp.exit_status))
    for what, want, text in (("stdout_contains", exp.stdout_contains, f.stdout if f else None),
                             ("stderr_contains", exp.stderr_contains, f.stderr if f else None)):
        if want is not None:
            tail = (text or "").strip().splitlines()
            out.append(Outcome(what, want, tail[-1][:200] if tail else None, want in (text or "")))
    for path, want in (exp.stdout or {}).items():
        got = _dig(f.json if f else None, path)
        out.append(Outcome(f"stdout.{path}", want, got, got == want))
    if exp.facts_min or exp.facts_max:
        plain = dump(r.facts)
        for bounds, name, holds in ((exp.facts_min, "min", lambda g, b: g >= b),
                                    (exp.facts_max, "max", lambda g, b: g <= b)):
            for path, bound in (bounds or {}).items():
                got = _fact(plain, path)
                ok = isinstance(got, (int, float)) and not isinstance(got, bool) and holds(got, bound)
                out.append(Outcome(f"facts.{path} {name}", bound, got, ok))
    return out


def evaluate(exp: Expect | None, tries: list[CheckResult]) -> list[Outcome]:
    exp = exp or Expect()
    per = [per_try(exp, r) for r in tries]
    outcomes: list[Outcome] = []
    if exp.success_ratio is not None:
        good = sum(all(o.passed for o in p) for p in per)
        ratio = good / len(tries)
        outcomes.append(Outcome("success_ratio", f">= {exp.success_ratio}", round(ratio, 4),
                                ratio >= exp.success_ratio))
    elif len(tries) == 1:
        outcomes += per[0]
    else:
        for i, p in enumerate(per):
            outcomes += [Outcome(f"try {i + 1}: {o.what}", o.expected, o.actual, False)
                         for o in p if not o.passed]
        if not outcomes:
            outcomes.append(Outcome(f"all {len(tries)} tries", "pass", "pass", True))
    if exp.split is not None:
        outcomes += split_outcomes(exp.split, [observed_value(r) for r in tries])
    return outcomes


def hopeless(exp: Expect | None, tries: list[CheckResult], planned: int) -> bool:
    """True once more tries cannot change a failing verdict (so a step of 1000 tries
    against a dead server ends after the first failures, not after 1000 timeouts)."""
    exp = exp or Expect()
    if exp.split is not None:
        known = {_norm(v) for v in exp.split}
        seen = observed_value(tries[-1])
        if seen is None or _norm(seen) not in known:
            return True
    if not all(o.passed for o in per_try(exp, tries[-1])):
        if exp.success_ratio is None:
            return True
        failures = sum(not all(o.passed for o in per_try(exp, t)) for t in tries)
        return failures > (1 - exp.success_ratio) * planned
    return False


def split_outcomes(expected: dict[str, float], seen: list[str | None]) -> list[Outcome]:
    n = len(seen)
    total = sum(expected.values())
    out = []
    for value, weight in expected.items():
        p = weight / total if total else 0.0
        k = sum(1 for s in seen if s is not None and _norm(s) == _norm(value))
        lo, hi = binomial_interval(n, p, 0.999)
        out.append(Outcome(f"split {value}", f"{p:.3f} ({lo}..{hi} of {n})", f"{k / n:.3f} ({k} of {n})",
                           lo <= k <= hi))
    others = sum(1 for s in seen if s is None or _norm(s) not in {_norm(v) for v in expected})
    out.append(Outcome("split other answers", 0, others, others == 0))
    return out


def binomial_interval(n: int, p: float, confidence: float) -> tuple[int, int]:
    """Exact central interval [lo, hi] holding `confidence` of Binomial(n, p) mass."""
    if p <= 0:
        return 0, 0
    if p >= 1:
        return n, n
    tail = (1 - confidence) / 2
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p) for k in range(n + 1)]
    pmf = [math.exp(x) for x in logs]
    acc, lo = 0.0, 0
    for k in range(n + 1):
        if acc + pmf[k] > tail:
            lo = k
            break
        acc += pmf[k]
    acc, hi = 0.0, n
    for k in range(n, -1, -1):
        if acc + pmf[k] > tail:
            hi = k
            break
        acc += pmf[k]
    return lo, hi


def _is_ip(a: Any) -> bool:
    try:
        ipaddress.ip_address(a)
        return True
    except (ValueError, TypeError):
        return False


def _norm(a: str) -> str:
    return str(ipaddress.ip_address(a)) if _is_ip(a) else str(a).rstrip(".").lower()


def _in(ip: Any, net: IPNet) -> bool:
    return _is_ip(ip) and ipaddress.ip_address(ip) in net


class _NoSuchFact(str):
    """A facts path naming nothing (a typo): shown as such, never equal to an expected null."""


NO_SUCH_FACT = _NoSuchFact("(no such fact)")


def _fact(plain: dict, path: str) -> Any:
    """A dotted path into a result's facts: its first part must name a field of that check's
    facts (a typo is NO_SUCH_FACT, never a null); below that, open maps (a CLAT's or DHCP
    client's report, headers, a JSON body) read a missing key as null."""
    head = path.split(".", 1)[0]
    return _dig(plain, path) if head in plain else NO_SUCH_FACT


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
