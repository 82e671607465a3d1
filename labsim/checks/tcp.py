"""`tcp`: resolve through the node's libc and connect in order, as an application does."""

from __future__ import annotations

from .base import CheckEnv, CheckSpec, classify_unresolved, is_ipv4_literal
from .result import CheckResult, Reason
from .synth import refine_ipv4_literal, synthesized_host

ERRNO_REASON = {"ECONNREFUSED": Reason.CONNECT_REFUSED, "ETIMEDOUT": Reason.CONNECT_TIMEOUT,
                "ENETUNREACH": Reason.NO_ROUTE, "EHOSTUNREACH": Reason.NO_ROUTE,
                "EADDRNOTAVAIL": Reason.NO_ROUTE}


class TcpCheck(CheckSpec):
    host: str
    port: int
    synthesize: bool = False  # an IPv4 literal: connect to it embedded in the discovered NAT64 prefix


def connect_result(check: str, spec, host: str, out: dict, env: CheckEnv) -> CheckResult:
    """Shared by tcp and tls: turn the agent's resolve+connect report into a result."""
    addrs = out["resolve"]["addresses"]
    res = CheckResult(check, spec.node, f"{host}:{spec.port}", ok=out["connected"] is not None,
                      facts={"addresses": addrs, "remote_ip": out["connected"], "attempts": out["attempts"]},
                      timings_ms={"resolve": out["resolve"]["ms"], "connect": out["ms"] or 0.0})
    if res.ok:
        return res
    if not addrs and is_ipv4_literal(host):
        # getaddrinfo with AI_ADDRCONFIG gives nothing for an IPv4 literal on an IPv6-only node
        res.reason, res.detail = Reason.IPV4_LITERAL, (out["resolve"].get("error") or {}).get("text", "")
        return res
    if not addrs:
        res.reason, extra = classify_unresolved(env, spec.node, host)
        res.facts.update(extra)
        return res
    last = out["attempts"][-1]["error"] if out["attempts"] else "UNKNOWN"
    res.detail = ", ".join(f"{a['address']}: {a['error']}" for a in out["attempts"])
    res.reason = ERRNO_REASON.get(last, Reason.UNKNOWN)
    if is_ipv4_literal(host) and res.reason in (Reason.NO_ROUTE, Reason.CONNECT_TIMEOUT):
        res.reason = Reason.IPV4_LITERAL
    return res


def run_tcp(spec: TcpCheck, env: CheckEnv) -> CheckResult:
    host, synth = spec.host, {}
    if spec.synthesize:
        v6, synth, failed = synthesized_host(env, "tcp", spec, host, f"{host}:{spec.port}")
        if failed is not None:
            return failed
        host = v6 or host
    out = env.agent(spec.node, "tcp", host, str(spec.port), "--timeout", str(spec.timeout),
                    timeout=spec.timeout * 4 + 30)
    res = connect_result("tcp", spec, spec.host, out, env)
    res.facts.update(synth)
    return refine_ipv4_literal(env, spec.node, res)
