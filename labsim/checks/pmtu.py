"""`pmtu`: the path MTU from a node to a host, found with DF-set probes (`ping -M do`).

The first probe is `max_mtu` bytes. A router that cannot forward it answers with an ICMP
error (ICMPv6 Packet Too Big, ICMPv4 fragmentation needed; through a NAT64 one is
translated into the other) naming its MTU, and the next probe uses that. A probe that gets
no answer at all, while a smaller one does, means big packets vanish without an error: a
path-MTU black hole (the check fails with PACKET_LOSS; `pmtu` is then the largest size that
got through, found by bisection). Every probe waits at most `probe_wait`; at most
MAX_PROBES are sent.
"""

from __future__ import annotations

import re
import time
from typing import Literal

from pydantic import Field

from labsim.checks.base import CheckEnv, CheckSpec, guarded
from labsim.checks.reasons import Reason
from labsim.checks.result import PmtuProbe, PmtuResult, Timings

MAX_PROBES = 16
HEADER = {4: 28, 6: 48}  # IP + ICMP echo header bytes: ping's -s is the payload
FLOOR = {4: 576, 6: 1280}
REPORTED_MTU = re.compile(r"\bmtu\s*[=:]\s*(\d+)", re.I)
TARGET = re.compile(r"^PING \S+ ?\(([0-9a-fA-F:.]+)\)", re.M)


class PmtuCheck(CheckSpec):
    host: str  # a name (resolved by ping through the node's resolver) or an address
    family: Literal[4, 6] = 6
    max_mtu: int = Field(1500, ge=576, le=65535)  # the first probe's size
    probe_wait: float = Field(0.5, gt=0, le=5)


def probe(env: CheckEnv, spec: PmtuCheck, mtu: int) -> tuple[Literal["ok", "too_big", "lost"], int | None, str]:
    """('ok' | 'too_big' | 'lost', the MTU an ICMP error or the kernel reported, output)."""
    argv = ["ping", f"-{spec.family}", "-n", "-M", "do", "-c", "1", "-W", f"{spec.probe_wait:g}",
            "-s", str(mtu - HEADER[spec.family]), spec.host]
    res = env.exec(spec.node, argv, timeout=spec.probe_wait + 10)
    text = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    if res.returncode == 0:
        return "ok", None, text
    m = REPORTED_MTU.search(text)
    if m or "too long" in text.lower() or "too big" in text.lower():
        return "too_big", int(m.group(1)) if m else None, text
    return "lost", None, text


@guarded("pmtu", lambda spec: spec.host)
def run_pmtu(spec: PmtuCheck, env: CheckEnv) -> PmtuResult:
    t0 = time.perf_counter()
    floor = FLOOR[spec.family]
    probes: list[PmtuProbe] = []
    address = None
    ptb_seen = False

    def send(mtu: int) -> str:
        nonlocal address, ptb_seen
        result, reported, text = probe(env, spec, mtu)
        target = TARGET.search(text)
        address = address or (target.group(1) if target else None)
        ptb_seen = ptb_seen or (result == "too_big" and reported is not None)
        probes.append(PmtuProbe(mtu=mtu, result=result, reported_mtu=reported))
        return result if result != "too_big" else f"too_big:{reported or mtu - 1}"

    pmtu, lost_above = None, None
    size = spec.max_mtu
    while len(probes) < MAX_PROBES:  # follow the ICMP errors down
        out = send(size)
        if out == "ok":
            pmtu = size
            break
        if out == "lost":
            lost_above = size
            break
        reported = int(out.split(":")[1])
        if reported >= size or reported < floor:
            break
        size = reported
    if lost_above is not None:  # bisect: the largest size that still gets an answer
        lo, hi = floor, lost_above - 1
        if send(lo) == "ok":
            pmtu = lo
            while lo < hi and len(probes) < MAX_PROBES:
                mid = (lo + hi + 1) // 2
                if send(mid) == "ok":
                    lo = pmtu = mid
                else:
                    hi = mid - 1
    blackhole = lost_above is not None and pmtu is not None
    res = PmtuResult(node=spec.node, target=spec.host, ok=pmtu is not None and not blackhole,
                     timings_ms=Timings(total=(time.perf_counter() - t0) * 1000))
    res.facts.pmtu, res.facts.ptb_seen, res.facts.blackhole = pmtu, ptb_seen, blackhole
    res.facts.remote_ip, res.facts.probes = address, probes
    if blackhole:
        res.reason = Reason.PACKET_LOSS
        res.detail = (f"packets of {lost_above} bytes vanish with no ICMP error while {pmtu} get "
                      "through: a path-MTU black hole (ICMP errors dropped on the way?)")
    elif pmtu is None:
        res.reason = Reason.PACKET_LOSS if lost_above is not None else Reason.UNKNOWN
        res.detail = "no probe got an answer, even at the minimum MTU"
    return res
