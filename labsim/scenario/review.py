"""App-review replay: every endpoint, on the two networks app review uses.

    dns64-nat64   IPv6-only client, a DNS64 resolver and NAT64 (the lab as written)
    ipv6-only     the same lab with no translation at all: the resolver synthesizes nothing
                  and the NAT64 node translates nothing (every address stays the same)

Each endpoint gets a verdict per network: PASS, WARN (it works, with something an IPv6-only
user will trip on) or FAIL, with the reason code and the raw facts behind it.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Literal

from pydantic import ValidationError

from .. import lab as labmod
from ..checks import CheckEnv
from ..checks.http import HttpCheck, run_http
from ..checks.reasons import Reason
from ..checks.result import AnyResult, CheckResult, dump
from ..errors import InputError
from ..lab import make_runtime
from ..loader import LoadedLab, plan_lab
from ..runtime.state import LabState
from .capture import Capture, StepCapture
from .expect import remote_ip_of, status_of
from .load import lab_name_for
from .model import HttpParams
from .review_inputs import Endpoint, endpoints_from, parse_resolve  # noqa: F401 - the CLI's imports

NETWORKS = ("dns64-nat64", "ipv6-only")


@dataclass
class Verdict:
    network: str
    verdict: Literal["PASS", "WARN", "FAIL"]
    reason: Reason | None
    result: AnyResult  # http today; a ws or tcp endpoint gets its own check's result
    translated: bool = False  # reached through the NAT64 prefix
    hint: str | None = field(init=False, default=None)  # what to do about `reason`
    captures: list[Capture] = field(default_factory=list)  # the network's pcaps (FAIL verdicts)

    def __post_init__(self) -> None:
        self.hint = self.reason.hint if self.reason else None


@dataclass
class EndpointReport:
    """One endpoint in `review --json`: its verdict on each network."""

    url: str
    method: str
    networks: dict[str, Verdict]


@dataclass
class EndpointReview:
    endpoint: Endpoint
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def report(self) -> EndpointReport:
        return EndpointReport(self.endpoint.url, self.endpoint.method, self.verdicts)

    def to_dict(self) -> dict:
        return dump(self.report())


# -- endpoints ------------------------------------------------------------------------------
def lab_endpoints(loaded: LoadedLab) -> list[Endpoint]:
    """Every name the lab's services publish: http(s)://name/ and their fixed paths."""
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
    return out


# -- networks -------------------------------------------------------------------------------
def review_labs(loaded: LoadedLab, uplink: bool = False,
                resolve: dict[str, str] | None = None) -> dict[str, LoadedLab]:
    """The lab as written (must have DNS64 and NAT64) and its no-translation twin.
    `uplink`: the NAT64 node reaches the outside through user-mode networking; `resolve`:
    extra names (name -> address) served by the lab's authoritative server."""
    topo = loaded.topology
    kinds = {spec.kind for spec in topo.nodes.values()}
    if not {"dns64", "nat64", "authdns"} <= kinds:
        raise InputError("review needs a topology with dns64, nat64 and authdns nodes", file=loaded.path)
    translated, plain = {}, {}
    auth = next(n for n, spec in topo.nodes.items() if spec.kind == "authdns")
    for name, spec in topo.nodes.items():
        if spec.kind == "nat64" and uplink:
            spec = spec.model_copy(update={"uplink": True})
        if name == auth and resolve:
            spec = spec.model_copy(update={"zones": {**spec.zones, **_resolve_zones(resolve)}})
        translated[name] = spec
        if spec.kind == "dns64":
            spec = spec.model_copy(update={"synthesize": False})
        elif spec.kind == "nat64":
            spec = spec.model_copy(update={"translate": False})
        plain[name] = spec
    base = lab_name_for("review")
    a = plan_lab(topo.model_copy(update={"name": base + "a", "nodes": translated}), loaded.source, loaded.path)
    b = plan_lab(topo.model_copy(update={"name": base + "b", "nodes": plain}), loaded.source, loaded.path)
    return {"dns64-nat64": a, "ipv6-only": b}


def _resolve_zones(resolve: dict[str, str]) -> dict:
    from ..kinds.authdns import Zone

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


def run_review(loaded: LoadedLab, endpoints: list[Endpoint], client: str | None = None,
               networks: tuple[str, ...] = NETWORKS, timeout: float = 5.0,
               progress: Callable[[str], None] | None = None, uplink: bool = False,
               resolve: dict[str, str] | None = None, capture: str = "none",
               capture_dir: Path | None = None) -> list[EndpointReview]:
    """With `capture` (failed, all), one capture per network while its endpoints run (they
    run in parallel): in the client and the NAT64 nodes, kept when a verdict there FAILs."""
    say = progress or (lambda m: None)
    labs = {n: lab for n, lab in review_labs(loaded, uplink, resolve).items() if n in networks}
    who = pick_client(loaded, client)
    reviews = [EndpointReview(e) for e in endpoints]
    prefix = loaded.topology.nat64_prefix
    checks = review_checks(who, endpoints, timeout)  # before any lab: a bad URL is an input error
    for net, lab in labs.items():
        say(f"{net}: bringing up the lab")
        labmod.up(lab, ephemeral=True)
        kept: list[Capture] = []
        try:
            env = CheckEnv(make_runtime(LabState.load(lab.plan.lab)), _python())
            cap = None
            if capture != "none":
                nodes = [who, *(n for n, p in lab.plan.nodes.items() if p.kind == "nat64" and n != who)]
                cap = StepCapture(env.runtime, nodes, (capture_dir or Path("labsim-captures")).resolve()
                                  / lab.plan.lab, net)
                cap.start()
            say(f"{net}: {len(endpoints)} endpoints from {who}")
            results = None
            try:
                with ThreadPoolExecutor(max_workers=4) as pool:
                    results = list(pool.map(lambda c: run_http(c, env), checks))
            finally:
                if cap is not None:
                    failed = results is None or any(verdict_of(r)[0] == "FAIL" for r in results)
                    kept = cap.stop(keep=capture == "all" or failed)
        finally:
            say(f"{net}: tearing down")
            labmod.down(lab.plan.lab)
        for rev, res in zip(reviews, results):
            v = rev.verdicts[net] = judge(net, res, prefix)
            v.captures = kept if v.verdict == "FAIL" or capture == "all" else []
    return reviews


def review_checks(node: str, endpoints: list[Endpoint], timeout: float) -> list[HttpCheck]:
    """The http check for each endpoint; one curl could misread is refused by name."""
    out = []
    for e in endpoints:
        raw = {"from": node, "url": e.url, "method": e.method, "timeout": timeout}
        try:
            HttpParams.model_validate(raw)  # the types a scenario's http step gets
            out.append(HttpCheck.model_validate(raw))
        except ValidationError as exc:
            why = "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
            raise InputError(f"{e.method} {e.url!r}: {why}") from None
    return out


def judge(network: str, res: CheckResult, prefix) -> Verdict:
    """An endpoint's verdict on one network; `translated` when it was reached inside the
    NAT64 prefix."""
    verdict, reason = verdict_of(res)
    remote = remote_ip_of(res)
    translated = bool(prefix and remote and ipaddress.ip_address(remote) in prefix)
    return Verdict(network, verdict, reason, res, translated)


def _python() -> str:
    import sys

    return sys.executable
