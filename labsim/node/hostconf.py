"""What a self-configuring client runs inside its node (`python -m labsim.node.hostconf CONFIG`),
doing what systemd-networkd and clatd do on a real host:

- listens on netlink for the router-advertisement options the kernel passes on
  (RTM_NEWNDUSEROPT): RDNSS and DNSSL rewrite the node's resolv.conf (in place), PREF64
  gives NAT64 prefixes, one entry per address/domain/prefix until its lifetime runs out
  (lifetime 0: withdrawn; RFC 8106 §6.1, RFC 8781 §4-5); resolv.conf always follows what is
  learnt, so with no resolver left it has no nameserver;
- keeps every valid PREF64 and chooses one as the platform does (`pref64_policy`: sticky as
  Android, newest otherwise; `pref64_lengths`); with none usable, RFC 7050 (`ipv4only.arpa`
  AAAA through the node's own libc and resolver);
- runs the CLAT (`labsim.node.clat`) for the prefix only while the node has no IPv4 of its
  own (a DHCPv4 lease, an IPv4 default route), following changes and withdrawal;
- writes what it learnt (addresses, resolvers and the resolv.conf read back, prefixes and
  the one used, default routers, CLAT state and why, DHCPv4) to `learnt.json` in the node
  directory, which `labsim status` and the `learnt` check read.

Standard library only. Every wait is bounded; the loop wakes at least every 0.5 s.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

from labsim.node import ndopts
from labsim.node.clat import Clat
from labsim.node.dhcp4client import Dhcp4Client
from labsim.node.nat64prefix import WKN, discover_prefixes
from labsim.node.privdrop import NETWORK_MANAGER_CAPS, keep_capabilities

TICK_S = 0.5
RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE = 5, 7, 9, 11
RFC7050_EVERY_S = 1.0  # while no prefix is known
RFC7050_RECHECK_S = 30.0  # once one is
# how long a step waits for its RFC 7050 lookup before it goes on (a lab resolver answers in
# milliseconds; an unreachable one keeps libc waiting timeout x attempts per nameserver)
RFC7050_WAIT_S = 0.2
CLAT_NET = IPv4Network("192.0.0.0/29")  # the CLAT's own IPv4 (RFC 7335): not native IPv4


@dataclass
class Pref64Entry:
    expiry: float
    lifetime: int
    first_seen: float
    last_heard: float


class Learnt:
    """Options with their expiry (monotonic), one entry per resolver address, search domain
    and NAT64 prefix (RFC 8106 §6.1, RFC 8781 §5): any RA carrying one refreshes it, a
    lifetime of 0 removes that one entry at once, an RA that leaves it out changes nothing,
    and an entry whose lifetime runs out without a refresh is deleted."""

    def __init__(self) -> None:
        self.rdnss: dict[str, float] = {}
        self.dnssl: dict[str, float] = {}
        self.pref64s: dict[IPv6Network, Pref64Entry] = {}
        self.pref64_withdrawn: str | None = None  # the last prefix withdrawn or expired
        self.routers: dict[str, float] = {}  # RA option sources, last heard

    @property
    def pref64(self) -> tuple[IPv6Network, float, int] | None:
        """The newest valid PREF64: prefix, expiry, lifetime."""
        if not self.pref64s:
            return None
        p, e = max(self.pref64s.items(), key=lambda kv: (kv[1].first_seen, kv[1].last_heard))
        return p, e.expiry, e.lifetime

    def take(self, opt: ndopts.Rdnss | ndopts.Dnssl | ndopts.Pref64 | object, now: float,
             source: IPv6Address | None = None) -> None:
        if source is not None:
            self.routers[str(source)] = now
        if isinstance(opt, ndopts.Rdnss):
            for s in opt.servers:
                self.rdnss.pop(str(s), None)  # re-inserted: keeps the newest order
                if opt.lifetime:
                    self.rdnss[str(s)] = now + opt.lifetime
        elif isinstance(opt, ndopts.Dnssl):
            for d in opt.domains:
                self.dnssl.pop(d, None)
                if opt.lifetime:
                    self.dnssl[d] = now + opt.lifetime
        elif isinstance(opt, ndopts.Pref64):
            old = self.pref64s.pop(opt.prefix, None)
            if opt.lifetime == 0:  # RFC 8781 §4: this prefix MUST NOT be used any more
                if old is not None:
                    self.pref64_withdrawn = str(opt.prefix)
            else:
                first = old.first_seen if old is not None else now
                self.pref64s[opt.prefix] = Pref64Entry(now + opt.lifetime, opt.lifetime, first, now)
                if self.pref64_withdrawn == str(opt.prefix):
                    self.pref64_withdrawn = None

    def expire(self, now: float) -> None:
        self.rdnss = {k: t for k, t in self.rdnss.items() if t > now}
        self.dnssl = {k: t for k, t in self.dnssl.items() if t > now}
        for p in [p for p, e in self.pref64s.items() if e.expiry <= now]:
            del self.pref64s[p]
            self.pref64_withdrawn = str(p)


def choose_pref64(learnt: Learnt, current: IPv6Network | None, policy: str,
                  lengths: list[int] | None) -> IPv6Network | None:
    """Which valid PREF64 the host uses. Prefixes of a length the platform ignores are left
    out (Android takes only /96). `sticky` (Android NetworkStack, IpClientLinkObserver
    .updatePref64): the prefix in use stays while it is valid, since restarting clatd is
    disruptive; after it goes, the one heard most recently. `newest`: the latest prefix to
    appear (RFC 8781 §5 leaves the choice among several to the host)."""
    usable = {p: e for p, e in learnt.pref64s.items() if not lengths or p.prefixlen in lengths}
    if not usable:
        return None
    if policy == "sticky":
        if current in usable:
            return current
        return max(usable.items(), key=lambda kv: kv[1].last_heard)[0]
    return max(usable.items(), key=lambda kv: (kv[1].first_seen, kv[1].last_heard))[0]


def netlink_socket() -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    # RA options, address and route changes (SLAAC, DHCP, links down, router lifetimes):
    # addresses, IPv4 and the default routers are re-read only then
    s.bind((0, 1 << (ndopts.RTNLGRP_ND_USEROPT - 1) | 1 << (RTNLGRP_IPV4_IFADDR - 1)
            | 1 << (RTNLGRP_IPV4_ROUTE - 1) | 1 << (RTNLGRP_IPV6_IFADDR - 1) | 1 << (RTNLGRP_IPV6_ROUTE - 1)))
    s.setblocking(False)
    return s


def solicit_routers() -> None:
    """One router solicitation on every interface (the kernel's own went out at link-up,
    before the routers' daemons ran): RAs with RDNSS, DNSSL and PREF64 come at once."""
    rs = bytes([133, 0, 0, 0, 0, 0, 0, 0])  # type, code, checksum (the kernel's), reserved
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        for index, name in socket.if_nameindex():
            if name in ("lo", "clat"):
                continue
            try:
                s.sendto(rs, ("ff02::2", 0, 0, index))
            except OSError:
                continue  # a link that is down, or has no IPv6


def rfc7050() -> list[IPv6Network]:
    """The prefixes in this node's resolver's AAAA answers for ipv4only.arpa (libc)."""
    try:
        infos = socket.getaddrinfo(WKN.rstrip("."), None, socket.AF_INET6, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    # AF_INET6 answers: IPv6 addresses (with a %scope on a link-local one)
    return discover_prefixes([a for i in infos if isinstance(a := ip_address(str(i[4][0]).split("%")[0]), IPv6Address)])


class Discovery:
    """RFC 7050 lookups on a thread of their own, so RAs, leases and the CLAT never wait on
    libc: against a resolver nobody holds, getaddrinfo blocks for resolv.conf's timeout x
    attempts per nameserver, and hostconf's loop used to block with it. A result that comes
    after the step stopped waiting wakes the loop through `wake_fd`."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._result: list[IPv6Network] = []
        self._pipe: tuple[int, int] | None = None  # made on first use (tests make many hosts)

    def _wake_pipe(self) -> tuple[int, int]:
        if self._pipe is None:
            self._pipe = os.pipe()
            os.set_blocking(self._pipe[0], False)
        return self._pipe

    @property
    def wake_fd(self) -> int:
        return self._wake_pipe()[0]

    def start(self) -> None:
        """Begin a lookup, unless one is in flight."""
        if self._thread is not None:
            return
        self._done.clear()
        self._result = []  # what a lookup that raises leaves
        wake_w = self._wake_pipe()[1]

        def run() -> None:
            try:
                self._result = rfc7050()  # the module's function (tests replace it)
            finally:
                # the byte first: a `take` that sees the lookup done always finds it to read.
                # The other way round, `take` could read before the write, and the byte
                # written after it kept the loop's select readable: hostconf spun at 100 %
                # CPU until the next lookup (30 s once a prefix was found)
                try:
                    os.write(wake_w, b"\0")
                finally:
                    self._done.set()

        self._thread = threading.Thread(target=run, name="rfc7050", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A lookup is in flight (its answer wakes the loop through `wake_fd`)."""
        return self._thread is not None

    def take(self, wait: float) -> list[IPv6Network] | None:
        """The prefixes of the lookup in flight, once it is done (within `wait` seconds), else None."""
        if self._thread is None or not self._done.wait(wait):
            return None
        self._thread = None
        try:
            os.read(self.wake_fd, 64)  # the lookup's one byte, written before it said done
        except BlockingIOError:
            pass  # its write failed: nothing to drain
        return self._result


def resolv_conf(servers: list[str], search: list[str], options: list[str]) -> str:
    lines = ["# labsim: written by labsim.node.hostconf from router advertisements (RDNSS/DNSSL)"]
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _ip_json(*argv: str) -> list[dict[str, Any]]:
    res = subprocess.run(["ip", "-j", *argv], capture_output=True, timeout=10)
    out: list[dict[str, Any]] = json.loads(res.stdout or b"[]")
    return out


def global_addresses() -> list[dict[str, Any]]:
    """Global IPv6 addresses with the lifetimes the kernel counts down (RFC 4862 §5.5.3,
    including its 2-hour rule for a shortened valid lifetime)."""
    out = []
    for iface in _ip_json("-6", "addr", "show", "scope", "global"):
        for a in iface.get("addr_info", []):
            if a.get("family") == "inet6" and iface.get("ifname") != "clat":
                out.append({"dev": iface["ifname"], "address": a["local"], "prefixlen": a["prefixlen"],
                            "slaac": bool(a.get("dynamic")) or "mngtmpaddr" in a,
                            "valid_lifetime": a.get("valid_life_time"),
                            "preferred_lifetime": a.get("preferred_life_time")})
    return out


def default_routers() -> list[dict[str, Any]]:
    """IPv6 default routers as the kernel holds them: those from RAs expire with the router
    lifetime, and lifetime 0 removes one at once (RFC 4861 §6.3.4)."""
    return [{"gateway": r.get("gateway"), "dev": r.get("dev"), "protocol": r.get("protocol"),
             "expires": r.get("expires")} for r in _ip_json("-6", "route", "show", "default")]


def native_ipv4() -> str | None:
    """What gives the node IPv4 of its own: an IPv4 default route, or an IPv4 address, on an
    interface that is not the CLAT's (Android Nat464Xlat.requiresClat: no CLAT on a network
    with an IPv4 address; clatd's v4-conncheck: none while an IPv4 default route works)."""
    for r in _ip_json("-4", "route", "show", "default"):
        if r.get("dev") not in ("clat", None):
            return f"native IPv4 (default route via {r.get('gateway', '')} dev {r['dev']})".replace("via  ", "")
    for iface in _ip_json("-4", "addr", "show", "scope", "global"):
        for a in iface.get("addr_info", []):
            if iface.get("ifname") != "clat" and IPv4Address(a["local"]) not in CLAT_NET:
                return f"native IPv4 (address {a['local']} on {iface['ifname']})"
    return None


def parse_resolv_conf(path: str) -> tuple[list[str], list[str]]:
    """The nameservers and search domains in a resolv.conf, as libc reads them."""
    servers: list[str] = []
    search: list[str] = []
    try:
        with open(path) as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    servers.append(words[1])
                elif words and words[0] in ("search", "domain"):
                    search = words[1:]
    except OSError:
        pass
    return servers, search


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_in_place(path: str, text: str) -> None:
    """resolv.conf is a bind mount (netns) or a mounted file (docker): never replace it."""
    with open(path, "r+") as f:
        if f.read() == text:
            return
        f.seek(0)
        f.write(text)
        f.truncate()


class HostConf:
    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.clat_cfg: dict[str, Any] = cfg.get("clat") or {}
        self.learnt = Learnt()
        self.clat = Clat(cfg["dir"], os.path.join(cfg["dir"], "clat-tayga.log")) if cfg.get("clat") else None
        d = cfg.get("dhcp4")
        self.dhcp = Dhcp4Client(d["dev"], d["ipv6_only_preferred"]) if d else None
        self.rfc7050: list[IPv6Network] = []
        self.next_7050 = 0.0
        self.discovery = Discovery()
        self.last_report = ""
        self.addresses: list[dict[str, Any]] | None = None  # None: to be read again
        self.routers: list[dict[str, Any]] = []
        self.ipv4: str | None = None  # why the node has IPv4 of its own, if it has
        self.pref64_used: IPv6Network | None = None  # the PREF64 the host chose last
        self.was_ready = False
        self.started = time.monotonic()
        self.timeline: dict[str, float] = {}  # when each piece was first learnt, s after start

    def prefix(self) -> tuple[IPv6Network | None, str | None]:
        fixed = self.clat_cfg.get("prefix", "auto")
        if self.clat is not None and fixed != "auto":
            return IPv6Network(fixed), "config"
        if self.pref64_used is not None:
            return self.pref64_used, "pref64"
        if self.rfc7050:
            return self.rfc7050[0], "rfc7050"
        return None, None

    def reread(self) -> None:
        """The kernel's view (after a netlink event, and at start)."""
        self.addresses = global_addresses()
        self.routers = default_routers()
        self.ipv4 = native_ipv4()

    def step(self, messages: list[ndopts.UserOpt], now: float) -> None:
        for m in messages:
            if m.option is not None:
                self.learnt.take(m.option, now, m.source)
        self.learnt.expire(now)
        had = self.pref64_used
        self.pref64_used = choose_pref64(self.learnt, had, self.clat_cfg.get("pref64_policy", "newest"),
                                         self.clat_cfg.get("pref64_lengths"))
        if had is not None and self.pref64_used is None:
            self.next_7050 = now  # PREF64 withdrawn or expired: is RFC 7050's answer still true?
        if self.dhcp is not None and self.dhcp.step(now):
            self.addresses = None  # a lease came or went: IPv4 changed
        if self.cfg.get("resolver_from_ra"):
            # always from what is learnt now: with no resolver left the file has no
            # nameserver, and libc's lookups fail at once instead of asking a stale one
            write_in_place(self.cfg["resolv_conf"], resolv_conf(
                list(self.learnt.rdnss), list(self.learnt.dnssl), self.cfg.get("resolver_options", [])))
        if self.wants_7050() and now >= self.next_7050:
            self.discovery.start()
        found = self.discovery.take(RFC7050_WAIT_S)
        if found is not None:
            self.rfc7050 = found
            self.next_7050 = now + (RFC7050_RECHECK_S if found else RFC7050_EVERY_S)
        if self.addresses is None:
            self.reread()
        prefix, _ = self.prefix()
        if self.clat is not None:
            # a CLAT only where the host has no IPv4 of its own (requiresClat, v4-conncheck);
            # it goes when a lease comes, and may come back when the lease goes
            if self.clat.reconcile(None if self.ipv4 else prefix):
                self.reread()
        self.report(now)

    def wants_7050(self) -> bool:
        """RFC 7050 runs whenever no PREF64 the platform uses is known: an ignored one
        (Android: not /96) leaves discovery on, as Android's DNS64 discovery is separate."""
        return bool(self.cfg.get("discover", True)) and self.pref64_used is None

    def wait_s(self, now: float) -> float:
        """How long the loop may sleep before its next step: its tick, or less when the next
        RFC 7050 lookup falls due sooner (every RFC7050_EVERY_S while none has answered, not
        at the tick after). A lookup in flight wakes the loop itself."""
        if self.discovery.busy or not self.wants_7050():
            return TICK_S
        return min(TICK_S, max(0.0, self.next_7050 - now))

    def clat_status(self) -> dict[str, Any] | None:
        if self.clat is None:
            return None
        out = self.clat.status()
        if self.ipv4 is not None:
            out.update({"state": "not needed", "reason": self.ipv4})
        return out

    def report(self, now: float) -> None:
        if self.addresses is None:
            self.reread()
        assert self.addresses is not None
        prefix, source = self.prefix()
        used = self.pref64_used
        # expiry as seconds after hostconf's start (the timeline's clock): the report changes
        # only when what is learnt changes, not every second
        entries = sorted(self.learnt.pref64s.items(), key=lambda kv: kv[1].first_seen)
        pref64_all = [{"prefix": str(p), "lifetime": e.lifetime, "expires_at_s": round(e.expiry - self.started, 1),
                       "used": p == used} for p, e in entries]
        p64 = self.learnt.pref64s.get(used) if used is not None else None
        servers, search = parse_resolv_conf(self.cfg["resolv_conf"]) if self.cfg.get("resolver_from_ra") \
            else (None, None)
        data: dict[str, Any] = {
            "addresses": self.addresses,
            "resolvers": list(self.learnt.rdnss), "search": list(self.learnt.dnssl),
            # what the node's libc uses, read back from the file (never a copy of `resolvers`)
            "resolv_conf": {"nameservers": servers, "search": search} if servers is not None else None,
            "pref64": {"prefix": str(used), "lifetime": p64.lifetime} if used is not None and p64 else None,
            "pref64_all": pref64_all,
            "pref64_withdrawn": self.learnt.pref64_withdrawn,
            "ra_sources": sorted(self.learnt.routers),
            "default_routers": self.routers,
            "rfc7050": [str(p) for p in self.rfc7050],
            "nat64_prefix": str(prefix) if prefix else None, "nat64_prefix_source": source,
            "native_ipv4": self.ipv4,
            "clat": self.clat_status(),
            "dhcp4": dict(self.dhcp.facts) if self.dhcp else None,
        }
        for key, have in (("slaac", any(a["slaac"] for a in data["addresses"])),
                          ("rdnss", bool(data["resolvers"])), ("pref64", used is not None),
                          ("rfc7050", bool(self.rfc7050)), ("clat", bool(self.clat and self.clat.up)),
                          ("dhcp4", bool(self.dhcp and self.dhcp.state in ("bound", "v6only")))):
            if have and key not in self.timeline:
                self.timeline[key] = round(time.monotonic() - self.started, 3)
        data["timeline_s"] = dict(self.timeline)
        clat_wait = self.clat_cfg.get("wait", True)
        # readiness is the first configuration: once ready, losing a resolver or a lease
        # later is what the checks see, not a node that is "not ready" again
        self.was_ready = self.was_ready or (
            (self.clat is None or self.clat.up or not clat_wait or self.ipv4 is not None)
            and (not self.cfg.get("slaac") or any(a["slaac"] for a in data["addresses"]))
            and (not self.cfg.get("resolver_from_ra") or bool(self.learnt.rdnss))
            and (self.dhcp is None or self.dhcp.state in ("bound", "v6only")))
        data["ready"] = self.was_ready
        text = json.dumps(data, indent=1, sort_keys=True)
        if text != self.last_report:
            self.last_report = text
            write_atomic(os.path.join(self.cfg["dir"], "learnt.json"), text + "\n")




def main(argv: list[str]) -> int:
    # it stays uid 0 (see labsim/kinds/client.py) but with only a network manager's rights
    keep_capabilities(NETWORK_MANAGER_CAPS)
    with open(argv[0]) as f:
        cfg = json.load(f)
    host = HostConf(cfg)
    nl = netlink_socket()
    if cfg.get("slaac") or cfg.get("resolver_from_ra") or (cfg.get("clat") or {}).get("prefix") == "auto":
        solicit_routers()
    waits: list[Any] = [nl, host.discovery.wake_fd]  # netlink, or a late RFC 7050 answer
    first = True
    try:
        while True:
            select.select(waits, [], [], 0 if first else host.wait_s(time.monotonic()))
            first = False
            messages = []
            for _ in range(64):  # drain what is queued, bounded
                try:
                    data = nl.recv(65536)
                    host.addresses = None  # an address may have changed: read them again
                    messages += ndopts.parse_messages(data)
                except BlockingIOError:
                    break
                except ValueError as exc:
                    print(f"hostconf: ignoring a malformed RA option: {exc}", file=sys.stderr, flush=True)
            host.step(messages, time.monotonic())
    except KeyboardInterrupt:
        return 0
    finally:
        if host.clat is not None:
            host.clat.stop()


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt  # leave through main's finally: the CLAT comes down cleanly


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(sys.argv[1:]))
