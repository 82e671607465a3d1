"""Load a topology file into a validated Topology and its Plan, or fail with file:line.

Every check that can fail on input runs here, before anything is created: YAML syntax,
unknown keys and kinds, value types, cross references (networks, nodes, zones), address
planning, and each kind's own validation plus a dry run of its renderers.
"""

from __future__ import annotations

import ipaddress
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from labsim.builtin import topology_path
from labsim.errors import InputError, InputErrors
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.kinds.escape import UnsafeValue
from labsim.model.plan import Plan, PlanError, make_plan
from labsim.model.topology import LabName, NodeBase, Topology
from labsim.model.yamlpos import Loc, SourceMap, format_loc, load_yaml, parse_yaml

MAX_ERRORS = 20  # reported at once per file; the rest are counted

FRIENDLY_PATTERNS = {
    "^[a-z0-9][a-z0-9-]{0,15}$": "a lab name is 1-16 lowercase letters, digits or '-'",
    "^[a-z][a-z0-9-]{0,30}$": "a node name is a lowercase letter, then up to 30 lowercase "
                              "letters, digits or '-'",
    "^[a-z][a-z0-9-]{0,14}$": "a network name is a lowercase letter, then up to 14 lowercase "
                              "letters, digits or '-' (it names a bridge; interface names stop at 15)",
}


@dataclass(frozen=True)
class LoadedLab:
    topology: Topology
    plan: Plan
    source: SourceMap
    path: str


def load_lab(path: str | Path, name: str | None = None) -> LoadedLab:
    """`path`: a topology file, or a built-in's name (`labsim topologies`)."""
    path = topology_path(path)
    data, smap = load_yaml(path)
    return build_lab(data, smap, name, str(path))


def load_lab_text(text: str, name: str | None = None, filename: str = "<string>") -> LoadedLab:
    data, smap = parse_yaml(text, filename)
    return build_lab(data, smap, name, filename)


def build_lab(data: Any, smap: SourceMap, name: str | None, path: str) -> LoadedLab:
    if not isinstance(data, dict):
        raise smap.error((), "a topology is a mapping with 'name', 'networks' and 'nodes'")
    data = dict(data)
    if name is not None:
        _check_lab_name(name, smap)
        data["name"] = name
    errors: list[InputError] = []
    nodes_raw = data.get("nodes")
    if isinstance(nodes_raw, dict):
        good = {}
        for n, raw in nodes_raw.items():
            try:
                good[n] = _node(n, raw, smap)
            except InputErrors as exc:
                errors += exc.errors
            except InputError as exc:
                errors.append(exc)
        data["nodes"] = good
    try:
        topo = Topology.model_validate(data)
    except ValidationError as exc:
        found = _all_from_pydantic(exc, (), smap, Topology)
        if errors:  # 'nodes' is short of the nodes that failed: those errors say why
            found = [e for e in found if e.field != "nodes"]
        errors += found
    if errors:
        raise _many(errors)
    return plan_lab(topo, smap, path)


def _many(errors: list[InputError]) -> InputError:
    """One error as itself; several (deduplicated by place) as InputErrors, the first one
    first and the rest by line, at most MAX_ERRORS."""
    seen, unique = set(), []
    for e in errors:
        if (e.line, e.field) not in seen:
            seen.add((e.line, e.field))
            unique.append(e)
    if len(unique) == 1:
        return unique[0]
    first, rest = unique[0], sorted(unique[1:], key=lambda e: (e.line or 0, e.field or ""))
    shown = [first, *rest][:MAX_ERRORS]
    return InputErrors(shown, more=len(unique) - len(shown))


def plan_lab(topo: Topology, smap: SourceMap, path: str) -> LoadedLab:
    """Plan a validated topology and run every kind's checks; errors carry file:line."""
    try:
        plan = make_plan(topo, topo.name, forwards=registry.forwards,
                         owned_prefixes=lambda n, spec, t: registry.get(spec.kind).owned_prefixes(n, spec, t))
    except PlanError as exc:
        raise smap.error(exc.loc, exc.message) from None
    errors: list[InputError] = []
    for node in plan.nodes.values():
        kind = registry.get(node.kind)
        ctx = NodeContext(plan, node, topo.nodes[node.name], dir=f"/labsim/{node.name}")
        try:
            kind.validate(ctx)
            # dry run of everything `up` builds from the input: a bad reference or a value
            # a format cannot hold fails now, not half-way up
            kind.render(ctx)
            kind.setup(ctx)
            kind.services(ctx)
            kind.probes(ctx)
            kind.tls(ctx)
        except PlanError as exc:
            errors.append(smap.error(exc.loc, exc.message))
        except UnsafeValue as exc:
            errors.append(smap.error(("nodes", node.name), str(exc)))
    errors += [smap.error(e.loc, e.message) for e in _check_names(plan) + _check_tls_names(plan)]
    if errors:
        raise _many(errors)
    return LoadedLab(topo, plan, smap, path)


def _check_names(plan: Plan) -> list[PlanError]:
    """Every `names:` entry must land in a zone some authdns node serves."""
    from labsim.kinds.authdns import zone_of

    zones = sorted(z for spec in plan.topology.nodes.values() if spec.kind == "authdns"
                   for z in getattr(spec, "zones", {}))
    return [PlanError(("nodes", node, "names", i),
                      f"no authdns zone in the lab holds {name!r}; zones: {', '.join(zones) or 'none'}")
            for node, spec in plan.topology.nodes.items() for i, name in enumerate(spec.names)
            if zone_of(plan, name) is None]


