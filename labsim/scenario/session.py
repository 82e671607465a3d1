"""One lab session, for every command that runs a lab (`up`, `run`, `review`, `bench
resolvers`, the pytest plugin), on every runtime:

    with lab_session(loaded, runtime="docker") as s:   # plan, claim, up
        run_http(spec, s.env)                           # checks, actions
                                                        # down, on every exit path

and the running lab as checks and actions see it: the runtime, the lab's current plan
(actions change it: moved addresses, new records), and the environment checks run in.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labsim.bringup import lab as labmod
from labsim.bringup.lab import node_context
from labsim.kinds import registry
from labsim.kinds.authdns import AuthDns
from labsim.kinds.base import NodeContext
from labsim.loader import LoadedLab
from labsim.runtime.base import Runtime
from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME
from labsim.runtime.state import LabState

if TYPE_CHECKING:  # the checks (~0.1 s of pydantic models to import) only where env is used:
    # `labsim up` runs none
    from labsim.checks import CheckEnv


@contextmanager
def lab_session(loaded: LoadedLab, runtime: str = DEFAULT_RUNTIME, *, keep: bool = False,
                progress: Callable[[str], None] | None = None, ready_timeout: float = 15.0,
                keep_on_failure: bool = False, checks: bool = True) -> Iterator[LabSession]:
    """Bring `loaded` up on `runtime` and yield it; take it down however the block exits,
    unless `keep` (`labsim up`, `run --keep`: the lab stays until `labsim down`).

    Before anything is claimed or created: the runtime by name (unknown: InputError), what
    the topology needs of it, root and binaries. A failed bring-up removes what it made
    (unless `keep_on_failure`). A lab that is not kept is ephemeral: if this process is
    killed, `labsim gc` removes it. `checks`: the block runs checks (the netns fork server
    stays for them, so each forks instead of starting an interpreter); `labsim up`, which runs
    none, says False."""
    say = progress or (lambda msg: None)
    up = labmod.up(loaded, runtime, progress=say, ready_timeout=ready_timeout,
                   ephemeral=not keep, keep_on_failure=keep_on_failure, session=checks)
    assert up.runtime is not None  # up() returns the runtime it brought the lab up on
    session = LabSession(loaded, up.runtime, up.state, up.timings)
    try:
        yield session
    finally:
        session.runtime.end_session()  # the fork server checks ran through (netns)
        session.runtime.close()
        if not keep:
            say(f"tearing down {up.state.lab}")
            labmod.down(up.state.lab)


@dataclass
class LabSession:
    loaded: LoadedLab
    runtime: Runtime
    state: LabState
    timings: dict[str, float] = field(default_factory=dict)  # bring-up phases, seconds

    @property
    def env(self) -> CheckEnv:
        from labsim.checks import CheckEnv

        addrs = {n: [str(a) for a in p.addresses()] for n, p in self.loaded.plan.nodes.items()}
        return CheckEnv(self.runtime, self.runtime.python or sys.executable, addrs)

    def ctx(self, node: str) -> NodeContext:
        return node_context(self.loaded, self.runtime, node)

    def replace_plan(self, plan=None, topology=None) -> None:
        """Swap in a changed plan or topology (both are immutable values)."""
        plan = plan or self.loaded.plan
        if topology is not None:
            plan = dataclasses.replace(plan, topology=topology)
        self.loaded = dataclasses.replace(self.loaded, plan=plan, topology=plan.topology)

    def rerender_zones(self) -> list[str]:
        """Rewrite every authdns zone file from the current plan and reload it; returns zones."""
        done = []
        for name, node in self.loaded.plan.nodes.items():
            if node.kind != "authdns":
                continue
            kind = registry.get("authdns")
            assert isinstance(kind, AuthDns)  # the kind registered under its name
            ctx = self.ctx(name)
            for path, text in kind.render(ctx).items():
                if path.startswith("zones/"):
                    self.runtime.write_file(name, path, text)
            for zone in ctx.spec.zones:
                res = self.runtime.exec(name, kind.reload_argv(ctx, zone), timeout=10)
                if res.returncode != 0:
                    raise RuntimeError(f"reloading {zone} in {name}: {res.stderr.decode(errors='replace')}")
                done.append(zone)
        return done
