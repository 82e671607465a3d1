"""Bounded readiness probes, run from inside each node (sockets born in its namespace).

Every probe is retried until it passes or the deadline passes, waking on events where the
probe has one (an answer, a refusal, a finished connect, the service's process exiting) rather
than on a poll interval; a service that exits while being probed fails at once with its log
tail instead of waiting out the deadline.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from dataclasses import dataclass

from labsim.bringup import dnswire
from labsim.bringup.filewatch import DirWatch, file_ready
from labsim.errors import ReadinessError
from labsim.kinds.base import CommandProbe, DnsProbe, FileProbe, LinkProbe, Probe, TcpProbe
from labsim.runtime import links
from labsim.runtime.base import Runtime


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
        if p.also:
            return f"TCP port {p.port} on any of " + ", ".join(f"[{a}]" for a in (p.address, *p.also))
        return f"TCP [{p.address}]:{p.port}"
    if isinstance(p, CommandProbe):
        return "`" + " ".join(p.argv)[:60] + "`"
    if isinstance(p, LinkProbe):
        return f"{p.service or 'a process'} attached to {p.ifname} (carrier up)"
    if isinstance(p, FileProbe):
        return f"file {p.path}" + (f" holding {p.contains!r}" if p.contains is not None else " written")
    raise TypeError(p)


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


# First retry after a refusal (ICMP port unreachable, TCP RST: nothing listens yet), doubling
# up to the cap; probes with no event to wait on (a file held, a command) are re-run this often.
# A watched file is also re-read this often, should a change come in a way inotify misses
# (the directory made after the watch began).
RETRY_FIRST_S, RETRY_CAP_S, POLL_S, FILE_RECHECK_S = 0.002, 0.05, 0.01, 0.25


class _Watch:
    """One pending probe, driven by events: `fileno` is what to wait on (None: nothing now),
    `due` when to act without an event (send again, re-run)."""

    def __init__(self, rt: Runtime, item: PendingProbe, now: float):
        self.rt, self.item, self.probe = rt, item, item.probe
        self.sock: socket.socket | DirWatch | None = None
        self.backoff = RETRY_FIRST_S
        self.due = now
        self.query_id: int | None = None  # of the DNS probe's last query
        self.at = 0  # TCP: which of the probe's addresses is tried now

    def fileno(self) -> int:
        """What select waits on: only a watch whose `sock` is set is handed to it."""
        if self.sock is None:
            raise ValueError("nothing to wait on")
        return self.sock.fileno()

    def _net(self) -> socket.socket:
        """The socket of a DNS, TCP or link probe (a file probe's `sock` is a DirWatch). Told
        apart by what it is not: a runtime's socket may be its own class (the fake runtime's)."""
        if self.sock is None or isinstance(self.sock, DirWatch):
            raise TypeError(f"{describe(self.probe)}: no socket open")
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _self_connected(self) -> bool:
        """TCP's simultaneous open: a probe from an ephemeral port equal to the one probed, with
        nothing listening, connects to itself. That is no listener."""
        sock = self._net()
        try:
            return sock.getsockname()[:2] == sock.getpeername()[:2]
        except OSError:
            return False

    def _retry(self, now: float) -> None:
        self.due = now + self.backoff
        self.backoff = min(self.backoff * 2, RETRY_CAP_S)

    def _next_address(self, p: TcpProbe, now: float) -> None:
        """TCP: this address refused (or never answered). The next one is tried at once;
        after the last, back off and start over from the first."""
        self.at = (self.at + 1) % (1 + len(p.also))
        if self.at:
            self.due = now
        else:
            self._retry(now)

    def act(self, now: float) -> bool:
        """Nothing happened before `due`: start (again). True if the probe passed."""
        p = self.probe
        if isinstance(p, DnsProbe):
            if self.sock is None:  # one connected socket in the node: refusals come back as events
                fam = socket.AF_INET6 if p.server.version == 6 else socket.AF_INET
                self.sock = sock = self.rt.socket(self.item.node, fam, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.connect((str(p.server), 53))
            self.query_id, wire = dnswire.query(p.qname, p.rdtype)
            try:
                self._net().send(wire)
            except OSError:  # a refusal from the last send: try again later
                self._retry(now)
                return False
            self.due = now + p.timeout  # no answer by then: ask again
            return False
        if isinstance(p, TcpProbe):
            if self.sock is not None:  # the last SYN got no answer in time: the next address
                self.close()
                self._next_address(p, now)
                if self.due > now:
                    return False
            addr = (p.address, *p.also)[self.at]
            fam = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
            self.sock = sock = self.rt.socket(self.item.node, fam, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex((str(addr), p.port))
            if err == 0 and not self._self_connected():
                return True
            if err == errno.EINPROGRESS:
                self.due = now + 0.2  # no answer to the SYN by then: try again
            else:  # refused at once (or no such address in the node: ::1 without IPv6)
                self.close()
                self._next_address(p, now)
            return False
        if isinstance(p, FileProbe):
            if self.sock is None:
                try:  # watch first, then read: a write between the two still wakes us
                    self.sock = DirWatch(os.path.dirname(p.path))
                except OSError:  # no directory yet (or no inotify): read it again soon
                    self.sock = None
            ok = file_ready(p.path, p.contains)
            self.due = now + (FILE_RECHECK_S if self.sock is not None else POLL_S)
            return ok
        if isinstance(p, LinkProbe):
            if self.sock is None:  # link notifications from the node, then ask once
                self.sock = sock = self.rt.socket(self.item.node, socket.AF_NETLINK, socket.SOCK_RAW,
                                                  socket.NETLINK_ROUTE)
                sock.bind((0, links.RTMGRP_LINK))
                sock.setblocking(False)
            self._net().send(links.link_query(p.ifname))
            self.due = now + FILE_RECHECK_S  # and again now and then, should a message be lost
            return False
        self.due = now + POLL_S  # commands: nothing to wait on but time
        if isinstance(p, CommandProbe):
            return self.rt.exec(self.item.node, p.argv, timeout=5).returncode == 0
        raise TypeError(p)

    def ready(self, now: float) -> bool:
        """The socket has something: an answer, a refusal, a finished connect; or the
        watched directory changed."""
        p = self.probe
        if isinstance(p, FileProbe):
            if isinstance(self.sock, DirWatch):  # select woke this watch: its directory watch
                self.sock.drain()
            return file_ready(p.path, p.contains)
        if isinstance(p, LinkProbe):
            try:
                return links.carrier(self._net().recv(65536), p.ifname)
            except BlockingIOError:
                return False
            except OSError:  # ENOBUFS: notifications overran the socket; ask again now
                self.due = now
                return False
        if isinstance(p, DnsProbe):
            try:
                wire = self._net().recv(65535)
            except BlockingIOError:
                return False
            except OSError:  # refused: nothing listens on port 53 yet
                self._retry(now)
                return False
            rcode = None if self.query_id is None else dnswire.answer_rcode(wire, self.query_id)
            if rcode is None:
                return False  # not an answer to the last query (an earlier one's, or not DNS)
            if p.rcode is None or rcode == p.rcode:
                return True
            self._retry(now)
            return False
        if not isinstance(p, TcpProbe):  # a command probe has nothing select waits on
            raise TypeError(p)
        err = self._net().getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # TCP: connect finished
        if err == 0 and not self._self_connected():
            return True
        self.close()
        self._next_address(p, now)
        return False


def _pidfd(pid: int | None) -> int | None:
    """A pidfd (readable once the process exits), or None where there is none to be had."""
    if pid is None or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:  # gone already (then _exited says so) or no pidfd support
        return None


def wait_ready(rt: Runtime, pending: list[PendingProbe], deadline_s: float = 15.0) -> float:
    """Wait until every probe passes; returns seconds waited. Raises ReadinessError.

    Waits on events rather than poll intervals where the probe allows: a DNS probe keeps one
    connected socket in the node, so an answer or a refusal (ICMP port unreachable) wakes it;
    a TCP probe wakes when its connect completes or is refused (one with several addresses
    tries the next at once, backing off only after the last); each service's process has a
    pidfd that wakes the wait the moment it exits; a file probe wakes on an inotify event in
    the file's directory; a link probe (a TUN device's carrier: tayga attached) on a netlink
    link notification from the node. After a refusal it asks again 2 ms later, doubling up
    to 50 ms. Only command probes are re-run on an interval (10 ms)."""
    start = time.monotonic()
    watches = [_Watch(rt, item, start) for item in pending]
    pidfds = {id(w): _pidfd(w.item.pid) for w in watches}
    try:
        while watches:
            now = time.monotonic()
            elapsed = now - start
            still = []
            for w in watches:
                if _exited(w.item.pid):
                    raise ReadinessError(w.item.node, describe(w.probe) + " (its process exited)",
                                         elapsed, tail(w.item.log))
                if w.due <= now and w.act(now):
                    w.close()
                    continue
                still.append(w)
            watches = still
            if not watches:
                break
            if time.monotonic() - start > deadline_s:
                first = watches[0]
                what = describe(first.probe)
                if len(watches) > 1:
                    what += " (also pending: " + "; ".join(f"{w.item.node}: {describe(w.probe)}"
                                                           for w in watches[1:]) + ")"
                raise ReadinessError(first.item.node, what, deadline_s, tail(first.item.log))
            socks = [w for w in watches if w.sock is not None]
            exits = [fd for w in watches if (fd := pidfds.get(id(w))) is not None]
            wait = max(0.0, min(min(w.due for w in watches), start + deadline_s + 0.001) - time.monotonic())
            readable: list[_Watch | int] = [*socks, *exits]
            rd, wr, _ = select.select(readable, [w for w in socks if isinstance(w.probe, TcpProbe)], [], wait)
            now = time.monotonic()
            done = set()
            for w in {id(x): x for x in (*rd, *wr) if isinstance(x, _Watch)}.values():
                if w.ready(now):
                    done.add(id(w))
                    w.close()
            watches = [w for w in watches if id(w) not in done]
            # an exited process (pidfd readable) is reported at the top of the loop
    finally:
        for w in watches:
            w.close()
        for fd in pidfds.values():
            if fd is not None:
                os.close(fd)
    return time.monotonic() - start
