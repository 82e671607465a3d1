"""Read back a step's pcap for its one-line summary: standard library only, because
`import scapy.all` alone cost 0.4-0.65 s of every `labsim review` that kept a capture.

Reads what the summary needs and nothing more: the pcap file header (either byte order,
microsecond or nanosecond stamps), the link layers tcpdump writes (LINUX_SLL for
`-i any` before libpcap 1.10, LINUX_SLL2 after it, Ethernet with VLAN tags, raw IP), IPv4
and IPv6 (extension headers walked, IP-in-IP followed), then TCP, UDP with a DNS header,
ICMP and ICMPv6 errors. The layers are the ones scapy's dissection gave the summary
before: a non-first fragment carries no transport header, the packet an ICMP error quotes
is not parsed, a header cut short by the snap length is no header. Never raises on packet
bytes; a file that is not a pcap raises PcapError.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# magic -> byte order (microsecond and nanosecond stamps read alike: no time is used here)
MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
HEADER = 24
RECORD = 16
MAX_DATA = 0xFFFF  # bytes of a record dissected (scapy's MTU): more is never a header we read
MAX_READ = MAX_DATA * 4  # bound on one read of a torn file's absurd length
LINK_ETHERNET, LINK_RAW, LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = 1, 101, 113, 228, 229, 276
ETH_IPV4, ETH_IPV6, ETH_VLAN = 0x0800, 0x86DD, (0x8100, 0x88A8, 0x9100)
IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
IPV6_FRAGMENT, IPV6_AH = 44, 51
DNS_PORTS = (53, 5353)  # the UDP ports scapy decodes as DNS


class PcapError(Exception):
    """The file is not a pcap this reader knows."""


@dataclass
class Tcp:
    sport: int
    dport: int
    flags: int
    seq: int
    size: int  # payload bytes (within the IP length, as captured)


@dataclass
class Packet:
    """What the summary reads of one packet; None: the packet has no such layer."""

    where: tuple[int | None, int | None] = (None, None)  # (ifindex, pkttype) of the cooked header
    src: str | None = None  # of the first IPv6 header, else of the first IPv4 header
    dst: str | None = None
    v6: bool = False  # src/dst are an IPv6 header's
    icmp: str | None = None  # 'ICMPv6 PTB mtu=1280', 'ICMPv6 unreachable', 'ICMP frag-needed mtu=..', ...
    tcp: Tcp | None = None
    dns: tuple[int, int] | None = None  # (qr, rcode) of a DNS header over UDP


def records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(link type, captured bytes) of each record; stops at the end or at a torn record
    header; a record torn within its data yields what is there (scapy read it so)."""
    with open(path, "rb") as f:
        head = f.read(HEADER)
        if len(head) < HEADER or head[:4] not in MAGIC:
            raise PcapError("not a pcap file (no pcap magic in its first 24 bytes)")
        order = MAGIC[head[:4]]
        link = struct.unpack(order + "I", head[20:24])[0] & 0x0FFFFFFF  # high bits: FCS flags
        rec = struct.Struct(order + "IIII")
        while True:
            h = f.read(RECORD)
            if len(h) < RECORD:
                return
            incl = rec.unpack(h)[2]
            data = f.read(min(incl, MAX_READ))
            if incl > len(data):
                f.seek(incl - len(data), 1)  # the rest of an oversized record (past the end: EOF)
            yield link, data[:MAX_DATA]


def dissect(link: int, data: bytes) -> Packet:
    pkt = Packet()
    try:
        _link(pkt, link, memoryview(data))
    except (IndexError, struct.error, ValueError):  # a cut header: the layers read so far stand
        pass
    return pkt


