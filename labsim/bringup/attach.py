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
import hashlib
import json
import os
import re
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
DOCKER_PREFIX = "docker:"  # `--attach lan=docker:NAME`: an existing Docker network
DOCKER_NETWORK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SELF_NETNS = "/proc/self/ns/net"


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
        if iface.startswith(DOCKER_PREFIX):
            extra.append(_docker_entry(value, net, iface, force))
            continue
        try:
            extra.append(Attach(network=net, interface=iface, force=force))
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
            raise InputError(f"{value!r}: {first['msg']}", field="--attach") from None
    topo = loaded.topology.model_copy(update={"attach": [*loaded.topology.attach, *extra]})
    return dataclasses.replace(loaded, topology=topo)


def _docker_entry(value: str, net: str, iface: str, force: bool) -> Any:
    """`NETWORK=docker:NAME`, checked as the topology's `attach:` entries are (topology.Attach)."""
    from labsim.model.topology import Attach

    if not DOCKER_NETWORK_NAME.fullmatch(iface[len(DOCKER_PREFIX):]):
        raise InputError(f"{value!r}: expected docker:NAME with a Docker network's name "
                         "(letters, digits, '_', '.', '-')", field="--attach")
    try:
        return Attach(network=net, interface=iface, force=force)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
        raise InputError(f"{value!r}: {first['msg']}", field="--attach") from None


def docker_name(entry: Any) -> str | None:
    """The Docker network an entry attaches (`docker:NAME`), or None (a host interface)."""
    iface = str(entry.interface)
    return iface[len(DOCKER_PREFIX):] if iface.startswith(DOCKER_PREFIX) else None


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
        if docker_name(entry) is not None:
            out.append(_plan_docker(loaded, i, entry))
            continue
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


def _plan_docker(loaded: LoadedLab, i: int, entry: Any) -> dict[str, Any]:
    """A Docker network to attach: it exists, is a bridge network, and its Linux bridge is in
    the host's namespace. What to record for the veth pair labsim will make between that
    bridge and the lab network's (names and MACs chosen now, so teardown recognises them)."""
    from labsim.errors import EnvironmentMissingError
    from labsim.runtime.docker.client import docker_client, docker_sdk

    name = str(docker_name(entry))
    try:
        cli = docker_client(timeout=10)
    except EnvironmentMissingError as exc:
        raise _error(loaded, i, "interface", f"Docker network {name!r}: docker is not reachable ({exc})") from None
    try:
        net = cli.networks.get(name)
        attrs = net.attrs
    except docker_sdk().errors.NotFound:
        raise _error(loaded, i, "interface", f"no Docker network {name!r} (docker network ls)") from None
    finally:
        cli.close()
    if attrs.get("Driver") != "bridge":
        raise _error(loaded, i, "interface", f"Docker network {name!r} has driver {attrs.get('Driver')!r}: "
                                             "only a bridge network has a Linux bridge to attach")
    bridge = (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{attrs['Id'][:12]}"
    if name == "bridge" and not entry.force:
        raise _error(loaded, i, "interface", "Docker's default network `bridge` (docker0) is every "
                                             "container's: --attach-force if that is meant")
    link, _ = inspect(bridge)
    if link is None or (link.get("linkinfo") or {}).get("info_kind") != "bridge":
        raise _error(loaded, i, "interface", f"Docker network {name!r}: no bridge {bridge!r} in the "
                                             "namespace labsim runs in (run it where dockerd's bridges "
                                             "are; a rootless or remote dockerd has them elsewhere)")
    # the host's or a named namespace if it is one, else this process's (by inode: `down` from
    # another namespace finds no such veth, and the pair still goes with the lab's hub)
    origin = own_netns()
    if origin is None:
        st = os.stat(SELF_NETNS)
        origin = {"netns": SELF_NETNS, "dev": st.st_dev, "ino": st.st_ino}
    host_end = f"lsd{hashlib.sha1(loaded.plan.lab.encode()).hexdigest()[:8]}{i}"
    return {"network": entry.network, "hub_name": f"ls_att{i}", "name": host_end, "kind": "docker",
            "mac": random_mac(), "hub_mac": random_mac(), "docker_network": name,
            "docker_id": attrs["Id"], "bridge": bridge,
            "origin": origin}


def random_mac() -> str:
    """A locally administered unicast MAC (set at creation: teardown checks it)."""
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFC) | 0x02
    return ":".join(f"{x:02x}" for x in b)


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
def _ip_json_in(netns: str, args: list[str]) -> list[dict[str, Any]]:
    return _json_in(netns, ["ip", "-j", *args])


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
    offers = _kea_offers(state.dir / "nodes")
    out = []
    for rec in state.attached:
        if attach_record_problem(rec) is not None:
            continue
        fdb = _json_in(hub, ["bridge", "-j", "fdb", "show", "brport", rec["hub_name"]])
        macs = {e["mac"] for e in fdb if "permanent" not in e.get("state", "") and e.get("mac")}
        macs.difference_update({rec["mac"], rec.get("hub_mac")})
        seen: dict[str, set[str]] = {}
        for node, info in (state.nodes or {}).items():
            ns = _node_netns(state, node)
            for iface in info.get("interfaces", []) if isinstance(info, dict) else []:
                if iface.get("network") != rec["network"] or ns is None:
                    continue
                for n in _json_in(str(ns), ["ip", "-j", "neigh", "show", "dev", str(iface.get("name"))]):
                    if n.get("lladdr") in macs and not str(n.get("dst", "")).startswith("fe80"):
                        seen.setdefault(n["lladdr"], set()).add(n["dst"])
        shown = f"docker:{rec['docker_network']}" if rec.get("docker_network") else rec["name"]
        out.append({"network": rec["network"], "interface": shown, "kind": rec.get("kind", ""),
                    "devices": [{"mac": m, "addresses": sorted(seen.get(m, ())),
                                 "dhcp4_lease": leases.get(m), "dhcp4": dhcp4_state(m, leases, offers)}
                                for m in sorted(macs)]})
    return out


