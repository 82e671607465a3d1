"""Tier 2: labsim's own client model (hostconf) against a real client stack, dhcpcd 9.4.1
(`stack: dhcpcd`), side by side on one LAN: the same router advertisements and DHCPv4 server
(option 108 offered or not), the same changes (RDNSS/DNSSL changed, left out of the RA until
they expire, withdrawn with lifetime 0 when radvd stops), and what each node learns and uses
compared: its global prefixes, its resolv.conf (nameservers, search), its IPv4 lease or none.

Where the two differ by design the test names the difference; what dhcpcd cannot speak to
(PREF64, the CLAT: dhcpcd 9.4.1 defines no option 38) is checked elsewhere against the
platforms' own sources (Android NetworkStack `IpClientLinkObserver`, clatd), as
tests/netns/test_v6mostly.py does. Every wait is bounded.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import run_labsim

pytestmark = pytest.mark.root

LAN6 = ipaddress.ip_network("2001:db8:10::/64")
LAN4 = ipaddress.ip_network("10.10.0.0/24")
# the router's own addresses: nothing listens on port 53 there, so a query fails at once
# (ICMP port unreachable). A resolver address nobody holds would stall hostconf's RFC 7050
# lookup (synchronous, in its loop) for the resolver's timeouts, and with it its DHCPv4.
DNS1, DNS2 = "2001:db8:10::1", "2001:db8:1::1"
# the docker tier runs this module again with LABSIM_DIFF_RUNTIME=docker (dhcpcd-base is in
# the node image: docker/packages.txt); nothing here depends on the runtime
RUNTIME = os.environ.get("LABSIM_DIFF_RUNTIME", "netns")
RA_LIFETIME_S = 12  # labsim's radvd.conf: RDNSS/DNSSL lifetime 3 x MaxRtrAdvInterval (4 s)


def topology(v6only: int | None, pref64: bool) -> str:
    return f"""\
name: dhcpcd-differential
description: labsim's hostconf (h) and dhcpcd 9.4.1 (d) on one LAN
nat64_prefix: 2001:db8:64::/96
networks:
  lan: {{ipv6: "2001:db8:10::/64", ipv4: 10.10.0.0/24}}
  core: {{ipv6: "2001:db8:1::/64"}}
nodes:
  gw:
    kind: router
    links: [lan, core]
    ra:
      networks: [lan]
      rdnss: [{DNS1}]
      dnssl: [example.test]
{"      pref64: {lifetime: 1800}" if pref64 else ""}
  h: {{kind: client, links: [lan], slaac: true, resolver_from_ra: true, dhcp4: {{ipv6_only_preferred: true}}}}
  d: {{kind: client, links: [lan], slaac: true, resolver_from_ra: true, dhcp4: {{ipv6_only_preferred: true}},
      stack: dhcpcd}}
  dhcp: {{kind: dhcp4, links: [lan], ipv6_only_preferred: {"null" if v6only is None else v6only}}}
