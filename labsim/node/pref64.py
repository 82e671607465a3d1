"""labsim's PREF64 sender (RFC 8781), what radvd 2.19 cannot send.

    python -m labsim.node.pref64 CONFIG [--user nobody --group nogroup]

Runs inside the router's node (standard library only, so the docker image's python3 runs it
too), adds the router's second link-local address (fe80::64) on each advertising interface
and sends RAs carrying only PREF64 (`labsim.node.ndopts.pref64_ra`) from it: in a burst at start, on
every router solicitation (rate-limited), every `interval` seconds, and at once when CONFIG
changes (a scenario's `set_pref64` action rewrites it with a new generation; lifetime 0
withdraws). After each send it writes CONFIG.sent (generation, count) for readiness and
for the action to wait on.

Root is needed only to add the address and open the raw ICMPv6 sockets (CAP_NET_RAW), and
to create CONFIG.sent in the root-owned node directory: all done at start, then it drops to
--user (labsim.node.privdrop) and writes CONFIG.sent through the descriptor it opened. The
advertising interfaces are the plan's and never change; a rewritten CONFIG changes only
what is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
from ipaddress import IPv6Network

from labsim.node.ndopts import PREF64_LINK_LOCAL, pref64_ra
from labsim.node.privdrop import drop_root, user_args

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BURST_S = (0.0, 0.2, 0.5, 1.0)  # after start and after each change: hosts just starting listen late
RS_MIN_GAP_S = 0.1
ND_ROUTER_SOLICIT = 133


def open_socket(ifname: str) -> socket.socket:
    # deprecated at once (preferred_lft 0): the kernel then never picks it as a source (RFC 6724
    # rule 3), so radvd's own RAs keep the router's EUI-64 link-local; otherwise they left from
    # fe80::64 too, and this sender's router-lifetime-0 RAs, from the "same" router, took the
    # hosts' default route and resolvers away every few seconds (found by dhcpcd, which keeps
    # one RA per router). An explicit source (pktinfo below) may still use it.
    subprocess.run(["ip", "-6", "addr", "replace", f"{PREF64_LINK_LOCAL}/64", "dev", ifname, "nodad",
                    "preferred_lft", "0"], check=True, capture_output=True, timeout=10)
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    # bound to the device, not to fe80::64: a bound address would hide solicitations to ff02::2
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.setblocking(False)
    return s


class Sender:
    def __init__(self, config_path: str):
        self.path = config_path
        self.mtime = 0.0
        self.cfg: dict[str, Any] = {}
        self.socks: dict[str, socket.socket] = {}
        self.sent = 0
        self.burst: list[float] = []
        self.next_periodic = 0.0
        self.last_rs = 0.0
        # a prefix this router advertised and replaced: announced with lifetime 0 through the
        # change's burst, so hosts stop using it at once (RFC 8781 §4: 0 means no longer use)
        # rather than keeping it, valid, beside the new one until it expires
        self.retired: list[str] = []
        self.privileged = True  # until root is dropped: sockets can be opened
        # CONFIG.sent, emptied: ready only once this run has sent
        self.sent_fd = os.open(config_path + ".sent", os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                               | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)

    def reload(self, now: float) -> None:
        mtime = os.stat(self.path).st_mtime
        if mtime == self.mtime:
            return
        try:
            with open(self.path) as f:
                cfg = json.load(f)
        except ValueError:
            return  # caught mid-write: read it again on the next round
        old = self.cfg.get("prefix") if self.cfg.get("lifetime") else None
        if old is not None and old != cfg.get("prefix") and old not in self.retired:
            self.retired.append(old)
        self.mtime, self.cfg = mtime, cfg
        for ifname in self.cfg["interfaces"]:
            if ifname in self.socks:
                continue
            if not self.privileged:
                print(f"pref64: {ifname}: a new interface needs root, which is dropped", file=sys.stderr,
                      flush=True)
                continue
            self.socks[ifname] = open_socket(ifname)
        self.burst = [now + d for d in BURST_S]

    def send(self) -> None:
        c = self.cfg
        ras = [pref64_ra(IPv6Network(old), 0, c["managed"], c["other"]) for old in self.retired]
        ras.append(pref64_ra(IPv6Network(c["prefix"]), c["lifetime"], c["managed"], c["other"]))
        for ifname, s in self.socks.items():
            try:
                index = socket.if_nametoindex(ifname)
                pktinfo = struct.pack("16sI", PREF64_LINK_LOCAL.packed, index)  # the source address
                for ra in ras:
                    s.sendmsg([ra], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)], 0,
                               ("ff02::1", 0, 0, index))
            except OSError as exc:  # a link taken down by a scenario: keep going
                print(f"pref64: {ifname}: {exc}", file=sys.stderr, flush=True)
        if not self.burst:
            self.retired = []  # said through the whole burst
        self.sent += 1
        data = json.dumps({"generation": c["generation"], "count": self.sent, "prefix": c["prefix"],
                           "lifetime": c["lifetime"]}).encode()
        # in place (the directory is root's): a reader catching it mid-write sees JSON that
        # does not parse, and reads again, as it does for any file not written yet
        done = 0
        while done < len(data):
            done += os.pwrite(self.sent_fd, data[done:], done)
        os.ftruncate(self.sent_fd, len(data))

    def loop(self) -> None:
        while True:
            now = time.monotonic()
            self.reload(now)
            due = [t for t in self.burst if t <= now]
            if due or now >= self.next_periodic:
                self.burst = [t for t in self.burst if t > now]
                self.send()
                self.next_periodic = now + self.cfg["interval"]
            ready, _, _ = select.select(list(self.socks.values()), [], [], 0.05)
            for s in ready:
                for _ in range(16):  # drain, bounded
                    try:
                        data = s.recv(1500)
                    except BlockingIOError:
                        break
                    if data[:1] == bytes([ND_ROUTER_SOLICIT]) and now - self.last_rs >= RS_MIN_GAP_S:
                        self.last_rs = now
                        self.burst.append(now)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="labsim.node.pref64", description=__doc__.splitlines()[0])
    ap.add_argument("config")
    user_args(ap)
    args = ap.parse_args(argv)
    try:
        sender = Sender(args.config)
        for _ in range(100):  # the raw sockets, while root (a CONFIG caught mid-write: again)
            sender.reload(time.monotonic())
            if sender.cfg:
                break
            time.sleep(0.02)
        drop_root(args.user, args.group)
        sender.privileged = False
        sender.loop()
    except KeyboardInterrupt:
        return 0
    return 0


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(sys.argv[1:]))
