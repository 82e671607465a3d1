"""One network's share of a review: every endpoint x platform, then what the answers point
at (`--follow`), hop by hop, all from inside the lab while it is up.

Platforms whose model gives the same run for an endpoint (labsim.review.platforms) share
it; each cell still gets its own verdict and says which run it shares.
"""

from __future__ import annotations

import ipaddress
import json
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from urllib.parse import urlsplit

from labsim.checks import CheckEnv
from labsim.checks.base import is_ipv4_literal
from labsim.checks.http import HttpCheck, run_http
from labsim.checks.reasons import Reason
from labsim.checks.result import CheckResult, ToolRun, tool_failure
from labsim.checks.websocket import SocketCheck, run_socket
from labsim.review.follow import Follower, LeftOut, Skipped, TargetGuard, found_in_answer
from labsim.review.platforms import Runner

WORKERS = 12
FOLLOW_MAX_S = 20.0  # following stops taking new hops after this long on one network
# a CLAT sibling is ready before its CLAT is up (clat.wait false: a network may have no
# NAT64 prefix); on a network that has one, the run waits this long for the CLAT first
CLAT_SETTLE_S = 15.0
# a documentation address (RFC 5737): what "does this platform reach an IPv4 literal" asks
PROBE_LITERAL = "192.0.2.1"


@dataclass
class Cell:
    """One endpoint x platform on this network: the check's result and how it got there."""

    result: CheckResult
    via: str  # native, nat64, synthesized, clat, or none (it did not get anywhere)
    shared_with: str | None = None  # the platform whose run this cell shares
    ms: float = 0.0
    clat_host: dict | None = None  # a CLAT platform: its client's CLAT state and prefix
    # does this platform reach an IPv4 literal on this network (synthesis with a discovered
    # prefix, a CLAT that is up)? None: not asked (no literal in this answer)
    literals: bool | None = None
    note: str | None = None  # what the via alone does not say (a CLAT carrying a name)


@dataclass
class NetworkRun:
    cells: dict = field(default_factory=dict)  # Endpoint -> {platform: Cell}
    found: list = field(default_factory=list)  # Endpoints found by following, in order
    left_out: list[LeftOut] = field(default_factory=list)  # found, but beyond a bound (which)
    skipped: list[Skipped] = field(default_factory=list)  # found, but not to be fetched (uplink)

    @property
    def dropped(self) -> list[str]:
        return [lo.url for lo in self.left_out]


def run_one(url: str, method: str, runner: Runner, env: CheckEnv, timeout: float) -> CheckResult:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        http = HttpCheck.model_validate({"from": runner.node, "url": url, "method": method,
                                         "timeout": timeout, "synthesize": runner.synthesize})
        return run_http(http, env)
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


def clat_up(state: dict | None) -> bool:
    return bool(state and (state.get("clat") or {}).get("state") == "up")


def settle_clats(env: CheckEnv, nodes: list[str], wait_s: float) -> dict[str, dict | None]:
    """Each CLAT node's state, after waiting (at most `wait_s`, bounded polling) for every
    one of them to be up."""
    deadline = time.monotonic() + wait_s
    while True:
        states = {n: clat_state(env, n) for n in nodes}
        if all(clat_up(s) for s in states.values()) or time.monotonic() >= deadline:
            return states
        time.sleep(0.5)


def clat_down(res: CheckResult, state: dict | None) -> None:
    """An IPv4 literal that failed on a CLAT platform whose CLAT is not up: CLAT_DOWN, with
    what the host learnt (curl's own reason is a timeout or unreachable that hides it)."""
    clat = (state or {}).get("clat") or {}
    prefix = (state or {}).get("nat64_prefix")
    res.reason = Reason.CLAT_DOWN
    res.detail = (f"the CLAT is {clat.get('state') or 'not running'}: "
                  + (f"NAT64 prefix {prefix} ({(state or {}).get('nat64_prefix_source')})" if prefix
                     else "no NAT64 prefix known (no PREF64 it honours, no RFC 7050 answer)")
                  + (f"; {res.detail}" if res.detail else ""))


def reaches_literals(env: CheckEnv, runner: Runner, state: dict | None, timeout: float) -> bool:
    """Does this platform reach an IPv4 literal on this network: a CLAT that is up, or
    synthesis from a prefix the client's resolver gives (RFC 7050)."""
    if runner.via == "clat":
        return clat_up(state)
    if runner.via != "synthesize":
        return False
    from labsim.checks.synth import AgentSynth

    try:
        out = env.agent(runner.node, AgentSynth, "synthesize", PROBE_LITERAL, timeout=timeout + 30)
    except (RuntimeError, ValueError, OSError):
        return False
    return out.get("address") is not None


