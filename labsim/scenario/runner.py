"""Run a scenario: bring its lab up, run each step, take the lab down (always).

Checks run `tries` times; with `within`, a check is repeated (every 0.2 s, bounded) until
its expectations hold or the time is up. A failed expectation is a result, not an
exception: every step runs, unless an action fails (then the rest are skipped). Packets
are captured once for the whole scenario and a kept step's are cut out by its start and end
(capture.ScenarioCapture).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from labsim.checks import CHECKS, CheckResult
from labsim.checks.result import Rounded, dump
from labsim.errors import LabsimError
from labsim.outputs import give_to_directory_owner
from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME
from labsim.scenario import actions
from labsim.scenario.capture import Capture, ScenarioCapture, say_unavailable
from labsim.scenario.capture import unavailable as capture_unavailable
from labsim.scenario.expect import Outcome, evaluate, hopeless, observed_value
from labsim.scenario.load import LoadedScenario
from labsim.scenario.model import Step
from labsim.scenario.session import LabSession, lab_session

# which check steps get a packet capture (`--capture`)
CaptureWhen = Literal["failed", "all", "none"]

if TYPE_CHECKING:  # AnyResult is built at run time (a union over RESULTS); to mypy it is any result
    AnyResult = CheckResult
else:  # what pydantic reads from StepResult's annotation (dump, the report schema)
    from labsim.checks import AnyResult

Progress = Callable[[str], None]
RETRY_EVERY_S = 0.2


@dataclass(kw_only=True)
class TriesSummary:
    """A step of several tries: how many worked, and what they answered (most common first)."""

    count: int
    ok: int
    observed: dict[str, int]


@dataclass
class StepResult:
    index: int
    title: str
    kind: str
    passed: bool
    outcomes: list[Outcome] = field(default_factory=list)
    result: AnyResult | None = None  # the last try
    tries: int = 0
    summary: TriesSummary | None = None  # with more than one try
    did: str = ""  # what an action did
    error: str | None = None
    duration_ms: Rounded = 0.0
    # a `within` step: from the step's start (right after the previous action) to the end of
    # the first passing round, e.g. how long a DNS failover took; None when it never passed
    converged_ms: float | None = None
    captures: list[Capture] = field(default_factory=list)  # pcaps kept for this step

    def to_dict(self) -> dict:
        return dump(self)


@dataclass
class ScenarioResult:
    name: str
    file: str
    lab: str
    description: str = ""
    passed: bool = False
    steps: list[StepResult] = field(default_factory=list)
    bringup_s: Rounded = 0.0
    duration_s: Rounded = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return dump(self)


@dataclass(frozen=True)
class RunOptions:
    """How `labsim run` runs each scenario (one object from the CLI's edge to every worker)."""

    runtime: str = DEFAULT_RUNTIME  # a scenario's own `runtime:` wins
    keep: bool = False  # leave each lab up after its steps
    capture: CaptureWhen = "none"  # packet captures kept for: failed steps, all, none
    capture_dir: Path | None = None  # where (default ./labsim-captures)
    attach: tuple[str, ...] = ()  # `--attach NETWORK=IFACE`: host interfaces made ports of each lab
    attach_force: bool = False  # `--attach-force`: even the host's default route


def run_scenario(ls: LoadedScenario, opts: RunOptions = RunOptions(), progress: Progress | None = None
                 ) -> ScenarioResult:
    say = progress or (lambda m: None)
    sc = ls.scenario
    runtime = sc.runtime or opts.runtime  # a scenario that needs docker (Docker networks) says so
    keep, capture, capture_dir = opts.keep, opts.capture, opts.capture_dir
    lab = ls.lab.plan.lab
    out = ScenarioResult(sc.name, ls.path, lab, sc.description)
    t0 = time.monotonic()
    say(f"{sc.name}: bringing up lab {lab}")
    # raises if the lab cannot be built; nothing is left to tear down then
    with lab_session(ls.lab, runtime, keep=keep, progress=lambda m: say(f"{sc.name}: {m}")) as session:
        out.bringup_s = session.timings["total"]
        cap_root = (capture_dir or Path("labsim-captures")).resolve()
        cap = start_capture(session, sc.steps, capture, cap_root / lab)
        try:
            failed_action = False
            for i, step in enumerate(sc.steps):
                if failed_action:
                    out.steps.append(StepResult(i, step.title(), step.kind, False,
                                                error="skipped: an earlier action failed"))
                    continue
                say(f"{sc.name}: step {i + 1}/{len(sc.steps)}: {step.title()}")
                res: StepResult | None = None
                start = time.time()  # pcap timestamps are wall-clock time
                try:
                    res = run_step(session, i, step)
                finally:  # an interrupted step keeps its packets too
                    if cap is not None and step.is_check and (capture == "all" or res is None or not res.passed):
                        cap.keep(step_prefix(i), capture_nodes(session, step), start, time.time())
                out.steps.append(res)
                failed_action = not step.is_check and not res.passed
        finally:
            kept = cap.stop() if cap is not None else {}
            if any(kept.values()):  # the user's directory: its owner's files, not root's
                give_to_directory_owner(cap_root / lab, top=cap_root.parent)
            for res in out.steps:
                res.captures = kept.get(step_prefix(res.index), [])
    out.passed = all(s.passed for s in out.steps)
    out.duration_s = time.monotonic() - t0
    return out


def step_prefix(index: int) -> str:
    return f"{index + 1:02d}"


def capture_nodes(session: LabSession, step: Step) -> list[str]:
    """Where a check's packets are captured: its own node and every NAT64 node."""
    nat64 = [n for n, p in session.loaded.plan.nodes.items() if p.kind == "nat64"]
    return list(dict.fromkeys([step.spec.node, *nat64]))


def start_capture(session: LabSession, steps: list[Step], capture: str, directory: Path) -> ScenarioCapture | None:
    """One tcpdump per node any check captures in, for the whole scenario (none without checks)."""
    nodes = list(dict.fromkeys(n for s in steps if s.is_check for n in capture_nodes(session, s)))
    if capture == "none" or not nodes:
        return None
    why = capture_unavailable()
    if why:
        say_unavailable(why)
        return None
    cap = ScenarioCapture(session.runtime, nodes, directory)
    cap.start()
    return cap


# Many tries of a query that is answered at once (a weighted record's split over 1000
# queries): a few in flight at a time, so the server's answer time overlaps the parsing of
# others' answers (1.3 ms a try one at a time here). Each try is still one query of its own;
# the verdict is over all of them (no early stop).
OVERLAPPED_KINDS, OVERLAP_FROM, OVERLAP_WORKERS = frozenset({"dns"}), 50, 4


def _overlapped(run: Callable, step: Step, env) -> list[CheckResult]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=OVERLAP_WORKERS) as pool:
        return list(pool.map(lambda _: run(step.spec, env), range(step.tries)))


