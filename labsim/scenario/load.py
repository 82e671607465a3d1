"""Load a scenario file: the scenario, its topology (validated and planned), and cross
checks between them, all before anything is created. Errors carry file:line: field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path

from pydantic import ValidationError

from labsim.builtin import topology_path
from labsim.errors import InputError, InputErrors
from labsim.inputerrors import Errors, all_from_pydantic
from labsim.inputfiles import read_text, relative_path
from labsim.loader import LoadedLab, build_lab, load_lab_text
from labsim.model.yamlpos import Loc, SourceMap, format_loc, parse_yaml
from labsim.scenario.fields import MAX_BODY
from labsim.scenario.model import (
    CHECK_PARAMS,
    STEP_KEYS,
    DropAction,
    MoveAddress,
    Scenario,
    SetRecord,
    Step,
    step_model,
)


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
    path = Path(path)
    data, smap = parse_yaml(read_text(path, what="scenario"), str(path))
    if not isinstance(data, dict):
        raise smap.error((), "a scenario is a mapping with 'name', 'topology' and 'steps'")
    errors = Errors()
    raw_steps = data.get("steps")
    steps: dict[int, Step] = {}  # the valid ones, by index
    if isinstance(raw_steps, list):
        for i, raw in enumerate(raw_steps):
            try:
                steps[i] = _step(i, raw, smap, path.parent)
            except InputError as exc:
                errors.add(exc)
        data = {**data, "steps": list(steps.values()) if steps or not errors.items else raw_steps}
    sc = None
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        for e in all_from_pydantic(exc, (), smap, Scenario):
            # a step's own errors are already there, with its field and line
            if not (errors.items and e.field and e.field.startswith("steps")):
                errors.add(e)
    lab = None
    try:
        lab = _load_topology(data, smap, path, lab_name or lab_name_for(sc.name if sc else "scenario"))
    except InputError as exc:
        errors.add(exc)
    if lab is not None:
        for exc in _cross_check(steps, lab, smap):
            errors.add(exc)
    errors.raise_any()
    if sc is None or lab is None:  # every such path recorded an error above; never half a result
        raise smap.error(("topology",), "no topology")
    return LoadedScenario(sc, lab, str(path), smap)


def _step(i: int, raw: object, smap: SourceMap, base_dir: Path) -> Step:
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
    spec_raw = raw[key]
    if key == "http" and isinstance(spec_raw, dict) and "data_file" in spec_raw:
        spec_raw = _with_data_file(spec_raw, loc + (key, "data_file"), smap, base_dir)
    try:
        spec = model.model_validate(spec_raw)
    except ValidationError as exc:
        raise InputErrors(all_from_pydantic(exc, loc + (key,), smap, model)) from None
    if key in CHECK_PARAMS:
        try:
            CHECK_PARAMS[key].model_validate(spec_raw)
        except ValidationError as exc:
            raise InputErrors(all_from_pydantic(exc, loc + (key,), smap, CHECK_PARAMS[key])) from None
    try:
        return Step.model_validate({**raw, key: spec})
    except ValidationError as exc:
        raise InputErrors(all_from_pydantic(exc, loc, smap, Step)) from None


def _with_data_file(spec: dict, loc: Loc, smap: SourceMap, base_dir: Path) -> dict:
    """`data_file: rel/path`: the body is that file, read now (relative to the scenario's
    folder, a regular file, UTF-8, capped), never a path curl opens later."""
    spec = dict(spec)
    name = spec.pop("data_file")
    if "data" in spec:
        raise smap.error(loc, "give 'data' or 'data_file', not both")
    if not isinstance(name, str):
        raise smap.error(loc, "a relative file name, e.g. bodies/login.json")
    try:
        full = relative_path(base_dir, name)
    except ValueError as exc:
        raise smap.error(loc, f"{name!r} {exc}") from None
    spec["data"] = read_text(full, limit=MAX_BODY, what="data_file", named_in=smap.file,
                             line=smap.line_of(loc), field=format_loc(loc))
    return spec


def _load_topology(data: dict, smap: SourceMap, path: Path, name: str) -> LoadedLab | None:
    topo = data.get("topology")
    if isinstance(topo, str):
        file = path.parent / topo
        builtin = topology_path(topo)  # `apple-review`, or ../topologies/NAME.yml copied elsewhere
        if not file.exists() and builtin.is_absolute():
            file = builtin
        text = read_text(file, what="topology", named_in=smap.file, line=smap.line_of(("topology",)),
                         field="topology")
        return load_lab_text(text, name, str(file))
    if not isinstance(topo, dict):
        return None  # the model's error says what `topology` must be
    inner = SourceMap(smap.file, {k[1:]: v for k, v in smap.lines.items() if k[:1] == ("topology",)})
    raw = dict(topo)
    raw.setdefault("name", name)
    return build_lab(raw, inner, name, str(path))


def _cross_check(steps: dict[int, Step], lab: LoadedLab, smap: SourceMap) -> list[InputError]:
    """What a step names in the lab (nodes, networks, zones) exists; one error per step."""
    out = []
    for i, step in steps.items():
        try:
            _cross_check_step(("steps", i, step.kind), step.spec, lab, smap)
        except InputError as exc:
            out.append(exc)
    return out


def _cross_check_step(loc: Loc, s: object, lab: LoadedLab, smap: SourceMap) -> None:
    nodes = lab.plan.nodes
    node = getattr(s, "node", None)
    if node is not None and node not in nodes:
        raise smap.error(loc, f"no node {node!r} in the topology; nodes: {', '.join(nodes)}")
    server = getattr(s, "server", None)
    if isinstance(server, str) and server not in nodes:
        try:
            ip_address(server)
        except ValueError:
            raise smap.error(loc + ("server",), f"{server!r} is neither a node nor an address") from None
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
        from labsim.kinds.authdns import zone_of

        if zone_of(lab.plan, s.name) is None:
            raise smap.error(loc, f"no authdns zone in the lab holds {s.name!r}")
        if s.type in ("A", "AAAA"):
            family = 4 if s.type == "A" else 6
            for v in s.values if s.values is not None else s.weights or {}:
                try:
                    ip_address(v)
                except ValueError:
                    if v not in nodes:
                        raise smap.error(loc, f"{v!r} is neither an IPv{family} address nor a node") from None
                    if not nodes[v].addresses(family):
                        raise smap.error(loc, f"node {v!r} has no IPv{family} address for an {s.type} record") from None
    if isinstance(s, DropAction):
        for ref in (s.to, s.source):
            if ref is not None and ref not in nodes:
                try:
                    ip_network(ref, strict=False)
                except ValueError:
                    raise smap.error(loc, f"{ref!r} is neither a node, an address nor a prefix") from None


__all__ = ["LoadedScenario", "load_scenario", "InputError", "ip_address"]
