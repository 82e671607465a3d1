"""Tier 2: a daemon the fork server starts sees its node exactly as one `ip netns exec`
starts, and is found and removed like one.

The echo backend of a small lab is started at bring-up by the fork server; the test reads
its view from /proc (network namespace, /etc as the node's, /sys of the namespace, its own
mount namespace, user, session, descriptors, command line), stops it, starts it again after
bring-up (no fork server then: `ip netns exec`), reads the same, and compares. Both answer
HTTP from the client.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from labsim.bringup import lab
from labsim.loader import load_lab_text
from labsim.bringup.readiness import wait_ready
from labsim.runtime.state import LabState, alive

pytestmark = pytest.mark.root

TOPOLOGY = """\
name: fork
networks:
  lan: {ipv6: "2001:db8:70::/64", ipv4: 10.70.0.0/24}
nodes:
  api: {kind: backend, links: [lan]}
  client: {kind: client, links: [lan]}
"""


def view(pid: int, ns: str) -> dict:
    """What the process sees and is, as far as a daemon could tell the two starts apart."""
    proc = Path(f"/proc/{pid}")
    fds = []
    for fd in os.listdir(proc / "fd"):
        try:
            fds.append(os.readlink(proc / "fd" / fd))
        except FileNotFoundError:
            pass  # a connection's socket, closed since the listing
    fds.sort()
    status = dict(line.split(":\t", 1) for line in (proc / "status").read_text().splitlines() if ":\t" in line)
    cmdline = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0")]
    while cmdline and cmdline[-1] == "":
        cmdline.pop()
    return {
        "netns": os.stat(proc / "ns" / "net").st_ino == os.stat(f"/run/netns/{ns}").st_ino,
        "own mount ns": os.stat(proc / "ns" / "mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino,
        "/etc/hosts": (proc / "root" / "etc" / "hosts").read_text(),
        "/etc/resolv.conf": (proc / "root" / "etc" / "resolv.conf").read_text(),
        "/sys/class/net": sorted(os.listdir(proc / "root" / "sys" / "class" / "net")),
        "uid": status["Uid"], "gid": status["Gid"], "groups": status["Groups"],
        "session leader": os.getsid(pid) == pid,
        # sockets come and go with connections (a readiness probe's may still be open)
        "fds": [f for f in fds if not f.startswith("socket:")],
        "cmdline": cmdline,
    }


def curl(lab_name: str, addr: str) -> str:
    return subprocess.run(["ip", "netns", "exec", f"ls-{lab_name}_client", "curl", "-sS", "-m", "5",
                           "-o", "/dev/null", "-w", "%{http_code}", f"http://[{addr}]/"],
                          capture_output=True, text=True, timeout=30).stdout


def test_a_forked_daemon_is_indistinguishable_from_an_execd_one(lab_name):
    loaded = load_lab_text(TOPOLOGY, name=lab_name)
    lab.up(loaded)
    ns = f"ls-{lab_name}_api"
    addr = str(loaded.plan.nodes["api"].ifaces[0].ipv6.ip)
    state = LabState.load(lab_name)
    echo = next(p for p in state.processes if p["service"] == "echo")
    forked = view(echo["pid"], ns)
    # the fork server has gone with the bring-up; its child has not
    assert not subprocess.run(["pgrep", "-f", f"labsim.node.forkserver /run/labsim/{lab_name}"],
                              capture_output=True).stdout
    assert curl(lab_name, addr) == "200"

    os.kill(echo["pid"], signal.SIGTERM)
    end = time.monotonic() + 5
    while alive(echo["pid"], echo["start"]) and time.monotonic() < end:
        time.sleep(0.02)
    rt = lab.make_runtime(state)
    try:
        ctx = lab.node_context(loaded, rt, "api")
        pending = lab.spawn_services(rt, ctx, state, only={"echo"})
        wait_ready(rt, pending, 10)
    finally:
        rt.close()
    again = next(p for p in reversed(LabState.load(lab_name).processes) if p["service"] == "echo")
    assert again["pid"] != echo["pid"] and again["argv"] == echo["argv"]
    execd = view(again["pid"], ns)
    assert curl(lab_name, addr) == "200"

    assert forked == execd
    assert forked["netns"] and forked["own mount ns"] and forked["session leader"]
    assert "api" in forked["/etc/hosts"] and "eth0" in forked["/sys/class/net"]
    assert forked["fds"][:3] == ["/dev/null"] + [f"/run/labsim/{lab_name}/nodes/api/echo.log"] * 2
    assert forked["cmdline"] == echo["argv"][4:]  # the argv `ip netns exec NS` would exec
    lab.down(lab_name)
    assert not [p for p in state.processes if alive(p["pid"], p.get("start"))]
