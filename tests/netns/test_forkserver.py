"""Tier 2: a daemon the fork server starts sees its node exactly as one `ip netns exec`
starts, and is found and removed like one.

The echo backend of a small lab is started at bring-up by the fork server; the test reads
its view from /proc (network namespace, /etc as the node's, /sys of the namespace, its own
mount namespace, user, session, descriptors, command line), stops it, starts it again after
bring-up (no fork server then: `ip netns exec`), reads the same, and compares. Both answer
HTTP from the client.

In a lab session the server stays for the checks: each agent and socket probe operation forked
from it (`Runtime.call`) prints what the exec'd program prints; a dead server means exec; an
overrunning call is killed at its bound.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsim.bringup import lab
from labsim.bringup.readiness import wait_ready
from labsim.checks.websocket import SocketCheck, run_socket
from labsim.errors import RuntimeOpError
from labsim.loader import load_lab_text
from labsim.node.nodeprog import stdlib_program
from labsim.runtime.state import LabState, alive
from labsim.scenario.session import lab_session

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


CALL_TOPOLOGY = """\
name: forkcall
networks:
  lan: {ipv6: "2001:db8:71::/64", ipv4: 10.71.0.0/24}
nodes:
  api: {kind: backend, links: [lan], tcp_port: 1883, banner: "w3s-broker ready"}
  client: {kind: client, links: [lan]}
"""


def calls(api: str) -> list[tuple[str, list[str]]]:
    """Every agent and socket probe operation a check runs, answered and failing alike
    (`api`: the backend's address; its certificate names it; the client's resolver knows
    only /etc/hosts here)."""
    return [
        ("labsim.node.agent", ["resolve", "localhost"]),
        ("labsim.node.agent", ["resolve", "localhost", "--family", "6", "--no-addrconfig"]),
        ("labsim.node.agent", ["resolve", "nothing.invalid"]),
        ("labsim.node.agent", ["tcp", api, "80"]),
        ("labsim.node.agent", ["tcp", api, "9"]),  # refused
        ("labsim.node.agent", ["tls", api, "443"]),  # the lab CA, from the node's trust store
        ("labsim.node.agent", ["tls", api, "443", "--servername", "elsewhere.test"]),
        ("labsim.node.agent", ["synthesize", "192.0.2.1"]),  # no DNS64 here: the same failure
        ("labsim.node.agent", ["measure", "localhost", "--count", "3"]),
        ("labsim.node.agent", ["no-such-op"]),  # argparse's usage error, exit 2
        ("labsim.node.sockprobe", ["--path", "/ws", "--", "ws", api, "80"]),
        ("labsim.node.sockprobe", ["--tls", "--path", "/ws", "--", "ws", api, "443"]),
        ("labsim.node.sockprobe", ["--banner-ms", "2000", "--", "tcp", api, "1883"]),
        ("labsim.node.sockprobe", ["--", "tcp", api, "9"]),
        ("labsim.node.sockprobe", ["--", "ws", "nothing.invalid", "80"]),
    ]


def _steady(value):
    """Output without what differs between any two runs: times, a handshake's random key."""
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items()
                if k not in ("ms", "elapsed_ms", "sec-websocket-accept", "date")}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _seen(res: subprocess.CompletedProcess) -> tuple:
    try:
        out = _steady(json.loads(res.stdout))
    except ValueError:
        out = res.stdout
    return res.returncode, out, res.stderr.decode(errors="replace").splitlines()[-1:]


def _servers(lab_name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"labsim.node.forkserver /run/labsim/{lab_name} "],
                           capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def test_a_call_gives_what_exec_gives_and_falls_back_to_it(lab_name):
    """In a lab session each agent and probe operation forked from the session's server prints
    what the exec'd program prints (less timings); with the server killed, calls still answer
    (exec); the server ends with the session."""
    loaded = load_lab_text(CALL_TOPOLOGY, name=lab_name)
    api = str(loaded.plan.nodes["api"].ifaces[0].ipv6.ip)
    ops = calls(api)
    with lab_session(loaded) as s:
        rt = s.runtime
        assert len(_servers(lab_name)) == 1  # kept past bring-up for the session's checks
        for module, args in ops:
            t0 = time.monotonic()
            forked = rt.call("client", module, args, timeout=20)
            took = time.monotonic() - t0
            execd = rt.exec("client", stdlib_program(sys.executable, module, *args), timeout=20)
            assert forked.args == execd.args[4:]  # the argv `ip netns exec NS` runs
            assert _seen(forked) == _seen(execd), (module, args)
            assert took < 20
        first = json.loads(rt.call("client", "labsim.node.sockprobe", ops[11][1], timeout=20).stdout)
        assert first.get("tls", {}).get("ok") and first.get("ws", {}).get("ok"), first
        banner = json.loads(rt.call("client", "labsim.node.sockprobe", ops[12][1], timeout=20).stdout)
        assert banner["banner"].startswith("w3s-broker ready")

        for pid in _servers(lab_name):
            os.kill(pid, signal.SIGKILL)
        res = run_socket(SocketCheck.model_validate({"from": "client", "url": f"wss://[{api}]/ws"}), s.env)
        assert res.ok, res
        again = rt.call("client", *ops[0], timeout=20)
        assert _seen(again) == _seen(rt.exec("client", stdlib_program(sys.executable, *[ops[0][0]],
                                                                        *ops[0][1]), timeout=20))
        assert not _servers(lab_name)  # none started again: exec from here
    assert not _servers(lab_name)


def test_a_call_that_overruns_is_killed_within_its_bound(lab_name):
    """A probe of a server that accepts and never speaks, given longer than the call may take:
    the call ends at its timeout, an error, its process gone; the server answers the next."""
    loaded = load_lab_text(CALL_TOPOLOGY, name=lab_name)
    api = str(loaded.plan.nodes["api"].ifaces[0].ipv6.ip)
    with lab_session(loaded) as s:
        rt = s.runtime
        listener = subprocess.Popen(["ip", "netns", "exec", f"ls-{lab_name}_api", sys.executable, "-c",
                                     "import socket,time; s=socket.create_server(('::', 7070), family=socket.AF_INET6);"
                                     "c=s.accept(); time.sleep(60)"])
        try:
            time.sleep(0.5)
            args = ["--timeout", "30", "--path", "/", "--", "ws", api, "7070"]
            t0 = time.monotonic()
            with pytest.raises(RuntimeOpError, match="still running after 1.5s"):
                rt.call("client", "labsim.node.sockprobe", args, timeout=1.5)
            assert time.monotonic() - t0 < 4
            time.sleep(0.2)
            leftover = subprocess.run(["pgrep", "-f", "labsim.node.sockprobe --timeout 30"], capture_output=True)
            assert not leftover.stdout
            assert _seen(rt.call("client", *calls(api)[0], timeout=20))[0] == 0
            assert len(_servers(lab_name)) == 1
        finally:
            listener.kill()
            listener.wait(timeout=5)
