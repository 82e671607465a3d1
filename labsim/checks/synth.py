"""`synthesize: true` on a tcp or http check: what an application (or iOS's getaddrinfo)
does with an IPv4 literal behind NAT64 — discover the NAT64 prefix through the node's own
libc and resolver (RFC 7050: ipv4only.arpa AAAA) and embed the literal in it (RFC 6052),
then connect over IPv6. The agent does the discovery inside the node.

A node whose resolver reveals no prefix gets NO_NAT64_PREFIX, never a silent fall-back to
the literal.
"""

from __future__ import annotations

import json

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


def refine_ipv4_literal(env: CheckEnv, node: str, res: CheckResult) -> CheckResult:
    """An IPv4 literal that failed on a host whose CLAT is down: say CLAT_DOWN, the cause a
    user can act on (the host would reach it with its CLAT up)."""
    if res.reason != Reason.IPV4_LITERAL:
        return res
    proc = env.runtime.exec(node, ["cat", f"{env.runtime.node_dir(node)}/learnt.json"], timeout=10)
    if proc.returncode != 0:
        return res  # not a self-configuring host
    clat = (json.loads(proc.stdout) or {}).get("clat")
    if clat and clat.get("state") != "up":
        res.reason = Reason.CLAT_DOWN
        res.facts["clat"] = clat
    return res
