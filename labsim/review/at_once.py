"""What a review does for both networks at once: their lab sessions brought up, and their
packet captures started and stopped, a thread each (labsim.review.run)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from labsim.loader import LoadedLab
from labsim.scenario.capture import StepCapture
from labsim.scenario.session import lab_session


def each_at_once(caps: dict[str, StepCapture], fn: Callable[[str, StepCapture], Any]) -> dict[str, Any]:
    """`fn(net, cap)` for every network's capture on a thread each: starting one is ~45 ms
    (tcpdump in each node, until it listens) and stopping one ~0.1 s (its last packets
    settle, tcpdump flushes and exits, the summary), most of it waiting. Every one runs to
    the end before the first error, if any, is raised."""
    if len(caps) < 2:
        return {net: fn(net, cap) for net, cap in caps.items()}
    with ThreadPoolExecutor(max_workers=len(caps)) as pool:
        futs = {net: pool.submit(fn, net, cap) for net, cap in caps.items()}
    return {net: f.result() for net, f in futs.items()}


def open_sessions(labs: dict[str, LoadedLab], runtime: str, stack: ExitStack) -> dict:
    """A lab session per network, brought up at once; each one that came up is on `stack`
    (taken down when it closes) before the first failure, if any, is raised."""
    def open_one(lab: LoadedLab):
        cm = lab_session(lab, runtime)
        return cm, cm.__enter__()

    with ThreadPoolExecutor(max_workers=len(labs)) as pool:
        futs = {net: pool.submit(open_one, lab) for net, lab in labs.items()}
    out = {}
    for net, f in futs.items():
        if f.exception() is None:
            cm, session = f.result()
            stack.push(cm)
            out[net] = session
    for f in futs.values():
        f.result()  # the first failure, after every bring-up has finished
    return out
