"""`synthesize: true` on a tcp or http check: what an application (or iOS's getaddrinfo)
does with an IPv4 literal behind NAT64 — discover the NAT64 prefix through the node's own
libc and resolver (RFC 7050: ipv4only.arpa AAAA) and embed the literal in it (RFC 6052),
then connect over IPv6. The agent does the discovery inside the node.

A node whose resolver reveals no prefix gets NO_NAT64_PREFIX, never a silent fall-back to
the literal.
"""

from __future__ import annotations

import json
from typing import TypeVar

from typing_extensions import TypedDict

from labsim.checks.base import CheckEnv, is_ipv4_literal
from labsim.checks.reasons import Reason
from labsim.checks.result import RESULTS, CheckResult, HttpResult, SocketResult, Synthesized, TcpResult, TlsResult

# the results a literal can fail in (each has facts.clat); one comes back as it went in
LiteralResult = TypeVar("LiteralResult", HttpResult, TcpResult, TlsResult, SocketResult)

AgentSynth = TypedDict("AgentSynth", {"from": str, "answers": list[str], "error": "str | None", "ms": float,
                                      "prefixes": list[str], "prefix": "str | None", "address": "str | None"})


def synthesized_host(env: CheckEnv, check: str, spec, host: str, target: str
                     ) -> tuple[str | None, Synthesized | None, CheckResult | None]:
    """(IPv6 address to use instead of `host`, what was synthesized, None), or (None, what
    was tried, a failed result) when no prefix is known. A host that is no IPv4 literal is
    left alone."""
    if not is_ipv4_literal(host):
        return None, None, None
    out = env.agent(spec.node, AgentSynth, "synthesize", host.strip("[]"), timeout=spec.timeout + 30)
    synth = Synthesized(ipv4=out["from"], prefix=out["prefix"], address=out["address"])
    if out["address"] is None:
        # each result class fixes its own `check` field (a Literal default), so it is not passed
        failed = RESULTS[check](node=spec.node, target=target, ok=False,  # type: ignore[call-arg]
                                reason=Reason.NO_NAT64_PREFIX,
                                detail=f"ipv4only.arpa AAAA through the node's resolver: "
                                       f"{out['error'] or out['answers']}")
        failed.facts.synthesized = synth  # type: ignore[attr-defined]
        failed.timings_ms.discover = out["ms"]  # type: ignore[attr-defined]
        return None, synth, failed
    return out["address"], synth, None


def refine_ipv4_literal(env: CheckEnv, node: str, res: LiteralResult) -> LiteralResult:
    """An IPv4 literal that failed on a host whose CLAT is down: say CLAT_DOWN, the cause a
    user can act on (the host would reach it with its CLAT up)."""
    if res.reason != Reason.IPV4_LITERAL:
        return res
    proc = env.exec(node, ["cat", f"{env.runtime.node_dir(node)}/learnt.json"], timeout=10)
    if proc.returncode != 0:
        return res  # not a self-configuring host
    try:
        clat = (json.loads(proc.stdout) or {}).get("clat")
    except (ValueError, AttributeError):
        return res  # a half-written file: the literal's own reason stands
    if isinstance(clat, dict) and clat.get("state") != "up":
        res.reason = Reason.CLAT_DOWN
        res.facts.clat = clat
    return res
