"""Scenario files: a topology, then steps. A step is one check run from inside a node, with
expectations, or one action that changes the lab (stop a node, move an address, change a
DNS record or weight, drop packets)."""

from __future__ import annotations

import dataclasses
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_interface,
    ip_network,
)
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from labsim.checks import CHECKS
from labsim.checks.base import CheckSpec
from labsim.model.topology import Nat64Prefix
from labsim.model.types import TlsName, record_value
from labsim.runtime import registry as runtimes
from labsim.scenario import fields as f
from labsim.scenario.expect import Expect, inapplicable

if TYPE_CHECKING:
    from labsim.model.plan import Plan
    from labsim.model.topology import Topology


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeAction(Strict):
    node: str

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"node": v} if isinstance(v, str) else v


class StopAction(NodeAction):
    """Stop a node's daemons, or one of them by service name (clients then see refused
    connections), or take its links down (timeouts, as when a machine dies)."""

    what: Literal["daemons", "links"] = "daemons"
    service: f.ServiceName | None = None  # e.g. tayga, unbound, pdns, echo, nginx, haproxy


class StartAction(NodeAction):
    """Undo `stop`: start the daemons again (and wait until ready), or bring links back up."""

    what: Literal["daemons", "links"] = "daemons"
    service: f.ServiceName | None = None


class MoveAddress(Strict):
    """Give a node another address on one of its networks; DNS records naming it follow."""

    node: str
    network: str
    to: Annotated[IPv4Address | IPv6Address, BeforeValidator(f.address)]  # no scope id


class SetRecord(Strict):
    """Replace one name's records of a type in the lab's zones (values), or its weights."""

    name: f.DnsName  # fully qualified, e.g. api.example.test
    type: Literal["A", "AAAA", "CNAME", "TXT"] = "A"
    values: list[str] | None = Field(None, max_length=64)  # IP literals, node names or names (CNAME)
    # value -> weight, served with LUA pickwrandom (A and AAAA only)
    weights: dict[str, int] | None = Field(None, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, raw: Any) -> Any:
        """Each value checked, and written canonically, as the topology's records are."""
        if not isinstance(raw, dict) or raw.get("type", "A") not in ("A", "AAAA", "CNAME", "TXT"):
            return raw  # the model says what is wrong
        rtype = raw.get("type", "A")
        out = dict(raw)
        if isinstance(raw.get("values"), list):
            out["values"] = [_value(rtype, v) for v in raw["values"]]
        if isinstance(raw.get("weights"), dict):
            if rtype not in ("A", "AAAA"):
                raise ValueError("weights are for A and AAAA records only")
            out["weights"] = {_value(rtype, v): w for v, w in raw["weights"].items()}
        return out

    @model_validator(mode="after")
    def _one(self) -> SetRecord:
        if (self.values is None) == (self.weights is None):
            raise ValueError("give either 'values' or 'weights'")
        for w in (self.weights or {}).values():
            if not 0 <= w <= 65535:
                raise ValueError(f"weight {w}: a weight is 0-65535")
        return self


def _value(rtype: str, v: object) -> str:
    """One set_record value, by the topology's rule for record data of that type (an
    address of the family or a node for A/AAAA, a name for CNAME, one line of text for TXT):
    nothing in it can start a new zone-file line."""
    try:
        return record_value(rtype, v)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(repr(v)) else f"{v!r}: {msg}") from None