def run_step(session: LabSession, index: int, step: Step) -> StepResult:
    t0 = time.monotonic()
    if not step.is_check:
        try:
            # actions.RUN's values (each function takes its own action model) join to `function`
            act = cast("Callable[[LabSession, Any], str]", actions.RUN[step.kind])
            did = act(session, step.spec)
            return StepResult(index, step.title(), step.kind, True, did=did,
                              duration_ms=(time.monotonic() - t0) * 1000)
        except (LabsimError, RuntimeError, OSError) as exc:
            return StepResult(index, step.title(), step.kind, False, error=str(exc),
                              duration_ms=(time.monotonic() - t0) * 1000)
    run = CHECKS[step.kind][1]
    deadline = t0 + (step.within or 0)
    env = session.env
    while True:
        tries: list[CheckResult] = []
        if step.kind in OVERLAPPED_KINDS and step.tries >= OVERLAP_FROM:
            tries = _overlapped(run, step, env)
        for _ in range(step.tries if not tries else 0):
            tries.append(run(step.spec, env))
            if step.tries > 1 and hopeless(step.expect, tries, step.tries):
                break
        outcomes = evaluate(step.expect, tries)
        if len(tries) < step.tries:
            outcomes.append(Outcome("tries", step.tries, f"stopped after {len(tries)}: the verdict "
                                    "could no longer pass", False))
        passed = all(o.passed for o in outcomes)
        if passed or time.monotonic() + RETRY_EVERY_S > deadline:
            break
        time.sleep(RETRY_EVERY_S)
    summary = None
    converged = None
    if step.within:
        # how long the lab took to get there (a failover, a restart)
        converged = round((time.monotonic() - t0) * 1000, 1) if passed else None
        bound = step.expect.converged_max_ms if step.expect else None
        if bound is not None:
            outcomes.append(Outcome("converged_max_ms", bound, converged,
                                    converged is not None and converged <= bound))
            passed = passed and converged is not None and converged <= bound
    if len(tries) > 1:  # keep what a report needs, not every try's facts
        summary = TriesSummary(count=len(tries), ok=sum(t.ok for t in tries),
                               observed=dict(Counter(str(observed_value(t)) for t in tries).most_common(20)))
    return StepResult(index, step.title(), step.kind, passed, outcomes, tries[-1], len(tries), summary,
                      duration_ms=(time.monotonic() - t0) * 1000, converged_ms=converged)
