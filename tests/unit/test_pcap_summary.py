"""Tier 1: the standard-library pcap reader behind a capture's one-line summary gives the
line the scapy-based summarize() gave (kept below as the reference) on pcaps scapy writes:
every case the summary tells apart, every link type and file header tcpdump writes; and
on torn or garbage bytes it gives a line, never an exception (no root)."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.all import (
    DNS,
    DNSQR,
    ICMP,
    IP,
    TCP,
    UDP,
    Ether,
    IPerror,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    TCPerror,
    UDPerror,
    wrpcap,
)
from scapy.layers.dns import DNSRR
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6PacketTooBig, ICMPv6TimeExceeded, IPerror6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q

from labsim.scenario.capture import MAX_PACKETS, _endpoint, summarize

C, S, R = "2001:db8:1::2", "2001:db8:64::c633:6402", "2001:db8:1::1"
C4, S4 = "192.0.2.2", "198.51.100.2"


def scapy_summarize(path: Path) -> str:
    """summarize() as it was with scapy (before the standard-library reader): the reference."""
    import scapy.all  # noqa: F401
    from scapy.layers.dns import DNS
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6PacketTooBig, IPv6
    from scapy.utils import PcapReader

    syns: Counter[str] = Counter()
    icmp: Counter[str] = Counter()
    segments: Counter[tuple[object, ...]] = Counter()
    synacks, rsts, retrans, n = 0, 0, 0, 0
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
                    if size:
                        first = pkt.firstlayer()
                        where = (getattr(first, "ifindex", None), getattr(first, "pkttype", None))
                        key = (where, ip.src, ip.dst, t.sport, t.dport, t.seq, size)
                        segments[key] += 1
                        retrans += segments[key] > 1
                if pkt.haslayer(UDP) and pkt.haslayer(DNS):
                    d = pkt[DNS]
                    dns_q += d.qr == 0
                    dns_nx += d.qr == 1 and d.rcode == 3
    except Exception as exc:
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


def seg6(src=S, dst=C, sport=443, dport=40000, seq=100, size=1400, flags="A"):
    return IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq) / (b"x" * size)


def traffic() -> list:
    """Network-layer packets covering each case the summary tells apart."""
    syn6 = IPv6(src=C, dst=S) / TCP(sport=40000, dport=443, flags="S")
    syn4 = IP(src=C4, dst=S4) / TCP(sport=40001, dport=80, flags="S")
    return [
        syn6, syn6, syn6, syn4,
        IPv6(src=C, dst="2001:db8::53") / TCP(sport=40002, dport=853, flags="S"),
        IPv6(src=C, dst="2001:db8::54") / TCP(sport=40003, dport=8443, flags="S"),
        IPv6(src=S, dst=C) / TCP(sport=443, dport=40000, flags="SA"),
        IP(src=S4, dst=C4) / TCP(sport=80, dport=40001, flags="RA"),
        IPv6(src=S, dst=C) / TCP(sport=443, dport=40000, flags="R"),
        seg6(), seg6(), seg6(seq=1500), seg6(size=0), seg6(size=0),
        IP(src=S4, dst=C4) / TCP(sport=80, dport=40001, flags="PA", seq=7) / b"hello",
        IP(src=S4, dst=C4) / TCP(sport=80, dport=40001, flags="PA", seq=7) / b"hello",
        # IPv6 extension headers before the transport header
        IPv6(src=C, dst=S) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting()
        / TCP(sport=40009, dport=443, flags="S"),
        IPv6(src=C, dst=S) / IPv6ExtHdrFragment(offset=0, m=1, id=7) / TCP(sport=40010, dport=443, flags="S"),
        IPv6(src=C, dst=S) / IPv6ExtHdrFragment(offset=100, m=0, id=7) / TCP(sport=40011, dport=443, flags="S"),
        IP(src=C4, dst=S4, frag=100) / TCP(sport=40012, dport=80, flags="S"),
        IP(src=C4, dst=S4, options=b"\x01\x01\x01\x00") / TCP(sport=40013, dport=80, flags="S"),
        # tunnels: the first IPv6 header names the endpoint
        IP(src=C4, dst=S4) / IPv6(src=C, dst="2001:db8::6") / TCP(sport=40014, dport=443, flags="S"),
        # DNS over UDP: queries, answers, NXDOMAIN; mDNS too; DNS-looking bytes on another port not
        IPv6(src=C, dst="2001:db8::53") / UDP(sport=5000, dport=53) / DNS(rd=1, qd=DNSQR(qname="a.test")),
        IP(src=C4, dst="192.0.2.53") / UDP(sport=5001, dport=53) / DNS(rd=1, qd=DNSQR(qname="b.test")),
        IPv6(src="2001:db8::53", dst=C) / UDP(sport=53, dport=5000)
        / DNS(qr=1, rcode=3, qd=DNSQR(qname="a.test")),
        IPv6(src="2001:db8::53", dst=C) / UDP(sport=53, dport=5000)
        / DNS(qr=1, qd=DNSQR(qname="c.test", qtype="AAAA"), an=DNSRR(rrname="c.test", type="AAAA", rdata=S)),
        IPv6(src="fe80::1", dst="ff02::fb") / UDP(sport=5353, dport=5353) / DNS(qd=DNSQR(qname="m.local")),
        IPv6(src=C, dst=S) / UDP(sport=5002, dport=5003) / bytes(DNS(qd=DNSQR(qname="x.test"))),
        # ICMP errors counted, their quotes not
        IPv6(src=R, dst=S) / ICMPv6PacketTooBig(mtu=1420) / bytes(seg6())[:200],
        IPv6(src=R, dst=S) / ICMPv6PacketTooBig(mtu=1280) / bytes(seg6())[:200],
        IPv6(src=R, dst=C) / ICMPv6DestUnreach(code=4) / IPerror6(src=C, dst=S) / TCPerror(sport=40000, dport=443),
        IPv6(src=R, dst=C) / ICMPv6TimeExceeded() / IPerror6(src=C, dst=S)
        / TCPerror(sport=40000, dport=443, flags="S"),
        IPv6(src=C, dst=S) / ICMPv6EchoRequest(),
        IP(src="192.0.2.1", dst=S4) / ICMP(type=3, code=4, nexthopmtu=1400)
        / IPerror(src=S4, dst="198.18.0.2") / TCPerror(sport=443, dport=1),
        IP(src="192.0.2.1", dst=C4) / ICMP(type=3, code=1) / IPerror(src=C4, dst=S4) / UDPerror(sport=1, dport=53),
        IP(src="192.0.2.1", dst=C4) / ICMP(type=11) / IPerror(src=C4, dst=S4) / TCPerror(flags="S"),
        IP(src=C4, dst=S4) / ICMP(type=8),
    ]


def frame(pkt, link: str, i: int):
    proto = 0x86DD if pkt.haslayer(IPv6) and isinstance(pkt, IPv6) else 0x0800
    if link == "sll":
        return CookedLinux(pkttype=i % 2 * 4, proto=proto) / pkt
    if link == "sll2":
        return CookedLinuxV2(ifindex=2 + i % 3, pkttype=i % 2 * 4, proto=proto) / pkt
    if link == "vlan":
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=5) / pkt
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt


def big_endian(raw: bytes) -> bytes:
    """The same pcap with its headers written big-endian (as a big-endian host's tcpdump writes)."""
    out = bytearray(raw[:4][::-1] + struct.pack(">HHiIII", *struct.unpack("<HHiIII", raw[4:24])))
    i = 24
    while i + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack_from("<IIII", raw, i)
        out += struct.pack(">IIII", sec, frac, incl, orig) + raw[i + 16:i + 16 + incl]
        i += 16 + incl
    return bytes(out)


CASES = [(link, nano, big) for link in ("sll", "sll2", "ether", "vlan") for nano in (False, True)
         for big in (False, True)]


@pytest.mark.parametrize("link,nano,big", CASES, ids=[f"{a}-{'ns' if b else 'us'}-{'be' if c else 'le'}"
                                                       for a, b, c in CASES])
def test_the_line_is_the_one_scapy_gave(tmp_path, link, nano, big):
    f = tmp_path / "c.pcap"
    # each packet twice: a forwarder's two copies, on two interfaces or directions (sll, sll2)
    # or indistinguishable (ethernet: the same segment seen again, a retransmission)
    pkts = [frame(p, link, i) for i, p in enumerate(traffic()) for _ in range(2)]
    wrpcap(str(f), pkts, nano=nano)
    if big:
        f.write_bytes(big_endian(f.read_bytes()))
    old = scapy_summarize(f)
    assert old.startswith(f"{len(pkts)} pkts; SYN to [2001:db8:64::c633:6402]:443 x")  # the pcap read at all
    assert summarize(f) == old


@pytest.mark.parametrize("traffic_of", [
    lambda: [IPv6(src=C, dst=S) / TCP(flags="S")] * 3,
    lambda: [IPv6(src=S, dst=C) / TCP(flags="SA"), IP(src=C4, dst=S4) / TCP(flags="R")],
    lambda: [IPv6(src=C, dst="2001:db8::53") / UDP(dport=53) / DNS(qd=DNSQR(qname="x.test"))],
    lambda: [IPv6(src=R, dst=C) / ICMPv6DestUnreach() / IPerror6(src=C, dst=S) / UDPerror()] * 5
    + [IPv6(src=R, dst=C) / ICMPv6PacketTooBig(mtu=m) for m in (1280, 1300, 1400, 1420, 1460)],
    lambda: [IP(src="192.0.2.1", dst=C4) / ICMP(type=3, code=1) / IPerror(src=C4, dst=S4) / UDPerror(dport=53),
             IP(src="192.0.2.1", dst=C4) / ICMP(type=11) / IPerror(src=C4, dst=S4) / TCPerror(flags="S")],
    lambda: [IP(src=C4, dst=S4) / IPv6(src=C, dst="2001:db8::6") / TCP(dport=443, flags="S"),
             IPv6(src=C, dst=S) / IPv6ExtHdrFragment(offset=100, id=7) / TCP(dport=443, flags="S"),
             IP(src=C4, dst=S4, frag=100) / TCP(dport=80, flags="S")],
    lambda: [],
], ids=["syns-only", "synack-rst", "dns-query", "many-icmp", "icmp4-unreachable", "tunnel-fragments", "empty"])
def test_smaller_captures_agree(tmp_path, traffic_of):
    f = tmp_path / "c.pcap"
    wrpcap(str(f), [frame(p, "sll2", 0) for p in traffic_of()], linktype=276)
    assert summarize(f) == scapy_summarize(f)


def test_raw_ip_link_type(tmp_path):
    f = tmp_path / "raw.pcap"
    wrpcap(str(f), [IPv6(src=C, dst=S) / TCP(flags="S"), IP(src=C4, dst=S4) / TCP(flags="S")], linktype=101)
    assert summarize(f) == scapy_summarize(f) == f"2 pkts; SYN to [{S}]:80; SYN to {S4}:80; no SYN-ACK; no ICMP errors"


@pytest.mark.parametrize("cut", [1, 10, 30, 60, 100, 17 + 16])
def test_a_torn_pcap_agrees(tmp_path, cut):
    f = tmp_path / "t.pcap"
    wrpcap(str(f), [frame(p, "sll", i) for i, p in enumerate(traffic())])
    f.write_bytes(f.read_bytes()[:-cut])
    assert summarize(f) == scapy_summarize(f)


def test_snaplen_cut_packets_agree(tmp_path):
    """tcpdump -s 262 cuts long packets: headers are read, the payload is what was kept."""
    f = tmp_path / "s.pcap"
    pkts = [frame(p, "sll2", i) for i, p in enumerate(traffic()) for _ in range(2)]
    wrpcap(str(f), pkts)
    raw, out, i = f.read_bytes(), bytearray(), 24
    out += raw[:24]
    while i + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack_from("<IIII", raw, i)
        out += struct.pack("<IIII", sec, frac, min(incl, 262), orig) + raw[i + 16:i + 16 + min(incl, 262)]
        i += 16 + incl
    f.write_bytes(bytes(out))
    assert summarize(f) == scapy_summarize(f)


def test_not_a_pcap_is_a_line(tmp_path):
    f = tmp_path / "g.pcap"
    f.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)
    assert summarize(f).startswith("0 pkts read, then: not a pcap file")
    f.write_bytes(b"")
    assert summarize(f).startswith("0 pkts read, then: not a pcap file")