class DropAction(Strict):
    """Drop packets in a node with nftables (namespace-local): to/from an address, prefix or node."""

    node: str
    to: f.PrefixOrNode | None = None
    source: f.PrefixOrNode | None = Field(None, alias="from")
    proto: Literal["any", "tcp", "udp", "icmp"] = "any"
    port: int | None = Field(None, ge=1, le=65535)
    # only these ICMP errors (path MTU discovery's): ICMPv6 Packet Too Big, ICMPv4
    # fragmentation needed; with `to`/`from` only those to/from there, else all of them
    icmp: list[Literal["packet-too-big", "frag-needed"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _what(self) -> DropAction:
        if self.icmp:  # to/from optional: without them, every such error through the node
            if self.proto != "any" or self.port is not None:
                raise ValueError("'icmp' names the packets itself: no 'proto' or 'port' with it")
            return self
        if self.to is None and self.source is None:
            raise ValueError("give 'to' or 'from' (a node, an address or a prefix)")
        if self.port is not None and self.proto not in ("tcp", "udp"):
            raise ValueError("a port needs proto: tcp or udp")
        return self


class ClampMss(Strict):
    """Rewrite the MSS option of TCP SYNs the node forwards down to `mss` (what a router or
    translator does for a smaller MTU behind it); `mss: null` removes the rule."""

    node: str
    mss: int | None = Field(..., ge=536, le=65495)


class Params(BaseModel):
    """What a check's own model leaves as plain strings, typed for where it goes (curl's
    argv, a DNS query). Validated on the step's mapping after the check's model, so the
    check's errors (unknown field, wrong type) come first; other keys are the check's."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Port = Annotated[int, Field(ge=1, le=65535)]


class HttpParams(Params):
    url: f.HttpUrl
    method: f.Method = "GET"
    headers: dict[f.HeaderName, f.HeaderValue] = Field(default_factory=dict, max_length=100)
    cookies: dict[f.CookieName, f.CookieValue] = Field(default_factory=dict, max_length=100)
    data: f.Body | None = None
    connect_to: list[f.ConnectTo] = Field(default_factory=list, max_length=20)


class DnsParams(Params):
    name: f.DnsName
    type: f.RdType = "AAAA"
    server: f.AddressOrNode | None = None


class HostParams(Params):
    host: f.Host
    port: Port | None = None


class TlsParams(HostParams):
    servername: f.DnsName | None = None


class ResolveParams(Params):
    name: f.DnsName


class MeasureParams(Params):
    name: f.NameTemplate
    type: f.RdType = "AAAA"
    server: f.AddressOrNode | None = None


CHECK_PARAMS: dict[str, type[Params]] = {
    "http": HttpParams, "dns": DnsParams, "tls": TlsParams, "tcp": HostParams, "ping": HostParams,
    "resolve": ResolveParams, "measure": MeasureParams,
}


class SetPref64(Strict):
    """Change the PREF64 a router advertises (RFC 8781), or withdraw it (lifetime 0): sent at
    once; hosts' CLATs follow."""

    node: str
    prefix: Annotated[Nat64Prefix, BeforeValidator(f.no_scope)] | None = None  # default: unchanged
    lifetime: int | None = Field(None, ge=0, le=65528)  # seconds; 0 withdraws; default: unchanged


class ReissueCert(Strict):
    """Give a node serving HTTPS a new lab-CA certificate for these names and restart its
    daemons (the fix "put the public name in the edge's certificate")."""

    node: str
    names: list[TlsName] = Field(min_length=1, max_length=100)


# -- what an action does to the lab's model: pure, so the loader runs it on the planned lab
# (every step in order) and refuses what the action would fail on when run -----------------
ICMP_MATCH = {"packet-too-big": "icmpv6 type packet-too-big",
              "frag-needed": "icmp type destination-unreachable icmp code frag-needed"}
ICMP_CHAINS = {"in": ("icmp_input", "input"), "out": ("icmp_output", "output"),
               "fwd": ("icmp_forward", "forward")}


def networks_of(plan: Plan, ref: str | None) -> list[IPv4Network | IPv6Network]:
    """A node's addresses (as /32 and /128 networks) or the address or prefix given."""
    if ref is None:
        return []
    if ref in plan.nodes:
        return [ip_network(a) for a in plan.nodes[ref].addresses()]
    return [ip_network(ref, strict=False)]


def icmp_rules(plan: Plan, a: DropAction) -> tuple[list[str], list[str]]:
    """(nft rule lines for the chains, the rules) of a `drop: {icmp: ...}`: every such
    error through the node, or only those to/from `to`/`from`. ValueError when none can
    match (every address given is of the other family than every error named)."""
    where: list[tuple[IPv4Network | IPv6Network | None, str, tuple[str, ...]]]
    where = [(n, "daddr", ("out", "fwd")) for n in networks_of(plan, a.to)]
    where += [(n, "saddr", ("in", "fwd")) for n in networks_of(plan, a.source)]
    lines, rules = [], []
    for kind in a.icmp:
        version = 6 if kind == "packet-too-big" else 4
        for net, direction, keys in where or [(None, "", tuple(ICMP_CHAINS))]:
            if net is not None and net.version != version:
                continue  # an address of the other family never carries this error
            match = f"{'ip6' if version == 6 else 'ip'} {direction} {net} " if net is not None else ""
            rule = f"{match}{ICMP_MATCH[kind]} counter drop"
            lines += [(ICMP_CHAINS[k][0], rule) for k in keys]
            rules.append(rule)
    if not rules:
        raise ValueError(f"no {', '.join(a.icmp)} can match: every address given is of the other "
                         "family (packet-too-big is ICMPv6, frag-needed ICMPv4)")
    return [f"{chain} {rule}" for chain, rule in lines], rules


def with_record(plan: Plan, a: SetRecord) -> Topology:
    """The topology with `a.name`'s records of `a.type` replaced by its values or weights."""
    from labsim.kinds.authdns import zone_of

    topo = plan.topology
    found = zone_of(plan, a.name)
    if found is None:
        raise ValueError(f"no authdns zone in the lab holds {a.name!r}")
    auth, zone = found
    owner = a.name.rstrip(".").lower()
    owner = "@" if owner == zone else owner[: -len(zone) - 1]
    spec: Any = topo.nodes[auth]
    z = spec.zones[zone]
    records = {k: dict(v) for k, v in z.records.items()}
    weighted = {k: dict(v) for k, v in z.weighted.items()}
    records.get(owner, {}).pop(a.type, None)
    weighted.get(owner, {}).pop(a.type, None)
    # a name's other record sources (node `names`) would mix in: only explicit records change
    if a.values is not None:
        records.setdefault(owner, {})[a.type] = list(a.values)
    else:
        weighted.setdefault(owner, {})[a.type] = dict(a.weights or {})
    new_zone = z.model_copy(update={"records": records, "weighted": weighted})
    new_node = spec.model_copy(update={"zones": {**spec.zones, zone: new_zone}})
    return topo.model_copy(update={"nodes": {**topo.nodes, auth: new_node}})


def with_cert_names(topo: Topology, a: ReissueCert) -> Topology:
    """The topology with the node's `tls_names` set to the new names; ValueError when its
    kind has no certificate."""
    spec = topo.nodes[a.node]
    if "tls_names" not in type(spec).model_fields:
        raise ValueError(f"{a.node} ({spec.kind}) serves no certificate: reissue_cert is for a "
                         "node with 'tls_names' (backend, cdn, cloudapi)")
    new_node = spec.model_copy(update={"tls_names": list(a.names)})
    return topo.model_copy(update={"nodes": {**topo.nodes, a.node: new_node}})


IPInterface = IPv4Interface | IPv6Interface


def with_address(plan: Plan, a: MoveAddress) -> tuple[Plan, IPInterface, IPInterface, str]:
    """(the plan with the node's address on `a.network` moved to `a.to`, old, new, its
    interface); ValueError when the node has no address of that family there."""
    node = plan.nodes[a.node]
    iface = next((i for i in node.ifaces if i.network == a.network), None)
    if iface is None:
        raise ValueError(f"node {a.node!r} has no link to network {a.network!r}")
    old = iface.ipv6 if a.to.version == 6 else iface.ipv4
    if old is None:
        raise ValueError(f"{a.node} has no IPv{a.to.version} address on {a.network}")
    new = ip_interface(f"{a.to}/{old.network.prefixlen}")
    moved = (dataclasses.replace(iface, ipv6=new) if isinstance(new, IPv6Interface)
             else dataclasses.replace(iface, ipv4=new))
    ifaces = tuple(moved if i is iface else i for i in node.ifaces)
    nodes = {**plan.nodes, a.node: dataclasses.replace(node, ifaces=ifaces)}
    return dataclasses.replace(plan, nodes=nodes), old, new, iface.ifname


ACTIONS: dict[str, type[BaseModel]] = {
    "stop": StopAction, "start": StartAction, "move_address": MoveAddress,
    "set_record": SetRecord, "drop": DropAction, "undrop": NodeAction, "set_pref64": SetPref64,
    "reissue_cert": ReissueCert, "clamp_mss": ClampMss,
}
STEP_KEYS = tuple(CHECKS) + tuple(ACTIONS)


def step_model(key: str) -> type[BaseModel]:
    return CHECKS[key][0] if key in CHECKS else ACTIONS[key]


class Step(Strict):
    name: f.LabelText | None = None
    kind: str  # which check or action (the key it was given under)
    spec: Any  # the check's or action's model
    tries: int = Field(1, ge=1, le=100000)
    within: float | None = Field(None, gt=0, le=300)  # retry until the expectations hold
    expect: Expect | None = None

    @model_validator(mode="before")
    @classmethod
    def _pick(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise ValueError("a step is a mapping with one of: " + ", ".join(STEP_KEYS))
        keys = [k for k in raw if k in STEP_KEYS]
        if len(keys) != 1:
            raise ValueError(f"a step needs exactly one of: {', '.join(STEP_KEYS)} (got {keys or 'none'})")
        key = keys[0]
        rest = {k: v for k, v in raw.items() if k != key}
        if key in ACTIONS and ({"expect", "tries", "within"} & set(rest)):
            raise ValueError(f"an action ({key}) takes no expect/tries/within")
        spec = raw[key]
        if not isinstance(spec, BaseModel):
            spec = step_model(key).model_validate(spec)
        return {**rest, "kind": key, "spec": spec}

    @model_validator(mode="after")
    def _expectations_apply(self) -> Step:
        bad = inapplicable(self.expect, self.kind) if self.expect and self.kind in CHECKS else []
        if bad:  # a `dns` result has no status: expecting one could only ever fail
            raise ValueError(f"a {self.kind} check has no {', '.join(bad)} to expect")
        if self.expect is not None and self.expect.converged_max_ms is not None and not self.within:
            raise ValueError("expect.converged_max_ms measures a `within` step: give `within`")
        return self

    @property
    def is_check(self) -> bool:
        return isinstance(self.spec, CheckSpec)

    def title(self) -> str:
        if self.name:
            return self.name
        s = self.spec
        target = (getattr(s, "url", None) or getattr(s, "name", None) or getattr(s, "host", None)
                  or getattr(s, "node", ""))
        return f"{self.kind} {target}"


class Scenario(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: f.Description = ""
    catalog: int | None = Field(None, ge=0, le=10000)  # the failure-catalog row this reproduces (docs/architecture.md)
    topology: f.FileName | dict  # a file (relative to this one) or the topology itself
    # where it must run; unset: wherever `labsim run --runtime` says (netns by default)
    runtime: str | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, v: str | None) -> str | None:
        if v is not None and v not in runtimes.RUNTIMES:
            raise ValueError(f"unknown runtime {v!r}; choose from {', '.join(runtimes.names())}")
        return v
