"""How long a lab's daemons waited for a CPU while a comparison measured, from the kernel's
per-task schedstat (/proc/PID/task/TID/schedstat: time on a CPU, time runnable but waiting,
timeslices run). Two labs of one configuration plan and start alike; where the scheduler
puts their daemons under load does not, and this is the figure that shows it for a run
(README, "Resolution latency")."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from labsim.runtime.state import alive


@dataclass(frozen=True)
class CpuWait:
    wait_ns: int  # runnable, not running
    slices: int  # times on a CPU

    def __sub__(self, other: CpuWait) -> CpuWait:
        return CpuWait(self.wait_ns - other.wait_ns, self.slices - other.slices)

    def per_slice_us(self) -> float | None:
        return round(self.wait_ns / self.slices / 1000, 1) if self.slices > 0 else None


def cpu_wait(processes: Iterable[dict[str, Any]]) -> CpuWait | None:
    """The summed schedstat of every thread of the recorded processes still alive (a PID whose
    start time differs is someone else's); None when none can be read (e.g. no schedstats)."""
    wait = slices = 0
    seen = False
    for p in processes:
        pid = p.get("pid")
        if not isinstance(pid, int) or not alive(pid, p.get("start")):
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    _, w, n = (int(x) for x in f.read().split()[:3])
            except (OSError, ValueError):
                continue  # the thread ended meanwhile
            wait, slices, seen = wait + w, slices + n, True
    return CpuWait(wait, slices) if seen else None