def _node_netns(state: LabState, node: str) -> str | None:
    """The path of a node's network namespace: its named one (netns), its container's (docker)."""
    ns = NETNS_DIR / f"ls-{state.lab}_{node}"
    if ns.exists():
        return str(ns)
    if state.runtime != "docker":
        return None
    try:
        from labsim.runtime.docker.client import container_name, docker_client
        from labsim.runtime.docker.teardown import ours

        cli = docker_client(timeout=10)
        try:
            c = cli.containers.get(container_name(state.lab, node))
            pid = c.attrs.get("State", {}).get("Pid") if ours(c.name, c.labels, state.lab) else 0
        finally:
            cli.close()
    except Exception:  # docker unreachable, no such container: nothing to show
        return None
    return f"/proc/{pid}/ns/net" if isinstance(pid, int) and pid > 1 else None


def port_lines(report: list[dict[str, Any]]) -> list[str]:
    """`labsim status`'s lines for `ports`."""
    lines = []
    for port in report:
        lines.append(f"  {port['interface']} attached to {port['network']}: "
                     f"{len(port['devices'])} device(s) behind it")
        for d in port["devices"]:
            lines.append(f"    {d['mac']} {' '.join(d['addresses']) or '(no address seen)'}; "
                         f"DHCPv4: {DHCP4_WORDS[d['dhcp4']].format(lease=d['dhcp4_lease'])}")
    return lines


# what a MAC behind a port did with the lab's DHCPv4 (`dhcp4_state`), and status's words for it
DHCP4_WORDS = {"lease": "lease {lease} (took no option 108)",
               "ipv6-only": "no lease (IPv6-only: offered with option 108, not taken)",
               "offered": "offered, not taken (no option 108 on offer)",
               "none": "no request seen"}
# Kea 2.2 at INFO logs each offer (option 108 itself, asked for or sent, only at debug level):
# "DHCP4_LEASE_ADVERT [hwtype=1 aa:bb:cc:dd:ee:ff], cid=[...], tid=0x1: lease 10.10.0.50 will be advertised"
KEA_ADVERT = re.compile(r"DHCP4_LEASE_ADVERT \[hwtype=\d+ ([0-9a-f]{2}(?::[0-9a-f]{2}){5})\]", re.I)
KEA_LOG_BYTES = 8 << 20  # kea.log at INFO: a few lines a client; a bigger one is read from its end


def dhcp4_state(mac: str, leases: dict[str, str], offers: dict[str, bool]) -> str:
    """A key of DHCP4_WORDS: the MAC holds a lease; or Kea offered it one and it took none,
    from a server that offers option 108 (RFC 8925: what a client that asked for 108 does;
    Kea sends 108 only to a client that asks) or one that does not; or Kea never offered it."""
    if mac in leases:
        return "lease"
    if mac in offers:
        return "ipv6-only" if offers[mac] else "offered"
    return "none"


def _kea_offers(nodes_dir: Path) -> dict[str, bool]:
    """MAC -> whether the dhcp4 node that offered it a lease (its kea.log) has option 108 in its
    configuration (kea-dhcp4.json)."""
    out: dict[str, bool] = {}
    for log in sorted(nodes_dir.glob("*/kea.log")) if nodes_dir.is_dir() else []:
        try:
            cfg = json.loads((log.parent / "kea-dhcp4.json").read_text())
            subnets = cfg["Dhcp4"]["subnet4"]
            v6only = any(o.get("name") == "v6-only-preferred" for s in subnets for o in s.get("option-data", []))
            with log.open("rb") as f:
                f.seek(max(0, log.stat().st_size - KEA_LOG_BYTES))
                text = f.read(KEA_LOG_BYTES).decode(errors="replace")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not a dhcp4 node's directory, or not one labsim wrote
        for mac in map(str.lower, KEA_ADVERT.findall(text)):
            out[mac] = out.get(mac, False) or v6only
    return out


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
