"""App-review replay: every endpoint, on the two networks app review uses.

    dns64-nat64   IPv6-only client, a DNS64 resolver and NAT64 (the lab as written)
    ipv6-only     the same lab with no translation at all: the resolver synthesizes nothing
                  and the NAT64 node translates nothing (every address stays the same)

Each endpoint gets a verdict per network and client platform (labsim.review.platforms):
PASS, WARN (it works, with something an IPv6-only user will trip on) or FAIL, with the
reason code and the raw facts behind it. The per-network work (platforms, --follow) is
labsim.review.matrix; what the review is asked to do is one ReviewOptions
(labsim.review.options).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from labsim.checks import CheckEnv
from labsim.checks.http import HttpCheck
from labsim.checks.reasons import Reason
from labsim.checks.result import AnyResult, CheckResult, dump
from labsim.errors import InputError
from labsim.loader import LoadedLab, plan_lab
from labsim.outputs import give_to_directory_owner, make_dirs
from labsim.review.at_once import each_at_once, open_sessions
from labsim.review.follow import LeftOut, Skipped, TargetGuard
from labsim.review.inputs import Endpoint, endpoints_from, parse_resolve  # noqa: F401 - the CLI's imports
from labsim.review.options import BODY_REPORT_BYTES, NETWORKS, ReviewOptions  # noqa: F401 - NETWORKS: read from here too
from labsim.scenario.capture import Capture, StepCapture, say_unavailable
from labsim.scenario.capture import unavailable as capture_unavailable
from labsim.scenario.expect import status_of
from labsim.scenario.load import lab_name_for
from labsim.scenario.model import HttpParams

if TYPE_CHECKING:
    Result = CheckResult  # what mypy can check; every result class is one
else:
    Result = AnyResult  # what the JSON report dumps: each result class with all its facts


@dataclass
class Verdict:
    network: str
    verdict: Literal["PASS", "WARN", "FAIL"]
    reason: Reason | None
    result: Result  # an HttpResult for http(s) endpoints, socket for ws, wss and tcp
    translated: bool = False  # reached through the NAT64 prefix (by DNS64, synthesis or a CLAT)
    platform: str = "linux"
    via: str = ""  # native, nat64, synthesized, clat, ipv4, none (labsim.review.matrix)
    shared_with: str | None = None  # the platform whose run this cell shares
    ms: float = 0.0  # the check's wall time
    clat_host: dict[str, Any] | None = None  # a CLAT platform: the client's CLAT and prefix
    note: str | None = None  # what `via` alone does not say (an A-only name through a CLAT)
    hint: str | None = field(init=False, default=None)  # what to do about `reason` (on this platform)
    captures: list[Capture] = field(default_factory=list)  # the network's pcaps (FAIL verdicts)

    def __post_init__(self) -> None:
        self.hint = self.reason.hint if self.reason else None


@dataclass
class EndpointReport:
    """One endpoint in `review --json`: its verdict on each network and platform, and where
    --follow found it (None: it was given)."""

    url: str
    method: str
    found_in: str | None
    depth: int
    networks: dict[str, dict[str, Verdict]]
    skipped: Skipped | None = None  # --follow with an uplink: found, not fetched, and why
    left_out: LeftOut | None = None  # --follow: found, not fetched, the bound that kept it out


@dataclass
class EndpointReview:
    endpoint: Endpoint
    verdicts: dict[str, dict[str, Verdict]] = field(default_factory=dict)  # network -> platform ->
    skipped: Skipped | None = None  # not fetched (no verdicts): see labsim.review.follow
    left_out: LeftOut | None = None  # not fetched: a bound of --follow kept it out

    def report(self) -> EndpointReport:
        e = self.endpoint
        return EndpointReport(e.url, e.method, e.found_in, e.depth, self.verdicts, self.skipped, self.left_out)

    def to_dict(self, full_bodies: bool = False) -> dict:
        """The endpoint as `review --json` writes it. A body a server sent is cut to its first
        BODY_REPORT_BYTES (the verdict was made on what the check kept, before this), its
        length and the cut recorded, unless `full_bodies`."""
        out = dump(self.report())
        if not full_bodies:
            for row in out["networks"].values():
                for v in row.values():
                    truncate_body(v["result"]["facts"])
        return out

    def cells(self) -> list[Verdict]:
        return [v for row in self.verdicts.values() for v in row.values()]


def truncate_body(facts: dict, keep: int = BODY_REPORT_BYTES) -> None:
    for key in ("body", "banner"):
        text = facts.get(key)
        if not isinstance(text, str):
            continue
        raw = text.encode("utf-8", "surrogatepass")  # a JSON "\\ud800" from a server decodes to one
        if len(raw) <= keep:
            continue
        facts[key] = raw[:keep].decode(errors="ignore")  # never half a character
        facts[f"{key}_bytes"] = len(raw)  # what the check kept (curl's bytes_received: all of it)
        facts[f"{key}_truncated"] = True
        if key == "body":
            facts["json"] = None  # the parsed body would carry it all again


# -- endpoints ------------------------------------------------------------------------------
def lab_endpoints(loaded: LoadedLab) -> list[Endpoint]:
    """Every name the lab's services publish: http(s)://name/, their fixed paths, and a
    backend's raw TCP service (tcp://name:port)."""
    out = []
    for spec in loaded.topology.nodes.values():
        if spec.kind not in ("backend", "cdn", "proxy"):
            continue
        for name in spec.names:
            schemes = [s for s, port in (("http", getattr(spec, "http_port", 80)),
                                         ("https", getattr(spec, "https_port", 443))) if port]
            for scheme in schemes:
                out.append(Endpoint(f"{scheme}://{name}/"))
            for path in getattr(spec, "responses", {}):
                out.append(Endpoint(f"http://{name}{path}"))
            tcp_port = getattr(spec, "tcp_port", None)
            if tcp_port:
                out.append(Endpoint(f"tcp://{name}:{tcp_port}"))
    return out


