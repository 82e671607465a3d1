"""A DHCPv4 client for self-configuring lab hosts (RFC 2131), with RFC 8925's option 108.

A host that supports "IPv6-only preferred" lists option 108 in its parameter request list;
when the OFFER carries it, the host takes no lease and waits V6ONLY_WAIT seconds (it runs
on IPv6 and its CLAT). A legacy host never asks, REQUESTs the offer and configures the
address and default router it is given. Standard library only; packets are built and
parsed here (the option format is small) and checked strictly.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK = 1, 2, 3, 4, 5, 6
OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_REQ_IP, OPT_LEASE, OPT_TYPE, OPT_SERVER, OPT_PRL = 1, 3, 6, 50, 51, 53, 54, 55
OPT_V6ONLY = 108
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


@dataclass
class Reply:
    xid: int
    yiaddr: IPv4Address
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def type(self) -> int | None:
        v = self.options.get(OPT_TYPE)
        return v[0] if v else None

    def addr_opt(self, code: int) -> IPv4Address | None:
        v = self.options.get(code)
        return IPv4Address(v[:4]) if v and len(v) >= 4 else None

    def u32(self, code: int) -> int | None:
        v = self.options.get(code)
        return struct.unpack("!I", v[:4])[0] if v and len(v) >= 4 else None


def build(msg_type: int, xid: int, mac: bytes, prl: list[int], extra: dict[int, bytes] | None = None) -> bytes:
    head = HEADER.pack(1, 1, 6, 0, xid, 0, 0x8000,  # BOOTREQUEST, Ethernet, broadcast replies
                       bytes(4), bytes(4), bytes(4), bytes(4), mac.ljust(16, b"\0"), bytes(64), bytes(128))
    opts = bytes([OPT_TYPE, 1, msg_type, OPT_PRL, len(prl), *prl])
    for code, value in (extra or {}).items():
        opts += bytes([code, len(value)]) + value
    return head + MAGIC + opts + b"\xff"


def parse(data: bytes) -> Reply:
    """A BOOTREPLY; ValueError on anything malformed."""
    if len(data) < HEADER.size + 4 or data[0] != 2:
        raise ValueError("not a BOOTREPLY")
    fields = HEADER.unpack_from(data)
    if data[HEADER.size:HEADER.size + 4] != MAGIC:
        raise ValueError("no DHCP magic cookie")
    opts: dict[int, bytes] = {}
    i = HEADER.size + 4
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data) or i + 2 + data[i + 1] > len(data):
            raise ValueError(f"option {code} runs past the packet")
        opts[code] = opts.get(code, b"") + data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return Reply(fields[4], IPv4Address(fields[8]), opts)


def _mac(dev: str) -> bytes:
    with open(f"/sys/class/net/{dev}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


class Dhcp4Client:
    def __init__(self, dev: str, v6only: bool):
        self.dev, self.v6only = dev, v6only
        self.state = "init"  # init -> bound | v6only; 'no answer' while the server is silent
        self.facts: dict[str, Any] = {"ipv6_only_preferred": v6only, "state": self.state}
        self.next_try = 0.0

    def step(self, now: float, deadline_s: float = 0.3) -> bool:
        """One bounded exchange attempt; True when the state changed."""
        if self.state in ("bound", "v6only") or now < self.next_try:
            return False
        before = self.state
        try:
            self._exchange(deadline_s)
        except (OSError, ValueError) as exc:
            self.state, self.facts["error"] = "no answer", str(exc)
            self.next_try = now + 0.1
        self.facts["state"] = self.state
        return self.state != before

    def _exchange(self, deadline_s: float) -> None:
        prl = [OPT_MASK, OPT_ROUTER, OPT_DNS] + ([OPT_V6ONLY] if self.v6only else [])
        mac, xid = _mac(self.dev), int.from_bytes(os.urandom(4), "big")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.dev.encode())
            s.bind(("0.0.0.0", 68))
            offer = self._ask(s, build(DISCOVER, xid, mac, prl), xid, OFFER, deadline_s)
            self.facts["offered"] = str(offer.yiaddr)
            wait = offer.u32(OPT_V6ONLY)
            if self.v6only and wait is not None:
                # RFC 8925 §3.2: stop, take no address, try again after V6ONLY_WAIT
                self.state = "v6only"
                self.facts["v6only_wait"] = wait
                return
            server = offer.options.get(OPT_SERVER, b"")
            ack = self._ask(s, build(REQUEST, xid, mac, prl, {OPT_REQ_IP: offer.yiaddr.packed, OPT_SERVER: server}),
                            xid, ACK, deadline_s)
        mask = ack.addr_opt(OPT_MASK) or IPv4Address("255.255.255.0")
        iface = IPv4Interface(f"{ack.yiaddr}/{mask}")
        router = ack.addr_opt(OPT_ROUTER)
        cmds = [["ip", "-4", "addr", "replace", str(iface), "dev", self.dev]]
        if router is not None:
            cmds.append(["ip", "-4", "route", "replace", "default", "via", str(router), "dev", self.dev])
        for argv in cmds:
            subprocess.run(argv, check=True, capture_output=True, timeout=10)
        self.state = "bound"
        self.facts.update({"address": str(iface.ip), "prefixlen": iface.network.prefixlen,
                           "router": str(router) if router else None,
                           "lease": ack.u32(OPT_LEASE), "server": str(ack.addr_opt(OPT_SERVER))})

    def _ask(self, s: socket.socket, packet: bytes, xid: int, want: int, deadline_s: float) -> Reply:
        s.sendto(packet, ("255.255.255.255", 67))
        end = time.monotonic() + deadline_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise OSError(f"no DHCP {'OFFER' if want == OFFER else 'ACK'} within {deadline_s}s")
            s.settimeout(left)
            try:
                data = s.recv(2048)
            except TimeoutError:
                continue
            try:
                r = parse(data)
            except ValueError:
                continue
            if r.xid != xid:
                continue
            if r.type == NAK:
                raise OSError("DHCPNAK")
            if r.type == want:
                return r
