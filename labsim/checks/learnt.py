"""`learnt`: what a self-configuring client learnt (labsim.hostconf's `learnt.json`): its
SLAAC addresses, resolvers from RDNSS/DNSSL, PREF64, the NAT64 prefix and where it came
from, the CLAT's state, the DHCPv4 outcome. The facts are that file; expectations read them
with `facts:` / `facts_in:` (dotted paths) and `addresses_in:` (its addresses).

Fails with CLAT_DOWN when the node has a CLAT that is not running (no prefix known, or
tayga failed), and NO_NAT64_PREFIX when a node without a CLAT knows no NAT64 prefix.
"""

from __future__ import annotations

import json

from .base import CheckEnv, CheckSpec
from .result import CheckResult, Reason


class LearntCheck(CheckSpec):
    pass


def run_learnt(spec: LearntCheck, env: CheckEnv) -> CheckResult:
    path = f"{env.runtime.node_dir(spec.node)}/learnt.json"
    proc = env.runtime.exec(spec.node, ["cat", path], timeout=10)
    res = CheckResult("learnt", spec.node, spec.node, ok=False)
    if proc.returncode != 0:
        res.reason, res.detail = Reason.UNKNOWN, f"{path}: nothing learnt (is the node a self-configuring client?)"
        return res
    data = json.loads(proc.stdout)
    data["addresses"] = [a["address"] for a in data.get("addresses", [])]
    res.facts = data
    if data.get("clat") and data["clat"].get("state") != "up":
        res.reason = Reason.CLAT_DOWN  # a CLAT host: what its applications lose is IPv4
        res.detail = data["clat"].get("error") or ("no NAT64 prefix known (no PREF64, RFC 7050 found none)"
                                                   if not data.get("nat64_prefix") else "")
    elif not data.get("nat64_prefix"):
        res.reason = Reason.NO_NAT64_PREFIX
    res.ok = res.reason is None
    return res
