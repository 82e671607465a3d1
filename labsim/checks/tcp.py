"""`tcp`: resolve through the node's libc and connect in order, as an application does."""

from __future__ import annotations

from typing_extensions import TypedDict

from labsim.checks.base import CheckEnv, CheckSpec, classify_unresolved, guarded, is_ipv4_literal
from labsim.checks.learnt import ipv4_literal_reason
from labsim.checks.reasons import Reason, errno_reason
from labsim.checks.resolve import AgentResolve
from labsim.checks.result import Attempt, TcpResult, TlsResult
from labsim.checks.synth import refine_ipv4_literal, synthesized_host


class TcpCheck(CheckSpec):
    host: str
    port: int
    synthesize: bool = False  # an IPv4 literal: connect to it embedded in the discovered NAT64 prefix


class AgentAttempt(TypedDict):
    address: str
    error: str | None
    ms: float


class AgentConnect(TypedDict):
    """What `labsim.node.agent tcp` prints (and `tls`, before its handshake)."""

    resolve: AgentResolve
    attempts: list[AgentAttempt]
    connected: str | None
    ms: float | None


def connect_result(res: TcpResult | TlsResult, host: str, out: AgentConnect, env: CheckEnv | None) -> None:
    """Shared by tcp and tls: fill `res` from the agent's resolve+connect report."""
    f = res.facts
    f.addresses = out["resolve"]["addresses"]
    f.remote_ip = out["connected"]
    f.attempts = [Attempt(address=a["address"], error=a["error"], ms=a["ms"]) for a in out["attempts"]]
    res.ok = out["connected"] is not None
    t = res.timings_ms
    t.resolve, t.connect = out["resolve"]["ms"], out["ms"]
    t.total = t.resolve + sum(a.ms for a in f.attempts)
    if res.ok:
        return
    if not f.addresses and is_ipv4_literal(host):
        # getaddrinfo with AI_ADDRCONFIG gives nothing for an IPv4 literal on an IPv6-only node
        err = out["resolve"]["error"]
        res.reason, res.detail = Reason.IPV4_LITERAL, (err["text"] or "") if err else ""
        return
    if not f.addresses:
        if env is None:
            res.reason = Reason.NXDOMAIN
        else:
            res.reason, f.unresolved = classify_unresolved(env, res.node, host)
        return
    res.detail = ", ".join(f"{a.address}: {a.error}" for a in f.attempts)
    res.reason = errno_reason(f.attempts[-1].error if f.attempts else None)
    if res.reason in (Reason.NO_ROUTE, Reason.CONNECT_TIMEOUT):
        res.reason = ipv4_literal_reason(env, res.node, host, res.reason)


@guarded("tcp", lambda spec: f"{spec.host}:{spec.port}")
def run_tcp(spec: TcpCheck, env: CheckEnv) -> TcpResult:
    host, synth = spec.host, None
    if spec.synthesize:
        v6, synth, failed = synthesized_host(env, "tcp", spec, host, f"{host}:{spec.port}")
        if failed is not None:
            return failed  # type: ignore[return-value]
        host = v6 or host
    out = env.agent(spec.node, AgentConnect, "tcp", host, str(spec.port), "--timeout", str(spec.timeout),
                    timeout=spec.timeout * 4 + 30)
    res = TcpResult(node=spec.node, target=f"{spec.host}:{spec.port}", ok=False)
    connect_result(res, spec.host, out, env)
    res.facts.synthesized = synth
    return refine_ipv4_literal(env, spec.node, res)