def _link(pkt: Packet, link: int, b: memoryview) -> None:
    if link == LINK_SLL2:
        if len(b) < 20:
            return
        proto, ifindex, pkttype = struct.unpack_from("!H2xI2xB", b)
        pkt.where = (ifindex, pkttype)
        _ethertype(pkt, proto, b[20:])
    elif link == LINK_SLL:
        if len(b) < 16:
            return
        pkt.where = (None, struct.unpack_from("!H", b)[0])
        _ethertype(pkt, struct.unpack_from("!H", b, 14)[0], b[16:])
    elif link == LINK_ETHERNET:
        if len(b) < 14:
            return
        proto, off = struct.unpack_from("!H", b, 12)[0], 14
        while proto in ETH_VLAN and len(b) >= off + 4:
            proto, off = struct.unpack_from("!H", b, off + 2)[0], off + 4
        if proto not in ETH_VLAN:
            _ethertype(pkt, proto, b[off:])
    elif link in (LINK_RAW, LINK_IPV4, LINK_IPV6) and len(b):
        version = b[0] >> 4
        _ethertype(pkt, ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0, b)


def _ethertype(pkt: Packet, proto: int, b: memoryview) -> None:
    if proto == ETH_IPV4:
        _ipv4(pkt, b)
    elif proto == ETH_IPV6:
        _ipv6(pkt, b)


def _ipv4(pkt: Packet, b: memoryview) -> None:
    if len(b) < 20:
        return
    ihl = (b[0] & 0x0F) * 4
    total, frag, proto = struct.unpack_from("!H2xH1xB", b, 2)
    if pkt.src is None:  # an IPv6 header, outer or inner, is the one the summary names
        pkt.src, pkt.dst = socket.inet_ntop(socket.AF_INET, b[12:16]), socket.inet_ntop(socket.AF_INET, b[16:20])
    body = b[max(ihl, 20):]
    if total - ihl >= 0:
        body = body[:total - ihl]
    if frag & 0x1FFF:  # a later fragment: no transport header in it
        return
    _transport(pkt, proto, body, v6=False)


def _ipv6(pkt: Packet, b: memoryview) -> None:
    if len(b) < 40:
        return
    plen, nh = struct.unpack_from("!HB", b, 4)
    if not pkt.v6:
        pkt.v6 = True
        pkt.src, pkt.dst = socket.inet_ntop(socket.AF_INET6, b[8:24]), socket.inet_ntop(socket.AF_INET6, b[24:40])
    body = b[40:40 + plen]
    for _ in range(16):  # a bound on chained extension headers
        if nh in IPV6_EXT:
            if len(body) < 8:
                return
            nh, body = body[0], body[(body[1] + 1) * 8:]
        elif nh == IPV6_AH:
            if len(body) < 12:
                return
            nh, body = body[0], body[(body[1] + 2) * 4:]
        elif nh == IPV6_FRAGMENT:
            if len(body) < 8:
                return
            if struct.unpack_from("!H", body, 2)[0] >> 3:  # a later fragment
                return
            nh, body = body[0], body[8:]
        else:
            break
    _transport(pkt, nh, body, v6=True)


def _transport(pkt: Packet, proto: int, b: memoryview, v6: bool) -> None:
    if proto == 6:
        if len(b) >= 20:
            sport, dport, seq, off, flags = struct.unpack_from("!HHI4xBB", b)
            payload = len(b) - max((off >> 4) * 4, 20)
            pkt.tcp = Tcp(sport, dport, flags | (off & 0x01) << 8, seq, max(payload, 0))
    elif proto == 17:
        if len(b) >= 8:
            sport, dport, length = struct.unpack_from("!HHH", b)
            data = b[8:8 + length - 8] if length >= 8 else b[8:]
            if (sport in DNS_PORTS or dport in DNS_PORTS) and len(data) >= 12:
                pkt.dns = (data[2] >> 7, data[3] & 0x0F)
    elif proto == 58 and v6:
        if len(b) >= 8 and b[0] == 2:
            pkt.icmp = f"ICMPv6 PTB mtu={struct.unpack_from('!I', b, 4)[0]}"
        elif len(b) >= 8 and b[0] == 1:
            pkt.icmp = "ICMPv6 unreachable"
    elif proto == 1 and not v6:
        if len(b) >= 8 and b[0] == 3:
            pkt.icmp = f"ICMP frag-needed mtu={struct.unpack_from('!H', b, 6)[0]}" if b[1] == 4 else "ICMP unreachable"
    elif proto == 4:
        _ipv4(pkt, b)
    elif proto == 41:
        _ipv6(pkt, b)
