"""Tier 2: a QEMU guest on a lab network through `labsim up --attach lan=TAP`. The guest is
Debian's kernel (linux-image-amd64) with an initramfs built here from busybox-static and the
kernel's virtio-net modules (tests/guest/): a second, independent network stack, configured only
by its kernel from the lab's RA. QEMU opens the tap first (as a user's VM would be running
already), then labsim moves the tap into the lab; the guest gets a SLAAC address in the lab's
prefix, a AAAA synthesized by DNS64 for the IPv4-only backend's name and an HTTP 200 from that
backend through NAT64 (which sees the NAT64 pool as the source). After `down` the tap is back
in the namespace it came from, as it was.

TCG, not KVM: on this kind of machine KVM guests hang at boot; TCG boots this guest in ~15 s.
The test's "host" is a namespace it creates (labsim runs in it via nsenter), so the tap is the
test's own and nothing of the real host is touched; the guest's only link is the tap."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.guest import initramfs
from tests.helpers import IN_CI, LABSIM, REPO, run_labsim

pytestmark = pytest.mark.root

TOPO = "topologies/ipv6-mostly.yml"
LAN6 = ipaddress.ip_network("2001:db8:10::/64")      # ipv6-mostly's lan
NAT64 = ipaddress.ip_network("2001:db8:64::/96")     # its nat64_prefix
V4NET = ipaddress.ip_network("192.0.2.0/24")         # where the IPv4-only backend lives
POOL4 = ipaddress.ip_network("198.18.0.0/24")        # the NAT64's pool4
# the dns64 node's address on core, the RA's RDNSS (tests/netns/test_attach.py reads it from the
# RA); busybox cannot read RDNSS, so the guest is told it on its command line
RESOLVER = "2001:db8:1::3"
NAME = "api.example.test"
TAP = "w3qtap0"
MAC = "52:54:00:3a:17:05"
GUEST_DEADLINE_S = 90


def sh(*argv: str, timeout: float = 10) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
    return res.stdout


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    """The SLAAC address a kernel forms from a MAC (RFC 4291 appendix A: flip the U/L bit,
    insert ff:fe)."""
    b = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:]
    return ipaddress.IPv6Address(prefix.network_address.packed[:8] + iid)


@pytest.fixture(scope="module")
def guest_build(tmp_path_factory) -> initramfs.Guest:
    why = initramfs.missing()
    if why:
        pytest.fail(why) if IN_CI else pytest.skip(why)
    return initramfs.build(tmp_path_factory.mktemp("guest"))


class Rig:
    """`host`: the namespace standing in for the machine labsim and QEMU run on; the tap is
    created there, owned by the test, as a user would create it for a VM."""

    def __init__(self, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.host, self.lab, self.tmp = f"w3q-h{tag}", f"w3q{tag}", tmp
        self.qemu: subprocess.Popen | None = None
        sh("ip", "netns", "add", self.host)
        sh("ip", "-n", self.host, "tuntap", "add", "dev", TAP, "mode", "tap")
        sh("ip", "-n", self.host, "link", "set", "dev", TAP, "mtu", "1500", "up")

    def in_host(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.host}", *argv]

    def tap(self) -> dict:
        """What `down` must give back: name, kind (a tap), MTU, up/down, static addresses."""
        [link] = json.loads(sh("ip", "-n", self.host, "-d", "-j", "addr", "show", "dev", TAP))
        info = link.get("linkinfo", {})
        return {"name": link["ifname"], "kind": info.get("info_kind"),
                "tun_type": info.get("info_data", {}).get("type"), "mtu": link["mtu"],
                "up": "UP" in link["flags"],
                "addrs": sorted((a["local"], a["prefixlen"]) for a in link["addr_info"]
                                if a.get("scope") != "link")}

    def start_qemu(self, guest: initramfs.Guest) -> Path:
        serial = self.tmp / "ttyS0.log"
        append = (f"console=ttyS0 quiet panic=-1 labsim.dns={RESOLVER} labsim.name={NAME} "
                  f"labsim.wait={GUEST_DEADLINE_S - 20} labsim.linger=30")
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults",
                "-no-user-config", "-nographic", "-monitor", "none", "-no-reboot",
                "-serial", f"file:{serial}",
                "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={MAC},romfile=",
                "-kernel", str(guest.kernel), "-initrd", str(guest.initrd), "-append", append]
        with open(self.tmp / "qemu.out", "wb") as out:
            self.qemu = subprocess.Popen(self.in_host(*argv), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return serial

    def close(self) -> None:
        if self.qemu is not None and self.qemu.poll() is None:
            os.killpg(self.qemu.pid, signal.SIGKILL)
            self.qemu.wait(timeout=10)
        subprocess.run([LABSIM, "down", self.lab], capture_output=True, timeout=60)
        subprocess.run(["ip", "netns", "del", self.host], capture_output=True, timeout=10)


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def guest_lines(serial: Path) -> dict[str, list[str]]:
    """The guest's "LABSIM-GUEST key value..." lines, by key (a line may follow the firmware's
    terminal escapes without a newline between them)."""
    found: dict[str, list[str]] = {}
    text = serial.read_text(errors="replace") if serial.exists() else ""
    for key, rest in re.findall(r"LABSIM-GUEST (\S+) ?([^\r\n]*)", text):
        found[key] = [rest] if key in ("http", "body", "error") else rest.split()
    return found


def test_a_qemu_guest_on_the_lan_reaches_the_ipv4_backend_and_the_tap_comes_back(rig, guest_build):
    before = rig.tap()
    t0 = time.monotonic()
    serial = rig.start_qemu(guest_build)
    # QEMU has the tap open (carrier on) before labsim moves it
    end = time.monotonic() + 10
    while time.monotonic() < end and "NO-CARRIER" in sh("ip", "-n", rig.host, "link", "show", "dev", TAP):
        assert rig.qemu is not None and rig.qemu.poll() is None, (rig.tmp / "qemu.out").read_text()
        time.sleep(0.05)
    assert "NO-CARRIER" not in sh("ip", "-n", rig.host, "link", "show", "dev", TAP), "QEMU did not open the tap"

    # the tap carries only its link-local address: no --attach-force needed
    up = subprocess.run(rig.in_host(LABSIM, "up", TOPO, "--name", rig.lab, "--attach", f"lan={TAP}"),
                        capture_output=True, text=True, timeout=120, cwd=REPO)
    t_up = time.monotonic() - t0
    assert up.returncode == 0, up.stderr
    assert subprocess.run(["ip", "-n", rig.host, "link", "show", "dev", TAP], capture_output=True).returncode != 0

    end, t_init = t0 + GUEST_DEADLINE_S, 0.0
    while time.monotonic() < end and "done" not in (lines := guest_lines(serial)):
        if not t_init and "boot" in lines:
            t_init = time.monotonic() - t0
        time.sleep(0.2)
    t_guest = time.monotonic() - t0
    got = guest_lines(serial)
    console = serial.read_text(errors="replace") if serial.exists() else ""
    assert "done" in got, f"guest did not finish in {GUEST_DEADLINE_S}s:\n{console[-3000:]}"
    assert "error" not in got, console[-3000:]
    print(f"lab up after {t_up:.1f} s; guest's /init after {t_init:.1f} s (its uptime {got['boot'][0]} s); "
          f"SLAAC at uptime {got['slaac'][1]} s; guest done after {t_guest:.1f} s")

    # SLAAC: the kernel's EUI-64 address in the lab's prefix (the MAC given to QEMU)
    addr = ipaddress.IPv6Address(got["slaac"][0])
    assert addr in LAN6 and addr == eui64(LAN6, MAC), got["slaac"]
    # DNS64: the IPv4-only name has a AAAA in the NAT64 prefix embedding a v4net address
    aaaa = ipaddress.IPv6Address(got["aaaa"][1])
    assert aaaa in NAT64, got["aaaa"]
    assert ipaddress.IPv4Address(aaaa.packed[12:]) in V4NET, aaaa
    # NAT64: HTTP 200 from the backend, which saw the NAT64 pool as the source
    assert got["http"][0].split(" ")[1] == "200", got["http"]
    body = json.loads(got["body"][0])
    assert body["node"] == "api" and ipaddress.ip_address(body["remote"]) in POOL4, body

    # the lab sees the guest behind its port (NDP)
    [status] = json.loads(run_labsim("status", rig.lab, "--json", check=True).stdout)
    [port] = status["attached"]
    assert port["interface"] == TAP and any(d["mac"] == MAC and str(addr) in d["addresses"]
                                          for d in port["devices"]), port

    # the guest is still up (it lingers so that the bridge still has its MAC: a port whose tap
    # closes goes down and the bridge forgets what it learnt there); QEMU ends on SIGTERM
    assert rig.qemu is not None and rig.qemu.poll() is None
    rig.qemu.terminate()
    rig.qemu.wait(timeout=15)
    down = run_labsim("down", rig.lab, timeout=60)
    assert down.returncode == 0, down.stderr
    assert rig.tap() == before
    assert not Path(f"/run/netns/ls-{rig.lab}").exists()