"""


@pytest.fixture
def lab(tmp_path) -> Iterator[Callable[..., str]]:
    names: list[str] = []

    def up(v6only: int | None = 1800, pref64: bool = False) -> str:
        name = "w2d" + uuid.uuid4().hex[:6]
        names.append(name)
        path = tmp_path / f"{name}.yml"
        path.write_text(topology(v6only, pref64))
        res = run_labsim("up", str(path), "--name", name, "--runtime", RUNTIME, timeout=300)
        assert res.returncode == 0, res.stderr
        return name

    yield up
    for name in names:
        run_labsim("down", name, timeout=60)


def sh(lab: str, node: str, script: str) -> str:
    res = run_labsim("exec", "--lab", lab, node, "--", "sh", "-c", script, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


def resolv(lab: str, node: str) -> tuple[list[str], list[str]]:
    servers, search = [], []
    for line in sh(lab, node, "cat /etc/resolv.conf").splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["nameserver"]:
            servers.append(words[1])
        elif words[:1] in (["search"], ["domain"]):
            search = words[1:]
    return servers, search


def learnt(lab: str, node: str) -> dict[str, Any]:
    [status] = json.loads(run_labsim("status", lab, "--json", check=True).stdout)
    return dict(status["learnt"][node])


def prefixes(lab: str, node: str) -> set[ipaddress.IPv6Network]:
    data = json.loads(sh(lab, node, "ip -j -6 addr show dev eth0 scope global"))
    return {ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
            for i in data for a in i.get("addr_info", []) if "local" in a}


def ipv4(lab: str, node: str) -> list[str]:
    data = json.loads(sh(lab, node, "ip -j -4 addr show dev eth0"))
    return [a["local"] for i in data for a in i["addr_info"]]


def wait_for(what: str, fn: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {got!r})")
        time.sleep(0.3)


def node_dir(lab: str, node: str) -> str:
    # both runtimes mount a node's directory at its host path (runtime.node_dir)
    [status] = json.loads(run_labsim("status", lab, "--json", check=True).stdout)
    return f"{status['ca'].rsplit('/', 1)[0]}/nodes/{node}"  # the lab directory holds ca.pem


def radvd(lab: str, sed: str | None) -> None:
    """Edit the router's radvd.conf with a sed script and reload it (SIGHUP), or, with None,
    stop radvd (its goodbye RA withdraws RDNSS/DNSSL with lifetime 0, RFC 8106 §5.1)."""
    d = node_dir(lab, "gw")
    if sed is None:
        sh(lab, "gw", f"kill -TERM $(cat {d}/radvd.pid)")
    else:
        sh(lab, "gw", f"sed -i {sed!r} {d}/radvd.conf && kill -HUP $(cat {d}/radvd.pid)")


def agree(lab: str) -> tuple[list[str], list[str]] | None:
    """Both nodes' resolv.conf (nameservers, search) when they are the same, else None."""
    h, d = resolv(lab, "h"), resolv(lab, "d")
    return h if h == d else None


def test_initial_configuration_agrees_with_108_offered(lab):
    name = lab(v6only=1800)
    wait_for("both ready", lambda: learnt(name, "h")["ready"] and learnt(name, "d")["ready"], 30)
    # SLAAC: the advertised /64 and nothing else (each host forms its own EUI-64 address)
    assert prefixes(name, "h") == prefixes(name, "d") == {LAN6}
    assert resolv(name, "h") == resolv(name, "d") == ([DNS1], ["example.test"])
    # RFC 8925 §3.2: both asked for 108, were offered it, took no lease
    h4, d4 = learnt(name, "h")["dhcp4"], learnt(name, "d")["dhcp4"]
    assert (h4["state"], h4["v6only_wait"]) == (d4["state"], d4["v6only_wait"]) == ("v6only", 1800)
    assert ipv4(name, "h") == ipv4(name, "d") == []
    # the `learnt` facts of the dhcpcd node are read as hostconf's are (labsim status)
    d = learnt(name, "d")
    assert d["stack"] == "dhcpcd" and d["resolvers"] == [DNS1] and d["search"] == ["example.test"]
    # intended difference: dhcpcd 9.4.1 has no PREF64 (no option 38 in dhcpcd-definitions.conf)
    # and no CLAT; Android's NetworkStack (IpClientLinkObserver) and clatd are the references
    assert d["pref64"] is None and d["nat64_prefix"] is None and d["clat"] is None


def test_both_take_a_lease_when_108_is_not_offered(lab):
    """RFC 8925 fallback: a client that asks for 108 from a server that does not offer it
    takes the lease; both stacks do."""
    name = lab(v6only=None)
    wait_for("both ready", lambda: learnt(name, "h")["ready"] and learnt(name, "d")["ready"], 30)
    h4, d4 = learnt(name, "h")["dhcp4"], learnt(name, "d")["dhcp4"]
    assert h4["state"] == d4["state"] == "bound"
    [h_addr], [d_addr] = ipv4(name, "h"), ipv4(name, "d")
    assert ipaddress.ip_address(h_addr) in LAN4 and ipaddress.ip_address(d_addr) in LAN4 and h_addr != d_addr
    assert (h4["address"], d4["address"]) == (h_addr, d_addr)
    for node in ("h", "d"):  # the lease's router is the IPv4 default route
        routes = json.loads(sh(name, node, "ip -j -4 route show default"))
        assert [r["gateway"] for r in routes] == ["10.10.0.1"], node
    # (dhcpcd would also put DHCPv4 option 6 servers into resolv.conf, hostconf ignores
    # option 6: labsim's Kea sends none, so both files hold the RA's resolver only)
    assert resolv(name, "h") == resolv(name, "d") == ([DNS1], ["example.test"])