# -- networks -------------------------------------------------------------------------------
def review_labs(loaded: LoadedLab, opts: ReviewOptions, client: str | None = None,
                pref64: bool = False) -> dict[str, LoadedLab]:
    """The lab as written (must have DNS64 and NAT64) and its no-translation twin.
    `opts.uplink`: the NAT64 node reaches the outside through user-mode networking;
    `opts.resolve`: extra names (name -> address) served by the lab's authoritative server;
    `opts.platforms` that run a CLAT get a sibling of `client` with one
    (labsim.review.platforms)."""
    from labsim.kinds.authdns import Schema as AuthSchema
    from labsim.kinds.client import ClatSpec
    from labsim.kinds.client import Schema as ClientSchema
    from labsim.review.platforms import clat_siblings

    uplink, resolve, platforms = opts.uplink, opts.resolve, opts.platforms
    topo = loaded.topology
    kinds = {spec.kind for spec in topo.nodes.values()}
    if not {"dns64", "nat64", "authdns"} <= kinds:
        raise InputError("review needs a topology with dns64, nat64 and authdns nodes", file=loaded.path)
    translated, plain = {}, {}
    auth = next(n for n, spec in topo.nodes.items() if spec.kind == "authdns")
    for name, spec in topo.nodes.items():
        if spec.kind == "nat64" and uplink:
            spec = spec.model_copy(update={"uplink": True})
        if name == auth and resolve and isinstance(spec, AuthSchema):
            spec = spec.model_copy(update={"zones": {**spec.zones, **_resolve_zones(resolve)}})
        translated[name] = spec
        if spec.kind == "dns64":
            spec = spec.model_copy(update={"synthesize": False})
        elif spec.kind == "nat64":
            spec = spec.model_copy(update={"translate": False})
        elif (ra := getattr(spec, "ra", None)) is not None and ra.pref64 is not None:
            # no translation means no NAT64 prefix either: a PREF64 would start the CLATs
            spec = spec.model_copy(update={"ra": ra.model_copy(update={"pref64": None})})
        plain[name] = spec
    for name, clat in (clat_siblings(platforms, client, pref64, frozenset(topo.nodes)) if client else {}).items():
        assert client is not None  # siblings only come with a client
        spec = topo.nodes[client]
        if not isinstance(spec, ClientSchema):
            raise InputError(f"--client {client!r} is a {spec.kind} node: the android and macos platforms "
                             "need a client node (or give --platform linux,ios)", file=loaded.path)
        links = [link.model_copy(update={"ipv6": None, "ipv4": None}) for link in spec.links]
        # a phone or a Mac listens to router advertisements whatever the client was written
        # as: SLAAC where a router advertises a prefix, RDNSS where one advertises resolvers
        ra = sibling_ra(topo, {link.network for link in spec.links})
        update = {"links": links, "slaac": spec.slaac or ra["slaac"],
                  "resolver_from_ra": spec.resolver_from_ra or ra["rdnss"]}
        # never wait for the CLAT: a sibling that learns no prefix gets CLAT_DOWN (or
        # NO_NAT64_PREFIX) in its cells, not a review that cannot start
        translated[name] = spec.model_copy(update={**update, "clat": ClatSpec(**clat, wait=False)})
        plain[name] = spec.model_copy(update={**update, "clat": ClatSpec(**clat, wait=False)})
    base = lab_name_for("review")
    a = plan_lab(topo.model_copy(update={"name": base + "a", "nodes": translated}), loaded.source, loaded.path)
    b = plan_lab(topo.model_copy(update={"name": base + "b", "nodes": plain}), loaded.source, loaded.path)
    return {"dns64-nat64": a, "ipv6-only": b}


