"""Packet capture behind check steps: tcpdump in the check's node and in every NAT64 node,
and a one-line summary of each pcap read back (pcapread.py).

The host's tcpdump runs inside the node's network namespace (`nsenter --net`, a host
service of the runtime), so netns and docker nodes are captured alike and the node image
needs no tcpdump. It drops root to the `tcpdump` user once the capture is open (it then
writes into a directory that user owns), and is bounded: SNAPLEN bytes per packet.

Two shapes. `ScenarioCapture` (labsim run): one tcpdump per node for the scenario's whole
life, writing a ring of RING_FILES files of RING_FILE_MB each (the bound on disk), and a
kept step's packets cut out of the ring by the step's time window (pcapslice.py), at most
MAX_PACKETS of them: starting and stopping tcpdump around every step cost 0.4-1.5 s per
scenario. `StepCapture` (labsim review): tcpdump around one step, at most MAX_PACKETS.
Under `--capture failed` nothing of passing steps is kept.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from labsim.runtime.netns import stop_processes
from labsim.scenario.pcapslice import Window, slice_windows

MAX_PACKETS = 20000
RING_FILES = 8
RING_FILE_MB = 1  # tcpdump -C: millions of bytes; 8 x 1 MB holds ~28000 packets of SNAPLEN
FLUSH_S = 0.05  # a kept step's last packets reach tcpdump's file before it is stopped
SNAPLEN = 262
READY_WAIT_S = 3.0  # tcpdump opens the interface, then writes the pcap header
PCAP_HEADER = 24
CAPTURE_USER = "tcpdump"


@dataclass
class Capture:
    node: str
    path: str
    summary: str = ""

    def to_dict(self) -> dict:
        return {"node": self.node, "path": self.path, "summary": self.summary}


@dataclass
class StepCapture:
    """tcpdump in `nodes` for one step; `stop` keeps or deletes the files."""

    runtime: object
    nodes: list[str]
    directory: Path
    prefix: str
    pids: dict[str, int] = field(default_factory=dict)
    made: list[Path] = field(default_factory=list)  # directories this capture created

    def path(self, node: str) -> Path:
        return self.directory / f"{self.prefix}-{node}.pcap"

    def start(self) -> None:
        self.made = _make_dirs(self.directory)
        self.pids = _spawn(self.runtime, {n: self.path(n) for n in self.nodes}, ["-c", str(MAX_PACKETS)])

    def stop(self, keep: bool) -> list[Capture]:
        time.sleep(0.05)  # the last packets of the step reach the capture
        stop_processes(set(self.pids.values()), grace_s=2.0)
        out = []
        for node in self.nodes:
            p = self.path(node)
            if not keep:
                p.unlink(missing_ok=True)
            elif p.exists():
                out.append(Capture(node, str(p), summarize(p)))
        _remove_made(self.made if not out else [])
        return out


class ScenarioCapture:
    """tcpdump in `nodes` for a whole scenario; `keep` names a step's time window, `stop`
    cuts the kept windows out (DIR/<step>-<node>.pcap) and removes the ring."""

    def __init__(self, runtime, nodes: list[str], directory: Path):
        self.runtime, self.nodes, self.directory = runtime, nodes, directory
        # in the lab's own state directory (on every runtime): tcpdump opens ring files after
        # dropping to its user, so the path must be one that user can walk (the capture
        # directory may sit below a private one), and a lab taken down removes what a killed
        # run left there
        self.ring = runtime.state.dir / "capture"
        self.pids: dict[str, int] = {}
        self.made: list[Path] = []
        self.windows: list[tuple[str, list[str], float, float]] = []  # prefix, nodes, start, end
        # host interfaces attached to the lab's networks (`--attach`): what the device behind
        # each sent and got, captured on its port in the lab's hub, kept with every kept step
        self.ports = attached_ports(runtime.state) if nodes else {}

    def start(self) -> None:
        _make_dirs(self.ring, levels=1)
        bound = ["-C", str(RING_FILE_MB), "-W", str(RING_FILES)]
        where = {n: (n, "{netns}", "any") for n in self.nodes}
        where |= {label: (self.nodes[0], hub, iface) for label, (hub, iface) in self.ports.items()}
        self.pids = _spawn(self.runtime, {n: self.ring / f"{n}.pcap" for n in where}, bound, ring=True, where=where)

    def keep(self, prefix: str, nodes: list[str], start: float, end: float) -> None:
        """Keep the packets `nodes` (and every attached port) saw from `start` to `end`
        (time.time()) as `prefix`-<node>.pcap (`port-<interface>` for a port)."""
        self.windows.append((prefix, [n for n in [*nodes, *self.ports] if n in self.pids], start, end))

    def stop(self) -> dict[str, list[Capture]]:
        """Stop every tcpdump; prefix -> the captures kept for it (in its nodes' order)."""
        if self.windows:
            time.sleep(FLUSH_S)
        # nothing to keep: the ring is thrown away, no need to let tcpdump finish writing
        stop_processes(set(self.pids.values()), grace_s=2.0 if self.windows else 0.0)
        out: dict[str, list[Capture]] = {}
        if self.windows:
            self.made = _make_dirs(self.directory, levels=2, owner=False)
        try:
            for node in [*self.nodes, *self.ports]:
                mine = [(prefix, Window(start, end, self.directory / f"{prefix}-{node}.pcap"))
                        for prefix, nodes, start, end in self.windows if node in nodes]
                if not mine:
                    continue
                ring = sorted(self.ring.glob(f"{node}.pcap*"))
                if not ring:
                    continue
                # tcpdump -W reuses the first file once all RING_FILES exist
                slice_windows(ring, [w for _, w in mine], MAX_PACKETS, wrapped=len(ring) >= RING_FILES)
                for prefix, w in mine:
                    if w.out.exists():
                        extra = f" ({w.dropped} more not kept: {MAX_PACKETS} at most)" if w.dropped else ""
                        extra += " (the capture ring had overwritten the step's first packets)" if w.clipped else ""
                        out.setdefault(prefix, []).append(Capture(node, str(w.out), summarize(w.out) + extra))
        finally:
            shutil.rmtree(self.ring, ignore_errors=True)
            _remove_made(self.made if not out else [])
        return out


def _make_dirs(directory: Path, levels: int = 2, owner: bool = True) -> list[Path]:
    """Create `directory` (and parents), owned by the capture user unless `owner` is false;
    which of it and its `levels - 1` parents were made, outermost first."""
    chain = [directory, *directory.parents][:levels]
    made = [d for d in reversed(chain) if not d.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    user = _capture_user()
    if user is not None and owner:
        os.chown(directory, user.pw_uid, user.pw_gid)
    return made


def _remove_made(made: list[Path]) -> None:
    """Nothing kept: no empty directory of ours left behind (innermost first)."""
    for d in reversed(made):
        try:
            d.rmdir()
        except OSError:
            break


def attached_ports(state) -> dict[str, tuple[str, str]]:
    """`port-<interface>` -> (the lab's hub namespace, the port's name there) for each host
    interface attached to the lab (labsim.bringup.attach; only records teardown accepts)."""
    from labsim.runtime.state import attach_record_problem

    hub = f"/run/netns/ls-{state.lab}"
    recs = [r for r in getattr(state, "attached", None) or [] if attach_record_problem(r) is None]
    return {f"port-{r['name']}": (hub, r["hub_name"]) for r in recs}


def _spawn(runtime, files: dict[str, Path], bound: list[str], ring: bool = False,
           where: dict[str, tuple[str, str, str]] | None = None) -> dict[str, int]:
    """tcpdump per node into its file, all started at once; returns once each has written its
    pcap header (the capture is open), bounded by READY_WAIT_S. `where`: per file's label,
    (the node it is recorded under, the namespace, the interface), default the node's own on
    every interface."""
    user = _capture_user()
    pids = {}
    for label, path in files.items():
        node, netns, iface = (where or {}).get(label, (label, "{netns}", "any"))
        # immediate mode: packets reach the file as they come, not in 1 s blocks that a
        # stop at the end of a short step would lose
        argv = ["nsenter", f"--net={netns}", "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode",
                "-s", str(SNAPLEN), *bound, "-w", str(path)]
        argv += ["-Z", user.pw_name] if user is not None else []
        pids[label] = runtime.spawn(node, "capture" if label == node else f"capture-{iface}", argv, host=True)
    deadline = time.monotonic() + READY_WAIT_S
    for path in files.values():  # with -W, tcpdump numbers the files: path0, path1, ...
        first = path.with_name(path.name + "0") if ring else path
        while time.monotonic() < deadline and not (first.exists() and first.stat().st_size >= PCAP_HEADER):
            time.sleep(0.01)
    return pids


def unavailable() -> str | None:
    """Why no packet capture can be taken here (None: it can): tcpdump runs on the host and
    enters each node's namespace, so the host must have it."""
    import shutil

    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed (apt-get install tcpdump; the runner image ships it)"
    return None


_SAID: set[str] = set()


def say_unavailable(why: str) -> None:
    """Tell the user once per process that captures were asked for and cannot be taken: a
    report with `captures: []` and no word of why looked like nothing worth keeping."""
    if why not in _SAID:
        _SAID.add(why)
        sys.stderr.write(f"labsim: no packet captures: {why}\n")


def _capture_user():
    try:
        return pwd.getpwnam(CAPTURE_USER)
    except KeyError:
        return None


def summarize(path: Path) -> str:
    """'12 pkts; SYN to [a]:443 x3, no SYN-ACK; 5 retransmissions; ICMPv6 PTB x2'."""
    from labsim.scenario.pcapread import dissect, records

    syns: Counter[str] = Counter()
    icmp: Counter[str] = Counter()
    segments: Counter[tuple[object, ...]] = Counter()
    synacks, rsts, retrans, n = 0, 0, 0, 0
    dns_q, dns_nx = 0, 0
    try:
        for link, data in records(path):
            n += 1
            if n > MAX_PACKETS:
                break
            pkt = dissect(link, data)
            if pkt.src is None:
                continue
            # an ICMP error quotes the packet it is about: count the error, not the quote
            if pkt.icmp is not None:
                icmp[pkt.icmp] += 1
                continue
            t = pkt.tcp
            if t is not None:
                if t.flags & 0x02 and not t.flags & 0x10:
                    syns[_endpoint(str(pkt.dst), t.dport)] += 1
                elif t.flags & 0x12 == 0x12:
                    synacks += 1
                if t.flags & 0x04:
                    rsts += 1
                if t.size:  # per interface and direction: a forwarder sees each packet twice
                    key = (pkt.where, pkt.src, pkt.dst, t.sport, t.dport, t.seq, t.size)
                    segments[key] += 1
                    retrans += segments[key] > 1
            if pkt.dns is not None:
                qr, rcode = pkt.dns
                dns_q += qr == 0
                dns_nx += qr == 1 and rcode == 3
    except Exception as exc:  # not a pcap, or unreadable (killed capture): say so, keep what was read
        return f"{n} pkts read, then: {exc}"
    parts = [f"{n} pkts"]
    for dst, count in syns.most_common(3):
        parts.append(f"SYN to {dst}" + (f" x{count}" if count > 1 else ""))
    if syns:
        parts.append(f"{synacks} SYN-ACK" if synacks else "no SYN-ACK")
    if rsts:
        parts.append(f"{rsts} RST")
    if retrans:
        parts.append(f"{retrans} retransmitted segments")
    if dns_q:
        parts.append(f"{dns_q} DNS queries" + (f", {dns_nx} NXDOMAIN" if dns_nx else ""))
    parts += [f"{k} x{v}" for k, v in icmp.most_common(4)] or ["no ICMP errors"]
    return "; ".join(parts)


def _endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
