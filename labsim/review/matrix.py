"""One network's share of a review: every endpoint x platform, then what the answers point
at (`--follow`), hop by hop, all from inside the lab while it is up.

Platforms whose model gives the same run for an endpoint (labsim.review.platforms) share
it; each cell still gets its own verdict and says which run it shares.
"""

from __future__ import annotations

import ipaddress
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from urllib.parse import urlsplit

from ..checks import CheckEnv
from ..checks.base import is_ipv4_literal
from ..checks.http import HttpCheck, run_http
from ..checks.result import CheckResult, ToolRun, tool_failure
from ..checks.websocket import SocketCheck, run_socket
from .follow import Follower, found_in_answer
from .platforms import Runner

WORKERS = 12
FOLLOW_MAX_S = 20.0  # following stops taking new hops after this long on one network


@dataclass
class Cell:
    """One endpoint x platform on this network: the check's result and how it got there."""

    result: CheckResult
    via: str  # native, nat64, synthesized, clat, or none (it did not get anywhere)
    shared_with: str | None = None  # the platform whose run this cell shares
    ms: float = 0.0
    clat_host: dict | None = None  # a CLAT platform: its client's CLAT state and prefix


@dataclass
class NetworkRun:
    cells: dict = field(default_factory=dict)  # Endpoint -> {platform: Cell}
    found: list = field(default_factory=list)  # Endpoints found by following, in order
    dropped: list[str] = field(default_factory=list)  # found, but beyond the bounds


def run_one(url: str, method: str, runner: Runner, env: CheckEnv, timeout: float) -> CheckResult:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        spec = HttpCheck.model_validate({"from": runner.node, "url": url, "method": method,
                                         "timeout": timeout, "synthesize": runner.synthesize})
        return run_http(spec, env)
    spec = SocketCheck.model_validate({"from": runner.node, "url": url, "timeout": timeout,
                                       "synthesize": runner.synthesize})
    return run_socket(spec, env)


def how_it_went(res: CheckResult, runner: Runner, prefix: IPv6Network | None) -> str:
    remote = getattr(res.facts, "remote_ip", None)
    if not remote:
        return "none"
    addr = ipaddress.ip_address(remote.split("%")[0])
    if addr.version == 4:
        return "clat" if runner.via == "clat" else "ipv4"
    synth = getattr(res.facts, "synthesized", None)
    if synth is not None and synth.address:
        return "synthesized"
    if prefix is not None and addr in prefix:
        return "nat64"
    return "native"


def clat_state(env: CheckEnv, node: str) -> dict | None:
    proc = env.runtime.exec(node, ["cat", f"{env.runtime.node_dir(node)}/learnt.json"], timeout=10)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or b"{}")
    return {"clat": data.get("clat"), "nat64_prefix": data.get("nat64_prefix"),
            "nat64_prefix_source": data.get("nat64_prefix_source")}


def review_network(env: CheckEnv, endpoints: list, runners: dict[str, Runner], timeout: float,
                   depth: int, prefix: IPv6Network | None, make_endpoint) -> NetworkRun:
    """`make_endpoint(url, method, found_in, depth)` builds what the caller keys cells by."""
    out = NetworkRun()
    clat = {r.node: clat_state(env, r.node) for r in runners.values() if r.via == "clat"}
    follower = Follower(depth, {e.url for e in endpoints})
    started = time.monotonic()
    todo, hop = list(endpoints), 0
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        while todo:
            jobs: dict[tuple, tuple] = {}  # (endpoint, run key) -> (endpoint, runner)
            for e in todo:
                literal = is_ipv4_literal(urlsplit(e.url).hostname or "")
                for r in runners.values():
                    jobs.setdefault((e, r.key(literal)), (e, r))
            futures = {k: pool.submit(_timed, run_one, e.url, e.method, r, env, timeout)
                       for k, (e, r) in jobs.items()}
            done = {k: f.result() for k, f in futures.items()}
            for e in todo:
                literal = is_ipv4_literal(urlsplit(e.url).hostname or "")
                row, first = {}, {}
                for platform, r in runners.items():
                    key = r.key(literal)
                    res, ms = done[(e, key)]
                    row[platform] = Cell(res, how_it_went(res, r, prefix), first.get(key), ms,
                                         clat.get(r.node) if r.via == "clat" else None)
                    first.setdefault(key, platform)
                out.cells[e] = row
            if hop >= depth or time.monotonic() - started > FOLLOW_MAX_S:
                break
            found = []
            for e in todo:
                for cell in out.cells[e].values():
                    if cell.shared_with is None and cell.result.check == "http":
                        found += [(f, e) for f in found_in_answer(e.url, cell.result.facts)]
            nxt = follower.next_hop([f for f, _ in found])
            src = {f.url: (f, e) for f, e in found}
            todo = [make_endpoint(f.url, _method_for(src[f.url][1].method, f.found_in), f.found_in, hop + 1)
                    for f in nxt]
            out.found += todo
            hop += 1
    out.dropped = follower.dropped
    return out


def _method_for(method: str, found_in: str) -> str:
    # a 307/308 keeps the method: an unsafe one is replayed as OPTIONS, never sent
    if found_in.startswith(("redirect (307)", "redirect (308)")):
        return method if method in ("GET", "HEAD", "OPTIONS") else "OPTIONS"
    return "GET"


def _timed(fn, *args) -> tuple[CheckResult, float]:
    t0 = time.perf_counter()
    try:
        res = fn(*args)
    except (RuntimeError, ValueError, OSError) as exc:  # could not produce a result: a failure
        check = "http" if args[0].lower().startswith(("http://", "https://")) else "socket"
        res = tool_failure(check, args[2].node, args[0], ToolRun(tool="labsim", problem=str(exc)))
    return res, (time.perf_counter() - t0) * 1000
