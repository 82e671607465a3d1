"""`ping`: ICMP echo from a node; loss and round-trip times as ping reports them."""

from __future__ import annotations

import re

from pydantic import Field

from labsim.checks.base import CheckEnv, CheckSpec, ToolFailed, guarded, is_ipv4_literal, tool_run
from labsim.checks.reasons import Reason
from labsim.checks.result import PingResult

LOSS = re.compile(r"(\d+) packets transmitted, (\d+) received")
RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/")
# what ping says when it sends nothing at all (no statistics line follows)
NO_SEND = (("network is unreachable", Reason.NO_ROUTE),
           ("cannot assign requested address", Reason.NO_ROUTE),
           ("address family for hostname not supported", Reason.NO_AAAA),
           ("temporary failure in name resolution", Reason.DNS_TIMEOUT),
           ("name or service not known", Reason.NXDOMAIN),
           ("no address associated with hostname", Reason.NO_ADDRESS))


class PingCheck(CheckSpec):
    host: str
    count: int = Field(3, ge=1, le=100)
    interval: float = Field(0.2, ge=0.01, le=5)


def ping_argv(spec: PingCheck) -> list[str]:
    # `--` so a host that looks like an option is never read as one
    return ["ping", "-n", "-c", str(spec.count), "-i", str(spec.interval), "-W", str(spec.timeout),
            "--", spec.host]


@guarded("ping", lambda spec: spec.host)
def run_ping(spec: PingCheck, env: CheckEnv) -> PingResult:
    argv = ping_argv(spec)
    proc = env.exec(spec.node, argv, timeout=spec.count * (spec.interval + spec.timeout) + 10)
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    out = PingResult(node=spec.node, target=spec.host, ok=False)
    m = LOSS.search(text)
    if m is None:
        low = text.lower()
        reason = next((r for words, r in NO_SEND if words in low), None)
        if reason is None:
            raise ToolFailed(tool_run(argv, proc, "no statistics line in ping's output"))
        if reason is Reason.NO_ROUTE and is_ipv4_literal(spec.host):
            reason = Reason.IPV4_LITERAL
        out.reason, out.detail = reason, text.strip().splitlines()[-1]
        out.facts.sent, out.facts.received, out.facts.loss = 0, 0, 1.0
        return out
    sent, got = int(m.group(1)), int(m.group(2))
    out.ok = got > 0
    out.facts.sent, out.facts.received = sent, got
    out.facts.loss = 1 - got / sent if sent else 1.0
    r = RTT.search(text)
    if r:
        t = out.timings_ms
        t.min, t.avg, t.max = float(r.group(1)), float(r.group(2)), float(r.group(3))
        t.total = t.max  # the slowest echo: what `max_ms` bounds
    if got < sent:
        out.detail = text.strip().splitlines()[-1]
        if got == 0 and is_ipv4_literal(spec.host) and "unreachable" in text.lower():
            out.reason = Reason.IPV4_LITERAL
        else:
            out.reason = Reason.PACKET_LOSS
    return out
