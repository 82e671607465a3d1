"""Tier 2: `labsim up --attach lan=IFACE` with a device the test makes: a namespace holding one
end of a veth pair, configured only by its kernel (accept_ra=2), the other end in a second
namespace standing in for the host labsim runs in (nothing of the real host is touched). The
device learns the lab's prefix and resolver from the RA, reaches the IPv4-only backend by
name through DNS64/NAT64, and the veth end comes back unchanged after `down`, after a
Ctrl-C during bring-up, and after a SIGKILL of `labsim up` and `labsim gc`."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from labsim.runtime import nsutil
from tests.helpers import IN_CI, LABSIM, REPO, run_labsim

pytestmark = pytest.mark.root

TOPO = "topologies/ipv6-mostly.yml"
LAN6 = ipaddress.ip_network("2001:db8:10::/64")
PORT, DEV = "w2aport0", "w2adev0"


def sh(*argv: str, timeout: float = 10) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
    return res.stdout


class Rig:
    """`host`: the namespace labsim runs in (the port's home); `dev`: the device."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.host, self.dev, self.lab = f"w4a-h{tag}", f"w4a-d{tag}", f"w4a{tag}"
        for ns in (self.host, self.dev):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", self.host, "link", "add", PORT, "type", "veth", "peer", "name", DEV, "netns", self.dev)
        # the port as a user might have it: a custom MTU, up, a static address of its own
        sh("ip", "-n", self.host, "link", "set", "dev", PORT, "mtu", "1400", "up")
        sh("ip", "-n", self.host, "addr", "add", "192.168.77.1/24", "dev", PORT)
        sh("ip", "-n", self.host, "addr", "add", "fd77::1/64", "nodad", "dev", PORT)
        # the device: only its kernel configures it (SLAAC from the RA)
        for key, val in (("accept_ra", "2"), ("autoconf", "1"), ("accept_dad", "0")):
            sh("ip", "netns", "exec", self.dev, "sysctl", "-qw", f"net.ipv6.conf.{DEV}.{key}={val}")
        sh("ip", "-n", self.dev, "link", "set", "dev", "lo", "up")
        sh("ip", "-n", self.dev, "link", "set", "dev", DEV, "mtu", "1400", "up")

    def labsim(self, *args: str) -> list[str]:
        """argv of labsim run in the host stand-in (its network namespace only)."""
        return ["nsenter", f"--net=/run/netns/{self.host}", LABSIM, *args]

    def port(self) -> dict:
        """What `down` must give back: name, MTU, up/down, static addresses."""
        [link] = json.loads(sh("ip", "-n", self.host, "-j", "addr", "show", "dev", PORT))
        return {"name": link["ifname"], "mtu": link["mtu"], "up": "UP" in link["flags"],
                "addrs": sorted((a["local"], a["prefixlen"]) for a in link["addr_info"]
                                if a.get("scope") != "link")}

    def close(self) -> None:
        subprocess.run([LABSIM, "down", self.lab], capture_output=True, timeout=60)
        for ns in (self.dev, self.host):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        subprocess.run(["rm", "-rf", f"/etc/netns/{self.dev}"], timeout=10)


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def slaac_address(rig: Rig, deadline_s: float = 20) -> str | None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        out = json.loads(sh("ip", "-n", rig.dev, "-j", "-6", "addr", "show", "dev", DEV, "scope", "global"))
        addrs = [a["local"] for i in out for a in i.get("addr_info", [])
                 if "local" in a and ipaddress.ip_address(a["local"]) in LAN6]
        if addrs:
            return addrs[0]
        time.sleep(0.2)
    return None


def ra_options(rig: Rig, want: tuple[int, ...] = (25, 38), timeout_s: float = 8) -> dict[int, list[bytes]]:
    """Solicit RAs in the device and merge their options by type until every one in `want` is
    seen (RDNSS 25 from radvd, PREF64 38 from labsim's own sender: two RAs) or time is up."""
    sock = nsutil.socket_in(f"/run/netns/{rig.dev}", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    opts: dict[int, list[bytes]] = {}
    with sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        idx = json.loads(sh("ip", "-n", rig.dev, "-j", "link", "show", "dev", DEV))[0]["ifindex"]
        end = time.monotonic() + timeout_s
        sock.sendto(struct.pack("!BBHI", 133, 0, 0, 0), ("ff02::2", 0, 0, idx))
        while time.monotonic() < end and not all(k in opts for k in want):
            sock.settimeout(max(0.05, min(1.0, end - time.monotonic())))
            try:
                data, _ = sock.recvfrom(4096)
            except TimeoutError:
                sock.sendto(struct.pack("!BBHI", 133, 0, 0, 0), ("ff02::2", 0, 0, idx))
                continue
            at = 16
            while data[0] == 134 and at + 2 <= len(data) and data[at + 1]:
                kind, size = data[at], data[at + 1] * 8
                opts.setdefault(kind, []).append(data[at:at + size])
                at += size
    return opts


def reach_backend(rig: Rig, deadline_s: float = 20) -> dict | None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        res = subprocess.run(["ip", "netns", "exec", rig.dev, "curl", "-s", "-m", "3", "http://api.example.test/"],
                             capture_output=True, text=True, timeout=10)
        if res.returncode == 0 and res.stdout:
            return json.loads(res.stdout)
        time.sleep(0.3)
    return None


def dhcp4_discover(rig: Rig, timeout_s: float = 10) -> dict[int, bytes]:
    """What an RFC 8925 client does: DHCPDISCOVER from the device asking for option 108 among
    others, the OFFER's options returned ({} if none came), and no REQUEST after it."""
    mac = bytes.fromhex(json.loads(sh("ip", "-n", rig.dev, "-j", "link", "show", "dev", DEV))[0]["address"]
                        .replace(":", ""))
    xid = os.urandom(4)
    prl = bytes([1, 3, 6, 108])
    pkt = (bytes([1, 1, 6, 0]) + xid + struct.pack("!HH", 0, 0x8000) + bytes(16) + mac + bytes(10 + 64 + 128)
           + bytes([99, 130, 83, 99, 53, 1, 1, 55, len(prl)]) + prl + bytes([255]))
    sock = nsutil.socket_in(f"/run/netns/{rig.dev}", socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, DEV.encode())
        sock.bind(("0.0.0.0", 68))
        end = time.monotonic() + timeout_s
        for _ in range(int(timeout_s)):  # a DISCOVER a second until an OFFER (Kea may be starting)
            if time.monotonic() >= end:
                break
            sock.sendto(pkt, ("255.255.255.255", 67))
            sock.settimeout(1.0)
            try:
                data = sock.recv(2048)
            except TimeoutError:
                continue
            if len(data) < 240 or data[4:8] != xid:
                continue
            opts: dict[int, bytes] = {}
            at = 240
            while at < len(data) and data[at] != 255:
                if data[at] == 0:
                    at += 1
                    continue
                opts[data[at]] = data[at + 2:at + 2 + data[at + 1]]
                at += 2 + data[at + 1]
            if opts.get(53) == b"\x02":
                return opts
    return {}


def test_refusals_create_nothing(rig):
    # the port carries addresses of "the host" (the namespace labsim runs in): refused unless forced
    res = subprocess.run(rig.labsim("up", TOPO, "--name", rig.lab, "--attach", f"lan={PORT}"),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and "--attach" in res.stderr and "192.168.77.1" in res.stderr, res.stderr
    res = subprocess.run(rig.labsim("up", TOPO, "--name", rig.lab, "--attach", "lan=w2anosuch"),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and "no interface 'w2anosuch'" in res.stderr, res.stderr
    assert not Path(f"/run/labsim/{rig.lab}").exists() and not Path(f"/run/netns/ls-{rig.lab}").exists()
    assert rig.port()["name"] == PORT


def test_a_device_on_the_lan_reaches_the_ipv4_backend_and_the_port_comes_back(rig):
    before = rig.port()
    up = subprocess.run(rig.labsim("up", TOPO, "--name", rig.lab, "--attach", f"lan={PORT}", "--attach-force",
                                   "--json"), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert up.returncode == 0, up.stderr
    # the port left the host stand-in: it is a port of the lab's lan bridge
    assert subprocess.run(["ip", "-n", rig.host, "link", "show", "dev", PORT], capture_output=True).returncode != 0
    [br] = json.loads(sh("ip", "-n", f"ls-{rig.lab}", "-j", "link", "show", "dev", "ls_att0"))
    assert br["master"] == "lan"
    addr = slaac_address(rig)
    assert addr is not None, "no SLAAC address from the lab's RA"
    opts = ra_options(rig)
    resolver = str(ipaddress.IPv6Address(opts[25][0][8:24]))
    assert resolver == "2001:db8:1::3"  # the DNS64 resolver
    # PREF64 (RFC 8781): scaled lifetime + PLC in 2 bytes, then the prefix's first 96 bits
    assert opts[38][0][4:16] == ipaddress.IPv6Address("2001:db8:64::").packed[:12]
    # the device's libc gets the RA's resolver (what a DHCPv6-less phone does with RDNSS)
    Path(f"/etc/netns/{rig.dev}").mkdir(parents=True, exist_ok=True)
    Path(f"/etc/netns/{rig.dev}/resolv.conf").write_text(f"nameserver {resolver}\n")
    body = reach_backend(rig)
    assert body is not None, "the backend was not reached by name through DNS64/NAT64"
    assert ipaddress.ip_address(body["remote"]) in ipaddress.ip_network("198.18.0.0/24")  # the NAT64 pool
    # DHCPv4 as an RFC 8925 client does it: option 108 asked for, offered, no lease taken
    offer = dhcp4_discover(rig)
    assert struct.unpack("!I", offer[108]) == (1800,), offer  # the topology's ipv6_only_preferred
    [status] = json.loads(run_labsim("status", rig.lab, "--json", check=True).stdout)
    [port] = status["attached"]
    assert port["interface"] == PORT and any(addr in d["addresses"] for d in port["devices"]), port
    [dev] = [d for d in port["devices"] if addr in d["addresses"]]
    assert dev["dhcp4"] == "ipv6-only" and dev["dhcp4_lease"] is None, dev
    text = " ".join(run_labsim("status", rig.lab, check=True).stdout.split())  # unwrapped
    assert f"{dev['mac']} {' '.join(dev['addresses'])}; DHCPv4: no lease (IPv6-only" in text, text
    assert run_labsim("down", rig.lab, timeout=60).returncode == 0
    assert rig.port() == before


def wait_port_in_lab(rig: Rig, proc: subprocess.Popen, deadline_s: float = 60) -> None:
    """Until `labsim up` (still running) has moved the port into its lab (bounded)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and proc.poll() is None:
        if subprocess.run(["ip", "-n", f"ls-{rig.lab}", "link", "show", "dev", "ls_att0"],
                          capture_output=True).returncode == 0:
            return
        time.sleep(0.02)


def test_sigkill_then_teardown_from_the_state_returns_the_port(rig):
    """After a SIGKILL of `labsim up`, `down LAB` returns the port from the state file alone
    (gc leaves a kept lab that may already be up alone, by design: the next test kills an
    ephemeral one, which gc collects)."""
    before = rig.port()
    proc = subprocess.Popen(rig.labsim("up", TOPO, "--name", rig.lab, "--attach", f"lan={PORT}",
                                       "--attach-force"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # killed once the port is in the lab, before the lab is up: gc's to collect
        wait_port_in_lab(rig, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        st = json.loads(Path(f"/run/labsim/{rig.lab}/state.json").read_text())
        assert st["attached"] and st["attached"][0]["name"] == PORT  # recorded before it moved
        assert subprocess.run(["ip", "-n", rig.host, "link", "show", "dev", PORT], capture_output=True).returncode
        down = run_labsim("down", rig.lab, timeout=60)
        assert down.returncode == 0, down.stderr
        assert rig.port() == before
        assert not Path(f"/run/netns/ls-{rig.lab}").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_ctrl_c_during_bring_up_returns_the_port(rig):
    """SIGINT (Ctrl-C) once the port is in the lab: landing before the lab is ready, `up`
    takes its failure path, says what it created was removed, exits 130, and the port is
    back in the host stand-in unchanged with no lab left, without a `down`. Landing after,
    the lab is up to stay (and says so, or up exits 0): `down` gives the port back. Tried
    until the first case happened (bounded: 6 tries; it is the usual one)."""
    before = rig.port()
    outcomes = []
    for _ in range(6):
        proc = subprocess.Popen(rig.labsim("up", TOPO, "--name", rig.lab, "--attach", f"lan={PORT}",
                                           "--attach-force"), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            wait_port_in_lab(rig, proc)
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole group
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert "Traceback" not in err, err
        if proc.returncode == 130 and "what it had created was removed" in err:
            outcomes.append("removed")
        else:  # the interrupt came once the lab was up: it stays, and says so
            assert proc.returncode == 0 or (proc.returncode == 130 and f"labsim down {rig.lab}" in err), err
            outcomes.append("kept")
            down = run_labsim("down", rig.lab, timeout=60)
            assert down.returncode == 0, down.stderr
        assert rig.port() == before, (outcomes, err)
        assert not Path(f"/run/netns/ls-{rig.lab}").exists() and not Path(f"/run/labsim/{rig.lab}").exists()
        if outcomes[-1] == "removed":
            break
    assert outcomes[-1] == "removed", outcomes


@pytest.mark.skipif(not IN_CI, reason="gc collects every dead lab on the machine: run alone (CI)")
def test_sigkill_of_a_run_then_gc_returns_the_port(rig, tmp_path):
    """A `labsim run --attach` killed while its port is in the lab: its lab is ephemeral, so
    `labsim gc` collects it, and the port comes back from the state file alone."""
    before = rig.port()
    steps = "  - name: long enough to be killed in\n    exec: {from: legacy, argv: [sleep, \"20\"], timeout: 30}\n"
    path = scenario(tmp_path, rig.lab, steps)
    proc = subprocess.Popen(rig.labsim("run", str(path), "--attach", f"lan={PORT}", "--attach-force",
                                       "--capture", "none"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end, hub = time.monotonic() + 60, None
        while time.monotonic() < end and proc.poll() is None and hub is None:
            # the run names its lab itself: its hub is the lab namespace holding the port
            hubs = [n for n in os.listdir("/run/netns") if n.startswith("ls-") and "_" not in n]
            hub = next((n for n in hubs if subprocess.run(["ip", "-n", n, "link", "show", "dev", "ls_att0"],
                                                          capture_output=True).returncode == 0), None)
            time.sleep(0.05)
        assert hub is not None and proc.poll() is None, "the run's lab never took the port"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert subprocess.run(["ip", "-n", rig.host, "link", "show", "dev", PORT], capture_output=True).returncode
        gc = run_labsim("gc", timeout=60)
        assert gc.returncode == 0, gc.stderr
        assert rig.port() == before
        assert not Path(f"/run/netns/{hub}").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


DEV_MAC = "02:00:5e:10:00:a4"  # the device's SLAAC address in the lan is then EUI-64 from it:
DEV_ADDR = "2001:db8:10::5eff:fe10:a4"


PING_DEVICE = f"""  - name: the attached device is on the lan, at its SLAAC address
    ping: {{from: legacy, host: "{DEV_ADDR}", count: 1}}
    within: 20
"""


def scenario(tmp_path: Path, name: str = "w4a-attach", steps: str = PING_DEVICE + "    expect: {ok: true}\n") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(f"name: {name}\ntopology: {REPO / TOPO}\nsteps:\n{steps}")
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])  # -j 2: the worker process reloads the scenario with it
def test_labsim_run_attaches_the_port_to_the_scenarios_lab(rig, tmp_path, jobs):
    sh("ip", "-n", rig.dev, "link", "set", "dev", DEV, "address", DEV_MAC)
    before = rig.port()
    out = tmp_path / "results.json"
    res = subprocess.run(rig.labsim("run", str(scenario(tmp_path)), "--attach", f"lan={PORT}", "--attach-force",
                                    "-j", jobs, "--capture", "none", "--json", str(out)),
                         capture_output=True, text=True, timeout=180, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    [result] = json.loads(out.read_text())
    assert result["lab"].startswith("w4a-attac")
    [step] = result["steps"]
    assert step["passed"] and step["result"]["facts"]["received"] == 1, step  # the device answered
    assert rig.port() == before  # the lab went down, the port came back
    assert not Path(f"/run/labsim/{result['lab']}").exists()


def test_labsim_run_attach_refusals(rig, tmp_path):
    # without --attach-force: the port carries the host stand-in's addresses
    res = subprocess.run(rig.labsim("run", str(scenario(tmp_path)), "--attach", f"lan={PORT}"),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and "192.168.77.1" in res.stderr, res.stderr
    # a network the scenario's topology does not have: at load, before any lab
    res = subprocess.run(rig.labsim("run", str(scenario(tmp_path)), "--attach", f"nope={PORT}"),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and "no network 'nope'" in res.stderr, res.stderr
    # one interface, two labs at once: refused
    res = subprocess.run(rig.labsim("run", str(scenario(tmp_path)), str(scenario(tmp_path, "w4a-other")), "-j", "2",
                                    "--attach", f"lan={PORT}", "--attach-force"),
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and "one lab at a time" in res.stderr, res.stderr
    assert rig.port()["name"] == PORT and not list(Path("/run/labsim").glob("w4a-*"))


def test_a_failed_steps_captures_include_the_attached_port(rig, tmp_path):
    """The step fails on purpose (the device does answer); its pcaps then hold, besides the
    node's, the port's: the echo requests to the device and its replies, seen in the hub."""
    from labsim.scenario.pcapread import dissect, records

    sh("ip", "-n", rig.dev, "link", "set", "dev", DEV, "address", DEV_MAC)
    # once the device has its address (SLAAC), a step that fails on purpose: it does answer
    path = scenario(tmp_path, "w4a-capture", PING_DEVICE + f"""  - name: the device is not there
    ping: {{from: legacy, host: "{DEV_ADDR}", count: 1}}
    expect: {{ok: false}}
""")
    out, caps = tmp_path / "results.json", tmp_path / "caps"
    res = subprocess.run(rig.labsim("run", str(path), "--attach", f"lan={PORT}", "--attach-force",
                                    "--capture", "failed", "--capture-dir", str(caps), "--json", str(out)),
                         capture_output=True, text=True, timeout=180, cwd=REPO)
    assert res.returncode == 1, res.stdout + res.stderr
    [result] = json.loads(out.read_text())
    passed, failed = result["steps"]
    assert passed["passed"] and not passed["captures"]  # --capture failed: nothing of passing steps
    assert not failed["passed"]
    by_node = {c["node"]: c for c in failed["captures"]}
    assert set(by_node) >= {"legacy", f"port-{PORT}"}, by_node
    pcap = Path(by_node[f"port-{PORT}"]["path"])
    assert pcap.parent.parent == caps and pcap.name.endswith(f"-port-{PORT}.pcap")
    pkts = [dissect(link, data) for link, data in records(pcap)]
    to_dev = [p for p in pkts if p.dst == DEV_ADDR]
    from_dev = [p for p in pkts if p.src == DEV_ADDR]
    assert to_dev and from_dev, [(p.src, p.dst) for p in pkts]
    assert rig.port()["name"] == PORT


@pytest.mark.parametrize("v6only", [True, False])
def test_a_dhcpcd_device_honours_option_108(rig, tmp_path, v6only):
    """The device configured by a real client daemon, Debian's dhcpcd 9.4.1: asking for option
    108 it takes no IPv4 lease (RFC 8925 §3.2, and says so in its log); not asking, it takes
    one in the lan's IPv4 network. Its SLAAC address comes from the lab's RA either way."""
    from labsim.node import dhcpcdview

    up = subprocess.run(rig.labsim("up", TOPO, "--name", rig.lab, "--attach", f"lan={PORT}", "--attach-force"),
                        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert up.returncode == 0, up.stderr
    d = tmp_path / "dhcpcd"
    d.mkdir()
    (d / "dhcpcd.conf").write_text(dhcpcdview.conf(str(d), dhcp4=True, ipv6_only_preferred=v6only, ra=True,
                                                   resolver=False))
    (d / "dhcpcd-hook").write_text(dhcpcdview.hook(str(d / "dhcpcd-events.jsonl")))
    (d / "start.sh").write_text(dhcpcdview.start_script(str(d), [DEV], own_mounts=True))
    proc = subprocess.Popen(["ip", "netns", "exec", rig.dev, "sh", str(d / "start.sh")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end, v4, log = time.monotonic() + 30, [], ""
        while time.monotonic() < end:  # bounded: a lease, or 108's answer in dhcpcd's log
            log = (d / "dhcpcd.log").read_text() if (d / "dhcpcd.log").exists() else ""
            v4 = [a["local"] for i in json.loads(sh("ip", "-n", rig.dev, "-j", "-4", "addr", "show", "dev", DEV))
                  for a in i.get("addr_info", [])]
            if v4 or "IPv6-Only Preferred" in log:
                break
            time.sleep(0.3)
        if v6only:
            assert "IPv6-Only Preferred" in log and v4 == [], (v4, log[-2000:])
        else:
            assert v4 and ipaddress.ip_address(v4[0]) in ipaddress.ip_network("10.10.0.0/24"), (v4, log[-2000:])
        # SLAAC is dhcpcd's own, on its own clock (RS, RA, then DAD): bounded wait for it too,
        # since the IPv4 answer above may come first (a fresh CI machine: it did)
        slaac: list[str] = []
        end = time.monotonic() + 15
        while not slaac and time.monotonic() < end:
            six = json.loads(sh("ip", "-n", rig.dev, "-j", "-6", "addr", "show", "dev", DEV, "scope", "global"))
            slaac = [a["local"] for i in six for a in i.get("addr_info", [])
                     if "local" in a and ipaddress.ip_address(a["local"]) in LAN6 and not a.get("tentative")]
            if not slaac:
                time.sleep(0.3)
        assert slaac, (six, log[-2000:])
    finally:
        # dhcpcd de-configures and runs its hook for each interface on SIGTERM; once in a
        # fresh-clone CI run it had not exited 10 s later: what it leaves is killed then
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert run_labsim("down", rig.lab, timeout=60).returncode == 0
