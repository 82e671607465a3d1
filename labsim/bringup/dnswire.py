"""The readiness probe's DNS query and the rcode of its answer, in the RFC 1035 wire format
(section 4.1), with the standard library only: dnspython's message module costs ~15 ms to
import, paid by every `labsim up` before its first netlink request (issue 21). What is
built is what `dns.message.make_query(qname, rdtype)` sends (RD set, no EDNS), byte for
byte apart from the random id: tests/unit/test_dnswire.py compares them."""

from __future__ import annotations

import os
import struct

# RFC 1035 3.2.2 and RFC 3596 2.1: the types bring-up probes for (others: dnspython's table)
RDTYPES = {"A": 1, "NS": 2, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}
# RFC 1035 4.1.1 and RFC 2136 2.2 (the header's 4-bit RCODE; no EDNS, so no extended rcode)
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}
FLAG_QR, FLAG_RD = 0x8000, 0x0100
CLASS_IN = 1


def _rdtype(rdtype: str) -> int:
    code = RDTYPES.get(rdtype.upper())
    if code is None:  # a type bring-up does not use today: dnspython knows them all
        import dns.rdatatype

        code = int(dns.rdatatype.from_text(rdtype))
    return code


def _name(qname: str) -> bytes:
    labels = [label.encode("idna") if not label.isascii() else label.encode() for label in
              qname.rstrip(".").split(".")] if qname.rstrip(".") else []
    for label in labels:
        if not 0 < len(label) < 64:
            raise ValueError(f"{qname!r}: a label of {len(label)} octets (1-63)")
    wire = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    if len(wire) > 255:
        raise ValueError(f"{qname!r}: longer than 255 octets")
    return wire


def query(qname: str, rdtype: str) -> tuple[int, bytes]:
    """(id, wire) of a recursive query for `qname`/`rdtype` in class IN."""
    qid = int.from_bytes(os.urandom(2), "big")
    header = struct.pack("!HHHHHH", qid, FLAG_RD, 1, 0, 0, 0)
    return qid, header + _name(qname) + struct.pack("!HH", _rdtype(rdtype), CLASS_IN)


def answer_rcode(wire: bytes, qid: int) -> str | None:
    """The rcode's name of a response to query `qid`, or None when `wire` is not one (too
    short, not a response, another id)."""
    if len(wire) < 12:
        return None
    rid, flags = struct.unpack_from("!HH", wire)
    if rid != qid or not flags & FLAG_QR:
        return None
    return RCODES.get(flags & 0xF, str(flags & 0xF))
