"""Tier 2: labsim.node.hostconf off the shipped path, on real namespaces: a CLAT host that
holds a DHCPv4 lease keeps its own IPv4 (Android Nat464Xlat.requiresClat, clatd's
v4-conncheck), and what a host reports learning is what its resolv.conf holds."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
import uuid

import pytest

from tests.helpers import LABSIM, REPO, run_labsim

pytestmark = pytest.mark.root
# the docker tier runs this module again with LABSIM_DIFF_RUNTIME=docker
# (tests/docker/test_client_stacks_docker.py): the same behaviour on both runtimes
RUNTIME = os.environ.get("LABSIM_DIFF_RUNTIME", "netns")


@pytest.fixture
def w2h_lab():
    name = "w2h" + uuid.uuid4().hex[:6]
    yield name
    subprocess.run([LABSIM, "down", name], capture_output=True, timeout=60)


def _exec(lab: str, node: str, *argv: str) -> str:
    res = run_labsim("exec", "--lab", lab, node, "--", *argv, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_a_clat_host_with_a_lease_keeps_native_ipv4(w2h_lab, tmp_path):
    text = (REPO / "topologies/ipv6-mostly.yml").read_text()
    old = "    dhcp4: {ipv6_only_preferred: false}  # never asks for option 108: takes a lease"
    assert old in text
    # a legacy host that also has a CLAT configured: with its lease it needs none
    topo = tmp_path / "lab.yml"
    topo.write_text(text.replace(old, "    clat: {prefix: auto, wait: false}\n" + old))
    up = run_labsim("up", str(topo), "--name", w2h_lab, "--runtime", RUNTIME, timeout=300)
    assert up.returncode == 0, up.stderr
    [status] = json.loads(run_labsim("status", w2h_lab, "--json", check=True).stdout)
    legacy, modern = status["learnt"]["legacy"], status["learnt"]["modern"]
    assert legacy["dhcp4"]["state"] == "bound"
    assert legacy["clat"]["state"] == "not needed" and "native IPv4" in legacy["clat"]["reason"]
    assert legacy["nat64_prefix"] == "2001:db8:64::/96"  # it knows the prefix, and does not use it
    routes = json.loads(_exec(w2h_lab, "legacy", "ip", "-j", "-4", "route", "show", "default"))
    assert [r["dev"] for r in routes] != ["clat"] and routes and routes[0]["gateway"] == legacy["dhcp4"]["router"]
    assert "clat" not in _exec(w2h_lab, "legacy", "ip", "-o", "link", "show")
    # an IPv4 literal goes out natively: the backend sees the lease's address, not the NAT64 pool
    body = json.loads(_exec(w2h_lab, "legacy", "curl", "-s", "-m", "5", "http://192.0.2.3/"))
    assert body["remote"] == legacy["dhcp4"]["address"]
    # the modern host (108 honoured) runs its CLAT; both report exactly their resolv.conf
    assert modern["clat"]["state"] == "up" and modern["dhcp4"]["v6only_wait_used"] == 1800
    for node, learnt in (("legacy", legacy), ("modern", modern)):
        conf = _exec(w2h_lab, node, "cat", "/etc/resolv.conf")
        servers = [line.split()[1] for line in conf.splitlines() if line.startswith("nameserver")]
        assert servers == learnt["resolvers"] == learnt["resolv_conf"]["nameservers"] == ["2001:db8:1::3"]
        assert learnt["default_routers"] and all(ipaddress.ip_address(r["gateway"]).is_link_local
                                                 for r in learnt["default_routers"])
    assert run_labsim("down", w2h_lab, timeout=60).returncode == 0


BLACKHOLE_RDNSS = """\
name: w2h-blackhole
networks:
  lan: {ipv6: "2001:db8:10::/64"}
nodes:
  gw:
    kind: router
    links: [lan]
    ra:
      networks: [lan]
      rdnss: ["2001:db8:10::53"]   # nobody holds it: every lookup waits out libc's timeouts
  host:
    kind: client
    links: [lan]
    slaac: true
    resolver_from_ra: true
    clat: {prefix: auto, wait: false}  # no PREF64 in the RA: RFC 7050 asks that resolver, again and again
"""


def test_a_resolver_nobody_holds_does_not_stall_the_host(w2h_lab, tmp_path):
    """RFC 7050 discovery against a resolver that never answers (libc: 5 s x 2 attempts a
    lookup, retried every second) runs beside hostconf's loop, not in it: the host is ready
    with the RA's resolver, and an address added while a lookup hangs is in its report
    within 3 s (the loop used to wait the lookup out first)."""
    topo = tmp_path / "blackhole.yml"
    topo.write_text(BLACKHOLE_RDNSS)
    res = run_labsim("up", str(topo), "--name", w2h_lab, "--runtime", RUNTIME, "--timeout", "8", timeout=60)
    assert res.returncode == 0, res.stderr
    [status] = json.loads(run_labsim("status", w2h_lab, "--json", check=True).stdout)
    learnt = status["learnt"]["host"]
    assert learnt["ready"] and learnt["resolvers"] == ["2001:db8:10::53"]
    assert learnt["rfc7050"] == [] and learnt["nat64_prefix"] is None
    assert "nameserver 2001:db8:10::53" in _exec(w2h_lab, "host", "cat", "/etc/resolv.conf")
    time.sleep(2)  # a lookup is in flight now (one starts every second while none answers)
    [iface] = [i["ifname"] for i in json.loads(_exec(w2h_lab, "host", "ip", "-j", "link", "show"))
               if i["ifname"] not in ("lo", "clat")]
    _exec(w2h_lab, "host", "ip", "addr", "add", "2001:db8:10::77/64", "dev", iface, "nodad")
    seen = []
    for _ in range(30):  # bounded: 30 x 0.1 s
        [status] = json.loads(run_labsim("status", w2h_lab, "--json", check=True).stdout)
        seen = [a["address"] for a in status["learnt"]["host"]["addresses"]]
        if "2001:db8:10::77" in seen:
            break
        time.sleep(0.1)
    assert "2001:db8:10::77" in seen, seen


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_an_idle_host_after_rfc7050_discovery_does_not_spin(w2h_lab):
    """Once RFC 7050 has answered (the next lookup is 30 s away), hostconf's loop sleeps on
    netlink and its 0.5 s tick. Its lookup thread used to say "done" before writing the byte
    that wakes the loop; the step that took the answer then found no byte to read, the byte
    came after, and select stayed readable: hostconf used a whole core until the next lookup
    (in a review, ~1.6 s of CPU a network, on a 2-core machine)."""
    res = run_labsim("up", "ipv6-first", "--name", w2h_lab, "--runtime", RUNTIME, timeout=300)
    assert res.returncode == 0, res.stderr
    [status] = json.loads(run_labsim("status", w2h_lab, "--json", check=True).stdout)
    assert status["learnt"]["app-clat"]["nat64_prefix_source"] == "rfc7050"
    [proc] = [p for p in status["processes"] if p["node"] == "app-clat" and p["service"] == "hostconf"]
    before, t0 = _cpu_s(proc["pid"]), time.monotonic()
    time.sleep(2.0)
    used = _cpu_s(proc["pid"]) - before
    assert used < 0.2 * (time.monotonic() - t0), f"hostconf used {used:.2f} s of CPU in 2 s idle"
    assert run_labsim("down", w2h_lab, timeout=60).returncode == 0
