"""`authdns`: PowerDNS Authoritative (bind backend) serving the lab's zones.

Records come from the node's `zones` and from every node's `names` (an A/AAAA record per
address of that node, in the zone that holds the name). A and AAAA values are IP literals
or node names; a node name stands for that node's addresses of the record's family.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated, Literal

from pydantic import Field, model_validator

from labsim.kinds import escape
from labsim.kinds.base import DnsProbe, Kind, NodeContext, Service, run_dir
from labsim.kinds.common import base_files
from labsim.model.plan import PlanError
from labsim.model.topology import NodeBase, Strict
from labsim.model.types import MAX_NAME, NodeOrAddress, RecordOwner, ZoneName, record_value
from labsim.node import privdrop
from labsim.node.nodeprog import stdlib_program

RRType = Literal["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "PTR"]
Weight = Annotated[int, Field(ge=0, le=1_000_000)]


class Failover(Strict):
    """The primary's addresses while one of them passes the health check, else the
    secondary's (Route 53 failover routing). PowerDNS LUA `ifurlup` over two address sets:
    an HTTP GET of `http://<this name>:<http_port><path>` sent to each address, every
    second. Values are IP literals or node names, so only addresses, a checked name, a port
    and a checked path ever reach the Lua text. With both sets down PowerDNS answers every
    address; before the first check completes it answers nothing (SERVFAIL)."""

    type: Literal["A", "AAAA"] = "AAAA"
    primary: list[NodeOrAddress] = Field(min_length=1, max_length=64)
    secondary: list[NodeOrAddress] = Field(min_length=1, max_length=64)
    http_port: int = Field(80, ge=1, le=65535)
    path: str = Field("/", pattern=r"^/[A-Za-z0-9._/-]{0,200}$")
    ttl: int | None = Field(None, ge=0, le=86400)  # default: the zone's (keep it short)


class Zone(Strict):
    ttl: int = Field(60, ge=0, le=86400)
    # record name (relative to the zone, '@' for the apex) -> type -> value or values
    records: dict[RecordOwner, dict[RRType, str | list[str]]] = Field(default_factory=dict, max_length=4096)
    # record name -> A/AAAA -> {value: weight}: one answer per query, drawn by weight
    # (PowerDNS LUA pickwrandom); values are IP literals or node names
    weighted: dict[RecordOwner, dict[Literal["A", "AAAA"], dict[str, Weight]]] = Field(default_factory=dict)
    # record name -> health-checked failover (Route 53 failover routing): PowerDNS LUA ifurlup
    failover: dict[RecordOwner, Failover] = Field(default_factory=dict)


class Schema(NodeBase):
    kind: Literal["authdns"]
    zones: dict[ZoneName, Zone] = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _owner_lengths(self) -> Schema:
        for zone, z in self.zones.items():
            for owner in [*z.records, *z.weighted]:
                if owner != "@" and len(owner) + 1 + len(zone) > MAX_NAME:
                    raise ValueError(f"{owner}.{zone} is longer than {MAX_NAME} characters")
        return self


def zone_of(ctx_plan, fqdn: str) -> tuple[str, str] | None:
    """(authdns node, zone) holding `fqdn`: the longest matching zone in the lab."""
    fqdn = fqdn.rstrip(".").lower()
    best = None
    for node, spec in ctx_plan.topology.nodes.items():
        if spec.kind != "authdns":
            continue
        for zone in spec.zones:
            if fqdn == zone or fqdn.endswith("." + zone):
                if best is None or len(zone) > len(best[1]):
                    best = (node, zone)
    return best


def zone_records(ctx: NodeContext, zone: str) -> list[tuple[str, int, str, str]]:
    """(owner, ttl, type, value) rows of one zone; raises PlanError for bad references."""
    plan, spec = ctx.plan, ctx.spec
    z = spec.zones[zone]
    rows: list[tuple[str, int, str, str]] = []
    for owner, rrsets in z.records.items():
        for rtype, values in rrsets.items():
            loc = ("nodes", ctx.name, "zones", zone, "records", owner, rtype)
            many = [values] if isinstance(values, str) else values
            if len(many) > 256:
                raise PlanError(loc, "at most 256 values per record")
            for value in many:
                for v in _expand(plan, rtype, _checked(rtype, value, loc), loc):
                    rows.append((owner, z.ttl, rtype, v))
    for owner, rrsets in z.weighted.items():
        for rtype, weights in rrsets.items():
            loc = ("nodes", ctx.name, "zones", zone, "weighted", owner, rtype)
            for v in weights:
                _checked(rtype, v, loc)
            picks = ", ".join(f"{{{int(w)}, {escape.lua_str(_expand(plan, rtype, v, loc)[0])}}}"
                              for v, w in weights.items())
            rows.append((owner, z.ttl, "LUA", f'{rtype} "pickwrandom({{{picks}}})"'))
    for owner, fo in z.failover.items():
        floc: tuple[str, ...] = ("nodes", ctx.name, "zones", zone, "failover", owner)
        sets = [[v for value in values for v in _expand(plan, fo.type, value, (*floc, role))]
                for role, values in (("primary", fo.primary), ("secondary", fo.secondary))]
        fqdn = zone if owner == "@" else f"{owner}.{zone}"
        rows.append((owner, z.ttl if fo.ttl is None else fo.ttl, "LUA",
                     failover_lua(fo.type, fqdn, fo, sets, floc)))
    for node, nspec in plan.topology.nodes.items():
        for name in nspec.names:
            if zone_of(plan, name) != (ctx.name, zone):
                continue
            owner = name.rstrip(".").lower()
            owner = "@" if owner == zone else owner[: -len(zone) - 1]
            for addr in plan.nodes[node].addresses():
                rows.append((owner, z.ttl, "AAAA" if addr.version == 6 else "A", str(addr)))
    _check_cname(ctx, zone, rows)
    return rows


def _check_cname(ctx: NodeContext, zone: str, rows: list[tuple[str, int, str, str]]) -> None:
    """A CNAME is the only record at its name, and there is one (RFC 1034 §3.6.2, RFC 2181
    §10.1): not at the apex (its SOA and NS), not at the name server's own name, not beside
    any record, weight, failover or `names:` address. pdns and dnspython refuse such a zone."""
    others: dict[str, set[str]] = {"@": {"SOA", "NS"}, f"{ctx.name}-ns": {"AAAA/A"}}  # ns_name()
    cnames: dict[str, int] = {}
    for owner, _ttl, rtype, _value in rows:
        if rtype == "CNAME":
            cnames[owner] = cnames.get(owner, 0) + 1
        else:
            others.setdefault(owner, set()).add(rtype)
    for owner, count in cnames.items():
        loc = ("nodes", ctx.name, "zones", zone, "records", owner, "CNAME")
        if count > 1:
            raise PlanError(loc, f"{owner!r} has {count} CNAME values: a name has at most one "
                                 "CNAME (RFC 1034 §3.6.2)")
        if owner in others:
            what = "the zone's SOA and NS" if owner == "@" else ", ".join(sorted(others[owner])) + " data"
            raise PlanError(loc, f"a CNAME at {owner!r} beside {what}: a CNAME is the only record "
                                 "at its name (RFC 1034 §3.6.2, RFC 2181 §10.1)")


def _checked(rtype: str, value: str, loc) -> str:
    """The value checked for its record type (types.record_value), in canonical form."""
    try:
        return record_value(rtype, value)
    except ValueError as exc:
        raise PlanError(loc, str(exc)) from None


def failover_lua(rtype: str, fqdn: str, fo: Failover, sets: list[list[str]], loc) -> str:
    """`AAAA "ifurlup('http://name:80/', {{'primary'}, {'secondary'}})"`: the first set
    with an address up wins. Every piece is a checked name, port, path or re-parsed address,
    quoted by escape.lua_str (which refuses anything else), so the Lua text is ours alone."""
    try:
        lua_sets = ", ".join("{" + ", ".join(escape.lua_str(str(ip_address(v))) for v in addrs) + "}"
                             for addrs in sets)
        url = escape.lua_str(f"http://{fqdn}:{int(fo.http_port)}{fo.path}")
    except ValueError as exc:
        raise PlanError(loc, str(exc)) from None
    return f'{rtype} "ifurlup({url}, {{{lua_sets}}})"'


def has_failover(spec) -> bool:
    return any(z.failover for z in spec.zones.values())


def _expand(plan, rtype: str, value: str, loc) -> list[str]:
    if rtype not in ("A", "AAAA"):
        return [value]
    family = 4 if rtype == "A" else 6
    try:
        addr = ip_address(value)
    except ValueError:
        if value not in plan.nodes:
            raise PlanError(loc, f"{value!r} is neither an IPv{family} address nor a node") from None
        addrs = plan.nodes[value].addresses(family)
        if not addrs:
            raise PlanError(loc, f"node {value!r} has no IPv{family} address for an {rtype} record") from None
        return [str(a) for a in addrs]
    if addr.version != family:
        raise PlanError(loc, f"{value} is not an IPv{family} address")
    return [value]


USER = "pdns"  # the Debian package's own user
RUN = "run"
RELAYED_PORT = 5300  # where pdns listens when a delay relay sits in front of it


def dns_port(ctx: NodeContext) -> int:
    imp = ctx.spec.impair
    return RELAYED_PORT if imp and (imp.dns_delay_ms or imp.dns_jitter_ms) else 53


def ns_name(node: str, zone: str) -> str:
    return f"{node}-ns.{zone}."


def zone_file(ctx: NodeContext, zone: str) -> str:
    z = ctx.spec.zones[zone]
    ns = ns_name(ctx.name, zone)
    zone = escape.zone_word(zone)
    lines = [f"$ORIGIN {zone}.", f"$TTL {z.ttl}",
             f"@ IN SOA {ns} hostmaster.{zone}. 1 3600 600 86400 {z.ttl}",
             f"@ IN NS {ns}"]
    lines += [f"{ns} IN {'AAAA' if a.version == 6 else 'A'} {a}" for a in ctx.node.addresses()]
    lines += [f"{escape.zone_word(owner)} {int(ttl)} IN {rtype} {_rdata(rtype, value)}"
              for owner, ttl, rtype, value in zone_records(ctx, zone)]
    return "\n".join(lines) + "\n"


def _rdata(rtype: str, value: str) -> str:
    """Record data in zone-file form, through the zone file's escaping helper."""
    if rtype == "TXT":
        return escape.zone_txt(value)
    if rtype == "LUA":  # built here from checked addresses: 'A "pickwrandom({{w, 'addr'}, ...})"'
        return value
    return " ".join(escape.zone_word(part) for part in value.split(" "))


