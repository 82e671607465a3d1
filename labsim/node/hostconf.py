"""What a self-configuring client runs inside its node (`python -m labsim.node.hostconf CONFIG`),
doing what systemd-networkd and clatd do on a real host:

- listens on netlink for the router-advertisement options the kernel passes on
  (RTM_NEWNDUSEROPT): RDNSS and DNSSL rewrite the node's resolv.conf (in place), PREF64
  gives the NAT64 prefix, each until its lifetime runs out (lifetime 0: withdrawn);
- learns the NAT64 prefix from PREF64, else by RFC 7050 (`ipv4only.arpa` AAAA through the
  node's own libc and resolver), and runs the CLAT (`labsim.node.clat`) for it, following
  changes and withdrawal;
- writes what it learnt (addresses, resolvers, prefix and its source, CLAT state) to
  `learnt.json` in the node directory, which `labsim status` and the `learnt` check read.

Standard library only. Every wait is bounded; the loop wakes at least every 0.5 s.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from ipaddress import IPv6Address, IPv6Network, ip_address
from typing import Any

from labsim.node import ndopts
from labsim.node.clat import Clat
from labsim.node.dhcp4client import Dhcp4Client
from labsim.node.nat64prefix import WKN, discover_prefixes
from labsim.node.privdrop import NETWORK_MANAGER_CAPS, keep_capabilities

TICK_S = 0.5
RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR = 5, 9
RFC7050_EVERY_S = 1.0  # while no prefix is known
RFC7050_RECHECK_S = 30.0  # once one is


class Learnt:
    """Options with their expiry (monotonic); the newest RA wins, as on real hosts."""

    def __init__(self) -> None:
        self.rdnss: dict[str, float] = {}
        self.dnssl: dict[str, float] = {}
        self.pref64: tuple[IPv6Network, float, int] | None = None  # prefix, expiry, lifetime
        self.pref64_withdrawn: str | None = None

    def take(self, opt: ndopts.Rdnss | ndopts.Dnssl | ndopts.Pref64 | object, now: float) -> None:
        if isinstance(opt, ndopts.Rdnss):
            for s in opt.servers:
                self.rdnss[str(s)] = now + opt.lifetime
        elif isinstance(opt, ndopts.Dnssl):
            for d in opt.domains:
                self.dnssl[d] = now + opt.lifetime
        elif isinstance(opt, ndopts.Pref64):
            if opt.lifetime == 0:
                if self.pref64 is not None:
                    self.pref64_withdrawn = str(self.pref64[0])
                self.pref64 = None
            else:
                self.pref64 = (opt.prefix, now + opt.lifetime, opt.lifetime)
                self.pref64_withdrawn = None

    def expire(self, now: float) -> None:
        self.rdnss = {k: t for k, t in self.rdnss.items() if t > now}
        self.dnssl = {k: t for k, t in self.dnssl.items() if t > now}
        if self.pref64 is not None and self.pref64[1] <= now:
            self.pref64_withdrawn, self.pref64 = str(self.pref64[0]), None


def netlink_socket() -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    # RA options, and address changes (SLAAC, DHCP, links down): addresses are re-read only then
    s.bind((0, 1 << (ndopts.RTNLGRP_ND_USEROPT - 1) | 1 << (RTNLGRP_IPV4_IFADDR - 1)
            | 1 << (RTNLGRP_IPV6_IFADDR - 1)))
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


def resolv_conf(servers: list[str], search: list[str], options: list[str]) -> str:
    lines = ["# labsim: written by labsim.node.hostconf from router advertisements (RDNSS/DNSSL)"]
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def global_addresses() -> list[dict[str, Any]]:
    res = subprocess.run(["ip", "-j", "-6", "addr", "show", "scope", "global"], capture_output=True, timeout=10)
    out = []
    for iface in json.loads(res.stdout or b"[]"):
        for a in iface.get("addr_info", []):
            if a.get("family") == "inet6" and iface.get("ifname") != "clat":
                out.append({"dev": iface["ifname"], "address": a["local"], "prefixlen": a["prefixlen"],
                            "slaac": bool(a.get("dynamic")) or "mngtmpaddr" in a})
    return out


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
        self.learnt = Learnt()
        self.clat = Clat(cfg["dir"], os.path.join(cfg["dir"], "clat-tayga.log")) if cfg.get("clat") else None
        d = cfg.get("dhcp4")
        self.dhcp = Dhcp4Client(d["dev"], d["ipv6_only_preferred"]) if d else None
        self.rfc7050: list[IPv6Network] = []
        self.next_7050 = 0.0
        self.last_report = ""
        self.addresses: list[dict[str, Any]] | None = None  # None: to be read again
        self.started = time.monotonic()
        self.timeline: dict[str, float] = {}  # when each piece was first learnt, s after start

    def prefix(self) -> tuple[IPv6Network | None, str | None]:
        fixed = (self.cfg.get("clat") or {}).get("prefix", "auto")
        if self.clat is not None and fixed != "auto":
            return IPv6Network(fixed), "config"
        lengths = (self.cfg.get("clat") or {}).get("pref64_lengths")
        if self.learnt.pref64 is not None and (not lengths or self.learnt.pref64[0].prefixlen in lengths):
            # Android's NetworkStack takes a PREF64 only at /96 (`pref64_lengths: [96]`)
            return self.learnt.pref64[0], "pref64"
        if self.rfc7050:
            return self.rfc7050[0], "rfc7050"
        return None, None

    def step(self, messages: list[ndopts.UserOpt], now: float) -> None:
        had_pref64 = self.learnt.pref64 is not None
        for m in messages:
            if m.option is not None:
                self.learnt.take(m.option, now)
        self.learnt.expire(now)
        if had_pref64 and self.learnt.pref64 is None:
            self.next_7050 = now  # PREF64 withdrawn or expired: is RFC 7050's answer still true?
        if self.dhcp is not None:
            self.dhcp.step(now)
        if self.cfg.get("resolver_from_ra") and self.learnt.rdnss:
            write_in_place(self.cfg["resolv_conf"], resolv_conf(
                list(self.learnt.rdnss), list(self.learnt.dnssl), self.cfg.get("resolver_options", [])))
        wants_7050 = self.cfg.get("discover", True) and self.learnt.pref64 is None
        if wants_7050 and now >= self.next_7050:
            self.rfc7050 = rfc7050()
            self.next_7050 = now + (RFC7050_RECHECK_S if self.rfc7050 else RFC7050_EVERY_S)
        prefix, _ = self.prefix()
        if self.clat is not None:
            self.clat.reconcile(prefix)
        self.report(now)

    def report(self, now: float) -> None:
        if self.addresses is None:
            self.addresses = global_addresses()
        prefix, source = self.prefix()
        p64 = self.learnt.pref64
        data: dict[str, Any] = {
            "addresses": self.addresses,
            "resolvers": list(self.learnt.rdnss), "search": list(self.learnt.dnssl),
            "pref64": {"prefix": str(p64[0]), "lifetime": p64[2]} if p64 else None,
            "pref64_withdrawn": self.learnt.pref64_withdrawn,
            "rfc7050": [str(p) for p in self.rfc7050],
            "nat64_prefix": str(prefix) if prefix else None, "nat64_prefix_source": source,
            "clat": self.clat.status() if self.clat else None,
            "dhcp4": dict(self.dhcp.facts) if self.dhcp else None,
        }
        for key, have in (("slaac", any(a["slaac"] for a in data["addresses"])),
                          ("rdnss", bool(data["resolvers"])), ("pref64", p64 is not None),
                          ("rfc7050", bool(self.rfc7050)), ("clat", bool(self.clat and self.clat.up)),
                          ("dhcp4", bool(self.dhcp and self.dhcp.state in ("bound", "v6only")))):
            if have and key not in self.timeline:
                self.timeline[key] = round(time.monotonic() - self.started, 3)
        data["timeline_s"] = dict(self.timeline)
        clat_wait = (self.cfg.get("clat") or {}).get("wait", True)
        data["ready"] = ((self.clat is None or self.clat.up or not clat_wait)
                         and (not self.cfg.get("slaac") or any(a["slaac"] for a in data["addresses"]))
                         and (not self.cfg.get("resolver_from_ra") or bool(self.learnt.rdnss))
                         and (self.dhcp is None or self.dhcp.state in ("bound", "v6only")))
        text = json.dumps(data, indent=1, sort_keys=True)
        if text != self.last_report:
            self.last_report = text
            write_atomic(os.path.join(self.cfg["dir"], "learnt.json"), text + "\n")


def learnt_of(lab_dir: str, nodes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What each self-configuring node of a lab reports (for `labsim status`)."""
    out = {}
    for node in nodes:
        try:
            with open(os.path.join(lab_dir, "nodes", node, "learnt.json")) as f:
                out[node] = json.load(f)
        except (OSError, ValueError):
            continue
    return out


