"""A CLAT (464XLAT customer-side translator, RFC 6877) inside a client node, as clatd does it
with tayga: applications get an IPv4 address and an IPv4 default route; tayga translates
their packets statelessly to IPv6 towards the NAT64 prefix (RFC 6145/7915), from a dedicated
IPv6 address of the host's own (a `map`), and back.

    192.0.0.2/29 on TUN `clat` (RFC 7335's IPv4 service continuity prefix; tayga is .1)
    default via the TUN, MTU 1260: the IPv6 packet (+20 bytes) still fits 1280
    CLAT IPv6 address: the host's own address on the uplink with the top host bit flipped
    (stays on-link, never a planned address), routed into the TUN and announced by proxy
    NDP on the uplink, so the NAT64's answers reach it; tayga's own IPv6 address likewise

The uplink is whichever interface the node routes the NAT64 prefix through (`ip route get`),
so the CLAT follows the planner's routes, or a default route learnt from a router
advertisement. Standard library only: this runs inside nodes (`labsim.node.hostconf`).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, IPv6Network

from labsim.node.nat64prefix import WKAS, embed
from labsim.node.privdrop import GROUP, USER, tayga_argv

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TUN = "clat"
CLAT_V4 = IPv4Address("192.0.0.2")
TAYGA_V4 = IPv4Address("192.0.0.1")
V4_PREFIXLEN = 29
ROUTE_MTU = 1260  # clatd's default: 1280 minus the 20 bytes IPv6 adds over IPv4
TUN_WAIT_S = 3.0


@dataclass(frozen=True)
class ClatAddresses:
    uplink: str  # interface towards the NAT64
    host6: IPv6Interface  # the host's own address there
    clat6: IPv6Address  # what IPv4 applications appear as, over IPv6
    tayga6: IPv6Address  # tayga's own (the source of the ICMP errors it makes)


def clat_addresses(uplink: str, host6: IPv6Interface) -> ClatAddresses:
    """Flip the top host bit (and the next, for tayga) of the host's own address: on-link,
    unique per host, and never one of the planner's low-numbered addresses."""
    bits = 128 - host6.network.prefixlen
    if bits < 3:
        raise ValueError(f"{host6}: the uplink prefix leaves no room for the CLAT's addresses")
    ip = int(host6.ip)
    return ClatAddresses(uplink, host6, IPv6Address(ip ^ (1 << (bits - 1))),
                         IPv6Address(ip ^ (3 << (bits - 2))))


def tayga_conf(prefix: IPv6Network, addrs: ClatAddresses, data_dir: str) -> str:
    return "\n".join([
        f"tun-device {TUN}",
        f"ipv4-addr {TAYGA_V4}",
        f"ipv6-addr {addrs.tayga6}",  # explicit: the WKP cannot embed 192.0.0.1 (RFC 6052 §3.1)
        f"prefix {prefix}",
        f"map {CLAT_V4} {addrs.clat6}",
        f"data-dir {data_dir}",
        "",
    ])


def up_commands(conf: str, addrs: ClatAddresses) -> list[list[str]]:
    """After `tayga --mktun`: the TUN's address, routes both ways and proxy NDP."""
    out = [["ip", "link", "set", "dev", TUN, "up"],
           ["ip", "addr", "replace", f"{CLAT_V4}/{V4_PREFIXLEN}", "dev", TUN]]
    for a in (addrs.clat6, addrs.tayga6):
        out += [["ip", "-6", "route", "replace", f"{a}/128", "dev", TUN],
                ["ip", "-6", "neigh", "replace", "proxy", str(a), "dev", addrs.uplink]]
    out.append(["ip", "-4", "route", "replace", "default", "dev", TUN, "src", str(CLAT_V4),
                "mtu", str(ROUTE_MTU)])
    return out


def down_commands(addrs: ClatAddresses | None) -> list[list[str]]:
    out = [["ip", "link", "del", "dev", TUN]]  # its address and routes go with it
    if addrs is not None:
        out += [["ip", "-6", "neigh", "del", "proxy", str(a), "dev", addrs.uplink]
                for a in (addrs.clat6, addrs.tayga6)]
    return out


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=10)


