"""A running lab as scenarios see it: the runtime, the lab's current plan (actions change
it: moved addresses, new records), and the environment checks run in."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from ..checks import CheckEnv
from ..kinds import registry
from ..kinds.base import NodeContext
from ..lab import node_context
from ..loader import LoadedLab
from ..runtime.base import Runtime
from ..runtime.state import LabState


@dataclass
class LabSession:
    loaded: LoadedLab
    runtime: Runtime
    state: LabState

    @property
    def env(self) -> CheckEnv:
        addrs = {n: [str(a) for a in p.addresses()] for n, p in self.loaded.plan.nodes.items()}
        return CheckEnv(self.runtime, getattr(self.runtime, "python", None) or sys.executable, addrs)

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
