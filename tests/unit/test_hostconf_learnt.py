"""Tier 1: what a self-configuring host (labsim.node.hostconf) learns from crafted netlink
RA-option messages, on a fake clock, and what it then uses: the node's resolv.conf, the
PREF64 it chooses per platform, whether its CLAT runs, and its learnt.json."""

from __future__ import annotations

import json
import struct
from ipaddress import IPv6Address, IPv6Network

import pytest

from labsim.checks.learnt import LearntCheck, ipv4_literal_reason, run_learnt
from labsim.checks.reasons import Reason
from labsim.node import hostconf, ndopts
from labsim.runtime.fake import Exec, Reply
from tests.unit.scripted import env_for

R1, R2 = IPv6Address("fe80::1"), IPv6Address("fe80::2")
A, B = IPv6Network("2001:db8:64::/96"), IPv6Network("2001:db8:6464::/96")


# -- crafted kernel messages (RTM_NEWNDUSEROPT, as the kernel sends one option per message) --
def nduseropt(ifindex: int, src: IPv6Address, option: bytes) -> bytes:
    attr = struct.pack("=HH", 20, ndopts.NDUSEROPT_SRCADDR) + src.packed
    body = ndopts.USEROPT.pack(10, 0, len(option), ifindex, ndopts.ICMPV6_ROUTER_ADVERT, 0, 0, 0) \
        + option + bytes((-len(option)) % 4) + attr
    return ndopts.NLMSG.pack(ndopts.NLMSG.size + len(body), ndopts.RTM_NEWNDUSEROPT, 0, 0, 0) + body


def rdnss(lifetime: int, *servers: str) -> bytes:
    return struct.pack("!BBHI", ndopts.ND_RDNSS, 1 + 2 * len(servers), 0, lifetime) \
        + b"".join(IPv6Address(s).packed for s in servers)


