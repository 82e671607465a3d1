"""`learnt`: what a self-configuring client learnt (labsim.node.hostconf's `learnt.json`): its
SLAAC addresses, resolvers from RDNSS/DNSSL, PREF64, the NAT64 prefix and where it came
from, the CLAT's state, the DHCPv4 outcome. The facts are that file; expectations read them
with `facts:` / `facts_in:` (dotted paths) and `addresses_in:` (its addresses).

Fails with CLAT_DOWN when the node has a CLAT that is not running (no prefix known, or
tayga failed) although the node has no IPv4 of its own (a CLAT that is "not needed" beside a
DHCPv4 lease is fine), and NO_NAT64_PREFIX when a node without a CLAT knows no NAT64 prefix.
A file that is not hostconf's JSON is a TOOL_ERROR.

`ipv4_literal_reason` is the rule the connection checks share: a failed connection to an IPv4
literal is IPV4_LITERAL only on a node with no IPv4 route to it; on a node with IPv4 (a lease,
a planned address, a CLAT) the failure is about the network (NO_ROUTE, CONNECT_TIMEOUT).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from labsim.checks.base import CheckEnv, CheckSpec, ToolFailed, guarded, is_ipv4_literal, tool_run
from labsim.checks.reasons import Reason
from labsim.checks.result import LearntFacts, LearntResult, adapter


class LearntCheck(CheckSpec):
    pass


@guarded("learnt", lambda spec: spec.node)
def run_learnt(spec: LearntCheck, env: CheckEnv) -> LearntResult:
    path = f"{env.runtime.node_dir(spec.node)}/learnt.json"
    argv = ["cat", path]
    proc = env.exec(spec.node, argv, timeout=10)
    res = LearntResult(node=spec.node, target=spec.node, ok=False)
    if proc.returncode != 0:
        res.reason, res.detail = Reason.UNKNOWN, f"{path}: nothing learnt (is the node a self-configuring client?)"
        return res
    try:
        data = json.loads(proc.stdout)
        data["addresses"] = [a["address"] for a in data.get("addresses", [])]
        res.facts = adapter(LearntFacts).validate_python(data)
    except (ValueError, TypeError, KeyError, AttributeError, ValidationError) as exc:
        raise ToolFailed(tool_run(argv, proc, f"{path} is not hostconf's JSON: {str(exc)[:200]}", "hostconf")) from None
    f = res.facts
    if f.clat and f.clat.get("state") not in ("up", "not needed"):
        res.reason = Reason.CLAT_DOWN  # a CLAT host: what its applications lose is IPv4
        res.detail = f.clat.get("error") or ("no NAT64 prefix known (no PREF64, RFC 7050 found none)"
                                             if not f.nat64_prefix else "")
    elif not f.nat64_prefix and not (f.clat and f.clat.get("state") == "not needed"):
        res.reason = Reason.NO_NAT64_PREFIX
    res.ok = res.reason is None
    return res


def has_ipv4_route(env: CheckEnv | None, node: str, literal: str) -> bool:
    """Whether `node` has IPv4 of its own towards `literal` (`ip -4 route get`): a native
    route (a lease's, a static one), not its CLAT's, whose IPv4 is a translation of IPv6 (a
    literal failing through it is still the literal's doing). Without an env, no."""
    if env is None:
        return False
    try:
        proc = env.exec(node, ["ip", "-4", "route", "get", literal], timeout=10)
    except ToolFailed:
        return False
    out = proc.stdout.decode(errors="replace") if isinstance(proc.stdout, bytes) else str(proc.stdout or "")
    # a route prints "192.0.2.1 via … dev eth0 …"; no route is an error (exit 2, "unreachable")
    return proc.returncode == 0 and " dev " in f" {out}" and " dev clat " not in f" {out} "


def ipv4_literal_reason(env: CheckEnv | None, node: str, host: str, name_reason: Reason) -> Reason:
    """The reason for a connection to `host` that failed as `name_reason` would for a name
    (NO_ROUTE, CONNECT_TIMEOUT): IPV4_LITERAL only when `host` is an IPv4 literal the node has
    no IPv4 route to, since only then is the literal itself the cause."""
    if is_ipv4_literal(host) and not has_ipv4_route(env, node, host):
        return Reason.IPV4_LITERAL
    return name_reason
