"""How long a scenario is expected to take, from the scenario file alone (no state from
earlier runs): what `labsim run -j N` uses to start the longest scenarios first (LPT), so
the one that waits out resolver timeouts for 10 s does not start last and run alone.

Only the order matters, so the estimate is coarse: a bring-up per lab, a small cost per
check try (by kind), a share of a `within` step's bound, and the waits the file declares:
the timeout of a check expected to time out, `measure` series (count x the p50 they expect
at least, over concurrency, plus gap_ms between lookups), the probe waits of a `pmtu` check
expected to find a black hole.
"""

from __future__ import annotations

import math

from labsim.runtime.records import DEFAULT, RECORDS
from labsim.scenario.model import Scenario, Step

NODE_S = 0.05  # each node's share of bring-up
ACTION_S = 0.05
TRY_S = {"dns": 0.001, "measure": 0.001, "resolve": 0.03, "tcp": 0.03, "tls": 0.05, "http": 0.05,
         "ping": 0.05, "pmtu": 0.1, "exec": 0.3}  # one try that answers at once
WITHIN_SHARE = 0.1  # a `within` step waits for the lab to converge: a share of its bound
DEFAULT_TRY_S = 0.05
PYTHON_EXEC_S = 1.0
WAITING = ("TIMEOUT", "PACKET_LOSS")  # expected reasons that are reached by waiting
PMTU_LOST_PROBES = 6  # a black hole costs about this many lost probes while bisecting


def step_s(step: Step) -> float:
    if not step.is_check:
        return ACTION_S
    spec, expect = step.spec, step.expect
    if step.kind == "measure":
        floor_ms = (expect.p50_min_ms or 0.0) if expect else 0.0
        # a bound of a second or more on the median says lookups may each wait out a resolver
        # timeout now and then (an ICMP error the rate limit ate): count half of it
        ceiling_ms = (expect.p50_max_ms or 0.0) if expect else 0.0
        per = max(floor_ms / 1000, ceiling_ms / 2000 if ceiling_ms >= 1000 else 0.0, TRY_S["measure"])
        rounds = math.ceil(spec.count / getattr(spec, "concurrency", 1))
        return rounds * per + max(spec.count - 1, 0) * spec.gap_ms / 1000
    one = TRY_S.get(step.kind, DEFAULT_TRY_S)
    argv = getattr(spec, "argv", None) if step.kind == "exec" else None
    if argv and argv[0] == "{python}":  # an interpreter that imports an SDK (boto3): a second or two
        one = PYTHON_EXEC_S
    reason = expect.reason if expect else None
    if reason is not None and any(w in str(reason) for w in WAITING):
        probe_wait = getattr(spec, "probe_wait", None)
        one = probe_wait * PMTU_LOST_PROBES if probe_wait is not None else spec.timeout
    return one * step.tries + WITHIN_SHARE * (step.within or 0.0)


def scenario_s(sc: Scenario, nodes: int, runtime: str = DEFAULT) -> float:
    """Expected seconds for one scenario with `nodes` nodes, on `runtime` unless it names its own."""
    rec = RECORDS.get(sc.runtime or runtime, RECORDS[DEFAULT])
    bringup = rec.bringup_s  # a lab's bring-up and teardown, before nodes
    return bringup + NODE_S * nodes + sum(step_s(s) for s in sc.steps)


def longest_first(costs: list[float]) -> list[int]:
    """Indexes in the order to start them: longest expected first, ties in the given order."""
    return sorted(range(len(costs)), key=lambda i: (-costs[i], i))
