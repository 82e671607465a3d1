"""Tier 2: IPv6-mostly hosts on real namespaces — SLAAC, RDNSS/DNSSL, PREF64, DHCPv4 option
108, the CLAT — seen the way a user sees them (`labsim status --json`, `ip` in the node,
packets through the CLAT), and nothing left on the host afterwards."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.helpers import assert_same_host, host_snapshot, lab_processes, run_labsim

pytestmark = pytest.mark.root

TOPO = "topologies/ipv6-mostly.yml"
LAN6 = ipaddress.ip_network("2001:db8:10::/64")


def _exec(lab: str, node: str, *argv: str) -> str:
    res = run_labsim("exec", "--lab", lab, node, "--", *argv, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_ipv6_mostly_hosts_configure_themselves_and_leave_nothing(lab_name):
    before = host_snapshot(lab_name)
    up = run_labsim("up", TOPO, "--name", lab_name, "--json", timeout=90)
    assert up.returncode == 0, up.stderr
    [status] = json.loads(run_labsim("status", lab_name, "--json", check=True).stdout)
    modern, legacy = status["learnt"]["modern"], status["learnt"]["legacy"]
    # SLAAC: an address the plan did not choose, inside the advertised /64
    planned = {i["ipv6"] for i in status["nodes"]["modern"]["interfaces"]}
    [addr] = [a["address"] for a in modern["addresses"]]
    assert ipaddress.ip_address(addr) in LAN6 and f"{addr}/64" not in planned
    assert modern["resolvers"] == ["2001:db8:1::3"] and modern["search"] == ["example.test"]
    assert (modern["nat64_prefix"], modern["nat64_prefix_source"]) == ("2001:db8:64::/96", "pref64")
    # option 108 honoured: no IPv4 on the LAN, only the CLAT's 192.0.0.2
    assert modern["dhcp4"]["state"] == "v6only" and modern["dhcp4"]["v6only_wait"] == 1800
    v4 = json.loads(_exec(lab_name, "modern", "ip", "-j", "-4", "addr", "show"))
    assert sorted((i["ifname"], a["local"]) for i in v4 for a in i["addr_info"]) == \
        [("clat", "192.0.0.2"), ("lo", "127.0.0.1")]
    # the resolver file the node's libc reads was written from RDNSS/DNSSL
    conf = _exec(lab_name, "modern", "cat", "/etc/resolv.conf")
    assert "nameserver 2001:db8:1::3" in conf and "search example.test" in conf
    # the legacy host took a lease and its router
    assert legacy["dhcp4"]["state"] == "bound" and ipaddress.ip_address(legacy["dhcp4"]["address"]) in \
        ipaddress.ip_network("10.10.0.0/24") and legacy["clat"] is None
    # through the CLAT: the backend sees the NAT64 pool
    body = json.loads(_exec(lab_name, "modern", "curl", "-s", "-m", "5", "http://192.0.2.3/"))
    assert ipaddress.ip_address(body["remote"]) in ipaddress.ip_network("198.18.0.0/24")
    text = run_labsim("status", lab_name, check=True).stdout
    assert "modern learnt:" in text and "clat up" in text
    assert run_labsim("down", lab_name, timeout=60).returncode == 0
    assert lab_processes(lab_name) == []
    assert_same_host(before, host_snapshot(lab_name))


def test_a_clat_with_a_given_prefix_needs_no_dns64(lab_name, tmp_path):
    """`clat: {prefix: P}`: no discovery at all; the host's resolver synthesizes nothing, yet
    its IPv4 literals reach the IPv4-only backend through CLAT and NAT64."""
    from tests.helpers import REPO

    text = (REPO / "topologies/ipv6-first.yml").read_text()
    text = text.replace("    clat: {prefix: auto}           # the NAT64 prefix by RFC 7050 through its own resolver",
                        "    clat: {prefix: 2001:db8:64::/96}")
    text = text.replace("  app-clat:\n    kind: client\n    links: [v6net]\n    resolver: {nameservers: [dns64]}",
                        "  app-clat:\n    kind: client\n    links: [v6net]\n    resolver: {nameservers: [ns]}")
    assert "prefix: 2001:db8:64::/96}" in text and "nameservers: [ns]" in text
    topo = tmp_path / "lab.yml"
    topo.write_text(text)
    assert run_labsim("up", str(topo), "--name", lab_name, timeout=90).returncode == 0
    [status] = json.loads(run_labsim("status", lab_name, "--json", check=True).stdout)
    learnt = status["learnt"]["app-clat"]
    assert (learnt["nat64_prefix"], learnt["nat64_prefix_source"], learnt["rfc7050"]) == \
        ("2001:db8:64::/96", "config", [])
    body = json.loads(_exec(lab_name, "app-clat", "curl", "-s", "-m", "5", "http://192.0.2.4:5432/"))
    assert body["node"] == "db" and ipaddress.ip_address(body["remote"]) in ipaddress.ip_network("198.18.0.0/24")
    # the CLAT's IPv6 address is on-link, answered by proxy NDP, routed into the TUN
    clat6 = learnt["clat"]["ipv6"]
    assert ipaddress.ip_address(clat6) in ipaddress.ip_network("2001:db8:1::/64")
    assert clat6 in _exec(lab_name, "app-clat", "ip", "-6", "neigh", "show", "proxy")
