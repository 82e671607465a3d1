"""Tier 1: labsim.node.dhcp4client against a scripted DHCPv4 server on a fake clock: what it
sends (the packets' bytes), what it configures (the `ip` commands) and what it reports.
RFC 8925 §3.2 (V6ONLY_WAIT, at least MIN_V6ONLY_WAIT = 300 s, then DISCOVER again), the
fallback (asks for 108, none offered: takes the lease), lease renewal and expiry."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from labsim.node import dhcp4client as d
from labsim.node.dhcp4client import DISCOVER, OPT_V6ONLY, REQUEST, Dhcp4Client


def reply(kind: int, xid: int, yiaddr: str, v6only: int | None = None, lease: int = 600) -> d.Reply:
    """A server's reply, through the real parser (so the bytes are what a server sends)."""
    head = d.HEADER.pack(2, 1, 6, 0, xid, 0, 0, bytes(4), IPv4Address(yiaddr).packed, bytes(4), bytes(4),
                         bytes(16), bytes(64), bytes(128))
    opts = bytes([d.OPT_TYPE, 1, kind, d.OPT_SERVER, 4, 10, 10, 0, 2, d.OPT_MASK, 4, 255, 255, 255, 0,
                  d.OPT_ROUTER, 4, 10, 10, 0, 1]) + bytes([d.OPT_LEASE, 4]) + struct.pack("!I", lease)
    if v6only is not None:
        opts += bytes([OPT_V6ONLY, 4]) + struct.pack("!I", v6only)
    return d.parse(head + d.MAGIC + opts + b"\xff")


class Server:
    """Scripted: offers 10.10.0.9, with option 108 when `v6only` is set and the client asked
    (Kea's rule, RFC 8925 §3.3); `silent` drops everything."""

    def __init__(self, v6only: int | None = None) -> None:
        self.v6only, self.silent = v6only, False
        self.sent: list[tuple[int, list[int], bytes]] = []  # (message type, PRL, ciaddr)

    def answer(self, packet: bytes, want: int) -> d.Reply:
        opts = {}
        i = d.HEADER.size + 4
        while packet[i] != 255:
            opts[packet[i]] = packet[i + 2:i + 2 + packet[i + 1]]
            i += 2 + packet[i + 1]
        xid, ciaddr = struct.unpack_from("!I", packet, 4)[0], packet[12:16]
        prl = list(opts[d.OPT_PRL])
        self.sent.append((opts[d.OPT_TYPE][0], prl, ciaddr))
        if self.silent:
            raise OSError("no DHCP answer within 0.3s")
        v6 = self.v6only if OPT_V6ONLY in prl else None
        return reply(want, xid, "10.10.0.9", v6)


class Client(Dhcp4Client):
    def __init__(self, server: Server, v6only: bool) -> None:
        super().__init__("eth0", v6only)
        self.server, self.ran = server, []

    def _socket(self):  # type: ignore[override]
        import contextlib
        return contextlib.nullcontext(None)

    def _ask(self, s, packet, xid, want, deadline_s):  # type: ignore[override]
        return self.server.answer(packet, want)

    def _ip(self, argv):  # type: ignore[override]
        self.ran.append(argv)


@pytest.fixture(autouse=True)
def _mac(monkeypatch):
    monkeypatch.setattr(d, "_mac", lambda dev: bytes.fromhex("020000000001"))


@pytest.mark.parametrize("offered, used", [(1800, 1800), (60, 300), (0, 300)])
def test_v6only_stops_dhcp_for_v6only_wait_then_discovers_again(offered, used):
    server = Server(v6only=offered)
    c = Client(server, v6only=True)
    c.step(0.0)
    assert c.state == "v6only" and [t for t, _, _ in server.sent] == [DISCOVER]  # no REQUEST at all
    assert OPT_V6ONLY in server.sent[0][1] and c.ran == []
    assert (c.facts["v6only_wait"], c.facts["v6only_wait_used"]) == (offered, used)
    for t in (1.0, used / 2, used - 0.01):
        c.step(t)
    assert len(server.sent) == 1  # silent for V6ONLY_WAIT
    server.v6only = None  # meanwhile the network stopped offering 108
    c.step(float(used))
    assert [t for t, _, _ in server.sent] == [DISCOVER, DISCOVER, REQUEST] and c.state == "bound"


def test_v6only_again_counts_rounds():
    server = Server(v6only=1800)
    c = Client(server, v6only=True)
    c.step(0.0)
    c.step(1800.0)
    assert c.state == "v6only" and c.facts["v6only_rounds"] == 2 and len(server.sent) == 2


def test_fallback_takes_the_lease_when_108_is_not_offered():
    server = Server(v6only=None)
    c = Client(server, v6only=True)
    c.step(0.0)
    assert [(t, OPT_V6ONLY in prl) for t, prl, _ in server.sent] == [(DISCOVER, True), (REQUEST, True)]
    assert c.state == "bound" and c.facts["address"] == "10.10.0.9"
    assert c.ran == [["ip", "-4", "addr", "replace", "10.10.0.9/24", "dev", "eth0"],
                     ["ip", "-4", "route", "replace", "default", "via", "10.10.0.1", "dev", "eth0"]]


def test_legacy_host_never_asks_for_108_and_is_never_given_it():
    server = Server(v6only=1800)
    c = Client(server, v6only=False)
    c.step(0.0)
    assert all(OPT_V6ONLY not in prl for _, prl, _ in server.sent) and c.state == "bound"


def test_lease_renews_at_t1_and_ignores_108_in_a_renewal():
    server = Server(v6only=None)
    c = Client(server, v6only=True)
    c.step(0.0)
    c.step(299.0)
    assert len(server.sent) == 2  # nothing before T1 (half of 600 s)
    server.v6only = 1800  # 108 is only for DISCOVER and INIT-REBOOT (RFC 8925 §3.2)
    c.step(300.0)
    assert server.sent[-1][0] == REQUEST and server.sent[-1][2] == IPv4Address("10.10.0.9").packed
    assert c.state == "bound" and c.facts["renewed"] == 1


def test_lease_expiry_deconfigures_then_discovers_again():
    server = Server(v6only=None)
    c = Client(server, v6only=True)
    c.step(0.0)
    server.silent = True
    for t in range(300, 600, 50):  # renewals unanswered
        c.step(float(t))
    assert c.state == "bound"
    c.step(600.0)
    assert c.state == "expired" and "address" not in c.facts
    assert c.ran[-1] == ["ip", "-4", "addr", "del", "10.10.0.9/24", "dev", "eth0"]
    server.silent, server.v6only = False, 1800  # the network now prefers IPv6-only
    c.step(600.5)
    assert c.state == "v6only" and server.sent[-1][0] == DISCOVER


def test_build_puts_108_in_the_prl_only_when_asked():
    for v6only in (True, False):
        c = Client(Server(), v6only)
        packet = d.build(DISCOVER, 1, bytes(6), c.prl())
        i = d.HEADER.size + 4 + 3  # after the message type option
        assert packet[i] == d.OPT_PRL and (OPT_V6ONLY in packet[i + 2:i + 2 + packet[i + 1]]) == v6only
