"""Cut time windows out of pcap files: a scenario's whole capture (a ring of tcpdump files
per node) becomes one pcap per failed step, holding the packets stamped within the step.

Plain pcap records copied byte for byte (the first input's file header, so the link type
and timestamp resolution stay as tcpdump wrote them); no packet is parsed. At most
`max_packets` per window: the bound of what one step's pcap holds.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

HEADER = 24
RECORD = 16
# magic -> (byte order, timestamp units per second)
MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1_000_000), b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
         b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000), b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000)}
MAX_RECORD = 1 << 18  # larger than any snaplen we ask for: a bigger length means a torn file


@dataclass
class Window:
    start: float  # time.time() seconds, inclusive
    end: float  # inclusive
    out: Path
    packets: int = 0
    dropped: int = 0  # in the window, beyond max_packets
    clipped: bool = False  # the ring had wrapped past the window's start: its first packets are gone


def records(f: BinaryIO) -> Iterator[tuple[float, bytes]]:
    """(timestamp, the record with its header) of a pcap stream; stops at a torn record (a
    capture stopped mid-write), or at once when the header is not a pcap's."""
    head = f.read(HEADER)
    if len(head) < HEADER or head[:4] not in MAGIC:
        return
    order, units = MAGIC[head[:4]]
    rec = struct.Struct(order + "IIII")
    while True:
        h = f.read(RECORD)
        if len(h) < RECORD:
            return
        sec, frac, incl, _orig = rec.unpack(h)
        if incl > MAX_RECORD:
            return
        data = f.read(incl)
        if len(data) < incl:
            return
        yield sec + frac / units, h + data


def file_header(path: Path) -> bytes | None:
    with open(path, "rb") as f:
        head = f.read(HEADER)
    return head if len(head) == HEADER and head[:4] in MAGIC else None


def first_stamp(path: Path) -> float:
    """The first packet's time (inf for a file with none): the order of a ring's files."""
    with open(path, "rb") as f:
        return next((ts for ts, _ in records(f)), float("inf"))


def slice_windows(files: list[Path], windows: list[Window], max_packets: int,
                  wrapped: bool = False) -> list[Window]:
    """Write each window's packets from `files` (read oldest first) into window.out; a
    window with no packets still gets a valid, empty pcap. `wrapped`: the files are a ring
    that has overwritten its oldest file, so a window that starts before the oldest packet
    left is `clipped`. Returns the windows."""
    files = sorted((p for p in files if file_header(p) is not None), key=first_stamp)
    header = file_header(files[0]) if files else None
    if header is None:
        return windows
    oldest = first_stamp(files[0])
    for w in windows:
        w.clipped = wrapped and w.start < oldest
    outs = {id(w): open(w.out, "wb") for w in windows}
    try:
        for w in windows:
            outs[id(w)].write(header)
        for p in files:
            head = file_header(p)
            if head is None or head[:4] != header[:4]:
                continue  # another byte order or resolution: not one capture's ring
            with open(p, "rb") as f:
                for ts, raw in records(f):
                    for w in windows:
                        if w.start <= ts <= w.end:
                            if w.packets < max_packets:
                                outs[id(w)].write(raw)
                                w.packets += 1
                            else:
                                w.dropped += 1
    finally:
        for out in outs.values():
            out.close()
    return windows