def dnssl(lifetime: int, domain: str) -> bytes:
    wire = b"".join(bytes([len(x)]) + x.encode() for x in domain.split(".")) + b"\0"
    wire += bytes((-len(wire)) % 8)
    return struct.pack("!BBHI", ndopts.ND_DNSSL, 1 + len(wire) // 8, 0, lifetime) + wire


def msgs(*pairs: tuple[IPv6Address, bytes]) -> list[ndopts.UserOpt]:
    """One netlink datagram holding these options (parsed the way hostconf reads it)."""
    return ndopts.parse_messages(b"".join(nduseropt(2, src, opt) for src, opt in pairs))


class FakeClat:
    """The CLAT's externally visible state: running for a prefix, or not."""

    def __init__(self) -> None:
        self.prefix: IPv6Network | None = None

    @property
    def up(self) -> bool:
        return self.prefix is not None

    def reconcile(self, prefix: IPv6Network | None) -> bool:
        changed, self.prefix = prefix != self.prefix, prefix
        return changed

    def status(self) -> dict:
        return {"state": "up" if self.up else "down", "prefix": str(self.prefix) if self.prefix else None,
                "error": None}

    def stop(self) -> None:
        self.prefix = None


@pytest.fixture
def kernel(monkeypatch):
    """The kernel's view hostconf re-reads (addresses, routes, IPv4), set by the test."""
    state = {"ipv4": None, "rfc7050": []}
    monkeypatch.setattr(hostconf, "global_addresses", lambda: [
        {"dev": "eth0", "address": "2001:db8:10::5", "prefixlen": 64, "slaac": True}])
    monkeypatch.setattr(hostconf, "default_routers", lambda: [{"gateway": "fe80::1", "dev": "eth0"}])
    monkeypatch.setattr(hostconf, "native_ipv4", lambda: state["ipv4"])
    monkeypatch.setattr(hostconf, "rfc7050", lambda: list(state["rfc7050"]))
    return state


def host(tmp_path, clat: dict | None = None, discover: bool = False) -> hostconf.HostConf:
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.53\n")  # the plan's, before any RA
    h = hostconf.HostConf({"dir": str(tmp_path), "resolver_from_ra": True, "slaac": True, "clat": clat,
                           "discover": discover, "resolv_conf": str(tmp_path / "resolv.conf"),
                           "resolver_options": ["timeout:1"]})
    if clat is not None:
        h.clat = FakeClat()  # type: ignore[assignment]
    return h


def file_servers(tmp_path) -> list[str]:
    return [line.split()[1] for line in (tmp_path / "resolv.conf").read_text().splitlines()
            if line.startswith("nameserver")]


def learnt(tmp_path) -> dict:
    return json.loads((tmp_path / "learnt.json").read_text())


def step(h, tmp_path, messages, now) -> dict:
    h.step(messages, now)
    out = learnt(tmp_path)
    # what the host uses is what it learnt, and learnt.json says what the file holds
    assert file_servers(tmp_path) == out["resolvers"] == out["resolv_conf"]["nameservers"]
    return out


# -- 1. lifetimes ------------------------------------------------------------------------------
def test_last_resolver_expiring_leaves_no_nameserver(tmp_path, kernel):
    h = host(tmp_path)
    out = step(h, tmp_path, msgs((R1, rdnss(30, "2001:db8:1::3")), (R1, dnssl(30, "example.test"))), 0)
    assert out["resolvers"] == ["2001:db8:1::3"] and out["search"] == ["example.test"] and out["ready"]
    assert step(h, tmp_path, [], 29.5)["resolvers"] == ["2001:db8:1::3"]
    out = step(h, tmp_path, [], 30.0)  # RFC 8106 §6.1: expired without a refresh
    assert out["resolvers"] == [] and out["search"] == [] and out["resolv_conf"]["search"] == []
    assert "192.0.2.53" not in (tmp_path / "resolv.conf").read_text()  # never the stale one either
    assert out["ready"]  # readiness was the first configuration: it does not flap back


def test_lifetime_zero_withdraws_at_once(tmp_path, kernel):
    h = host(tmp_path)
    step(h, tmp_path, msgs((R1, rdnss(600, "2001:db8:1::3", "2001:db8:1::4"))), 0)
    out = step(h, tmp_path, msgs((R1, rdnss(0, "2001:db8:1::3"))), 1)
    assert out["resolvers"] == ["2001:db8:1::4"]  # per address: only that one goes


def test_per_address_entries_across_routers(tmp_path, kernel):
    h = host(tmp_path)
    step(h, tmp_path, msgs((R1, rdnss(60, "2001:db8:1::3")), (R2, rdnss(60, "2001:db8:1::3"))), 0)
    out = step(h, tmp_path, msgs((R2, rdnss(100, "2001:db8:1::3"))), 50)  # a refresh from either extends it
    assert step(h, tmp_path, [], 120)["resolvers"] == ["2001:db8:1::3"] and out["ra_sources"] == ["fe80::1", "fe80::2"]
    assert step(h, tmp_path, msgs((R1, rdnss(0, "2001:db8:1::3"))), 121)["resolvers"] == []


def test_an_ra_without_the_option_withdraws_nothing(tmp_path, kernel):
    h = host(tmp_path)
    step(h, tmp_path, msgs((R1, rdnss(60, "2001:db8:1::3"))), 0)
    out = step(h, tmp_path, msgs((R1, ndopts.encode_pref64(A, 600))), 10)
    assert out["resolvers"] == ["2001:db8:1::3"] and out["pref64"] == {"prefix": str(A), "lifetime": 600}


def test_dnssl_alone_expires(tmp_path, kernel):
    h = host(tmp_path)
    step(h, tmp_path, msgs((R1, rdnss(600, "2001:db8:1::3")), (R1, dnssl(20, "example.test"))), 0)
    out = step(h, tmp_path, [], 20)
    assert out["search"] == [] and "search" not in (tmp_path / "resolv.conf").read_text()
    assert out["resolvers"] == ["2001:db8:1::3"]


def test_pref64_scaled_lifetime_expires(tmp_path, kernel):
    h = host(tmp_path, clat={"prefix": "auto"})
    out = step(h, tmp_path, msgs((R1, ndopts.encode_pref64(A, 20))), 0)  # 20 s -> 3 units of 8 s = 24 s
    assert out["pref64_all"][0]["lifetime"] == 24 and out["clat"]["state"] == "up"
    assert step(h, tmp_path, [], 23.9)["nat64_prefix"] == str(A)
    out = step(h, tmp_path, [], 24)
    assert (out["nat64_prefix"], out["pref64_all"], out["pref64_withdrawn"], out["clat"]["state"]) == \
        (None, [], str(A), "down")


# -- 2. several PREF64 -------------------------------------------------------------------------
@pytest.mark.parametrize("policy, second", [("sticky", A), ("newest", B)])
def test_two_prefixes_kept_and_chosen_per_platform(tmp_path, kernel, policy, second):
    h = host(tmp_path, clat={"prefix": "auto", "pref64_policy": policy})
    step(h, tmp_path, msgs((R1, ndopts.encode_pref64(A, 80))), 0)
    out = step(h, tmp_path, msgs((R2, ndopts.encode_pref64(B, 800))), 10)
    assert [(p["prefix"], p["used"]) for p in out["pref64_all"]] == [(str(A), second == A), (str(B), second == B)]
    assert out["nat64_prefix"] == out["clat"]["prefix"] == str(second)
    out = step(h, tmp_path, [], 80)  # A runs out: both platforms are on B
    assert out["nat64_prefix"] == str(B) and [p["prefix"] for p in out["pref64_all"]] == [str(B)]


def test_withdrawing_one_prefix_keeps_the_other(tmp_path, kernel):
    h = host(tmp_path, clat={"prefix": "auto", "pref64_policy": "sticky"})
    step(h, tmp_path, msgs((R1, ndopts.encode_pref64(A, 800)), (R2, ndopts.encode_pref64(B, 800))), 0)
    out = step(h, tmp_path, msgs((R2, ndopts.encode_pref64(B, 0))), 5)
    assert out["nat64_prefix"] == str(A) and out["pref64_withdrawn"] == str(B)


def test_an_ignored_pref64_does_not_block_rfc7050(tmp_path, kernel):
    kernel["rfc7050"] = [A]
    h = host(tmp_path, clat={"prefix": "auto", "pref64_policy": "sticky", "pref64_lengths": [96]}, discover=True)
    out = step(h, tmp_path, msgs((R1, ndopts.encode_pref64(IPv6Network("2001:db8:64::/64"), 800))), 0)
    assert out["pref64_all"][0]["prefix"] == "2001:db8:64::/64" and not out["pref64_all"][0]["used"]
    assert (out["nat64_prefix"], out["nat64_prefix_source"]) == (str(A), "rfc7050")


def test_a_resolver_that_never_answers_does_not_stall_the_ra_loop(tmp_path, monkeypatch, kernel):
    """RFC 7050's lookup runs on a thread: while libc waits on a resolver nobody holds (here
    a lookup held until the test lets it go), RAs are still taken, resolv.conf written and
    learnt.json reported; the answer, when it comes, wakes the loop and is used."""
    import select
    import threading

    release = threading.Event()

    def blocked_lookup():
        assert release.wait(30)  # bounded: the test releases it
        return [A]

    monkeypatch.setattr(hostconf, "rfc7050", blocked_lookup)
    h = host(tmp_path, clat={"prefix": "auto"}, discover=True)
    out = step(h, tmp_path, msgs((R1, rdnss(600, "2001:db8:1::3"))), 0)
    assert out["resolvers"] == ["2001:db8:1::3"] and out["nat64_prefix"] is None
    out = step(h, tmp_path, msgs((R1, rdnss(600, "2001:db8:1::4"))), 1)  # the lookup still hangs
    assert out["resolvers"] == ["2001:db8:1::3", "2001:db8:1::4"] and out["rfc7050"] == []
    release.set()
    assert select.select([h.discovery.wake_fd], [], [], 10)[0]  # the loop is woken
    out = step(h, tmp_path, [], 2)
    assert (out["nat64_prefix"], out["nat64_prefix_source"]) == (str(A), "rfc7050")



def test_a_taken_answer_leaves_nothing_to_wake_the_loop(monkeypatch):
    """Once `take` has the lookup's answer, the loop's wake descriptor is quiet again: a byte
    left there keeps hostconf's select readable, and the loop spins until the next lookup.
    The lookup used to say "done" before writing that byte (left behind ~85 % of the time
    here); a fast lookup is the worst case, so it answers at once."""
    import select

    monkeypatch.setattr(hostconf, "rfc7050", lambda: [A])
    d = hostconf.Discovery()
    for _ in range(50):  # bounded; the race lost ~85 % of rounds
        d.start()
        assert d.take(5.0) == [A]
        assert not select.select([d.wake_fd], [], [], 0.005)[0]


def test_a_lookup_that_found_nothing_is_asked_again_on_time(tmp_path, monkeypatch, kernel):
    """With no prefix from RFC 7050 yet, the next lookup is RFC7050_EVERY_S after the last,
    and the loop sleeps no longer than that: not until its next tick (up to 0.5 s late, which
    a host's first seconds, before its resolver answers, depend on). While a lookup is in
    flight, or once a prefix is known, the loop sleeps a whole tick."""
    monkeypatch.setattr(hostconf, "rfc7050", lambda: [])
    h = host(tmp_path, clat={"prefix": "auto"}, discover=True)
    step(h, tmp_path, msgs((R1, rdnss(600, "2001:db8:1::3"))), 100.0)
    assert h.next_7050 == 100.0 + hostconf.RFC7050_EVERY_S
    assert h.wait_s(100.8) == pytest.approx(0.2)
    assert h.wait_s(101.5) == 0.0  # overdue: at once
    monkeypatch.setattr(hostconf, "rfc7050", lambda: [A])
    h.step([], 101.5)
    assert h.wait_s(101.6) == hostconf.TICK_S  # answered: the next lookup is 30 s away

# -- 3. a CLAT only without native IPv4 ----------------------------------------------------------
def test_clat_not_needed_while_the_host_has_ipv4(tmp_path, kernel):
    kernel["ipv4"] = "native IPv4 (default route via 10.10.0.1 dev eth0)"
    h = host(tmp_path, clat={"prefix": "auto"})
    out = step(h, tmp_path, msgs((R1, ndopts.encode_pref64(A, 800))), 0)
    assert out["clat"]["state"] == "not needed" and out["clat"]["reason"] == kernel["ipv4"]
    assert out["nat64_prefix"] == str(A)
    kernel["ipv4"] = None  # the lease went
    h.addresses = None  # as a netlink address/route event does
    assert step(h, tmp_path, [], 1)["clat"]["state"] == "up"
    kernel["ipv4"] = "native IPv4 (address 10.10.0.9 on eth0)"  # a lease came
    h.addresses = None
    assert step(h, tmp_path, [], 2)["clat"]["state"] == "not needed"


def _learnt_env(learnt_json: str, routes: bool):
    def answer(call):
        assert isinstance(call, Exec), call
        if call.argv[0] == "cat":
            return Reply(learnt_json)
        if call.argv[:4] == ("ip", "-4", "route", "get"):
            return Reply("192.0.2.3 via 10.10.0.1 dev eth0", "", 0) if routes else \
                Reply("", "RTNETLINK answers: Network is unreachable", 2)
        raise AssertionError(call)
    return env_for(answer)[0]


def test_learnt_check_and_literal_reason_follow_native_ipv4(tmp_path, kernel):
    kernel["ipv4"] = "native IPv4 (default route via 10.10.0.1 dev eth0)"
    h = host(tmp_path, clat={"prefix": "auto"})
    h.step([], 0)  # no prefix at all, but IPv4 of its own: the CLAT is not needed
    text = (tmp_path / "learnt.json").read_text()
    res = run_learnt(LearntCheck.model_validate({"from": "legacy"}), _learnt_env(text, True))
    assert res.ok and res.reason is None and res.facts.clat["state"] == "not needed"
    env = _learnt_env(text, True)
    assert ipv4_literal_reason(env, "legacy", "192.0.2.3", Reason.CONNECT_TIMEOUT) == Reason.CONNECT_TIMEOUT
    env = _learnt_env(text, False)
    assert ipv4_literal_reason(env, "modern", "192.0.2.3", Reason.CONNECT_TIMEOUT) == Reason.IPV4_LITERAL
    assert ipv4_literal_reason(env, "modern", "api.example.test", Reason.NO_ROUTE) == Reason.NO_ROUTE
    # IPv4 through a CLAT is a translation, not IPv4 of the host's own: a literal failing
    # there (a CLAT following a prefix no NAT64 serves) is still the literal's doing
    def clat_route(call):
        if call.argv[:4] == ("ip", "-4", "route", "get"):
            return Reply("192.0.2.3 dev clat src 192.0.0.2 uid 0\n    cache mtu 1260\n", "", 0)
        raise AssertionError(call)
    env = env_for(clat_route)[0]
    assert ipv4_literal_reason(env, "modern", "192.0.2.3", Reason.NO_ROUTE) == Reason.IPV4_LITERAL