def sibling_ra(topology, client_networks: set[str]) -> dict[str, bool]:
    """What a host that listens to router advertisements learns on these networks: a SLAAC
    address and default route (a router advertising an autonomous prefix with a nonzero
    router lifetime), resolvers (a router advertising RDNSS)."""
    out = {"slaac": False, "rdnss": False}
    for spec in topology.nodes.values():
        ra = getattr(spec, "ra", None)
        if ra is None:
            continue
        nets = set(ra.networks) if ra.networks is not None else {link.network for link in spec.links}
        if not nets & client_networks:
            continue
        out["slaac"] |= bool(ra.slaac and ra.router_lifetime > 0)
        out["rdnss"] |= bool(ra.rdnss)
    return out


def _resolve_zones(resolve: Mapping[str, str]) -> dict:
    from labsim.kinds.authdns import Zone

    zones: dict[str, dict] = {}
    for name, addr in resolve.items():
        rtype = "AAAA" if ":" in addr else "A"
        zones.setdefault(name, {}).setdefault(rtype, []).append(addr)
    return {name: Zone(ttl=5, records={"@": rrs}) for name, rrs in zones.items()}


def pick_client(loaded: LoadedLab, wanted: str | None) -> str:
    plan = loaded.plan
    if wanted:
        if wanted not in plan.nodes:
            raise InputError(f"--client {wanted!r}: no such node; nodes: {', '.join(plan.nodes)}")
        return wanted
    for name, node in plan.nodes.items():
        if node.kind == "client" and node.addresses(6) and not node.addresses(4):
            return name
    raise InputError("the topology has no IPv6-only client node (give --client)", file=loaded.path)


# -- verdicts -------------------------------------------------------------------------------
def verdict_of(r: CheckResult) -> tuple[Literal["PASS", "WARN", "FAIL"], Reason | None]:
    if not r.ok:
        return "FAIL", r.reason or Reason.UNKNOWN
    status = status_of(r) or 0
    if status >= 500:
        return "FAIL", Reason.HTTP_STATUS
    if status >= 400:
        return "WARN", Reason.HTTP_STATUS
    if r.warnings:
        return "WARN", r.warnings[0]
    return "PASS", None


