"""`http` (and https): curl inside the node, with curl's own timing fields (see curl.py for
the argv, the write-out and the exit-code table)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from labsim.checks.base import CheckEnv, CheckSpec, ToolFailed, classify_unresolved, guarded, is_ipv4_literal, tool_run
from labsim.checks.curl import WriteOut, curl_argv, exit_reason, parse_write_out, tried_addresses
from labsim.checks.learnt import has_ipv4_route
from labsim.checks.reasons import Reason
from labsim.checks.result import HttpResult, HttpTimings
from labsim.checks.synth import refine_ipv4_literal, synthesized_host

URL_IPV4 = re.compile(r"\b(?:https?|wss?)://((?:\d{1,3}\.){3}\d{1,3})(?::\d+)?", re.I)
BODY_KEEP = 65536


class HttpCheck(CheckSpec):
    """The strings that reach curl are typed when a scenario loads (scenario/fields.py, via
    HttpParams); the argv (curl.py) is built so none of them can act as an option or a file."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    data: str | None = None
    connect_to: list[str] = Field(default_factory=list)  # curl --connect-to HOST:PORT:HOST2:PORT2
    family: Literal[4, 6] | None = None  # only this address family (curl -4 / -6)
    synthesize: bool = False  # an IPv4-literal URL: connect to it embedded in the discovered NAT64 prefix


def request_argv(spec: HttpCheck) -> list[str]:
    headers = dict(spec.headers)
    if spec.cookies:  # a header, not -b: curl reads `-b` without '=' as a cookie file
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in spec.cookies.items())
    return curl_argv(spec.url, spec.method, headers, spec.timeout, spec.data is not None,
                     spec.connect_to, spec.family)


def ipv4_literal_urls(text: str) -> list[str]:
    out = []
    for m in URL_IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group(1))
            out.append(m.group(0))
        except ValueError:
            continue
    return out


@guarded("http", lambda spec: spec.url)
def run_http(spec: HttpCheck, env: CheckEnv) -> HttpResult:
    synth = None
    if spec.synthesize:
        host = urlsplit(spec.url).hostname or ""
        v6, synth, failed = synthesized_host(env, "http", spec, host, spec.url)
        if failed is not None:
            return failed  # type: ignore[return-value]
        if v6:  # the URL (and Host header) stay as written; curl connects to the synthesized address
            spec = spec.model_copy(update={"connect_to": [*spec.connect_to, f"{host}::[{v6}]:"]})
    res = _run_curl(spec, env)
    res.facts.synthesized = synth
    return refine_ipv4_literal(env, spec.node, res)


def _run_curl(spec: HttpCheck, env: CheckEnv) -> HttpResult:
    argv = request_argv(spec)
    body = spec.data.encode() if spec.data is not None else None
    proc = env.exec(spec.node, argv, timeout=spec.timeout + 30, input=body)
    wo = parse_write_out(proc.stdout.decode(errors="replace"), proc.returncode)
    if wo.problem:
        raise ToolFailed(tool_run(argv, proc, wo.problem))
    return interpret(spec, env, wo, proc.stderr.decode(errors="replace"))


def interpret(spec: HttpCheck, env: CheckEnv | None, wo: WriteOut, verbose: str) -> HttpResult:
    host = urlsplit(spec.url).hostname or ""
    code = wo.exitcode
    t = {k: wo.number(f"time_{k}") * 1000 for k in ("namelookup", "connect", "appconnect", "starttransfer", "total")}
    timings = HttpTimings(dns=t["namelookup"], connect=max(t["connect"] - t["namelookup"], 0.0),
                          tls=max(t["appconnect"] - t["connect"], 0.0) if t["appconnect"] else 0.0,
                          ttfb=t["starttransfer"], total=t["total"])
    res = HttpResult(node=spec.node, target=spec.url, ok=code == 0, timings_ms=timings)
    f = res.facts
    f.url, f.method, f.curl_exit = spec.url, spec.method, code
    f.status = wo.integer("http_code") or None
    f.remote_ip = wo.fields.get("remote_ip") or None
    f.http_version = wo.fields.get("http_version") or None
    f.headers = wo.headers
    f.body = "" if spec.method == "HEAD" else wo.body[:BODY_KEEP]  # --head prints the headers as the body
    f.bytes_received = wo.integer("size_download")  # the body so far, a stall included
    try:
        f.json = json.loads(f.body) if f.body.strip().startswith(("{", "[")) else None
    except json.JSONDecodeError:
        f.json = None
    f.tried = tried_addresses(verbose)
    if code != 0:
        res.detail = wo.fields.get("errormsg") or ""
        has_ipv4 = env is not None and is_ipv4_literal(host) and has_ipv4_route(env, spec.node, host)
        res.reason = failure_reason(code, host, t, verbose, has_ipv4)
        if res.reason in (Reason.NO_ROUTE, Reason.CONNECT_TIMEOUT) and not is_ipv4_literal(host) \
                and f.tried and all(":" not in a for a in f.tried):
            # a name whose every address is IPv4, tried from a node that cannot reach IPv4
            res.reason = Reason.NO_AAAA
        if code == 6 and env is not None:
            res.reason, f.unresolved = classify_unresolved(env, spec.node, host)
        return res
    location = f.headers.get("location")
    if location and 300 <= (f.status or 0) < 400:
        f.location = location
        if is_ipv4_literal(urlsplit(location).hostname or ""):
            res.ok, res.reason = False, Reason.REDIRECT_TO_IPV4_LITERAL
            res.detail = f"redirects to {location}"
    literals = ipv4_literal_urls(f.body)
    if literals:
        f.ipv4_literal_urls = literals[:20]
        res.warnings.append(Reason.IPV4_LITERAL_IN_BODY)
    return res


def failure_reason(code: int, host: str, t: dict[str, float], verbose: str, has_ipv4: bool = False) -> Reason:
    """curl's exit code, refined by what its verbose log and timings show. An IPv4 literal that
    fails is IPV4_LITERAL only on a node with no IPv4 route to it (`has_ipv4`: a lease's route,
    or a CLAT's): on a node that has one, what happened is the reason (no route, a timeout)."""
    v4 = is_ipv4_literal(host) and not has_ipv4
    if code == 7:
        if "Connection refused" in verbose:
            return Reason.CONNECT_REFUSED
        if any(w in verbose for w in ("unreachable", "No route to host", "Cannot assign requested address")):
            return Reason.IPV4_LITERAL if v4 else Reason.NO_ROUTE
        if "timed out" in verbose:
            return Reason.IPV4_LITERAL if v4 else Reason.CONNECT_TIMEOUT
        return Reason.UNKNOWN
    if code == 28:
        if not t["connect"]:
            return Reason.IPV4_LITERAL if v4 else Reason.CONNECT_TIMEOUT
        return Reason.TIMEOUT
    if code == 60:
        if "does not match" in verbose or "no alternative certificate subject name" in verbose:
            return Reason.TLS_NAME_MISMATCH
        return Reason.TLS_VERIFY_FAILED
    return exit_reason(code)
