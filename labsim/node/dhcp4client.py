"""A DHCPv4 client for self-configuring lab hosts (RFC 2131), with RFC 8925's option 108.

A host that supports "IPv6-only preferred" lists option 108 in its parameter request list;
when the OFFER carries it, the host takes no lease, stops DHCPv4 for V6ONLY_WAIT seconds
(never less than MIN_V6ONLY_WAIT, 300) and then DISCOVERs again (it runs on IPv6 and its
CLAT meanwhile). A legacy host never asks, and a host whose server offers no 108 takes the
lease: it REQUESTs the offer, configures the address and default router it is given,
renews at T1 and de-configures both when the lease runs out unrenewed. Standard library only; packets are built and
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
MIN_V6ONLY_WAIT = 300  # RFC 8925 §3.4
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


def build(msg_type: int, xid: int, mac: bytes, prl: list[int], extra: dict[int, bytes] | None = None,
          ciaddr: bytes = bytes(4)) -> bytes:
    head = HEADER.pack(1, 1, 6, 0, xid, 0, 0x8000,  # BOOTREQUEST, Ethernet, broadcast replies
                       ciaddr, bytes(4), bytes(4), bytes(4), mac.ljust(16, b"\0"), bytes(64), bytes(128))
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
    """init -> bound | v6only; bound -> (renewed at T1) ... -> expired -> init; v6only -> init
    after V6ONLY_WAIT; 'no answer' while the server is silent. `step(now)` is driven by the
    caller's clock (monotonic seconds), so the timers are tested with a fake one."""

    def __init__(self, dev: str, v6only: bool):
        self.dev, self.v6only = dev, v6only
        self.state = "init"
        self.facts: dict[str, Any] = {"ipv6_only_preferred": v6only, "state": self.state}
        self.next_try = 0.0
        self.renew_at: float | None = None  # T1 (RFC 2131 §4.4.5: half the lease)
        self.lease_until: float | None = None
        self.configured: list[list[str]] = []  # what to take away when the lease goes

    def prl(self) -> list[int]:
        return [OPT_MASK, OPT_ROUTER, OPT_DNS] + ([OPT_V6ONLY] if self.v6only else [])

    def step(self, now: float, deadline_s: float = 0.3) -> bool:
        """At most one bounded exchange; True when the state changed."""
        before = self.state
        if self.state == "bound":
            if self.lease_until is not None and now >= self.lease_until:
                # RFC 2131 §4.4.5: the lease ran out without a renewal: stop using the address
                self._deconfigure()
                self.state, self.facts["expired"] = "expired", True
            elif self.renew_at is not None and now >= self.renew_at:
                self._renew(now, deadline_s)
        elif now >= self.next_try:
            try:
                self._exchange(now, deadline_s)
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                self.state, self.facts["error"] = "no answer", str(exc)
                self.next_try = now + 0.1
        self.facts["state"] = self.state
        return self.state != before

    def _exchange(self, now: float, deadline_s: float) -> None:
        prl, mac, xid = self.prl(), _mac(self.dev), int.from_bytes(os.urandom(4), "big")
        with self._socket() as s:
            offer = self._ask(s, build(DISCOVER, xid, mac, prl), xid, OFFER, deadline_s)
            self.facts["offered"] = str(offer.yiaddr)
            wait = offer.u32(OPT_V6ONLY)
            if self.v6only and wait is not None:
                # RFC 8925 §3.2: request no address, stop DHCPv4 for V6ONLY_WAIT = max(the
                # offered value, MIN_V6ONLY_WAIT), then start again with a DISCOVER
                used = max(wait, MIN_V6ONLY_WAIT)
                self.state, self.next_try = "v6only", now + used
                self.facts.update({"v6only_wait": wait, "v6only_wait_used": used,
                                   "v6only_rounds": self.facts.get("v6only_rounds", 0) + 1})
                return
            server = offer.options.get(OPT_SERVER, b"")
            ack = self._ask(s, build(REQUEST, xid, mac, prl, {OPT_REQ_IP: offer.yiaddr.packed, OPT_SERVER: server}),
                            xid, ACK, deadline_s)
        self._bind(ack, now)

    def _renew(self, now: float, deadline_s: float) -> None:
        """RENEWING (RFC 2131 §4.3.2): a REQUEST with ciaddr and no server id; option 108 in
        its ACK is not acted on (RFC 8925 §3.2 names only DISCOVER and INIT-REBOOT)."""
        addr = IPv4Address(self.facts["address"])
        mac, xid = _mac(self.dev), int.from_bytes(os.urandom(4), "big")
        try:
            with self._socket() as s:
                ack = self._ask(s, build(REQUEST, xid, mac, self.prl(), ciaddr=addr.packed), xid, ACK, deadline_s)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self.facts["renew_error"] = str(exc)
            assert self.lease_until is not None
            self.renew_at = min(now + 1.0, self.lease_until)  # again, until the lease runs out
            return
        self._bind(ack, now)
        self.facts["renewed"] = self.facts.get("renewed", 0) + 1

    def _bind(self, ack: Reply, now: float) -> None:
        mask = ack.addr_opt(OPT_MASK) or IPv4Address("255.255.255.0")
        iface = IPv4Interface(f"{ack.yiaddr}/{mask}")
        router = ack.addr_opt(OPT_ROUTER)
        cmds = [["ip", "-4", "addr", "replace", str(iface), "dev", self.dev]]
        if router is not None:
            cmds.append(["ip", "-4", "route", "replace", "default", "via", str(router), "dev", self.dev])
        for argv in cmds:
            self._ip(argv)
        self.configured = [["ip", "-4", "addr", "del", str(iface), "dev", self.dev]]  # its routes go with it
        lease = ack.u32(OPT_LEASE)
        self.lease_until = None if lease is None or lease == 0xFFFFFFFF else now + lease
        self.renew_at = None if self.lease_until is None else now + (lease or 0) / 2
        self.state = "bound"
        self.facts.pop("expired", None)
        self.facts.update({"address": str(iface.ip), "prefixlen": iface.network.prefixlen,
                           "router": str(router) if router else None,
                           "lease": lease, "server": str(ack.addr_opt(OPT_SERVER))})

    def _deconfigure(self) -> None:
        for argv in self.configured:
            try:
                self._ip(argv)
            except (OSError, subprocess.SubprocessError):
                continue  # gone already
        self.configured, self.lease_until, self.renew_at = [], None, None
        for key in ("address", "prefixlen", "router", "lease", "server"):
            self.facts.pop(key, None)

    def _socket(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.dev.encode())
        s.bind(("0.0.0.0", 68))
        return s

    def _ip(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, capture_output=True, timeout=10)

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
