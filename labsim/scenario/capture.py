"""Packet capture behind a check step: tcpdump in the check's node and in every NAT64 node
while the step runs, and a one-line summary of each pcap read back with scapy.

The host's tcpdump runs inside the node's network namespace (`nsenter --net`, a host
service of the runtime), so netns and docker nodes are captured alike and the node image
needs no tcpdump. It drops root to the `tcpdump` user once the capture is open (it then
writes into a directory that user owns), and is bounded: SNAPLEN bytes of at most
MAX_PACKETS packets. Under `--capture failed` the pcaps of passing steps are deleted.
"""

from __future__ import annotations

import os
import pwd
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime.netns import stop_processes

MAX_PACKETS = 20000
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
        missing = [d for d in (self.directory.parent, self.directory) if not d.exists()]
        self.directory.mkdir(parents=True, exist_ok=True)
        self.made = missing
        user = _capture_user()
        if user is not None:
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        for node in self.nodes:
            # immediate mode: packets reach the file as they come, not in 1 s blocks that a
            # stop at the end of a short step would lose
            argv = ["nsenter", "--net={netns}", "tcpdump", "-i", "any", "-n", "-U", "--immediate-mode",
                    "-s", str(SNAPLEN), "-c", str(MAX_PACKETS), "-w", str(self.path(node))]
            argv += ["-Z", user.pw_name] if user is not None else []
            self.pids[node] = self.runtime.spawn(node, "capture", argv, host=True)
        deadline = time.monotonic() + READY_WAIT_S
        for node in self.nodes:  # each capture is open once its file has the pcap header
            p = self.path(node)
            while time.monotonic() < deadline and not (p.exists() and p.stat().st_size >= PCAP_HEADER):
                time.sleep(0.01)

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
        for d in reversed(self.made if not out else []):
            try:  # nothing kept: no empty directory of ours left behind
                d.rmdir()
            except OSError:
                break
        return out


def _capture_user():
    try:
        return pwd.getpwnam(CAPTURE_USER)
    except KeyError:
        return None


def summarize(path: Path) -> str:
    """'12 pkts; SYN to [a]:443 x3, no SYN-ACK; 5 retransmissions; ICMPv6 PTB x2' (scapy)."""
    try:
        from scapy.all import ICMP, ICMPv6PacketTooBig, ICMPv6DestUnreach, IP, IPv6, TCP, UDP, DNS, PcapReader
    except ImportError:  # scapy is a dependency; a broken install still leaves the pcap
        return "scapy missing: read the pcap with tcpdump -r"
    syns, synacks, rsts, icmp = Counter(), 0, 0, Counter()
    segments, retrans, n = Counter(), 0, 0
    dns_q, dns_nx = 0, 0
    try:
        with PcapReader(str(path)) as reader:
            for pkt in reader:
                n += 1
                if n > MAX_PACKETS:
                    break
                ip = pkt.getlayer(IPv6) or pkt.getlayer(IP)
                if ip is None:
                    continue
                # an ICMP error quotes the packet it is about: count the error, not the quote
                if pkt.haslayer(ICMPv6PacketTooBig):
                    icmp[f"ICMPv6 PTB mtu={pkt[ICMPv6PacketTooBig].mtu}"] += 1
                    continue
                if pkt.haslayer(ICMPv6DestUnreach):
                    icmp["ICMPv6 unreachable"] += 1
                    continue
                if pkt.haslayer(ICMP) and pkt[ICMP].type == 3:
                    code = pkt[ICMP].code
                    icmp[f"ICMP frag-needed mtu={pkt[ICMP].nexthopmtu}" if code == 4 else "ICMP unreachable"] += 1
                    continue
                if pkt.haslayer(TCP):
                    t = pkt[TCP]
                    flags = int(t.flags)
                    if flags & 0x02 and not flags & 0x10:
                        syns[_endpoint(ip.dst, t.dport)] += 1
                    elif flags & 0x12 == 0x12:
                        synacks += 1
                    if flags & 0x04:
                        rsts += 1
                    size = len(t.payload)
                    if size:  # per interface and direction: a forwarder sees each packet twice
                        first = pkt.firstlayer()
                        where = (getattr(first, "ifindex", None), getattr(first, "pkttype", None))
                        key = (where, ip.src, ip.dst, t.sport, t.dport, t.seq, size)
                        segments[key] += 1
                        retrans += segments[key] > 1
                if pkt.haslayer(UDP) and pkt.haslayer(DNS):
                    d = pkt[DNS]
                    dns_q += d.qr == 0
                    dns_nx += d.qr == 1 and d.rcode == 3
    except Exception as exc:  # a truncated pcap (killed capture): say so, keep what was read
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