def uplink_for(prefix: IPv6Network) -> ClatAddresses:
    """The interface and own address this node reaches the NAT64 prefix from."""
    probe = embed(WKAS[0], prefix)
    res = _run(["ip", "-j", "-6", "route", "get", str(probe)])
    if res.returncode != 0:
        raise OSError(f"no IPv6 route to {prefix}: {res.stderr.decode(errors='replace').strip()}")
    route = json.loads(res.stdout)[0]
    dev, src = route["dev"], route.get("prefsrc")
    res = _run(["ip", "-j", "-6", "addr", "show", "dev", dev, "scope", "global"])
    infos = json.loads(res.stdout or b"[]")
    addrs = [IPv6Interface(f"{a['local']}/{a['prefixlen']}") for i in infos for a in i.get("addr_info", [])
             if a.get("family") == "inet6" and not a.get("temporary")]
    mine = next((a for a in addrs if str(a.ip) == src), addrs[0] if addrs else None)
    if mine is None:
        raise OSError(f"{dev} has no global IPv6 address for the CLAT")
    return clat_addresses(dev, mine)


class Clat:
    """tayga in CLAT mode, brought up for one prefix at a time (reconcile), and down."""

    def __init__(self, work_dir: str, log_path: str):
        self.dir = os.path.join(work_dir, "clat")
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.prefix: IPv6Network | None = None
        self.addrs: ClatAddresses | None = None
        self.error: str | None = None

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict[str, Any]:
        return {"state": "up" if self.up else "down", "prefix": str(self.prefix) if self.prefix else None,
                "ipv4": str(CLAT_V4) if self.up else None,
                "ipv6": str(self.addrs.clat6) if self.up and self.addrs else None,
                "uplink": self.addrs.uplink if self.up and self.addrs else None,
                "mtu": ROUTE_MTU, "error": self.error}

    def reconcile(self, prefix: IPv6Network | None) -> bool:
        """Make the CLAT run for `prefix` (None: not at all); True when something changed."""
        if prefix == self.prefix and (prefix is None or self.up):
            return False
        self.stop()
        self.prefix = prefix
        if prefix is not None:
            try:
                self._start(prefix)
                self.error = None
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                self.error = str(exc)
                self.stop()
                self.prefix = None  # try again on the next round
        return True

    def _start(self, prefix: IPv6Network) -> None:
        addrs = uplink_for(prefix)
        os.makedirs(self.dir, exist_ok=True)
        # tayga's data-dir and chroot, where it keeps dynamic.map as nobody
        os.chown(self.dir, pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid)
        os.chmod(self.dir, 0o750)
        conf = os.path.join(os.path.dirname(self.dir), "clat-tayga.conf")  # root's, outside the chroot
        with open(conf, "w") as f:
            f.write(tayga_conf(prefix, addrs, self.dir))
        self.addrs = addrs
        for argv in [["tayga", "-c", conf, "--mktun"], *up_commands(conf, addrs)]:
            res = _run(argv)
            if res.returncode != 0:
                raise OSError(f"`{' '.join(argv)}`: {res.stderr.decode(errors='replace').strip()}")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(tayga_argv(conf), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TUN_WAIT_S
        while not _tun_attached():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise OSError(f"tayga (CLAT) did not open its TUN within {TUN_WAIT_S}s")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(2)
            self.proc = None
        for argv in down_commands(self.addrs):
            _run(argv)  # absent already is fine
        self.addrs = None


def _tun_attached() -> bool:
    """A process holds the TUN: the kernel gives a TUN carrier while one is attached
    (NO-CARRIER otherwise). Not /proc/PID/fd: once tayga has dropped to nobody that needs
    CAP_SYS_PTRACE, which a docker node lacks."""
    res = _run(["ip", "-j", "link", "show", "dev", TUN])
    if res.returncode != 0:
        return False
    return any("LOWER_UP" in link.get("flags", []) for link in json.loads(res.stdout or b"[]"))
