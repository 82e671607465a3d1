"""`labsim run -j N`: N scenarios at once, each in its own worker process with its own lab
(scenario labs have unique names: `<scenario>-<random>`), results in the files' order.
Started longest expected first (estimate.py, from each file alone), so a long scenario
does not start last and run alone while the other workers idle.

Worker processes (spawned, not forked: the parent has threads) turn SIGTERM into
KeyboardInterrupt like the CLI does, so a worker stopped mid-scenario still takes its lab
down; the parent, interrupted, stops its workers and waits for them (bounded). A lab whose
worker was SIGKILLed is ephemeral: `labsim gc` removes it.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME
from labsim.scaleout.estimate import longest_first, scenario_s
from labsim.scenario.load import LoadedScenario
from labsim.scenario.runner import RunOptions, ScenarioResult

STOP_WAIT_S = 90  # a worker tearing its lab down after SIGTERM


def _worker_init() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _run_one(path: str, lab: str, opts: RunOptions) -> ScenarioResult:
    from labsim.scenario.load import load_scenario
    from labsim.scenario.runner import run_scenario

    # reloaded here with the lab name the parent chose (a loaded scenario is not sent across)
    return run_scenario(load_scenario(path, lab_name=lab, attach=opts.attach, attach_force=opts.attach_force), opts)


def _warm() -> None:
    from labsim.scenario import runner  # noqa: F401 - what every scenario needs, imported once per worker


def start_workers(jobs: int) -> ProcessPoolExecutor:
    """The pool, its `jobs` worker processes started now: each spends ~0.4 s starting Python
    and importing the runner, which the CLI overlaps with checking the files. Nothing in a
    worker makes a lab before `run_parallel` gives it a scenario, so a bad file still
    means nothing created (the pool is shut down)."""
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init)
    for _ in range(jobs):  # a submission while no worker is idle starts one
        pool.submit(_warm)
    return pool


def run_parallel(loaded: list[LoadedScenario], jobs: int, opts: RunOptions,
                 progress: Callable[[str], None] | None = None,
                 pool: ProcessPoolExecutor | None = None) -> list[ScenarioResult]:
    """Run every scenario, `jobs` at a time (in `pool`, from `start_workers`, if given; it is
    shut down here either way); results in the input's order. The first LabsimError (a lab
    that cannot be built) is raised after every running scenario ended."""
    say = progress or (lambda m: None)
    results: dict[int, ScenarioResult] = {}
    first_error: BaseException | None = None
    pool = pool or start_workers(jobs)
    try:
        # the pool hands out work in submission order
        futures: dict[Future, int] = {
            pool.submit(_run_one, loaded[i].path, loaded[i].lab.plan.lab, opts): i
            for i in start_order(loaded, opts.runtime)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                i = futures[f]
                if f.cancelled():
                    continue
                exc = f.exception()
                if exc is not None:
                    first_error = first_error or exc
                    for other in pending:  # a lab that cannot be built stops the run, as with -j 1
                        other.cancel()
                else:
                    results[i] = f.result()
            say(f"{len(results)}/{len(loaded)} scenarios done, {jobs} at a time")
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if first_error is not None:
        raise first_error
    return [results[i] for i in sorted(results)]


def start_order(loaded: list[LoadedScenario], runtime: str = DEFAULT_RUNTIME) -> list[int]:
    """Indexes of `loaded`, longest expected scenario first."""
    return longest_first([scenario_s(ls.scenario, len(ls.lab.plan.nodes), runtime) for ls in loaded])


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker (each takes its lab down), then wait for them, bounded."""
    pool.shutdown(wait=False, cancel_futures=True)
    children = multiprocessing.active_children()
    for p in children:
        p.terminate()
    deadline = time.monotonic() + STOP_WAIT_S
    for p in children:
        p.join(max(0.0, deadline - time.monotonic()))