def run_review(loaded: LoadedLab, endpoints: list[Endpoint], opts: ReviewOptions | None = None,
               progress: Callable[[str], None] | None = None) -> list[EndpointReview]:
    """Every endpoint x network x platform; with `opts.follow`, what the answers point at too
    (labsim.review.matrix). Both networks' labs are up at once; what following found on one
    network is reviewed on the other too. With `opts.capture` (failed, all), one capture per
    network while its endpoints run (in parallel): in the client (and its CLAT siblings) and
    the NAT64 nodes, kept when a verdict there FAILs. With `opts.uplink`, what following found
    that leads into this host's or the user's own network is not fetched: it comes last, as
    an EndpointReview with `skipped` and no verdicts."""
    from labsim.review.follow import Found
    from labsim.review.matrix import CLAT_SETTLE_S, review_network
    from labsim.review.platforms import advertises_pref64, runners

    o = opts or ReviewOptions()
    timeout, follow, capture = o.timeout, o.follow, o.capture
    say = progress or (lambda m: None)
    who = pick_client(loaded, o.client)
    review_checks(who, endpoints, timeout)  # before any lab: a bad URL is an input error
    topo = loaded.topology
    pref64 = advertises_pref64(topo, {link.network for link in topo.nodes[who].links})
    labs = {n: lab for n, lab in review_labs(loaded, o, who, pref64).items()
            if n in o.networks}
    run = runners(o.platforms, who, pref64, frozenset(topo.nodes))
    reviews = {e: EndpointReview(e) for e in endpoints}
    prefix = topo.nat64_prefix
    make = lambda url, method, found_in, depth: Endpoint(url, method, found_in, depth)  # noqa: E731
    got: dict = {}
    capture_dir = captures_dir(o) if capture != "none" else None
    caps: dict[str, StepCapture] = {}
    kept: dict[str, list[Capture]] = {}
    with ExitStack() as sessions:  # every lab down at the end, on every exit path
        say(f"bringing up {', '.join(labs)}")
        envs = {net: s.env for net, s in open_sessions(labs, o.runtime, sessions).items()}
        guards = {net: follow_guard(loaded, env, who, timeout) for net, env in envs.items()} if o.uplink else {}
        try:
            why = capture_unavailable() if capture != "none" else None
            if why:
                say_unavailable(why)
            if capture != "none" and not why:
                for net, lab in labs.items():
                    nodes = list(dict.fromkeys([who, *(r.node for r in run.values()),
                                                *(n for n, p in lab.plan.nodes.items() if p.kind == "nat64")]))
                    assert capture_dir is not None
                    caps[net] = StepCapture(envs[net].runtime, nodes, capture_dir / lab.plan.lab, net)
                each_at_once(caps, lambda net, cap: cap.start())
            say(f"{len(endpoints)} endpoints x {len(o.platforms)} platforms x {len(labs)} networks")
            with ThreadPoolExecutor(max_workers=len(labs)) as pool:
                futs = {net: pool.submit(review_network, env, list(endpoints), run, timeout, follow, prefix, make,
                                         guards.get(net), CLAT_SETTLE_S if net == "dns64-nat64" else 0.0)
                        for net, env in envs.items()}
                got = {net: f.result() for net, f in futs.items()}
            found = list(dict.fromkeys(e for g in got.values() for e in g.found))
            for net, g in got.items():
                missing = [e for e in found if e not in g.cells]
                if net in guards:  # found on the other network: held to this one's lab DNS too
                    checked = {e: guards[net].check(Found(e.url, e.found_in or "")) for e in missing}
                    g.skipped += [s for s in checked.values() if s is not None]
                    missing = [e for e, s in checked.items() if s is None]
                if missing:
                    g.cells.update(review_network(envs[net], missing, run, timeout, 0, prefix, make).cells)
        finally:
            def stop(net: str, cap: StepCapture) -> list[Capture]:
                cells = [c for row in got[net].cells.values() for c in row.values()] if net in got else None
                failed = cells is None or any(verdict_of(c.result)[0] == "FAIL" for c in cells)
                return cap.stop(keep=capture == "all" or failed)

            kept.update(each_at_once(caps, stop))
            for net in caps:
                if capture_dir is not None and kept[net]:
                    # the user's, like the directory they were put in (the capture made its
                    # own subdirectory its capture user's, for tcpdump to write into)
                    give_to_directory_owner(capture_dir / labs[net].plan.lab, top=capture_dir)
            say("tearing down")
    served = lab_zones(loaded, o)
    for net in labs:
        for e, row in got[net].cells.items():
            rev = reviews.setdefault(e, EndpointReview(e))
            rev.verdicts[net] = {}
            for platform, cell in row.items():
                verdict, reason = verdict_of(cell.result)
                if verdict == "FAIL" and not o.uplink and not_in_lab(e.url, served):
                    reason = Reason.NOT_IN_LAB
                literal = literal_cell(got[net].cells, cell.result, platform)
                verdict, hint = platform_verdict(verdict, reason, run[platform].via, cell.literals, literal, platform)
                v = rev.verdicts[net][platform] = Verdict(
                    net, verdict, reason, cell.result, cell.via in ("nat64", "synthesized", "clat"),
                    platform, cell.via, cell.shared_with, cell.ms, cell.clat_host, cell.note)
                v.hint = hint or v.hint
                v.captures = kept.get(net, []) if v.verdict == "FAIL" or capture == "all" else []
    skipped = {s.url: s for net in labs for s in got[net].skipped if Endpoint(s.url) not in reviews}
    left = {lo.url: lo for net in labs for lo in got[net].left_out
            if Endpoint(lo.url) not in reviews and lo.url not in skipped}
    return list(reviews.values()) + [EndpointReview(Endpoint(s.url, "GET", s.found_in, 0), skipped=s)
                                     for s in skipped.values()] \
        + [EndpointReview(Endpoint(lo.url, "GET", lo.found_in, 0), left_out=lo) for lo in left.values()]