HEADERS = [struct.pack(f"{o}IHHiIII", 0xA1B2C3D4 if not ns else 0xA1B23C4D, 2, 4, 0, 0, 262, link)
           for o in "<>" for ns in (False, True) for link in (1, 101, 113, 228, 229, 276)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.sampled_from(HEADERS + [b""]), body=st.binary(max_size=600),
       records=st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.binary(max_size=120)), max_size=8))
def test_garbage_after_a_header_never_raises(tmp_path, head, body, records):
    order = "<" if head[:1] == b"\xd4" or head[:1] == b"\x4d" else ">"
    data = head + b"".join(struct.pack(f"{order}IIII", 0, 0, len(b) if n % 3 else n, len(b)) + b
                           for n, b in records) + body
    f = tmp_path / "h.pcap"
    f.write_bytes(data)
    line = summarize(f)
    assert " pkts" in line and "\n" not in line


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_flipped_bytes_in_a_real_capture_never_raise(tmp_path, data):
    f = tmp_path / "r.pcap"
    wrpcap(str(f), [frame(p, "sll2", i) for i, p in enumerate(traffic()[:12])], linktype=276)
    raw = bytearray(f.read_bytes())
    for _ in range(data.draw(st.integers(1, 20))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[:data.draw(st.integers(0, len(raw)))]
    f.write_bytes(bytes(raw))
    line = summarize(f)
    assert " pkts" in line and "\n" not in line
