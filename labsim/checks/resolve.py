"""`resolve`: a name through the node's own libc and resolv.conf, as an application sees it."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from labsim.checks.base import CheckEnv, CheckSpec, classify_unresolved, guarded
from labsim.checks.reasons import EAI_REASON, Reason
from labsim.checks.result import ResolveResult, ResolveTimings

# not found in some way: the node's resolver, asked directly, says which way
EAI_NOT_FOUND = {"EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY"}


class ResolveCheck(CheckSpec):
    name: str
    family: Literal["any", "4", "6"] = "any"


class AgentError(TypedDict):
    code: str
    text: str | None


class AgentResolve(TypedDict):
    """What `labsim.node.agent resolve` prints."""

    addresses: list[str]
    error: AgentError | None
    ms: float


@guarded("resolve", lambda spec: spec.name)
def run_resolve(spec: ResolveCheck, env: CheckEnv) -> ResolveResult:
    out = env.agent(spec.node, AgentResolve, "resolve", spec.name, "--family", spec.family,
                    timeout=spec.timeout + 30)
    return resolve_result(spec, env, out)


def resolve_result(spec: ResolveCheck, env: CheckEnv | None, out: AgentResolve) -> ResolveResult:
    res = ResolveResult(node=spec.node, target=spec.name, ok=bool(out["addresses"]),
                        timings_ms=ResolveTimings(resolve=out["ms"], total=out["ms"]))
    f = res.facts
    f.addresses = out["addresses"]
    f.families = sorted({6 if ":" in a else 4 for a in out["addresses"]})
    if res.ok:
        return res
    err = out["error"]
    f.error = err["code"] if err else None
    res.detail = f"{err['code']}: {err['text']}" if err else "no addresses"
    if err is not None and err["code"] not in EAI_NOT_FOUND:
        res.reason = EAI_REASON.get(err["code"], Reason.UNKNOWN)
    elif env is not None:
        res.reason, f.unresolved = classify_unresolved(env, spec.node, spec.name)
    else:
        res.reason = EAI_REASON.get(f.error or "", Reason.NO_ADDRESS)
    return res
