"""Tier 1: the `stack: dhcpcd` client: what it renders (dhcpcd.conf, start script, hook), what
it runs and waits for, what it refuses at load time, and how labsim.node.dhcpcdview reads
dhcpcd's hook events, log and resolv.conf into hostconf's `learnt.json` schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from labsim.kinds import registry
from labsim.kinds.base import FileProbe, NodeContext
from labsim.loader import load_lab, load_lab_text
from labsim.node import dhcpcdview
from labsim.node.nodeprog import split_program
from tests.helpers import REPO, run_labsim

MODERN = """\
name: t
networks:
  lan: {ipv6: "2001:db8:10::/64", ipv4: 10.10.0.0/24}
nodes:
  gw: {kind: router, links: [lan], ra: {rdnss: [2001:db8:10::1]}}
  dhcp: {kind: dhcp4, links: [lan]}
  d:
    kind: client
    links: [lan]
    slaac: true
    resolver_from_ra: true
    dhcp4: {ipv6_only_preferred: V6ONLY}
    stack: dhcpcd
"""


def _ctx(text: str, node: str = "d", confinement: str = "") -> NodeContext:
    loaded = load_lab_text(text)
    return NodeContext(loaded.plan, loaded.plan.nodes[node], loaded.topology.nodes[node], dir="/n",
                       confinement=confinement)


def test_dhcpcd_client_renders_its_config_and_runs_dhcpcd_and_the_view():
    ctx = _ctx(MODERN.replace("V6ONLY", "true"))
    kind = registry.get("client")
    files = kind.render(ctx)
    assert "hostconf.json" not in files
    conf = files["dhcpcd.conf"].splitlines()
    assert "option ipv6_only_preferred  # RFC 8925: ask for option 108 and honour it" in conf
    assert "slaac hwaddr" in conf and "nodhcp6  # labsim runs no DHCPv6 server" in conf
    assert not {"noipv4", "noipv6", "noipv6rs"} & {line.split()[0] for line in conf}
    assert not any(line.startswith("nohook resolv.conf") for line in conf)
    start = files["dhcpcd-start.sh"]
    # netns: the node's own state directories over dhcpcd's, then dhcpcd on eth0 only
    assert "mount --bind /n/dhcpcd/run /run/dhcpcd" in start and "mount --bind /n/dhcpcd/lib /var/lib/dhcpcd" in start
    assert start.splitlines()[-1] == ("exec dhcpcd -f /n/dhcpcd.conf -B -d -j /n/dhcpcd.log "
                                      "--script /n/dhcpcd-hook eth0")
    assert files["dhcpcd-hook"].startswith("#!/usr/bin/python3 -S\n")
    assert 'EVENTS = "/n/dhcpcd-events.jsonl"' in files["dhcpcd-hook"]
    assert json.loads(files["dhcpcdview.json"])["ipv6_only_preferred"] is True
    [dhcpcd, view] = kind.services(ctx)
    assert (dhcpcd.name, dhcpcd.argv) == ("dhcpcd", ["sh", "/n/dhcpcd-start.sh"])
    assert split_program(view.argv) == ("labsim.node.dhcpcdview", ["/n/dhcpcdview.json"])
    assert kind.probes(ctx) == [FileProbe("/n/learnt.json", contains='"ready": true', service="dhcpcdview")]
    binaries, packages = kind.needs(ctx.spec)
    assert "dhcpcd" in binaries and "dhcpcd-base" in packages
    # dhcpcd takes RAs itself (it sets accept_ra 0 on its links): no RA sysctls from labsim
    assert kind.sysctls(ctx.node, ctx.spec) == {}


def test_a_legacy_dhcpcd_host_does_not_ask_for_108_and_docker_needs_no_mounts():
    ctx = _ctx(MODERN.replace("V6ONLY", "false"), confinement="user")
    files = registry.get("client").render(ctx)
    assert "ipv6_only_preferred" not in files["dhcpcd.conf"]
    assert "mount" not in files["dhcpcd-start.sh"]


def test_the_default_stack_is_still_hostconf():
    loaded = load_lab(REPO / "topologies/ipv6-mostly.yml")
    ctx = NodeContext(loaded.plan, loaded.plan.nodes["modern"], loaded.topology.nodes["modern"], dir="/n")
    kind = registry.get("client")
    assert "hostconf.json" in kind.render(ctx) and "dhcpcd.conf" not in kind.render(ctx)
    assert [s.name for s in kind.services(ctx)] == ["hostconf"]


def test_dhcpcd_with_a_clat_is_refused_with_file_line_and_exit_2(tmp_path):
    text = MODERN.replace("V6ONLY", "true") + "    clat: {prefix: auto}\n"
    path = tmp_path / "lab.yml"
    path.write_text(text)
    res = run_labsim("validate", str(path), timeout=60)
    assert res.returncode == 2
    assert f"{path}:" in res.stderr and "no PREF64 and no CLAT" in res.stderr


def test_dhcpcd_resolver_without_slaac_is_refused(tmp_path):
    text = MODERN.replace("V6ONLY", "true").replace("    slaac: true\n", "")
    path = tmp_path / "lab.yml"
    path.write_text(text)
    res = run_labsim("validate", str(path), timeout=60)
    assert res.returncode == 2 and "resolver_from_ra" in res.stderr and "slaac: true" in res.stderr


def _ev(reason: str, t: float = 100.0, **env: str) -> dict:
    return {"t": t, "reason": reason, "interface": "eth0", "env": {"reason": reason, **env}}


def test_view_reads_a_lease_then_its_expiry():
    bound = _ev("BOUND", protocol="dhcp", new_ip_address="10.10.0.130", new_subnet_cidr="24",
                new_routers="10.10.0.1", new_dhcp_lease_time="600", new_dhcp_server_identifier="10.10.0.4")
    facts = dhcpcdview.dhcp4_state([bound], "", False)
    assert facts == {"ipv6_only_preferred": False, "state": "bound", "address": "10.10.0.130", "prefixlen": 24,
                     "router": "10.10.0.1", "lease": 600, "server": "10.10.0.4", "dns": []}
    assert dhcpcdview.dhcp4_state([bound, _ev("EXPIRE", protocol="dhcp")], "", False)["state"] == "init"


def test_view_reads_option_108_from_dhcpcds_log():
    log = "Dec 07 17:05:06 [1]: eth0: IPv6-Only Preferred received (1800 seconds)\n"
    facts = dhcpcdview.dhcp4_state([_ev("EXPIRE", protocol="dhcp")], log, True)
    assert (facts["state"], facts["v6only_wait"]) == ("v6only", 1800)


def test_view_takes_ra_options_of_the_newest_ra_while_they_last():
    ra = _ev("ROUTERADVERT", t=100.0, protocol="ra", nd1_from="fe80::1", nd1_acquired="50", nd1_now="52",
             nd1_rdnss1_lifetime="12", nd1_rdnss1_servers="2001:db8::53 2001:db8::54",
             nd1_dnssl1_lifetime="30", nd1_dnssl1_search="example.test")
    assert dhcpcdview.ra_options([ra], 101.0) == (["2001:db8::53", "2001:db8::54"], ["example.test"])
    # 2 s old at the event, 10 s later: the RDNSS (12 s) is out, the DNSSL (30 s) is not
    assert dhcpcdview.ra_options([ra], 110.0) == ([], ["example.test"])
    # an RA event with no options left: nothing, not an older event's servers
    empty = _ev("ROUTERADVERT", t=105.0, protocol="ra", nd1_from="fe80::1", nd1_acquired="55", nd1_now="55")
    assert dhcpcdview.ra_options([ra, empty], 106.0) == ([], [])
    assert dhcpcdview.ra_options([], 1.0) == ([], [])


def test_view_parses_resolv_conf_as_glibc_does():
    text = ("# Generated by dhcpcd from eth0.ra\n# /etc/resolv.conf.head can replace this line\n"
            "domain a.test\nsearch b.test c.test\nnameserver 2001:db8::53 # x\nnameserver 10.0.0.1\n")
    assert dhcpcdview.parse_resolv_conf(text) == (["2001:db8::53", "10.0.0.1"], ["b.test", "c.test"])
    assert dhcpcdview.parse_resolv_conf("# /etc/resolv.conf.tail can replace this line\n") == ([], [])


def test_hook_appends_one_json_line_per_event_and_runs_the_stock_hooks(tmp_path):
    events = tmp_path / "events.jsonl"
    hook = tmp_path / "hook"
    hook.write_text(dhcpcdview.hook(str(events)).replace(
        'RUN_HOOKS = "/usr/lib/dhcpcd/dhcpcd-run-hooks"', f'RUN_HOOKS = "{tmp_path}/none"'))
    env = {"reason": "BOUND", "interface": "eth0", "new_ip_address": "10.0.0.9", "PATH": os.defpath, "SECRET": "x"}
    for _ in range(2):
        res = subprocess.run([sys.executable, "-S", str(hook)], env=env, capture_output=True, timeout=10)
        assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["reason"] == "BOUND"
    assert lines[0]["env"] == {"interface": "eth0", "new_ip_address": "10.0.0.9", "reason": "BOUND"}


def test_view_writes_hostconfs_schema(tmp_path, monkeypatch):
    """The `learnt` check reads a dhcpcd node's file as it reads hostconf's."""
    from labsim.checks.result import LearntFacts, adapter

    ra = _ev("ROUTERADVERT", t=100.0, protocol="ra", nd1_acquired="5", nd1_now="5",
             nd1_rdnss1_lifetime="12", nd1_rdnss1_servers="2001:db8::53")
    (tmp_path / "dhcpcd-events.jsonl").write_text(json.dumps(ra) + "\n")
    (tmp_path / "dhcpcd.log").write_text("eth0: IPv6-Only Preferred received (300 seconds)\n")
    (tmp_path / "resolv.conf").write_text("nameserver 2001:db8::53\n")
    addr = [{"ifname": "eth0", "addr_info": [{"family": "inet6", "local": "2001:db8::5:1", "prefixlen": 64,
                                              "dynamic": True, "valid_life_time": 86400}]}]
    monkeypatch.setattr(dhcpcdview, "_ip_json", lambda *argv: addr if "addr" in argv else [])
    cfg = {"dir": str(tmp_path), "slaac": True, "resolver_from_ra": True, "dhcp4": True,
           "ipv6_only_preferred": True, "resolv_conf": str(tmp_path / "resolv.conf")}
    data = dhcpcdview.learnt(cfg, 101.0, 0.0, {})
    assert data["ready"] and data["resolvers"] == ["2001:db8::53"]
    assert data["resolv_conf"] == {"nameservers": ["2001:db8::53"], "search": []}
    assert data["dhcp4"]["state"] == "v6only" and data["dhcp4"]["v6only_wait"] == 300
    data["addresses"] = [a["address"] for a in data["addresses"]]
    facts = adapter(LearntFacts).validate_python(data)
    assert facts.addresses == ["2001:db8::5:1"] and facts.clat is None and facts.nat64_prefix is None
