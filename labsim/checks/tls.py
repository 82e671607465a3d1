"""`tls`: a verified handshake from the node (its CA bundle includes the lab CA)."""

from __future__ import annotations

from .base import CheckEnv, CheckSpec
from .result import Reason
from .tcp import connect_result

X509_V_ERR_HOSTNAME_MISMATCH = 62


class TlsCheck(CheckSpec):
    host: str
    port: int = 443
    servername: str | None = None  # SNI and the name to verify; default: host


def run_tls(spec: TlsCheck, env: CheckEnv):
    args = ["tls", spec.host, str(spec.port), "--timeout", str(spec.timeout)]
    if spec.servername:
        args += ["--servername", spec.servername]
    out = env.agent(spec.node, *args, timeout=spec.timeout * 4 + 30)
    res = connect_result("tls", spec, spec.host, out, env)
    if not res.ok:
        return res
    tls = out["tls"]
    res.facts["certificate_names"] = tls.get("names", [])
    if tls["ok"]:
        res.facts.update(version=tls["version"], cipher=tls["cipher"])
        res.timings_ms["tls"] = tls["ms"]
        return res
    res.ok = False
    res.detail = tls["error"]
    res.reason = (Reason.TLS_NAME_MISMATCH if tls.get("verify_code") == X509_V_ERR_HOSTNAME_MISMATCH
                  else Reason.TLS_VERIFY_FAILED if tls.get("verify_code") else Reason.TLS_HANDSHAKE)
    return res
