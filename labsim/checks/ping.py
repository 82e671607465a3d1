"""`ping`: ICMP echo from a node; loss and round-trip times as ping reports them."""

from __future__ import annotations

import re

from pydantic import Field

from .base import CheckEnv, CheckSpec, is_ipv4_literal
from .result import CheckResult, Reason

LOSS = re.compile(r"(\d+) packets transmitted, (\d+) received")
RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/")


class PingCheck(CheckSpec):
    host: str
    count: int = Field(3, ge=1, le=100)
    interval: float = Field(0.2, ge=0.01, le=5)


def run_ping(spec: PingCheck, env: CheckEnv) -> CheckResult:
    argv = ["ping", "-n", "-c", str(spec.count), "-i", str(spec.interval), "-W", str(spec.timeout), spec.host]
    res = env.runtime.exec(spec.node, argv, timeout=spec.count * (spec.interval + spec.timeout) + 10)
    text = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    m = LOSS.search(text)
    sent, got = (int(m.group(1)), int(m.group(2))) if m else (spec.count, 0)
    out = CheckResult("ping", spec.node, spec.host, ok=got > 0,
                      facts={"sent": sent, "received": got, "loss": 1 - got / sent if sent else 1.0})
    r = RTT.search(text)
    if r:
        out.timings_ms.update(min=float(r.group(1)), avg=float(r.group(2)), max=float(r.group(3)))
    if got < sent:
        out.detail = text.strip().splitlines()[-1] if text.strip() else ""
        if got == 0 and is_ipv4_literal(spec.host) and "unreachable" in text.lower():
            out.reason = Reason.IPV4_LITERAL
        else:
            out.reason = Reason.PACKET_LOSS
    return out
