"""`synthesize: true` on a tcp or http check: what an application (or iOS's getaddrinfo)
does with an IPv4 literal behind NAT64 — discover the NAT64 prefix through the node's own
libc and resolver (RFC 7050: ipv4only.arpa AAAA) and embed the literal in it (RFC 6052),
then connect over IPv6. The agent does the discovery inside the node.

A node whose resolver reveals no prefix gets NO_NAT64_PREFIX, never a silent fall-back to
the literal.
"""

from __future__ import annotations

from .base import CheckEnv, is_ipv4_literal
from .result import CheckResult, Reason


def synthesized_host(env: CheckEnv, check: str, spec, host: str, target: str
                     ) -> tuple[str | None, dict, CheckResult | None]:
    """(IPv6 address to use instead of `host`, facts, None), or (None, facts, a failed
    result) when no prefix is known. A host that is no IPv4 literal is left alone."""
    if not is_ipv4_literal(host):
        return None, {}, None
    out = env.agent(spec.node, "synthesize", host.strip("[]"), timeout=spec.timeout + 30)
    facts = {"synthesized": {"from": out["from"], "prefix": out["prefix"], "address": out["address"]}}
    if out["address"] is None:
        return None, facts, CheckResult(
            check, spec.node, target, ok=False, reason=Reason.NO_NAT64_PREFIX, facts=facts,
            detail=f"ipv4only.arpa AAAA through the node's resolver: {out['error'] or out['answers']}",
            timings_ms={"discover": out["ms"]})
    return out["address"], facts, None
