"""`resolve`: a name through the node's own libc and resolv.conf, as an application sees it."""

from __future__ import annotations

from typing import Literal

from .base import CheckEnv, CheckSpec, classify_unresolved
from .result import CheckResult, Reason

EAI_NOT_FOUND = {"EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY"}


class ResolveCheck(CheckSpec):
    name: str
    family: Literal["any", "4", "6"] = "any"


def run_resolve(spec: ResolveCheck, env: CheckEnv) -> CheckResult:
    out = env.agent(spec.node, "resolve", spec.name, "--family", spec.family, timeout=spec.timeout + 30)
    res = CheckResult("resolve", spec.node, spec.name, ok=bool(out["addresses"]),
                      facts={"addresses": out["addresses"],
                             "families": sorted({6 if ":" in a else 4 for a in out["addresses"]})},
                      timings_ms={"resolve": out["ms"], "total": out["ms"]})
    if not res.ok:
        err = out["error"] or {}
        res.detail = f"{err.get('code')}: {err.get('text')}"
        if err.get("code") == "EAI_AGAIN":
            res.reason = Reason.DNS_TIMEOUT
        else:
            res.reason, extra = classify_unresolved(env, spec.node, spec.name)
            res.facts.update(extra)
    return res
