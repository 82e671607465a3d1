"""`socket` endpoints of a review: ws://, wss:// and raw tcp://HOST:PORT, from inside a node.

The in-node probe (labsim.node.sockprobe) resolves and connects as an application does,
verifies TLS against the node's trust store (the lab CA), and for WebSockets sends the
opening handshake: only 101 with the right Sec-WebSocket-Accept is a success. A tcp://
endpoint succeeds on connect; what the server says first (a banner) is kept as a fact.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from labsim.checks.base import CheckEnv, CheckSpec, ToolFailed, guarded, tool_run
from labsim.checks.reasons import Reason
from labsim.checks.result import SocketResult
from labsim.checks.synth import refine_ipv4_literal, synthesized_host
from labsim.checks.tcp import connect_result
from labsim.node.nodeprog import stdlib_program

SCHEMES = {"ws": 80, "wss": 443, "tcp": None}


class SocketCheck(CheckSpec):
    url: str  # ws://, wss:// or tcp://HOST:PORT
    synthesize: bool = False  # an IPv4 literal: connect to it embedded in the discovered NAT64 prefix
    banner_ms: float = Field(300.0, ge=0, le=10_000)  # tcp://: how long to wait for the server to speak first

    @field_validator("url")
    @classmethod
    def _usable(cls, v: str) -> str:
        if any(c.isspace() or ord(c) < 32 for c in v):
            raise ValueError("a URL holds no whitespace or control characters")
        split_url(v)
        return v


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a ws/wss/tcp URL; ValueError when unusable."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    if scheme not in SCHEMES or not u.hostname:
        raise ValueError(f"{url!r}: expected ws://, wss:// or tcp://HOST:PORT")
    port = u.port or SCHEMES[scheme]
    if port is None:
        raise ValueError(f"{url!r}: tcp:// needs a port (tcp://HOST:PORT)")
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return scheme, u.hostname, port, path


@guarded("socket", lambda spec: spec.url)
def run_socket(spec: SocketCheck, env: CheckEnv) -> SocketResult:
    scheme, host, port, path = split_url(spec.url)
    # options first, then `--`: nothing from the URL can be read as an option
    argv = ["--path", path, "--timeout", str(spec.timeout), "--banner-ms", str(spec.banner_ms)]
    if scheme == "wss":
        argv.append("--tls")
    synth = None
    if spec.synthesize:
        v6, synth, failed = synthesized_host(env, "socket", spec, host, spec.url)
        if failed is not None:
            return failed  # type: ignore[return-value]
        if v6:
            argv += ["--connect", v6]
    argv += ["--", "ws" if scheme != "tcp" else "tcp", host, str(port)]
    res = SocketResult(node=spec.node, target=spec.url, ok=False)
    res.facts.url = spec.url
    interpret(res, host, probe(env, spec, argv), env)
    res.facts.synthesized = synth
    return refine_ipv4_literal(env, spec.node, res)


def probe(env: CheckEnv, spec: SocketCheck, argv: list[str]) -> dict:
    full = stdlib_program(env.python, "labsim.node.sockprobe", *argv)  # what a report names
    proc = env.call(spec.node, "labsim.node.sockprobe", argv, timeout=spec.timeout * 4 + 30)
    try:
        out = json.loads(proc.stdout)
        out["resolve"]["addresses"]  # noqa: B018 - the shape connect_result reads
    except (ValueError, KeyError, TypeError):
        raise ToolFailed(tool_run(full, proc, "no JSON report from labsim.node.sockprobe",
                                  tool="python")) from None
    return out


def interpret(res: SocketResult, host: str, out: dict, env: CheckEnv | None) -> None:
    connect_result(res, host, out, env)  # type: ignore[arg-type]
    if not res.ok:
        return
    f, t = res.facts, res.timings_ms
    tls, ws = out.get("tls"), out.get("ws")
    if tls is not None:
        t.tls = tls.get("ms")
        f.tls_version = tls.get("version")
        if not tls["ok"]:
            res.ok, res.detail = False, tls.get("error") or ""
            code = tls.get("verify_code")
            res.reason = (Reason.TLS_NAME_MISMATCH if code == 62 else Reason.TLS_VERIFY_FAILED
                          if code is not None else Reason.TLS_HANDSHAKE)
            return
    if out.get("error"):
        res.ok, res.detail = False, out["error"]
        res.reason = Reason.TIMEOUT if out["error"] == "ETIMEDOUT" else Reason.RECV_ERROR
        return
    if "banner" in out:
        f.banner = out["banner"]
    if ws is not None:
        f.status, f.headers, f.accept_ok = ws["status"], ws["headers"], ws["accept_ok"]
        t.handshake = ws["ms"]
        if not ws["ok"]:
            res.ok, res.reason = False, Reason.WS_HANDSHAKE
            res.detail = f"opening handshake answered {ws['status']} (want 101 with Sec-WebSocket-Accept)" \
                if ws["complete"] else "the server closed or stalled before answering the handshake"
    t.total = sum(x for x in (t.resolve, t.connect, t.tls, t.handshake) if x)
