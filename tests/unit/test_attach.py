"""Tier 1: `--attach` parsing, the refusals made before anything is created, and the restore
record teardown accepts (only the shape labsim writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsim.bringup import attach
from labsim.errors import InputError
from labsim.loader import load_lab_text
from labsim.runtime.state import attach_record_problem

TOPO = Path(__file__).resolve().parents[2] / "topologies" / "ipv6-mostly.yml"


def lab(extra: str = ""):
    return load_lab_text(TOPO.read_text() + extra, "w2a", filename="topo.yml")


@pytest.mark.parametrize("value", ["lan", "=eth0", "lan=", "lan=a/b", "lan=waytoolonginterfacename"])
def test_bad_attach_values_are_input_errors_on_the_option(value):
    with pytest.raises(InputError) as exc:
        attach.with_cli(lab(), [value])
    assert exc.value.field == "--attach" and exc.value.exit_code == 2


def test_cli_entries_follow_the_files_and_carry_force():
    loaded = attach.with_cli(lab("attach:\n  - {network: lan, interface: tap0}\n"), ["core=veth9"], force=True)
    assert [(a.network, a.interface, a.force) for a in loaded.topology.attach] == \
        [("lan", "tap0", False), ("core", "veth9", True)]


def test_unknown_network_in_the_file_is_reported_at_its_line():
    loaded = lab("attach:\n  - {network: nope, interface: tap0}\n")
    with pytest.raises(InputError) as exc:
        attach.check(loaded)
    assert exc.value.file == "topo.yml" and exc.value.line == TOPO.read_text().count("\n") + 2
    assert exc.value.field == "attach[0].network" and "no network 'nope'" in exc.value.message


def test_unknown_network_on_the_command_line_names_the_option():
    with pytest.raises(InputError) as exc:
        attach.check(attach.with_cli(lab(), ["nope=tap0"]))
    assert exc.value.field == "--attach" and exc.value.file is None


def test_an_interface_twice_is_refused():
    with pytest.raises(InputError, match="attached twice"):
        attach.check(attach.with_cli(lab(), ["lan=tap0", "core=tap0"]))


def test_the_hosts_default_route_and_global_addresses_are_refused():
    assert attach.host_role("eth0", {"eth0"}, []) == "is the host's default route"
    why = attach.host_role("eth1", {"eth0"}, [{"local": "203.0.113.5", "scope": "global"}])
    assert why is not None and "203.0.113.5" in why
    assert attach.host_role("tap0", {"eth0"}, [{"local": "fe80::1", "scope": "link"}]) is None


def test_only_static_addresses_are_given_back():
    addrs = [{"family": "inet", "local": "192.168.1.2", "prefixlen": 24, "broadcast": "192.168.1.255"},
             {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"},
             {"family": "inet6", "local": "2001:db8::5", "prefixlen": 64, "scope": "global", "dynamic": True},
             {"family": "inet6", "local": "fd00::1", "prefixlen": 64, "scope": "global"}]
    assert attach.static_addresses(addrs) == [
        {"local": "192.168.1.2", "prefixlen": 24, "broadcast": "192.168.1.255"},
        {"local": "fd00::1", "prefixlen": 64}]


GOOD = {"network": "lan", "hub_name": "ls_att0", "name": "enx00e04c680001", "mac": "00:e0:4c:68:00:01",
        "kind": "", "origin": {"netns": "/proc/1/ns/net", "dev": 4, "ino": 4026531840}, "up": True,
        "mtu": 1500, "master": None, "addresses": [{"local": "fd00::1", "prefixlen": 64}]}


def test_a_record_labsim_writes_is_accepted():
    assert attach_record_problem(GOOD) is None
    assert attach_record_problem({**GOOD, "origin": {**GOOD["origin"], "netns": "/run/netns/phone-ns"}}) is None


@pytest.mark.parametrize("change", [
    {"hub_name": "lan"},                       # a bridge of the lab, not a port it attached
    {"hub_name": "ls_att0/../x"},
    {"name": "eth0 up; reboot"},
    {"mac": "not-a-mac"},
    {"mtu": True}, {"mtu": 10},
    {"origin": {"netns": "/run/netns/../../etc", "dev": 1, "ino": 2}},
    {"origin": {"netns": "/proc/1234/ns/net", "dev": 1, "ino": 2}},   # not the host's, not a named one
    {"origin": {"netns": "/proc/1/ns/net"}},                          # no inode to check against
    {"addresses": [{"local": "2001:db8::1", "prefixlen": "64; rm"}]},
    {"master": "br0 nomaster"},
])
def test_a_record_labsim_does_not_write_is_refused(change):
    assert attach_record_problem({**GOOD, **change}) is not None


def test_status_reads_kea_leases_by_mac(tmp_path):
    lease = tmp_path / "dhcp" / "run" / "leases4.csv"
    lease.parent.mkdir(parents=True)
    lease.write_text("address,hwaddr,client_id,valid_lifetime,expire,subnet_id\n"
                     "10.10.0.50,aa:bb:cc:00:00:01,,600,0,1\n10.10.0.51,aa:bb:cc:00:00:02,,600,0,1\n"
                     "10.10.0.51,aa:bb:cc:00:00:02,,0,0,1\n")
    assert attach._leases(tmp_path) == {"aa:bb:cc:00:00:01": "10.10.0.50"}


def _dhcp4_node(nodes, name: str, v6only: bool, log: str) -> None:
    d = nodes / name
    d.mkdir(parents=True)
    opts = [{"name": "routers", "data": "10.10.0.1"}] + ([{"name": "v6-only-preferred", "data": "1800"}]
                                                        if v6only else [])
    (d / "kea-dhcp4.json").write_text(json.dumps({"Dhcp4": {"subnet4": [{"id": 1, "option-data": opts}]}}))
    (d / "kea.log").write_text(log)


ADVERT = ("2026-12-07 18:20:00.123 INFO  [kea-dhcp4.leases/77.140] DHCP4_LEASE_ADVERT [hwtype=1 {mac}], "
          "cid=[no info], tid=0x5c2a: lease 10.10.0.{n} will be advertised\n")


def test_status_tells_a_lease_from_an_ipv6_only_client_and_from_no_dhcp(tmp_path):
    nodes = tmp_path / "nodes"
    _dhcp4_node(nodes, "dhcp", True, "... DHCP4_STARTED Kea DHCPv4 server version 2.2.0 started\n"
                + ADVERT.format(mac="aa:bb:cc:00:00:01", n=50) + ADVERT.format(mac="AA:BB:CC:00:00:02", n=51)
                + "garbage line DHCP4_LEASE_ADVERT [hwtype=1 not-a-mac]\n")
    (nodes / "dhcp" / "kea").mkdir()
    (nodes / "dhcp" / "kea" / "leases4.csv").write_text(
        "address,hwaddr,client_id,valid_lifetime,expire,subnet_id\n10.10.0.50,aa:bb:cc:00:00:01,,600,0,1\n")
    _dhcp4_node(nodes, "old", False, ADVERT.format(mac="aa:bb:cc:00:00:03", n=60))
    (nodes / "backend").mkdir()
    (nodes / "backend" / "kea.log").write_text("not a dhcp4 node: no kea-dhcp4.json\n")
    leases, offers = attach._leases(nodes), attach._kea_offers(nodes)
    assert offers == {"aa:bb:cc:00:00:01": True, "aa:bb:cc:00:00:02": True, "aa:bb:cc:00:00:03": False}
    states = {m: attach.dhcp4_state(m, leases, offers)
              for m in ("aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02", "aa:bb:cc:00:00:03", "aa:bb:cc:00:00:04")}
    assert states == {"aa:bb:cc:00:00:01": "lease", "aa:bb:cc:00:00:02": "ipv6-only",
                      "aa:bb:cc:00:00:03": "offered", "aa:bb:cc:00:00:04": "none"}
    lines = attach.port_lines([{"interface": "enx0", "network": "lan", "devices": [
        {"mac": m, "addresses": [], "dhcp4_lease": leases.get(m), "dhcp4": s} for m, s in states.items()]}])
    assert "    aa:bb:cc:00:00:01 (no address seen); DHCPv4: lease 10.10.0.50 (took no option 108)" in lines
    assert any("aa:bb:cc:00:00:02" in ln and "no lease (IPv6-only" in ln for ln in lines)
    assert any("aa:bb:cc:00:00:04" in ln and "no request seen" in ln for ln in lines)
