"""Tier 1: the one-line summary of a step's pcap (scapy reads what tcpdump wrote; here scapy
writes the pcap too), and that a truncated pcap still gives a line (no root)."""

from __future__ import annotations

from scapy.all import ICMP, IP, TCP, ICMPv6PacketTooBig, IPerror, IPv6, TCPerror, wrpcap
from scapy.layers.l2 import CookedLinux

from labsim.scenario.capture import summarize

C, S = "2001:db8:1::2", "2001:db8:64::c633:6402"


def cooked(pkt, pkttype=0):
    return CookedLinux(pkttype=pkttype) / pkt


def test_syn_without_answer_retransmissions_and_icmp_errors(tmp_path):
    seg = IPv6(src=S, dst=C) / TCP(sport=443, dport=40000, flags="A", seq=100) / (b"x" * 1400)
    pkts = [cooked(IPv6(src=C, dst=S) / TCP(sport=40000, dport=443, flags="S")) for _ in range(3)]
    pkts += [cooked(seg), cooked(seg)]  # the same segment twice on one interface: a retransmission
    pkts.append(cooked(IPv6(src="2001:db8:1::1", dst=S) / ICMPv6PacketTooBig(mtu=1420) / bytes(seg)[:200]))
    pkts.append(cooked(IP(src="192.0.2.2", dst="198.51.100.2") / ICMP(type=3, code=4, nexthopmtu=1400)
                       / IPerror(src="198.51.100.2", dst="198.18.0.2") / TCPerror(sport=443, dport=1)))
    f = tmp_path / "c.pcap"
    wrpcap(str(f), pkts)
    line = summarize(f)
    assert line.startswith("7 pkts; SYN to [2001:db8:64::c633:6402]:443 x3; no SYN-ACK; 1 retransmitted segments")
    assert "ICMPv6 PTB mtu=1420 x1" in line and "ICMP frag-needed mtu=1400 x1" in line


def test_forwarded_copies_are_not_retransmissions(tmp_path):
    seg = IPv6(src=S, dst=C) / TCP(sport=443, dport=40000, flags="A", seq=100) / (b"x" * 100)
    f = tmp_path / "f.pcap"
    wrpcap(str(f), [cooked(seg, 0), cooked(seg, 4)])  # in, then out again
    assert summarize(f) == "2 pkts; no ICMP errors"


def test_a_truncated_pcap_still_gives_a_line(tmp_path):
    f = tmp_path / "t.pcap"
    wrpcap(str(f), [cooked(IPv6(src=C, dst=S) / TCP(flags="S"))] * 3)
    f.write_bytes(f.read_bytes()[:-10])
    line = summarize(f)  # what was read before the cut, never an exception
    assert "pkts" in line and "SYN to [2001:db8:64::c633:6402]:80" in line
