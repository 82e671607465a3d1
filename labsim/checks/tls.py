"""`tls`: a verified handshake from the node (its CA bundle includes the lab CA)."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from labsim.checks.base import CheckEnv, CheckSpec, guarded
from labsim.checks.reasons import Reason
from labsim.checks.result import TlsResult
from labsim.checks.tcp import AgentConnect, connect_result

X509_V_ERR_HOSTNAME_MISMATCH = 62


class TlsCheck(CheckSpec):
    host: str
    port: int = 443
    servername: str | None = None  # SNI and the name to verify; default: host


class AgentHandshake(TypedDict):
    ok: bool
    version: NotRequired[str]
    cipher: NotRequired[str]
    names: NotRequired[list[str]]
    ms: NotRequired[float]
    verify_code: NotRequired[int | None]
    error: NotRequired[str]


class AgentTls(AgentConnect):
    """What `labsim.node.agent tls` prints: the connect report, and the handshake once connected."""

    tls: NotRequired[AgentHandshake]


@guarded("tls", lambda spec: f"{spec.host}:{spec.port}")
def run_tls(spec: TlsCheck, env: CheckEnv) -> TlsResult:
    args = ["tls", spec.host, str(spec.port), "--timeout", str(spec.timeout)]
    if spec.servername:
        args += ["--servername", spec.servername]
    out = env.agent(spec.node, AgentTls, *args, timeout=spec.timeout * 4 + 30)
    return tls_result(spec, env, out)


def tls_result(spec: TlsCheck, env: CheckEnv | None, out: AgentTls) -> TlsResult:
    res = TlsResult(node=spec.node, target=f"{spec.host}:{spec.port}", ok=False)
    connect_result(res, spec.host, out, env)
    if not res.ok:
        return res
    tls = out.get("tls")
    if tls is None:  # connected, yet no handshake report: the agent broke off
        res.ok, res.reason, res.detail = False, Reason.TOOL_ERROR, "the agent reported no TLS handshake"
        return res
    res.facts.certificate_names = tls.get("names", [])
    if tls["ok"]:
        res.facts.version, res.facts.cipher = tls.get("version"), tls.get("cipher")
        res.timings_ms.tls = tls.get("ms", 0.0)
        res.timings_ms.total = (res.timings_ms.total or 0.0) + res.timings_ms.tls
        return res
    res.ok = False
    res.detail = tls.get("error", "")
    code = tls.get("verify_code")
    res.reason = (Reason.TLS_NAME_MISMATCH if code == X509_V_ERR_HOSTNAME_MISMATCH
                  else Reason.TLS_VERIFY_FAILED if code else Reason.TLS_HANDSHAKE)
    return res