# -- per platform ---------------------------------------------------------------------------
LITERAL_REASONS = (Reason.REDIRECT_TO_IPV4_LITERAL, Reason.IPV4_LITERAL_IN_BODY)
REACHED_BY = {"synthesize": "synthesizes an IPv6 address from the NAT64 prefix it discovers (RFC 7050)",
              "clat": "carries it through its CLAT (464XLAT)"}


def literal_cell(cells: dict, res: CheckResult, platform: str) -> str | None:
    """The verdict this platform got on the redirect's literal Location itself, when
    --follow reviewed it on this network (None: not reviewed)."""
    from urllib.parse import urljoin

    from labsim.review.urls import normalise

    location = getattr(res.facts, "location", None)
    if res.reason != Reason.REDIRECT_TO_IPV4_LITERAL or not location:
        return None
    target = normalise(urljoin(res.target, location))
    for e, row in cells.items():
        if normalise(e.url) == target and platform in row:
            return verdict_of(row[platform].result)[0]
    return None


def platform_verdict(verdict: str, reason: Reason | None, runner: str, reaches: bool | None,
                     literal: str | None, platform: str) -> tuple[Literal["PASS", "WARN", "FAIL"], str | None]:
    """One model per platform for an IPv4 literal an answer hands out (a redirect to one, one
    in a body): where the platform reaches literals on this network (`reaches`: synthesis
    or a CLAT that is up) it is at most WARN, with the hint for that platform; it FAILs only
    where the literal itself fails (`literal`: its own verdict when --follow reviewed it).
    `runner`: how the platform handles a literal (plain, synthesize, clat)."""
    v: Literal["PASS", "WARN", "FAIL"] = "FAIL" if verdict == "FAIL" else "WARN" if verdict == "WARN" else "PASS"
    if reason not in LITERAL_REASONS:
        return v, None
    how = REACHED_BY.get(runner)
    if reaches and literal != "FAIL" and how:
        fix = "redirect to" if reason == Reason.REDIRECT_TO_IPV4_LITERAL else "return"
        return "WARN", (f"{platform} {how}, so this works here; Linux hosts, AF_INET sockets and "
                        f"AI_NUMERICHOST code do not: {fix} a name")
    if reason == Reason.REDIRECT_TO_IPV4_LITERAL:
        v = "FAIL"
    return v, None


