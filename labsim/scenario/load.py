"""Load a scenario file: the scenario, its topology (validated and planned), and cross
checks between them, all before anything is created. Errors carry file:line: field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path

from pydantic import ValidationError

from ..errors import InputError
from ..loader import LoadedLab, _from_pydantic, build_lab, load_lab
from ..model.yamlpos import SourceMap, load_yaml
from .model import STEP_KEYS, DropAction, MoveAddress, Scenario, SetRecord, Step, step_model


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    lab: LoadedLab
    path: str
    source: SourceMap


def lab_name_for(scenario: str) -> str:
    """A fresh lab name per run, so runs of one scenario never collide."""
    return f"{scenario[:9].rstrip('-')}-{uuid.uuid4().hex[:6]}"


def load_scenario(path: str | Path, lab_name: str | None = None) -> LoadedScenario:
    data, smap = load_yaml(path)
    if not isinstance(data, dict):
        raise smap.error((), "a scenario is a mapping with 'name', 'topology' and 'steps'")
    raw_steps = data.get("steps")
    if isinstance(raw_steps, list):
        data = {**data, "steps": [_step(i, raw, smap) for i, raw in enumerate(raw_steps)]}
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(exc, (), smap, Scenario) from None
    lab = _load_topology(sc, data, smap, Path(path), lab_name)
    _cross_check(sc, lab, smap)
    return LoadedScenario(sc, lab, str(path), smap)


def _step(i: int, raw: object, smap: SourceMap) -> Step:
    """One step, validated on its own so an error names steps[i].<key>.<field> and its line."""
    loc = ("steps", i)
    if not isinstance(raw, dict):
        raise smap.error(loc, "a step is a mapping with one of: " + ", ".join(STEP_KEYS))
    keys = [k for k in raw if k in STEP_KEYS]
    if len(keys) != 1:
        unknown = [k for k in raw if k not in STEP_KEYS and k not in Step.model_fields]
        hint = f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""
        raise smap.error(loc, f"a step needs exactly one of: {', '.join(STEP_KEYS)}{hint}")
    key = keys[0]
    model = step_model(key)
    try:
        spec = model.model_validate(raw[key])
    except ValidationError as exc:
        raise _from_pydantic(exc, loc + (key,), smap, model) from None
    try:
        return Step.model_validate({**raw, key: spec})
    except ValidationError as exc:
        raise _from_pydantic(exc, loc, smap, Step) from None


def _load_topology(sc: Scenario, data: dict, smap: SourceMap, path: Path, lab_name: str | None) -> LoadedLab:
    name = lab_name or lab_name_for(sc.name)
    if isinstance(sc.topology, str):
        topo = (path.parent / sc.topology)
        if not topo.exists():
            raise smap.error(("topology",), f"no topology file {topo}")
        return load_lab(topo, name)
    inner = SourceMap(smap.file, {k[1:]: v for k, v in smap.lines.items() if k[:1] == ("topology",)})
    raw = dict(data["topology"])
    raw.setdefault("name", name)
    return build_lab(raw, inner, name, str(path))


def _cross_check(sc: Scenario, lab: LoadedLab, smap: SourceMap) -> None:
    nodes = lab.plan.nodes
    for i, step in enumerate(sc.steps):
        loc = ("steps", i, step.kind)
        s = step.spec
        node = getattr(s, "node", None)
        if node is not None and node not in nodes:
            raise smap.error(loc, f"no node {node!r} in the topology; nodes: {', '.join(nodes)}")
        if isinstance(s, MoveAddress):
            net = lab.topology.networks.get(s.network)
            if net is None or s.network not in {i.network for i in nodes[s.node].ifaces}:
                raise smap.error(loc, f"node {s.node!r} has no link to network {s.network!r}")
            prefix = net.ipv6 if s.to.version == 6 else net.ipv4
            if prefix is None or s.to not in prefix:
                raise smap.error(loc, f"{s.to} is not in network {s.network!r}")
            if nodes[s.node].forwards:
                raise smap.error(loc, "moving the address of a forwarding node is not supported")
        if isinstance(s, SetRecord):
            from ..kinds.authdns import zone_of

            if zone_of(lab.plan, s.name) is None:
                raise smap.error(loc, f"no authdns zone in the lab holds {s.name!r}")
        if isinstance(s, DropAction):
            for ref in (s.to, s.source):
                if ref is not None and ref not in nodes:
                    try:
                        ip_network(ref, strict=False)
                    except ValueError:
                        raise smap.error(loc, f"{ref!r} is neither a node, an address nor a prefix") from None


__all__ = ["LoadedScenario", "load_scenario", "InputError", "ip_address"]