def lab_lookup(env: CheckEnv, node: str, timeout: float = 2.0):
    """A name's addresses (AAAA and A) from `node`'s first nameserver, the lab's own resolver
    (DNS64 included), as TargetGuard wants them: (addresses, "") or (None, why not)."""
    import dns.rcode
    import dns.rdatatype

    from labsim.checks.base import ToolFailed, query

    def lookup(name: str) -> tuple[list[str] | None, str]:
        servers = env.nameservers(node)
        if not servers:
            return None, f"no nameserver in {node}"
        out: list[str] = []
        for rdtype in ("AAAA", "A"):
            try:
                r, _, error = query(env, node, servers[0], name, rdtype, timeout)
            except (ValueError, ToolFailed) as exc:
                return None, str(exc)
            if r is None:
                return None, error or "no answer"
            if r.rcode() == dns.rcode.NXDOMAIN:
                return out, ""  # no such name: nothing to connect to
            if r.rcode() != dns.rcode.NOERROR:
                return None, dns.rcode.to_text(r.rcode())
            want = dns.rdatatype.from_text(rdtype)
            out += [rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset]
        return out, ""
    return lookup


def review_network(env: CheckEnv, endpoints: list, runners: dict[str, Runner], timeout: float,
                   depth: int, prefix: IPv6Network | None, make_endpoint,
                   guard: TargetGuard | None = None, clat_settle_s: float = 0.0) -> NetworkRun:
    """`make_endpoint(url, method, found_in, depth)` builds what the caller keys cells by;
    `guard` (with an uplink): what following found and must not fetch is skipped, with why;
    `clat_settle_s`: how long to wait for the CLAT siblings' CLATs first (a network with a
    NAT64 prefix to learn).

    Pipelined: an endpoint found in an answer is submitted as soon as that answer is in, not
    after the whole hop, so a review takes about as long as its longest chain."""
    out = NetworkRun()
    clat_nodes = list(dict.fromkeys(r.node for r in runners.values() if r.via == "clat"))
    clat = settle_clats(env, clat_nodes, clat_settle_s) if clat_nodes else {}
    follower = Follower(depth, {e.url for e in endpoints})
    started = time.monotonic()
    order: list = []
    jobs: dict[tuple, Future] = {}  # (endpoint, run key) -> its run
    waiting: dict[Future, tuple] = {}

    def submit(e) -> None:
        order.append(e)
        literal = is_ipv4_literal(urlsplit(e.url).hostname or "")
        for r in runners.values():
            key = (e, r.key(literal))
            if key not in jobs:
                jobs[key] = pool.submit(_timed, run_one, e.url, e.method, r, env, timeout)
                waiting[jobs[key]] = (e, r)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for e in endpoints:
            submit(e)
        while waiting:
            done, _ = wait(list(waiting), return_when=FIRST_COMPLETED)
            for fut in done:
                e, r = waiting.pop(fut)
                res, _ = fut.result()
                if depth == 0 or res.check != "http":
                    continue
                found = found_in_answer(e.url, res.facts)
                if e.depth >= depth:
                    follower.leave_out(found, "depth")
                    continue
                if time.monotonic() - started > FOLLOW_MAX_S:
                    follower.leave_out(found, "time")
                    continue
                for f in follower.next_hop(found):
                    skip = guard.check(f) if guard is not None else None
                    if skip is not None:
                        out.skipped.append(skip)
                        continue
                    new = make_endpoint(f.url, _method_for(e.method, f.found_in), f.found_in, e.depth + 1)
                    out.found.append(new)
                    submit(new)
    if clat_nodes:  # as it is now: a CLAT can come (or go) while the endpoints run
        clat = {n: clat_state(env, n) for n in clat_nodes}
    reach: dict[str, bool] = {}  # platform -> reaches an IPv4 literal (asked once, when needed)
    for e in order:
        literal = is_ipv4_literal(urlsplit(e.url).hostname or "")
        row: dict[str, Cell] = {}
        first: dict[object, str] = {}  # run key -> the first platform that had it
        for platform, r in runners.items():
            key = r.key(literal)
            res, ms = jobs[(e, key)].result()
            state = clat.get(r.node) if r.via == "clat" else None
            if r.via == "clat" and literal and not res.ok and not clat_up(state) and first.get(key) is None:
                clat_down(res, state)
            cell = Cell(res, how_it_went(res, r, prefix), first.get(key), ms, state)
            if cell.via == "clat" and not literal:
                cell.note = "an A-only name, carried by the CLAT (no AAAA reached the client)"
            if res.reason == Reason.REDIRECT_TO_IPV4_LITERAL or Reason.IPV4_LITERAL_IN_BODY in res.warnings:
                if platform not in reach:
                    reach[platform] = reaches_literals(env, r, state, timeout)
                cell.literals = reach[platform]
            row[platform] = cell
            first.setdefault(key, platform)
        out.cells[e] = row
    out.left_out = list(follower.left_out.values())
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