def summary(learnt: dict[str, Any]) -> str:
    """One line: addresses, resolvers, NAT64 prefix and source, CLAT, DHCPv4."""
    parts = [" ".join(a["address"] for a in learnt.get("addresses", []))]
    if learnt.get("resolvers"):
        parts.append("dns " + " ".join(learnt["resolvers"]))
    parts.append(f"nat64 {learnt.get('nat64_prefix')} ({learnt.get('nat64_prefix_source')})"
                 if learnt.get("nat64_prefix") else "no NAT64 prefix")
    if learnt.get("clat"):
        parts.append(f"clat {learnt['clat']['state']}")
    if learnt.get("dhcp4"):
        d = learnt["dhcp4"]
        parts.append(f"dhcp4 {d['state']}" + (f" {d['address']}" if d.get("address") else ""))
    return ", ".join(p for p in parts if p)


def main(argv: list[str]) -> int:
    # it stays uid 0 (see labsim/kinds/client.py) but with only a network manager's rights
    keep_capabilities(NETWORK_MANAGER_CAPS)
    with open(argv[0]) as f:
        cfg = json.load(f)
    host = HostConf(cfg)
    nl = netlink_socket()
    if cfg.get("slaac") or cfg.get("resolver_from_ra") or (cfg.get("clat") or {}).get("prefix") == "auto":
        solicit_routers()
    first = True
    try:
        while True:
            ready, _, _ = select.select([nl], [], [], 0 if first else TICK_S)
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
