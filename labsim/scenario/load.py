"""Load a scenario file: the scenario, its topology (validated and planned), and cross
checks between them, all before anything is created. Errors carry file:line: field."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path

from pydantic import ValidationError

from labsim.builtin import topology_path
from labsim.errors import InputError, InputErrors
from labsim.inputerrors import Errors, all_from_pydantic
from labsim.inputfiles import read_text, relative_path
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.kinds.escape import UnsafeValue
from labsim.loader import LoadedLab, build_lab, load_lab_text
from labsim.model.plan import Plan, PlanError
from labsim.model.yamlpos import Loc, SourceMap, format_loc, parse_yaml
from labsim.scenario.fields import MAX_BODY
from labsim.scenario.model import (
    CHECK_PARAMS,
    STEP_KEYS,
    DropAction,
    MoveAddress,
    ReissueCert,
    Scenario,
    SetPref64,
    SetRecord,
    StartAction,
    Step,
    StopAction,
    icmp_rules,
    step_model,
    with_address,
    with_cert_names,
    with_record,
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


def load_scenario(path: str | Path, lab_name: str | None = None, attach: tuple[str, ...] = (),
                  attach_force: bool = False) -> LoadedScenario:
    """The scenario at `path`, its lab with `labsim run --attach NETWORK=IFACE` entries after
    its topology's own `attach:` (checked as `validate` checks them: before any lab)."""
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
        if lab is not None and attach:
            from labsim.bringup.attach import check, with_cli

            lab = with_cli(lab, list(attach), attach_force)
            check(lab)
    except InputError as exc:
        errors.add(exc)
    if lab is not None:
        for found in _cross_check(steps, lab, smap):
            errors.add(found)
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
    """What a step names in the lab (nodes, networks, zones, services) exists, and what an
    action would fail on when run fails now: each action's effect on the model
    (scenario.model: with_record, with_address, with_cert_names, icmp_rules) runs here on
    the planned lab, step after step, and the kinds' renderers run on the result, as `run`
    does. One error per step."""
    out = []
    plan = lab.plan
    for i in sorted(steps):
        step = steps[i]
        try:
            plan = _cross_check_step(("steps", i, step.kind), step.spec, plan, smap)
        except InputError as exc:
            out.append(exc)
    return out


def _ctx(plan: Plan, node: str) -> NodeContext:
    return NodeContext(plan, plan.nodes[node], plan.topology.nodes[node], dir=f"/labsim/{node}")


def _rendered(plan: Plan, nodes: list[str], loc: Loc, smap: SourceMap) -> None:
    """The nodes' kinds check and render the changed lab, as the action does when run
    (zone files rewritten, a certificate issued, daemons restarted)."""
    for node in nodes:
        kind = registry.get(plan.nodes[node].kind)
        ctx = _ctx(plan, node)
        try:
            kind.validate(ctx)
            kind.render(ctx)
            kind.tls(ctx)
            kind.services(ctx)
        except PlanError as exc:
            raise smap.error(loc, f"after this step, {format_loc(exc.loc) or node}: {exc.message}") from None
        except UnsafeValue as exc:
            raise smap.error(loc, f"after this step, node {node}: {exc}") from None


def _cross_check_step(loc: Loc, s: object, plan: Plan, smap: SourceMap) -> Plan:
    """Check one step against the lab as the steps before it left it; the lab after it."""
    nodes = plan.nodes
    node = getattr(s, "node", None)
    if node is not None and node not in nodes:
        raise smap.error(loc, f"no node {node!r} in the topology; nodes: {', '.join(nodes)}")
    server = getattr(s, "server", None)
    if isinstance(server, str) and server not in nodes:
        try:
            ip_address(server)
        except ValueError:
            raise smap.error(loc + ("server",), f"{server!r} is neither a node nor an address") from None
    if isinstance(s, (StopAction, StartAction)) and s.service is not None:
        services = [svc.name for svc in registry.get(nodes[s.node].kind).services(_ctx(plan, s.node))]
        if s.service not in services:
            raise smap.error(loc + ("service",), f"node {s.node!r} runs no service {s.service!r}; "
                             f"its services: {', '.join(services) or 'none'}")
    if isinstance(s, MoveAddress):
        net = plan.topology.networks.get(s.network)
        if net is None or s.network not in {i.network for i in nodes[s.node].ifaces}:
            raise smap.error(loc, f"node {s.node!r} has no link to network {s.network!r}")
        prefix = net.ipv6 if s.to.version == 6 else net.ipv4
        if prefix is None or s.to not in prefix:
            raise smap.error(loc, f"{s.to} is not in network {s.network!r}")
        if nodes[s.node].forwards:
            raise smap.error(loc, "moving the address of a forwarding node is not supported")
        taken = [n for n, p in nodes.items() if n != s.node and s.to in p.addresses()]
        if taken:
            raise smap.error(loc, f"{s.to} is the address of node {taken[0]!r}")
        try:
            plan = with_address(plan, s)[0]
        except ValueError as exc:
            raise smap.error(loc, str(exc)) from None
        _rendered(plan, [n for n in nodes if nodes[n].kind == "authdns"], loc, smap)
    if isinstance(s, SetRecord):
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
        try:
            plan = dataclasses.replace(plan, topology=with_record(plan, s))
        except ValueError as exc:
            raise smap.error(loc, str(exc)) from None
        _rendered(plan, [n for n in nodes if nodes[n].kind == "authdns"], loc, smap)
    if isinstance(s, DropAction):
        for ref in (s.to, s.source):
            if ref is not None and ref not in nodes:
                try:
                    ip_network(ref, strict=False)
                except ValueError:
                    raise smap.error(loc, f"{ref!r} is neither a node, an address nor a prefix") from None
        if s.icmp:
            try:
                icmp_rules(plan, s)
            except ValueError as exc:
                raise smap.error(loc, str(exc)) from None
    if isinstance(s, SetPref64) and "pref64.json" not in registry.get(nodes[s.node].kind).render(_ctx(plan, s.node)):
        raise smap.error(loc, f"node {s.node!r} sends no PREF64: set_pref64 changes what a router "
                              "with `ra: {pref64: ...}` advertises")
    if isinstance(s, ReissueCert):
        try:
            plan = dataclasses.replace(plan, topology=with_cert_names(plan.topology, s))
        except ValueError as exc:
            raise smap.error(loc, str(exc)) from None
        if registry.get(nodes[s.node].kind).tls(_ctx(plan, s.node)) is None:
            raise smap.error(loc, f"node {s.node!r} serves no HTTPS (no https_port): it has no certificate "
                                  "to reissue")
        _rendered(plan, [s.node], loc, smap)
    return plan


__all__ = ["LoadedScenario", "load_scenario", "InputError", "ip_address"]
