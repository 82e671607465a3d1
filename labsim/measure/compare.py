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
Variants with the same node changes share one lab. Running a comparison: labsim.commands.bench.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labsim.checks.stats import Stats
from labsim.errors import InputError, InputErrors
from labsim.inputerrors import Errors, all_from_pydantic
from labsim.inputfiles import read_text
from labsim.loader import LoadedLab, build_lab
from labsim.model.yamlpos import SourceMap, parse_yaml
from labsim.scenario import fields


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
    lab: int = 1  # which of the comparison's labs it ran in (1 = the first brought up)
    # the baseline ran in another lab: the ratio also holds the difference between two sets of
    # daemons, which interleaving cannot even out (README, "Resolution latency")
    baseline_in_other_lab: bool = False
    # the lab's daemons' mean wait for a CPU per timeslice while the rounds ran, in µs
    # (measure.sched); None where the kernel's schedstat could not be read
    lab_cpu_wait_us: float | None = None

    def to_dict(self) -> dict:
        from labsim.checks.result import dump

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


ROUNDS = 10  # interleaved rounds of `bench resolvers` (labsim.commands.bench)


__all__ = ["Comparison", "load_comparison", "VariantPlan", "VariantResult", "SourceMap"]