# -- names the lab serves -------------------------------------------------------------------
def lab_zones(loaded: LoadedLab, opts: ReviewOptions) -> tuple[str, ...]:
    """Every zone the lab's authoritative servers serve, and the names --resolve adds."""
    out = [str(z).rstrip(".").lower() for spec in loaded.topology.nodes.values()
           if spec.kind == "authdns" for z in getattr(spec, "zones", {})]
    out += [n.rstrip(".").lower() for n in opts.resolve]
    return tuple(out)


def not_in_lab(url: str, served: tuple[str, ...]) -> bool:
    """A name under no zone the lab serves: without an uplink, nothing in the lab answers
    for it and nothing leads out (an address literal is not a name)."""
    from urllib.parse import urlsplit

    from labsim.review.urls import literal_address

    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if not host or literal_address(host) is not None:
        return False
    return not any(host == z or host.endswith("." + z) or z == "" for z in served)


def captures_dir(o: ReviewOptions) -> Path:
    """Where this review's pcaps go: `o.capture_dir`, else a new temporary directory (never
    the current directory by default). Made as the user's (labsim.outputs)."""
    import tempfile

    if o.capture_dir is None:
        return Path(tempfile.mkdtemp(prefix="labsim-captures-"))
    return make_dirs(o.capture_dir.resolve())


def follow_guard(loaded: LoadedLab, env: CheckEnv, client: str, timeout: float = 5.0) -> TargetGuard:
    """What --follow may fetch through the uplink: the lab's own prefixes are in the lab (its
    routes keep them there); names are looked up from `client`, with the lab's resolver."""
    from ipaddress import IPv6Network

    from labsim.kinds.nat64 import Schema as Nat64Schema
    from labsim.review.matrix import lab_lookup

    topo = loaded.topology
    own = [p for net in topo.networks.values() for p in (net.ipv4, net.ipv6) if p is not None]
    nat64: list[IPv6Network] = [topo.nat64_prefix] if topo.nat64_prefix else []
    for spec in topo.nodes.values():
        if isinstance(spec, Nat64Schema):
            own.append(spec.pool4)
            if spec.prefix is not None:
                nat64.append(spec.prefix)
    return TargetGuard(tuple(own), tuple(nat64), lab_lookup(env, client, min(timeout, 5.0)))


def review_checks(node: str, endpoints: list[Endpoint], timeout: float) -> list[HttpCheck]:
    """The http check for each http(s) endpoint; one curl could misread is refused by name
    (ws, wss and tcp endpoints were checked when read: scenario/review_urls.py)."""
    out = []
    for e in endpoints:
        if e.url.lower().startswith(("ws://", "wss://", "tcp://")):
            continue
        raw = {"from": node, "url": e.url, "method": e.method, "timeout": timeout}
        try:
            HttpParams.model_validate(raw)  # the types a scenario's http step gets
            out.append(HttpCheck.model_validate(raw))
        except ValidationError as exc:
            why = "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
            raise InputError(f"{e.method} {e.url!r}: {why}") from None
    return out


def judge(network: str, res: CheckResult, prefix, platform: str = "linux") -> Verdict:
    """An endpoint's verdict on one network for one platform; `translated` when it was
    reached inside the NAT64 prefix."""
    import ipaddress

    verdict, reason = verdict_of(res)
    remote = getattr(res.facts, "remote_ip", None)
    translated = bool(prefix and remote and ipaddress.ip_address(remote) in prefix)
    return Verdict(network, verdict, reason, res, translated, platform,
                   "nat64" if translated else "native" if remote else "none")
