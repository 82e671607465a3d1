"""Bounded readiness probes, run from inside each node (sockets born in its namespace).

Every probe is polled until it passes or the deadline passes; a service that exits while
being probed fails at once with its log tail instead of waiting out the deadline.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import dns.message
import dns.rcode

from .errors import ReadinessError
from .kinds.base import CommandProbe, DnsProbe, FdProbe, Probe, TcpProbe
from .runtime.base import Runtime


@dataclass
class PendingProbe:
    node: str
    probe: Probe
    pid: int | None  # the service process behind it, if known
    log: str | None


def describe(p: Probe) -> str:
    if isinstance(p, DnsProbe):
        return f"DNS {p.rdtype} {p.qname} at {p.server}"
    if isinstance(p, TcpProbe):
        return f"TCP [{p.address}]:{p.port}"
    if isinstance(p, CommandProbe):
        return "`" + " ".join(p.argv)[:60] + "`"
    return f"{p.service} holding {p.target}"


def _dns_ok(rt: Runtime, node: str, p: DnsProbe, timeout: float) -> bool:
    fam = socket.AF_INET6 if p.server.version == 6 else socket.AF_INET
    with rt.socket(node, fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        q = dns.message.make_query(p.qname, p.rdtype)
        try:
            s.sendto(q.to_wire(), (str(p.server), 53))
            wire, _ = s.recvfrom(65535)
        except OSError:
            return False
        r = dns.message.from_wire(wire)
        return r.id == q.id and (p.rcode is None or dns.rcode.to_text(r.rcode()) == p.rcode)


def _tcp_ok(rt: Runtime, node: str, p: TcpProbe, timeout: float) -> bool:
    fam = socket.AF_INET6 if p.address.version == 6 else socket.AF_INET
    with rt.socket(node, fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((str(p.address), p.port))
            return True
        except OSError:
            return False


def _fd_ok(pid: int | None, target: str) -> bool:
    if pid is None:
        return False
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


def _exited(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return not os.path.exists(f"/proc/{pid}")


def tail(path: str | None, lines: int = 15) -> str:
    if not path:
        return ""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_ready(rt: Runtime, pending: list[PendingProbe], deadline_s: float = 15.0) -> float:
    """Poll until every probe passes; returns seconds waited. Raises ReadinessError."""
    start = time.monotonic()
    left = list(pending)
    while left:
        elapsed = time.monotonic() - start
        still = []
        for item in left:
            if _passes(rt, item):
                continue
            if _exited(item.pid):
                raise ReadinessError(item.node, describe(item.probe) + " (its process exited)",
                                     elapsed, tail(item.log))
            still.append(item)
        left = still
        if not left:
            break
        if time.monotonic() - start > deadline_s:
            item = left[0]
            what = describe(item.probe)
            if len(left) > 1:
                what += " (also pending: " + "; ".join(f"{i.node}: {describe(i.probe)}" for i in left[1:]) + ")"
            raise ReadinessError(item.node, what, deadline_s, tail(item.log))
        time.sleep(0.01)
    return time.monotonic() - start


def _passes(rt: Runtime, item: PendingProbe) -> bool:
    p = item.probe
    if isinstance(p, DnsProbe):
        return _dns_ok(rt, item.node, p, p.timeout)
    if isinstance(p, TcpProbe):
        return _tcp_ok(rt, item.node, p, 0.2)
    if isinstance(p, FdProbe):
        return _fd_ok(item.pid, p.target)
    if isinstance(p, CommandProbe):
        return rt.exec(item.node, p.argv, timeout=5).returncode == 0
    raise TypeError(p)
