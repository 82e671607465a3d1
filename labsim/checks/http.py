"""`http` (and https): curl inside the node, with curl's own timing fields.

curl runs verbose so the failure cause survives (its `errormsg` says "Couldn't connect" for
both a refusal and an unreachable network); the body goes to stdout, followed by a marker
and curl's `%{json}` and `%{header_json}`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from .base import CheckEnv, CheckSpec, classify_unresolved, is_ipv4_literal
from .result import CheckResult, Reason
from .synth import refine_ipv4_literal, synthesized_host

MARKER = "\n@@labsim-curl@@\n"
# named fields, not %{json}: that one builds curl's version string, which initialises libldap
# (a lookup of the machine's own hostname, ~5 ms a request)
FIELDS = ("exitcode", "errormsg", "http_code", "remote_ip", "http_version", "ssl_verify_result",
          "time_namelookup", "time_connect", "time_appconnect", "time_starttransfer", "time_total",
          "size_download")
WRITE_OUT = MARKER + "".join(f"{f}=%{{{f}}}\n" for f in FIELDS) + "headers=%{header_json}"
URL_IPV4 = re.compile(r"\b(?:https?|wss?)://((?:\d{1,3}\.){3}\d{1,3})(?::\d+)?", re.I)
TLS_EXITS = {35, 58, 59, 77, 83, 90, 91}
TRYING = re.compile(r"^\*\s+Trying \[?([0-9a-fA-F:.]+?)\]?:\d+", re.M)
BODY_KEEP = 65536


class HttpCheck(CheckSpec):
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    data: str | None = None
    connect_to: list[str] = Field(default_factory=list)  # curl --connect-to HOST:PORT:HOST2:PORT2
    family: Literal[4, 6] | None = None  # only this address family (curl -4 / -6)
    synthesize: bool = False  # an IPv4-literal URL: connect to it embedded in the discovered NAT64 prefix


def curl_argv(spec: HttpCheck) -> list[str]:
    argv = ["curl", "-sv", "-o", "-", "-w", WRITE_OUT, "-m", str(spec.timeout),
            "--connect-timeout", str(spec.timeout), "-X", spec.method]
    for k, v in spec.headers.items():
        argv += ["-H", f"{k}: {v}"]
    if spec.cookies:
        argv += ["-b", "; ".join(f"{k}={v}" for k, v in spec.cookies.items())]
    if spec.data is not None:
        argv += ["--data-binary", spec.data]
    for c in spec.connect_to:
        argv += ["--connect-to", c]
    if spec.family:
        argv.append(f"-{spec.family}")
    return argv + [spec.url]


def ipv4_literal_urls(text: str) -> list[str]:
    out = []
    for m in URL_IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group(1))
            out.append(m.group(0))
        except ValueError:
            continue
    return out


def run_http(spec: HttpCheck, env: CheckEnv) -> CheckResult:
    synth: dict = {}
    if spec.synthesize:
        host = urlsplit(spec.url).hostname or ""
        v6, synth, failed = synthesized_host(env, "http", spec, host, spec.url)
        if failed is not None:
            return failed
        if v6:  # the URL (and Host header) stay as written; curl connects to the synthesized address
            spec = spec.model_copy(update={"connect_to": [*spec.connect_to, f"{host}::[{v6}]:"]})
    res = _run_curl(spec, env)
    res.facts.update(synth)
    return refine_ipv4_literal(env, spec.node, res)


def _run_curl(spec: HttpCheck, env: CheckEnv) -> CheckResult:
    proc = env.runtime.exec(spec.node, curl_argv(spec), timeout=spec.timeout + 30)
    stdout = proc.stdout.decode(errors="replace")
    verbose = proc.stderr.decode(errors="replace")
    body, _, tail = stdout.rpartition(MARKER)
    info, headers = parse_write_out(tail)
    return interpret(spec, env, info, headers, body, verbose)


def parse_write_out(tail: str) -> tuple[dict, dict]:
    fields, _, headers = tail.partition("headers=")
    info: dict = {}
    for line in fields.splitlines():
        key, _, value = line.partition("=")
        info[key] = value
    for key in ("exitcode", "http_code", "ssl_verify_result", "size_download"):
        info[key] = int(info.get(key) or 0)
    for key in [k for k in info if k.startswith("time_")]:
        info[key] = float(info[key] or 0)
    return info, json.loads(headers) if headers.strip() else {}


def interpret(spec: HttpCheck, env: CheckEnv | None, info: dict, headers: dict, body: str,
              verbose: str) -> CheckResult:
    host = urlsplit(spec.url).hostname or ""
    code = info["exitcode"]
    t = {k: info.get(f"time_{k}", 0.0) * 1000 for k in
         ("namelookup", "connect", "appconnect", "starttransfer", "total")}
    timings = {"dns": t["namelookup"], "connect": max(t["connect"] - t["namelookup"], 0.0),
               "tls": max(t["appconnect"] - t["connect"], 0.0) if t["appconnect"] else 0.0,
               "ttfb": t["starttransfer"], "total": t["total"]}
    hdrs = {k.lower(): v[-1] if isinstance(v, list) else v for k, v in (headers or {}).items()}
    facts = {"status": info.get("http_code") or None, "remote_ip": info.get("remote_ip") or None,
             "http_version": info.get("http_version"), "headers": hdrs, "body": body[:BODY_KEEP],
             "url": spec.url, "method": spec.method,
             "bytes_received": info.get("size_download", 0)}  # the body so far, a stall included
    try:
        facts["json"] = json.loads(body) if body.strip().startswith(("{", "[")) else None
    except json.JSONDecodeError:
        facts["json"] = None
    facts["tried"] = list(dict.fromkeys(TRYING.findall(verbose)))
    res = CheckResult("http", spec.node, spec.url, ok=code == 0, facts=facts, timings_ms=timings)
    if code != 0:
        res.detail = info.get("errormsg") or ""
        res.reason = _failure_reason(code, host, t, verbose)
        if res.reason in (Reason.NO_ROUTE, Reason.CONNECT_TIMEOUT) and not is_ipv4_literal(host) \
                and facts["tried"] and all(":" not in a for a in facts["tried"]):
            # a name whose every address is IPv4, tried from a node that cannot reach IPv4
            res.reason = Reason.NO_AAAA
        if code == 6 and env is not None:
            res.reason, extra = classify_unresolved(env, spec.node, host)
            res.facts.update(extra)
        return res
    location = hdrs.get("location")
    if location and 300 <= (facts["status"] or 0) < 400:
        facts["location"] = location
        if is_ipv4_literal(urlsplit(location).hostname or ""):
            res.ok, res.reason = False, Reason.REDIRECT_TO_IPV4_LITERAL
            res.detail = f"redirects to {location}"
    literals = ipv4_literal_urls(body)
    if literals:
        facts["ipv4_literal_urls"] = literals[:20]
        res.warnings.append(Reason.IPV4_LITERAL_IN_BODY)
    return res


def _failure_reason(code: int, host: str, t: dict, verbose: str) -> Reason:
    v4 = is_ipv4_literal(host)
    if code == 6:
        return Reason.NXDOMAIN  # refined by classify_unresolved when the node can be asked
    if code == 7:
        if "Connection refused" in verbose:
            return Reason.CONNECT_REFUSED
        if "unreachable" in verbose or "No route to host" in verbose:
            return Reason.IPV4_LITERAL if v4 else Reason.NO_ROUTE
        return Reason.UNKNOWN
    if code == 28:
        if not t["connect"]:
            return Reason.IPV4_LITERAL if v4 else Reason.CONNECT_TIMEOUT
        return Reason.TIMEOUT
    if code == 60:
        if "does not match" in verbose or "no alternative certificate subject name" in verbose:
            return Reason.TLS_NAME_MISMATCH
        return Reason.TLS_VERIFY_FAILED
    if code in TLS_EXITS:
        return Reason.TLS_HANDSHAKE
    return {52: Reason.EMPTY_REPLY, 56: Reason.RECV_ERROR}.get(code, Reason.UNKNOWN)