def _check_tls_names(plan: Plan) -> list[PlanError]:
    """`tls_names` (backend, cdn, cloudapi: whatever kind has the field) names what the
    certificate `up` issues is for: an empty list is refused here, as the CA would refuse
    it half-way up; leave the field out for the default names. Each entry is a host name
    (a '*.' wildcard allowed) or an IP literal, also where a kind's schema types it loosely."""
    from labsim.model.types import tls_name

    out = []
    for node, spec in plan.topology.nodes.items():
        names = getattr(spec, "tls_names", None)
        if names is None:
            continue
        if not names:
            out.append(PlanError(("nodes", node, "tls_names"),
                                 "a certificate needs at least one name; leave 'tls_names' out for "
                                 "the default (the node's names, its node name and its addresses)"))
        for i, name in enumerate(names):
            try:
                tls_name(name)
            except ValueError as exc:
                out.append(PlanError(("nodes", node, "tls_names", i), f"{name!r}: {exc}"))
    return out


def _check_lab_name(name: str, smap: SourceMap) -> None:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(LabName).validate_python(name)
    except ValidationError:
        raise InputError(f"--name {name!r}: {FRIENDLY_PATTERNS['^[a-z0-9][a-z0-9-]{0,15}$']}") from None


def _node(name: Any, raw: Any, smap: SourceMap) -> Any:
    """Validate one node against its kind's schema (so errors list that kind's fields)."""
    loc: Loc = ("nodes", name)
    if not isinstance(raw, dict):
        raise smap.error(loc, "a node is a mapping with at least 'kind' and 'links'")
    if "kind" not in raw:
        raise smap.error(loc, "missing 'kind'; valid kinds are: " + ", ".join(sorted(registry.KINDS)))
    try:
        kind = registry.get(str(raw["kind"]))
    except InputError as exc:
        raise smap.error(loc + ("kind",), exc.message) from None
    try:
        return kind.schema.model_validate(raw)
    except ValidationError as exc:
        raise _many(_all_from_pydantic(exc, loc, smap, kind.schema)) from None


def _from_pydantic(exc: ValidationError, prefix: Loc, smap: SourceMap,
                   model: type[BaseModel]) -> InputError:
    """The first pydantic error as file:line: field: message (what was expected, what came)."""
    return _all_from_pydantic(exc, prefix, smap, model)[0]


def _all_from_pydantic(exc: ValidationError, prefix: Loc, smap: SourceMap,
                       model: type[BaseModel]) -> list[InputError]:
    """Every pydantic error as file:line: field: message; an unknown key first, since it
    explains a 'missing' one better than the other way round (typos)."""
    errors = exc.errors(include_url=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    out: list[InputError] = []
    for err in errors:
        one = _one_from_pydantic(err, prefix, smap, model)
        # a union's members fail one by one at the same place: one error naming each way
        place = (one.file, one.line, one.field)
        same = next((i for i, e in enumerate(out) if (e.file, e.line, e.field) == place), None)
        if same is None:
            out.append(one)
        elif one.message not in out[same].message:
            out[same] = InputError(f"{out[same].message}; or: {one.message}", file=one.file,
                                   line=one.line, field=one.field)
    return out


# how pydantic names a union's member in an error's location ('lax-or-strict[...]',
# 'function-after[...]', 'str', 'list[str]', 'IPv4Network'): not a key of the input
_UNION_TAG = re.compile(r".*[\[(].*|str|int|float|bool|bytes|list|dict|none|IPv[46](Network|Address|Interface)")


def _input_loc(prefix: Loc, parts: tuple[Any, ...], smap: SourceMap) -> Loc:
    """The location in the input of a pydantic error: without '[key]' and union tags (a
    string that is a key of the input where it stands is kept)."""
    loc = prefix
    for p in parts:
        if p == "[key]" or (isinstance(p, str) and loc + (p,) not in smap.lines and _UNION_TAG.fullmatch(p)):
            continue
        loc += (p,)
    return loc


def _one_from_pydantic(err: Any, prefix: Loc, smap: SourceMap, model: type[BaseModel]) -> InputError:
    loc = _input_loc(prefix, tuple(err["loc"]), smap)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        fields = _fields_at(model, tuple(err["loc"][:-1]))
        hint = f"; expected one of: {', '.join(fields)}" if fields else ""
        return smap.error(loc, f"unknown field {loc[-1]!r}{hint}")
    if kind == "missing":
        return smap.error(loc, "required field is missing")
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        return smap.error(loc, f"{value!r}: " + FRIENDLY_PATTERNS.get(pattern, err["msg"]))
    msg = err["msg"].removeprefix("Value error, ")
    if kind in ("ip_v4_network", "ip_v6_network", "ip_any_network") and isinstance(value, str):
        try:
            iface = ipaddress.ip_interface(value)
            msg += f" (host bits are set: did you mean {iface.network}?)"
        except ValueError:
            pass
    if kind in ("ip_v4_network", "ip_v6_network", "ip_v4_address", "ip_v6_address",
                "ip_any_network", "ip_any_address", "literal_error", "int_parsing",
                "bool_parsing", "string_type", "dict_type", "list_type") or "input" in err:
        if value is not None and not isinstance(value, (dict, list)) and not msg.startswith(repr(value)):
            msg = f"{value!r}: {msg}"
    return smap.error(loc, msg)


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model found at `loc` inside `model`, when it can be found. List
    indexes and dict keys (node names, zone names) are stepped over."""
    current: Any = model
    skip_key = False
    for part in loc:
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        skip_key = typing.get_origin(field.annotation) is dict
        current = _inner_model(field.annotation)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


__all__ = ["LoadedLab", "load_lab", "load_lab_text", "NodeBase", "format_loc"]