class AuthDns(Kind):
    name = "authdns"
    schema = Schema
    packages = ("pdns-server", "pdns-backend-bind")
    binaries = ("pdns_server",)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        files = base_files(ctx)
        named = []
        for zone in ctx.spec.zones:
            fname = escape.file_component(f"{zone}.zone")
            files[f"zones/{fname}"] = zone_file(ctx, zone)
            named.append(f"zone {escape.bind_str(zone)} {{ type master; "
                         f"file {escape.bind_str(f'{ctx.dir}/zones/{fname}')}; }};")
        files["named.conf"] = "\n".join(named) + "\n"
        files["pdns.conf"] = "\n".join([
            "launch=bind",
            f"bind-config={ctx.dir}/named.conf",
            "local-address=0.0.0.0, ::",
            f"local-port={dns_port(ctx)}",
            "daemon=no",
            "guardian=no",
            "disable-syslog=yes",
            "log-timestamp=no",
            f"socket-dir={ctx.dir}/{RUN}",  # owned by the user it runs as (its control socket)
            f"setuid={USER}",  # root dropped once port 53 is bound
            f"setgid={USER}",
            "security-poll-suffix=",  # no version polling: the lab has no way out
            "enable-lua-records=yes",
            # no packet or query cache: weighted answers are drawn per query, and a
            # changed record is served as soon as the zone is reloaded
            "cache-ttl=0",
            "query-cache-ttl=0",
            "negquery-cache-ttl=0",
            # one backend, in the receiver thread: with N > 1, pdns starts its N backend
            # threads 50 ms apart before it answers anything (distributor.hh: "we've
            # overloaded mysql in the past"), which was 0.15 s of every lab's readiness
            "distributor-threads=1",
            "webserver=no",
            "api=no",
            "loglevel=4",
            # failover records: a health check every second, so a dead edge leaves the
            # answers within about a second (PowerDNS 4.7: ~0.5 s after the kill; docs/facts.md)
            *(["lua-health-checks-interval=1"] if has_failover(ctx.spec) else []),
            "",
        ])
        return files

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        return [run_dir(f"{ctx.dir}/{RUN}", USER)]

    def services(self, ctx: NodeContext) -> list[Service]:
        out = [Service("pdns", ["pdns_server", f"--config-dir={ctx.dir}"])]
        imp = ctx.spec.impair
        if imp and (imp.dns_delay_ms or imp.dns_jitter_ms):
            # the relay takes port 53 and passes queries on to pdns after the delay
            listen = [a for a in ("127.0.0.1", "::1", *map(str, ctx.node.addresses()))]
            argv = stdlib_program(ctx.python, "labsim.node.relay", "--port", "53", "--to-port", str(RELAYED_PORT),
                                  "--delay-ms", str(imp.dns_delay_ms), "--jitter-ms", str(imp.dns_jitter_ms),
                                  "--user", privdrop.USER, "--group", privdrop.GROUP)  # root only to bind 53
            out.append(Service("relay", argv + [x for a in listen for x in ("--listen", a)]))
        return out

    def reload_argv(self, ctx: NodeContext, zone: str) -> list[str]:
        """Serve a rewritten zone file now (bind backend)."""
        return ["pdns_control", f"--config-dir={ctx.dir}", "bind-reload-now", zone]

    def probes(self, ctx: NodeContext):
        addr = ctx.node.addresses()[0]
        imp = ctx.spec.impair
        wait = 0.05 + (2 * (imp.dns_delay_ms + imp.dns_jitter_ms) / 1000 if imp else 0)
        return [DnsProbe(addr, zone, "SOA", rcode="NOERROR", timeout=wait) for zone in ctx.spec.zones]

    def validate(self, ctx: NodeContext) -> None:
        for zone in ctx.spec.zones:
            # the names this kind adds to every zone must be DNS names too
            for added in (ns_name(ctx.name, zone), f"hostmaster.{zone}."):
                if len(added) - 1 > MAX_NAME:
                    raise PlanError(("nodes", ctx.name, "zones", zone),
                                    f"zone name too long: {added[:40]}... (which the zone's SOA "
                                    f"and NS need) would be longer than {MAX_NAME} characters")
            zone_records(ctx, zone)
