"""Run a resolver comparison (`labsim bench resolvers`) on the chosen runtime: every distinct
lab up at once (a lab session each), the variants measured interleaved in rounds, every
lab down at the end on every exit path. Loading and validating the comparison file is
measure.compare's job; the statistics are checks.stats'."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from contextlib import ExitStack

from labsim.checks import CheckEnv
from labsim.checks.measure import MeasureCheck, run_measure
from labsim.checks.reasons import Reason
from labsim.checks.stats import Series, by_round, ratio_ci, slices, summarize
from labsim.errors import InputError
from labsim.loader import LoadedLab
from labsim.measure.compare import ROUNDS, VariantPlan, VariantResult
from labsim.measure.sched import CpuWait, cpu_wait
from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME
from labsim.scenario.load import lab_name_for
from labsim.scenario.session import lab_session


def run_comparison(plans: list[VariantPlan], progress: Callable[[str, float], None] | None = None,
                   baseline: str | None = None, rounds: int = ROUNDS, seed: int = 0,
                   runtime: str = DEFAULT_RUNTIME, lab_prefix: str = "cmp") -> list[VariantResult]:
    """Bring every distinct lab up at once, then measure in `rounds` rounds: each round takes a
    slice of every variant's lookups, in an order shuffled with `seed`, so load that comes and
    goes on the machine lands on all variants alike. Each variant's p50 and p95 are then put
    over the `baseline` variant's (default: the first) with a bootstrap interval over the rounds.
    A ratio whose baseline ran in another lab is marked: two labs are two sets of daemons.
    Labs are named `lab_prefix`-<random>. `progress(message, variants_done)`."""
    base_name = baseline or plans[0].name
    if base_name not in {p.name for p in plans}:
        raise InputError(f"no variant {base_name!r} to compare with; variants: "
                         f"{', '.join(p.name for p in plans)}", field="baseline")
    if not 1 <= rounds <= 1000:
        raise InputError(f"rounds must be 1..1000, not {rounds}", field="rounds")
    step = progress or (lambda msg, n: None)
    groups: dict[str, list[VariantPlan]] = {}
    for p in plans:
        groups.setdefault(p.patch_key, []).append(p)
    lab_no = {key: i for i, key in enumerate(groups, 1)}  # patch key -> lab number, bring-up order
    with ExitStack() as labs:  # every lab down at the end, also on failure (last up, first down)
        envs: dict[str, CheckEnv] = {}  # patch key -> the lab's check environment
        daemons: dict[str, list[dict]] = {}  # patch key -> the lab's recorded processes
        for key, group in groups.items():
            step(f"bringing up the lab for {', '.join(p.name for p in group)}", 0)
            session = labs.enter_context(lab_session(_renamed(group[0].lab, lab_name_for(lab_prefix)), runtime))
            envs[key], daemons[key] = session.env, list(session.state.processes)
        before = {key: cpu_wait(procs) for key, procs in daemons.items()}
        got = _measure(plans, envs, rounds, seed, step)
        waited = {key: _per_slice(cpu_wait(procs), before[key]) for key, procs in daemons.items()}
    results = []
    base_rounds = by_round(got[base_name][0].ms, got[base_name][0].errors, got[base_name][1], rounds)
    base_lab = lab_no[next(p.patch_key for p in plans if p.name == base_name)]
    for p in plans:
        series, where = got[p.name]
        vs = {}
        if p.name != base_name:
            mine = by_round(series.ms, series.errors, where, rounds)
            for pct in (50, 95):
                ci = ratio_ci(base_rounds, mine, pct, seed=seed)
                vs[f"p{pct}"] = ci.to_dict() if ci else None
        results.append(VariantResult(p.name, p.node, p.description, summarize(series),
                                     [round(m, 3) for m in series.ms], series.errors,
                                     p.measure.model_dump(), json.loads(p.patch_key), rounds=where,
                                     baseline=base_name, vs_baseline=vs, lab=lab_no[p.patch_key],
                                     baseline_in_other_lab=lab_no[p.patch_key] != base_lab,
                                     lab_cpu_wait_us=waited[p.patch_key]))
    return results


def _per_slice(after: CpuWait | None, before: CpuWait | None) -> float | None:
    """A lab's daemons' mean wait for a CPU per timeslice (µs) between two snapshots."""
    if after is None or before is None or after.slices <= before.slices or after.wait_ns < before.wait_ns:
        return None  # unreadable, or a thread ended and took its counts along
    return (after - before).per_slice_us()


def _measure(plans: list[VariantPlan], envs: dict[str, CheckEnv], rounds: int, seed: int,
             step: Callable[[str, float], None]) -> dict[str, tuple[Series, list[int]]]:
    """Every variant's samples, and the round of each."""
    per = {p.name: slices(p.measure.count, rounds) for p in plans}
    got: dict[str, tuple[Series, list[int]]] = {p.name: (Series(), []) for p in plans}
    spent = dict.fromkeys(per, 0.0)  # seconds of each variant's max_seconds used
    last = dict.fromkeys(per, 0.0)  # when each variant's last slice ended (gap_ms holds across slices)
    rng = random.Random(seed)
    order = list(plans)
    for rnd in range(rounds):
        rng.shuffle(order)
        for p in order:
            n, budget = per[p.name][rnd], p.measure.max_seconds - spent[p.name]
            if n == 0 or budget <= 0:
                continue
            wait = last[p.name] + p.measure.gap_ms / 1000 - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 10.0))
            step(f"round {rnd + 1}/{rounds}: {p.name} from {p.node} ({n} lookups)", 0)
            spec = MeasureCheck.model_validate({"from": p.node, **p.measure.model_dump(),
                                                "count": n, "max_seconds": budget})
            t0 = time.monotonic()
            r = run_measure(spec, envs[p.patch_key])
            last[p.name] = time.monotonic()
            spent[p.name] += last[p.name] - t0
            series, where = got[p.name]
            for ms, err in zip(r.facts.samples_ms, r.facts.errors, strict=True):
                series.add(ms, err)
                where.append(rnd)
            if r.reason == Reason.TOOL_ERROR and not r.facts.samples_ms:
                # the agent gave nothing (it failed to start, or died): the slice's lookups are
                # failures the table shows, not samples that silently never were
                for _ in range(n):
                    series.add(0.0, Reason.TOOL_ERROR.value)
                    where.append(rnd)
        step("", len(plans) / rounds)  # the caller's bar counts variants
    return got


def _renamed(loaded: LoadedLab, name: str) -> LoadedLab:
    """The same lab under a fresh name (each distinct lab of a comparison runs beside the others)."""
    topology = loaded.topology.model_copy(update={"name": name})
    plan = dataclasses.replace(loaded.plan, lab=name, topology=topology)
    return LoadedLab(topology, plan, loaded.source, loaded.path)
