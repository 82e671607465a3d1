"""The per-lab state file: what a lab created, written *before* each thing is created.

`labsim down` and `labsim gc` work from this file alone, in another process, after a crash
or a SIGKILL of `labsim up`. Writes are atomic (temp file + rename) so a kill mid-write
leaves the previous, still-valid state.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_DIR = Path(os.environ.get("LABSIM_RUN_DIR", "/run/labsim"))
_SAVE_LOCK = threading.RLock()  # re-entrant: record() saves while holding it


def process_start_time(pid: int) -> int | None:
    """Kernel start time of `pid` (clock ticks since boot), to tell a reused PID from ours."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int, start: int | None) -> bool:
    now = process_start_time(pid)
    return now is not None and (start is None or now == start)


@dataclass
class LabState:
    lab: str
    runtime: str
    topology: str = ""
    status: str = "creating"  # creating -> up; anything but "up" with a dead owner is garbage
    owner_pid: int = 0
    owner_start: int | None = None
    created: float = 0.0
    namespaces: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # files and directories to remove
    containers: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, Any] = field(default_factory=dict)  # summary for `status`
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return RUN_DIR / self.lab

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def claim(cls, lab: str, runtime: str, topology: str, extra: dict[str, Any] | None = None) -> LabState:
        """Create the lab's directory atomically; fails if a lab of that name exists."""
        from labsim.errors import LabExistsError

        RUN_DIR.mkdir(parents=True, exist_ok=True, mode=0o755)
        try:
            # 0755 whatever the umask: daemons that dropped root traverse it to their files
            os.mkdir(RUN_DIR / lab, 0o755 & ~_umask())
        except FileExistsError as exc:
            raise LabExistsError(f"a lab named {lab!r} exists already "
                                 f"(labsim down {lab}, or pick another --name)") from exc
        st = cls(lab=lab, runtime=runtime, topology=topology, owner_pid=os.getpid(),
                 owner_start=process_start_time(os.getpid()), created=time.time(), extra=dict(extra or {}))
        st.save()
        return st

    @classmethod
    def load(cls, lab: str) -> LabState:
        data = json.loads((RUN_DIR / lab / "state.json").read_text())
        return cls(**data)

    @classmethod
    def all_labs(cls) -> list[str]:
        if not RUN_DIR.is_dir():
            return []
        return sorted(p.name for p in RUN_DIR.iterdir() if p.is_dir())

    def save(self) -> None:
        with _SAVE_LOCK:  # one temp file per lab: one writer at a time
            tmp = self.file.with_suffix(".tmp")
            data = {k: v for k, v in self.__dict__.items()}
            tmp.write_text(json.dumps(data, indent=1, default=str))
            os.replace(tmp, self.file)

    def record(self, **items: list) -> None:
        """Append to the lists named and save, before the things are created. Safe from
        several threads (bring-up starts nodes' daemons on workers)."""
        with _SAVE_LOCK:
            for key, values in items.items():
                getattr(self, key).extend(values)
            self.save()

    def owner_alive(self) -> bool:
        return alive(self.owner_pid, self.owner_start)

    def forget(self) -> None:
        """Remove the state directory (the last step of a teardown)."""
        for p in sorted(self.dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if p.is_dir() and not p.is_symlink():
                p.rmdir()
            else:
                p.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except FileNotFoundError:
            pass
        try:
            RUN_DIR.rmdir()  # only if no other lab is left
        except OSError:
            pass


def _umask() -> int:
    """The process umask, or'ed with 022 so nothing labsim creates is group/world-writable."""
    old = os.umask(0o022)
    os.umask(old)
    return old | 0o022
