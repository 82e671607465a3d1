"""Host interfaces as ports of a lab network: `labsim up --attach NETWORK=IFACE`, `attach:`.

An existing interface of the namespace labsim runs in (a NIC, a USB Ethernet adapter, a
QEMU or emulator tap, a veth end, a bridge) is moved into the lab's hub and enslaved to the
network's bridge, so whatever the network offers (RAs, DHCPv4 with option 108, DNS64, NAT64)
reaches what is behind it. Planning here is pure checking (`check`, `plan`), done before
anything is created; what the interface was (name, namespace, MTU, up/down, static addresses,
bridge) is recorded in the lab's state before it moves (`attach_all`), and teardown
(`runtime.netns.restore_ports`, from the state alone) returns it as recorded.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labsim.errors import InputError

if TYPE_CHECKING:
    from labsim.loader import LoadedLab
    from labsim.runtime.base import Runtime
    from labsim.runtime.state import LabState

HOST_NETNS = "/proc/1/ns/net"
NETNS_DIR = Path("/run/netns")
LEASE_FILE_BYTES = 1 << 20  # a lab's lease file is a few lines; a bigger one is not read


# -- input -------------------------------------------------------------------------------------
def with_cli(loaded: LoadedLab, values: list[str], force: bool = False) -> LoadedLab:
    """`loaded` with the command line's `--attach NETWORK=IFACE` entries after the file's
    `attach:` ones (`--attach-force` forces the command line's)."""
    from labsim.model.topology import Attach

    if not values:
        return loaded
    extra = []
    for value in values:
        net, sep, iface = value.partition("=")
        if not sep or not net or not iface:
            raise InputError(f"{value!r}: expected NETWORK=IFACE (e.g. lan=enx00e04c680001)", field="--attach")
        try:
            extra.append(Attach(network=net, interface=iface, force=force))
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
            raise InputError(f"{value!r}: {first['msg']}", field="--attach") from None
    topo = loaded.topology.model_copy(update={"attach": [*loaded.topology.attach, *extra]})
    return dataclasses.replace(loaded, topology=topo)


def _error(loaded: LoadedLab, i: int, key: str, message: str) -> InputError:
    """At the entry's file:line if it is the file's, else on the command line's --attach."""
    if ("attach", i) in loaded.source.lines:
        return loaded.source.error(("attach", i, key), message)
    entry = loaded.topology.attach[i]
    return InputError(f"{entry.network}={entry.interface}: {message}", field="--attach")


def check(loaded: LoadedLab) -> None:
    """What can be checked without looking at the host (`validate`): each network exists and
    has a hub bridge (not `docker:`), no interface twice."""
    seen: set[str] = set()
    for i, entry in enumerate(loaded.topology.attach):
        net = loaded.topology.networks.get(entry.network)
        if net is None:
            raise _error(loaded, i, "network", f"no network {entry.network!r}; networks: "
                                               f"{', '.join(loaded.topology.networks)}")
        if getattr(net, "docker", None) is not None:
            raise _error(loaded, i, "network", f"network {entry.network!r} is a Docker network "
                                               "(`docker:`): attach to a hub network")
        if entry.interface in seen:
            raise _error(loaded, i, "interface", f"{entry.interface!r} is attached twice")
        seen.add(entry.interface)


def plan(loaded: LoadedLab, runtime: type[Runtime]) -> list[dict[str, Any]]:
    """Check every entry against the host as it is now and return what to record for each
    (nothing is changed): the interface exists here, is not loopback, and unless forced is
    neither the host's default route nor carries global addresses (nor does the bridge it is
    a port of)."""
    from labsim.runtime.base import Runtime

    check(loaded)
    if not loaded.topology.attach:
        return []
    if runtime.attach_port is Runtime.attach_port:
        raise _error(loaded, 0, "network", f"the {runtime.name} runtime cannot attach host interfaces")
    origin = own_netns()
    routes = default_route_devices()
    out = []
    for i, entry in enumerate(loaded.topology.attach):
        if origin is None:
            raise _error(loaded, i, "interface", "labsim runs in a network namespace that is neither the "
                                                 "host's nor a named one (ip netns): it could not return "
                                                 "the interface after a crash")
        link, addrs = inspect(entry.interface)
        if link is None:
            raise _error(loaded, i, "interface", f"no interface {entry.interface!r} here (ip link)")
        if "LOOPBACK" in link.get("flags", []):
            raise _error(loaded, i, "interface", f"{entry.interface!r} is the loopback")
        master = link.get("master")
        if not entry.force:
            for dev in [entry.interface, *([master] if master else [])]:
                why = host_role(dev, routes, addrs if dev == entry.interface else inspect(dev)[1])
                if why:
                    raise _error(loaded, i, "interface", f"{dev!r} {why}: moving it would cut the host off; "
                                                         "--attach-force (or `force: true`) if that is meant")
        out.append({"network": entry.network, "hub_name": f"ls_att{i}", "name": entry.interface,
                    "mac": link.get("address", ""), "kind": (link.get("linkinfo") or {}).get("info_kind", ""),
                    "origin": origin, "up": "UP" in link.get("flags", []), "mtu": link.get("mtu"),
                    "master": master, "addresses": static_addresses(addrs)})
    return out


# -- the host, read only ------------------------------------------------------------------------
def _ip_json(*args: str) -> list[dict[str, Any]] | None:
    res = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        return None
    try:
        data = json.loads(res.stdout or "[]")
    except ValueError:
        return None
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else None


def inspect(ifname: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(The link as `ip -j -d link` shows it, its addresses) in this namespace; (None, [])
    if there is no such interface."""
    links = _ip_json("-d", "link", "show", "dev", ifname)
    if not links:
        return None, []
    addrs = _ip_json("addr", "show", "dev", ifname) or [{}]
    return links[0], list(addrs[0].get("addr_info", []))


def default_route_devices() -> set[str]:
    """Interfaces the host's default routes leave by (IPv4 and IPv6, multipath too)."""
    devs: set[str] = set()
    for family in ("-4", "-6"):
        for r in _ip_json(family, "route", "show", "default") or []:
            devs.update(d for d in [r.get("dev"), *(h.get("dev") for h in r.get("nexthops", []))] if d)
    return devs


def host_role(dev: str, routes: set[str], addrs: list[dict[str, Any]]) -> str | None:
    """Why `dev` serves the host (None: it does not)."""
    if dev in routes:
        return "is the host's default route"
    glob = [a["local"] for a in addrs if a.get("scope") == "global" and a.get("local")]
    if glob:
        return f"carries the host's global address(es) {', '.join(glob[:3])}"
    return None


def static_addresses(addrs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The addresses to give back: not the kernel's own (IPv6 link-local comes back by itself,
    SLAAC and other dynamic ones are learnt again)."""
    out = []
    for a in addrs:
        if a.get("dynamic") or not a.get("local") or (a.get("family") == "inet6" and a.get("scope") == "link"):
            continue
        out.append({"local": a["local"], "prefixlen": a.get("prefixlen"),
                    **({"broadcast": a["broadcast"]} if a.get("broadcast") else {})})
    return out


def own_netns() -> dict[str, Any] | None:
    """This process's network namespace as teardown finds it again from another process: the
    host's (PID 1's) or a named one, with its inode (None: neither)."""
    mine = os.stat("/proc/self/ns/net")
    candidates = [HOST_NETNS] + (sorted(str(p) for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else [])
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
            return {"netns": path, "dev": st.st_dev, "ino": st.st_ino}
    return None


# -- bring-up ------------------------------------------------------------------------------------
def attach_all(rt: Runtime, state: LabState, records: list[dict[str, Any]], bridges: dict[str, str],
               say: Any = None) -> None:
    """Each interface recorded in the state first, then moved: a kill between the two
    leaves a record of an interface still where it was, which teardown skips."""
    for rec in records:
        if say:
            say(f"attaching {rec['name']} to {rec['network']}")
        state.record(attached=[rec])
        rt.attach_port(rec, bridges[rec["network"]])


# -- status: what is behind each port -------------------------------------------------------------
def _json_in(netns: str, argv: list[str]) -> list[dict[str, Any]]:
    try:
        res = subprocess.run(["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=5)
        data = json.loads(res.stdout or "[]") if res.returncode == 0 else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def ports(state: LabState) -> list[dict[str, Any]]:
    """Per attached interface: the MACs the bridge learnt behind it, the addresses the lab's
    nodes on that network have as neighbours for those MACs (NDP, ARP), and the DHCPv4
    leases Kea gave them (none for a host that honoured option 108)."""
    from labsim.runtime.state import attach_record_problem

    hub = str(NETNS_DIR / f"ls-{state.lab}")
    leases = _leases(state.dir / "nodes")
    out = []
    for rec in state.attached:
        if attach_record_problem(rec) is not None:
            continue
        fdb = _json_in(hub, ["bridge", "-j", "fdb", "show", "brport", rec["hub_name"]])
        macs = {e["mac"] for e in fdb if "permanent" not in e.get("state", "") and e.get("mac")}
        macs.discard(rec["mac"])
        seen: dict[str, set[str]] = {}
        for node, info in (state.nodes or {}).items():
            ns = NETNS_DIR / f"ls-{state.lab}_{node}"
            for iface in info.get("interfaces", []) if isinstance(info, dict) else []:
                if iface.get("network") != rec["network"] or not ns.exists():
                    continue
                for n in _json_in(str(ns), ["ip", "-j", "neigh", "show", "dev", str(iface.get("name"))]):
                    if n.get("lladdr") in macs and not str(n.get("dst", "")).startswith("fe80"):
                        seen.setdefault(n["lladdr"], set()).add(n["dst"])
        out.append({"network": rec["network"], "interface": rec["name"], "kind": rec.get("kind", ""),
                    "devices": [{"mac": m, "addresses": sorted(seen.get(m, ())),
                                 "dhcp4_lease": leases.get(m)} for m in sorted(macs)]})
    return out


def port_lines(report: list[dict[str, Any]]) -> list[str]:
    """`labsim status`'s lines for `ports`."""
    lines = []
    for port in report:
        lines.append(f"  {port['interface']} attached to {port['network']}: "
                     f"{len(port['devices'])} device(s) behind it")
        for d in port["devices"]:
            lease = f"DHCPv4 lease {d['dhcp4_lease']}" if d["dhcp4_lease"] else "no DHCPv4 lease"
            lines.append(f"    {d['mac']} {' '.join(d['addresses']) or '(no address seen)'}; {lease}")
    return lines


def _leases(nodes_dir: Path) -> dict[str, str]:
    """MAC -> the IPv4 address Kea leased it last (its memfile CSV, under a dhcp4 node)."""
    out: dict[str, str] = {}
    for path in sorted(nodes_dir.glob("*/*/leases4.csv*")) if nodes_dir.is_dir() else []:
        try:
            if path.stat().st_size > LEASE_FILE_BYTES:
                continue  # not a lab's: a lab's lease file is a few lines
            rows = list(csv.DictReader(path.read_text(errors="replace").splitlines()))
        except OSError:
            continue
        for row in rows:  # in the order Kea wrote them: the last one for a MAC wins
            mac, addr = row.get("hwaddr"), row.get("address")
            if mac and addr:
                if row.get("valid_lifetime") == "0":
                    out.pop(mac, None)  # released
                else:
                    out[mac] = addr
    return out