def test_ra_changes_omissions_and_withdrawal(lab):
    name = lab(v6only=1800)
    wait_for("both ready", lambda: learnt(name, "h")["ready"] and learnt(name, "d")["ready"], 30)
    assert agree(name) == ([DNS1], ["example.test"])

    # changed: a new server and domain in place of the old
    radvd(name, f"s/{DNS1}/{DNS2}/; s/example.test/other.test/")
    d_now = wait_for("dhcpcd takes the new RA", lambda: (r := resolv(name, "d"))[0] == [DNS2] and r, 15)
    # intended difference: dhcpcd keeps one RA per router and replaces it whole, so the old
    # server goes at once; hostconf (RFC 8106 §6.1: one entry per server, until its
    # lifetime) keeps it until it expires
    assert d_now == ([DNS2], ["other.test"])
    h_servers, _ = resolv(name, "h")
    assert DNS2 in h_servers
    assert wait_for("both agree once the old entries expired", lambda: agree(name), RA_LIFETIME_S + 6) == \
        ([DNS2], ["other.test"])

    # left out: RAs go on without RDNSS/DNSSL; once their lifetime is out, neither uses them
    radvd(name, "/RDNSS/d; /DNSSL/d")
    # intended difference: dhcpcd drops them with the next RA; hostconf waits for expiry
    wait_for("dhcpcd drops the omitted options", lambda: resolv(name, "d") == ([], []), 10)
    assert wait_for("hostconf lets them expire", lambda: agree(name) == ([], []), RA_LIFETIME_S + 6)
    # glibc with no nameserver line asks 127.0.0.1: nothing listens there, so a lookup fails at
    # once on both (not after a stale server's timeout)
    for node in ("h", "d"):
        started = time.monotonic()
        res = run_labsim("exec", "--lab", name, node, "--", "getent", "ahosts", "api.other.test", timeout=30)
        assert res.returncode != 0 and time.monotonic() - started < 5, node
    h, d = learnt(name, "h"), learnt(name, "d")
    assert h["resolvers"] == d["resolvers"] == [] and h["search"] == d["search"] == []

    # back, then withdrawn with lifetime 0 (radvd's goodbye RA)
    radvd(name, f"/prefix/a\\  RDNSS {DNS1} {{ AdvRDNSSLifetime {RA_LIFETIME_S}; }};")
    assert wait_for("both learn it again", lambda: agree(name) == ([DNS1], []), 15)
    radvd(name, None)
    assert wait_for("both drop it at once", lambda: agree(name) == ([], []), 5)
    # the SLAAC addresses stay (their valid lifetime runs on; RFC 4862 §5.5.3 e)
    assert prefixes(name, "h") == prefixes(name, "d") == {LAN6}


# found by this differential test: radvd's RAs left from the PREF64 sender's fe80::64, so its
# router-lifetime-0 RAs came from the "same" router (fixed: radvd's AdvRASrcAddress, kinds/ra.py)
def test_pref64_ras_do_not_take_the_resolver_away(lab):
    name = lab(v6only=1800, pref64=True)
    wait_for("hostconf ready", lambda: learnt(name, "h")["ready"], 30)
    # intended difference: only hostconf learns PREF64 (dhcpcd 9.4.1 has no option 38)
    assert learnt(name, "h")["nat64_prefix"] == "2001:db8:64::/96" and learnt(name, "d")["nat64_prefix"] is None
    seen: set[tuple[Any, ...]] = set()
    deadline = time.monotonic() + 10  # at least two RAs of each sender (every 3-4 s)
    while time.monotonic() < deadline:
        seen.add(tuple(resolv(name, "d")[0]))
        routes = json.loads(sh(name, "d", "ip -j -6 route show default"))
        seen.add(("default route", bool(routes)))
        time.sleep(0.2)
    assert seen == {(DNS1,), ("default route", True)}
