"""Resolver comparisons: one base topology, variants side by side, the same measurement.

    name: ipv6-only-client
    topology: ../topologies/resolution.yml
    from: client                                   # where lookups run
    measure: {name: "n{i}-{run}.wild.example.test", count: 100, max_seconds: 30}
    variants:
      good-order: {}
      bad-order: {from: client-dropped, count: 5}
      bind9: {nodes: {dns64: {implementation: bind9}}}
      upstream-50ms: {nodes: {ns: {impair: {dns_delay_ms: 50}}}}

A variant may change where lookups run (`from`), the measurement (`count`, `gap_ms`,
`max_seconds`, `name`) and any node's fields (`nodes:`, merged into the base topology).
Variants with the same node changes share one lab.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..checks.stats import Series, Stats, summarize
from ..errors import InputError, InputErrors
from ..inputerrors import Errors, all_from_pydantic
from ..inputfiles import read_text
from ..loader import LoadedLab, build_lab
from ..model.yamlpos import SourceMap, parse_yaml
from ..scenario import fields


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Measure(Strict):
    name: fields.NameTemplate = "n{i}-{run}.wild.example.test"
    count: int = Field(100, ge=1, le=100000)
    gap_ms: float = Field(0.0, ge=0, le=10000)
    max_seconds: float = Field(60.0, gt=0, le=3600)
    family: Literal["any", "4", "6"] = "any"


class Variant(Strict):
    node: str | None = Field(None, alias="from")
    name: fields.NameTemplate | None = None
    count: int | None = Field(None, ge=1, le=100000)
    gap_ms: float | None = Field(None, ge=0, le=10000)
    max_seconds: float | None = Field(None, gt=0, le=3600)
    description: fields.Description = ""
    nodes: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Comparison(Strict):
    name: fields.LabelText
    description: fields.Description = ""
    topology: fields.FileName  # relative to the comparison file
    node: str = Field("client", alias="from")
    measure: Measure = Field(default_factory=Measure)
    variants: dict[fields.LabelText, Variant] = Field(min_length=1, max_length=50)


@dataclass
class VariantPlan:
    name: str
    node: str
    measure: Measure
    lab: LoadedLab
    patch_key: str  # variants with equal keys share a lab
    description: str = ""


@dataclass
class VariantResult:
    name: str
    node: str
    description: str
    stats: Stats
    samples_ms: list[float]
    errors: list[str | None]
    measure: dict
    patch: dict = field(default_factory=dict)
    rounds: list[int] = field(default_factory=list)  # the round each sample was taken in
    baseline: str = ""  # the variant the ratios are over
    vs_baseline: dict = field(default_factory=dict)  # "p50"/"p95" -> RatioCI.to_dict() or None

    def to_dict(self) -> dict:
        from ..checks.result import dump

        return dump(self)


def load_comparison(path: str | Path) -> tuple[Comparison, list[VariantPlan]]:
    """The comparison and a planned lab per variant; every error of the file at once."""
    path = Path(path)
    data, smap = parse_yaml(read_text(path, what="comparison"), str(path))
    if not isinstance(data, dict):
        raise smap.error((), "a comparison is a mapping with 'name', 'topology' and 'variants'")
    try:
        comp = Comparison.model_validate(data)
    except ValidationError as exc:
        raise InputErrors(all_from_pydantic(exc, (), smap, Comparison)) from None
    topo_path = path.parent / comp.topology
    text = read_text(topo_path, what="topology", named_in=smap.file, line=smap.line_of(("topology",)),
                     field="topology")
    base, base_map = parse_yaml(text, str(topo_path))
    if not isinstance(base, dict) or not isinstance(base.get("nodes"), dict):
        raise base_map.error(("nodes",) if isinstance(base, dict) else (),
                             "a topology is a mapping with 'name', 'networks' and 'nodes' (a mapping)")
    errors = Errors()
    plans = [p for vname, v in comp.variants.items()
             if (p := errors.run(_variant, comp, vname, v, base, base_map, topo_path, smap)) is not None]
    errors.raise_any()
    return comp, plans


def _variant(comp: Comparison, vname: str, v: Variant, base: dict, base_map: SourceMap, topo_path: Path,
             smap: SourceMap) -> VariantPlan:
    loc = ("variants", vname)
    base_nodes = base["nodes"]
    node = v.node or comp.node
    if node not in base_nodes:
        raise smap.error(loc + (("from",) if v.node else ()), f"no node {node!r} in {comp.topology}; "
                         f"nodes: {', '.join(map(str, base_nodes))}")
    patched = copy.deepcopy(base)
    for target, fields_ in v.nodes.items():
        if target not in base_nodes:
            raise smap.error(loc + ("nodes", target), f"no node {target!r} in {comp.topology}; "
                             f"nodes: {', '.join(map(str, base_nodes))}")
        patched["nodes"][target] = _merge(patched["nodes"][target], fields_)
    try:
        lab = build_lab(patched, base_map, "cmp", str(topo_path))
    except InputError as exc:
        # the change came from the comparison file: say where, and what the topology said
        raise smap.error(loc, f"this variant makes the topology invalid: {exc.field or ''}: {exc.message}") from None
    m = comp.measure.model_copy(update={k: getattr(v, k) for k in ("name", "count", "gap_ms", "max_seconds")
                                        if getattr(v, k) is not None})
    return VariantPlan(vname, node, m, lab, json.dumps(v.nodes, sort_keys=True, default=str), v.description)


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v)
        return out
    return patch


ROUNDS = 10


def run_comparison(plans: list[VariantPlan], progress: Callable[[str, float], None] | None = None,
                   baseline: str | None = None, rounds: int = ROUNDS, seed: int = 0) -> list[VariantResult]:
    """Bring every distinct lab up at once, then measure in `rounds` rounds: each round takes a
    slice of every variant's lookups, in an order shuffled with `seed`, so load that comes and
    goes on the machine lands on all variants alike. Each variant's p50 and p95 are then put
    over the `baseline` variant's (default: the first) with a bootstrap interval over the rounds.
    Every lab is torn down at the end, also on failure."""
    import random
    import sys
    import time

    from .. import lab as labmod
    from ..checks import CheckEnv
    from ..checks.measure import MeasureCheck, run_measure
    from ..lab import make_runtime
    from ..runtime.state import LabState
    from ..scenario.load import lab_name_for
    from ..checks.stats import by_round, ratio_ci, slices

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
    envs: dict[str, CheckEnv] = {}  # patch key -> the lab's check environment
    names: list[str] = []
    try:
        for key, group in groups.items():
            name = lab_name_for("cmp")
            loaded = group[0].lab
            loaded = LoadedLab(loaded.topology.model_copy(update={"name": name}),
                               _renamed(loaded, name), loaded.source, loaded.path)
            step(f"bringing up the lab for {', '.join(p.name for p in group)}", 0)
            names.append(name)
            labmod.up(loaded, ephemeral=True)
            envs[key] = CheckEnv(make_runtime(LabState.load(name)), sys.executable)
        per = {p.name: slices(p.measure.count, rounds) for p in plans}
        got = {p.name: (Series(), []) for p in plans}  # samples, and the round of each
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
                for ms, err in zip(r.facts.samples_ms, r.facts.errors):
                    series.add(ms, err)
                    where.append(rnd)
            step("", len(plans) / rounds)  # the caller's bar counts variants
    finally:
        for name in reversed(names):
            labmod.down(name)
    results = []
    base_rounds = by_round(got[base_name][0].ms, got[base_name][0].errors, got[base_name][1], rounds)
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
                                     baseline=base_name, vs_baseline=vs))
    return results


def _renamed(loaded: LoadedLab, name: str):
    import dataclasses

    return dataclasses.replace(loaded.plan, lab=name, topology=loaded.topology.model_copy(update={"name": name}))


__all__ = ["Comparison", "load_comparison", "run_comparison", "VariantResult", "SourceMap"]
