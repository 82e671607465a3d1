"""The default runtime: one named network namespace per node, `ip netns` compatible.

Names: the hub `ls-<lab>` holds one bridge per network; node `n` lives in `ls-<lab>_<n>`
(lab and node names cannot contain '_', so no two labs collide). Files under `/etc/` go to
`/etc/netns/<ns>/`, which `ip netns exec` bind-mounts over /etc (resolv.conf, hosts, ...);
other files go to `/run/labsim/<lab>/nodes/<n>/`. Processes run through `ip netns exec` so
they see those files, in their own session, logging to the node directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labsim.errors import EnvironmentMissingError, RuntimeOpError
from labsim.runtime import links, nsutil
from labsim.runtime import state as labstate
from labsim.runtime.base import Runtime
from labsim.runtime.enter import netns_argv, node_ns
from labsim.runtime.forkspawn import Forks
from labsim.runtime.processes import stop_processes
from labsim.runtime.state import (
    LabState,
    alive,
    attach_record_problem,
    process_start_time,
    refuse,
    remove_under,
    valid_lab,
)

if TYPE_CHECKING:  # annotations only: `down` and `gc` use this module without the model
    from labsim.model.plan import IfacePlan, RoutePlan

NETNS_ETC = Path("/etc/netns")


def ns_prefix(lab: str) -> str:
    return f"ls-{lab}"


def owns_namespace(lab: str, name: object) -> bool:
    """`name` is one of `lab`'s namespace names: the hub `ls-<lab>` or a node `ls-<lab>_<node>`
    (a node name: lower-case letters, digits, '-'). Nothing else is labsim's to remove."""
    if not valid_lab(lab) or not isinstance(name, str):
        return False
    hub = ns_prefix(lab)
    if name == hub:
        return True
    node = name[len(hub) + 1:] if name.startswith(hub + "_") else ""
    return bool(node) and node[0].isalpha() and all(c.isdigit() or c == "-" or "a" <= c <= "z" for c in node)


class NetnsRuntime(Runtime):
    name = "netns"
    summary = "a network namespace per node, the host's daemons"

    def __init__(self, state: LabState):
        self.state = state
        self.lab = state.lab
        self.hub = ns_prefix(self.lab)
        self._rtnl: dict[str, links.Rtnl] = {}  # namespace -> its netlink socket
        self._fds: dict[str, int] = {}  # namespace -> an open fd of it (veth peers go there)
        self._bridges: dict[str, int] = {}  # bridge -> its index in the hub
        self._forks = Forks(str(state.dir))  # labsim's programs forked: bring-up's daemons, a session's checks

    # -- helpers -----------------------------------------------------------------------
    def ns(self, node: str) -> str:
        return node_ns(self.lab, node)

    def _host_dir(self, node: str) -> Path:
        return self.state.dir / "nodes" / node

    def _netlink(self, ns: str) -> links.Rtnl:
        if ns not in self._rtnl:
            self._rtnl[ns] = links.rtnl_in(nsutil.netns_path(ns))
        return self._rtnl[ns]

    def _fd(self, ns: str) -> int:
        if ns not in self._fds:
            self._fds[ns] = os.open(nsutil.netns_path(ns), os.O_RDONLY)
        return self._fds[ns]

    def _create_netns(self, ns: str, sysctls: dict[str, str]) -> None:
        self._rtnl[ns] = links.Rtnl(nsutil.create_netns_many([(ns, sysctls)], keep=True)[0])

    def preload(self, modules: set[str]) -> None:
        """A fork server imports labsim's programs now, while namespaces are made, and forks them into
        their nodes (`labsim.node.forkserver`): a few ms of CPU each instead of ~0.1 s of imports."""
        self._forks.preload(modules)

    def begin_session(self) -> None:
        self._forks.begin_session()  # the fork server then stays for checks (`call`)

    def end_session(self) -> None:
        self._forks.end_session()

    def call(self, node: str, module: str, args: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        res = None if input else self._forks.call(self.ns(node), module, args, timeout, f"node {node}")
        return res if res is not None else super().call(node, module, args, timeout, input)

    def close(self) -> None:
        """Close bring-up's netlink sockets and namespace fds; later daemons exec (not checks)."""
        self._forks.end_bringup()
        for rtnl in self._rtnl.values():
            rtnl.close()
        self._rtnl.clear()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # -- class level -------------------------------------------------------------------
    @classmethod
    def check_environment(cls, loaded) -> None:
        """Every binary the lab's kinds need, on the host (the daemons run from there)."""
        from labsim.kinds import registry

        missing: dict[str, tuple[str, ...]] = {}
        for spec in loaded.topology.nodes.values():
            binaries, packages = registry.get(spec.kind).needs(spec)
            for binary in binaries + ("ip",):
                if shutil.which(binary) is None:
                    missing[binary] = packages if binary != "ip" else ("iproute2",)
        if missing:
            pkgs = sorted({p for ps in missing.values() for p in ps})
            raise EnvironmentMissingError(
                f"missing {', '.join(sorted(missing))}: install the Debian packages "
                f"{' '.join(pkgs)} (or run `make setup`)")
        # Python modules the nodes' programs import from this interpreter's site-packages
        from labsim.kinds.python_needs import missing_python, python_fix

        wanted: dict[str, str] = {}
        for spec in loaded.topology.nodes.values():
            wanted.update(registry.get(spec.kind).python_modules)
        gone = missing_python(wanted)
        if gone:
            extras = sorted(set(gone.values()))
            raise EnvironmentMissingError(
                f"missing Python module(s) {', '.join(sorted(gone))} for this topology's nodes: "
                + "; ".join(python_fix(e) for e in extras))

    @classmethod
    def destroy_state(cls, state: LabState) -> list[str]:
        return destroy_state(state)

    @classmethod
    def orphans(cls) -> set[str]:
        """Labs with namespaces or /etc/netns entries named for them (`ls-<lab>[_node]`)."""
        labs: set[str] = set()
        for base in (Path(nsutil.NETNS_RUN_DIR), NETNS_ETC):
            if base.is_dir():
                labs |= {e.name[3:].split("_", 1)[0] for e in base.iterdir() if e.name.startswith("ls-")}
        return labs

    @classmethod
    def exec_argv(cls, lab: str, node: str, cmd: list[str]) -> list[str]:
        return netns_argv(lab, node, cmd)

    # -- Runtime -----------------------------------------------------------------------
    def create_hub(self) -> None:
        self.state.record(namespaces=[self.hub])
        self._create_netns(self.hub, {"net.ipv6.conf.all.disable_ipv6": "1",
                                      "net.ipv6.conf.default.disable_ipv6": "1"})

    def create_nodes(self, sysctls: dict[str, dict[str, str]]) -> None:
        """Every node's namespace at once: one state write recording them all, then one thread
        making them all; create_node then only plumbs. Per node that saves a write of the
        whole (growing) state file and a thread start."""
        todo = [(self.ns(n), s) for n, s in sysctls.items()]
        self.state.record(namespaces=[ns for ns, _ in todo], paths=[str(NETNS_ETC / ns) for ns, _ in todo])
        for (ns, _), sock in zip(todo, nsutil.create_netns_many(todo, keep=True), strict=True):
            self._rtnl[ns] = links.Rtnl(sock)

    def create_node(self, node: str, sysctls: dict[str, str]) -> None:
        ns = self.ns(node)
        if ns not in self._rtnl:  # not made by create_nodes
            self.state.record(namespaces=[ns], paths=[str(NETNS_ETC / ns)])
            self._create_netns(ns, sysctls)
        # the node's own directory (configs, logs) is made by the first file or log written
        # there: most clients write none, and a directory is the costliest file-system step
        # of a node (0.1-0.9 ms on ext4 here, where a namespace costs 0.5 ms)
        (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True, mode=0o755)
        links.lo_up(self._rtnl[ns])

    def create_network(self, bridge: str) -> None:
        self._bridges[bridge] = links.bridge(self._netlink(self.hub), bridge)

    def connect(self, node: str, iface: IfacePlan, bridge: str) -> None:
        hub = self._netlink(self.hub)
        if bridge not in self._bridges:
            self._bridges[bridge] = hub.index(bridge, f"attach {iface.peer} to bridge {bridge}")
        ns = self.ns(node)
        links.plug(self._netlink(ns), self._fd(ns), hub, iface, self._bridges[bridge])

    def add_routes(self, node: str, routes: list[RoutePlan]) -> None:
        ns = self.ns(node)
        links.routes(self._netlink(ns), routes)
        # a node's plumbing ends with its routes: let go of its socket and fd (2 of 250
        # nodes' worth of open files otherwise); a later call opens them again
        self._rtnl.pop(ns).close()
        fd = self._fds.pop(ns, None)
        if fd is not None:
            os.close(fd)

    def node_dir(self, node: str) -> str:
        return str(self._host_dir(node))

    def write_file(self, node: str, path: str, text: str | bytes, mode: int = 0o644,
                   shared: str | None = None) -> str:
        if path.startswith("/etc/"):
            host = NETNS_ETC / self.ns(node) / path[len("/etc/"):]
            seen = path
        else:
            host = self._host_dir(node) / path
            seen = str(host)
        host.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if shared is not None:
            # one lab-level copy, linked: `ip netns exec` bind-mounts follow the link
            host.symlink_to(shared)
            return seen
        data = text.encode() if isinstance(text, str) else text
        write_private(host, data, mode)
        return seen

    def exec(self, node: str, argv: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["ip", "netns", "exec", self.ns(node), *argv], input=input,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeOpError(f"node {node}: {argv[0]} still running after {timeout}s") from exc

    def spawn(self, node: str, service: str, argv: list[str], host: bool = False) -> int:
        log = self._host_dir(node) / f"{service}.log"
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        pid: int | None = None
        if host:
            argv = [a.replace("{netns}", nsutil.netns_path(self.ns(node))) for a in argv]
        else:
            pid = self._forks.spawn(self.ns(node), str(log), argv)  # forked in as `ip netns exec` puts it
            argv = ["ip", "netns", "exec", self.ns(node), *argv]
        if pid is None:
            with open(log, "ab") as out:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True, close_fds=True)
            proc.returncode = 0  # we never wait() on it here; teardown reaps or kills it
            pid = proc.pid
        # `ip netns exec` execs the command in place, so this PID is the daemon's; a host
        # service is not inside the lab's namespaces, so only this record finds it at teardown
        self.state.record(processes=[{"node": node, "service": service, "pid": pid,
                                      "start": process_start_time(pid), "argv": argv,
                                      "log": str(log)}])
        return pid

    def socket(self, node: str, family: int, type_: int = socket.SOCK_DGRAM, proto: int = 0) -> socket.socket:
        return nsutil.socket_in(nsutil.netns_path(self.ns(node)), family, type_, proto)

    def attach_port(self, rec: dict, bridge: str) -> None:
        attach_port(self.hub, rec, bridge)


# -- host interfaces attached to a lab network (labsim.bringup.attach plans them) -------------
def _ip(netns: str, *args: str) -> subprocess.CompletedProcess:
    """`ip` in the namespace at path `netns` (nsenter: the network namespace only, nothing of
    `ip netns exec`'s /etc and /sys remounts)."""
    return subprocess.run(["nsenter", f"--net={netns}", "ip", *args], capture_output=True, text=True, timeout=10)


def _must(res: subprocess.CompletedProcess, what: str) -> None:
    if res.returncode != 0:
        raise RuntimeOpError(f"{what}: {res.stderr.strip() or f'ip exit {res.returncode}'}")


def attach_port(hub: str, rec: dict, bridge: str) -> None:
    """Move the recorded interface from this process's namespace into the hub, renamed to its
    hub name in the same request (its own name may be taken there), then make it a port of
    `bridge`, up. Its addresses go with the move (the kernel flushes them); `rec`, recorded
    before, brings them back."""
    if "docker_network" in rec:
        _attach_docker(hub, rec, bridge)
        return
    what = f"attach {rec['name']} to network {rec['network']}"
    _must(subprocess.run(["ip", "link", "set", "dev", rec["name"], "netns", hub, "name", rec["hub_name"]],
                         capture_output=True, text=True, timeout=10), what)
    _must(_ip(nsutil.netns_path(hub), "link", "set", "dev", rec["hub_name"], "master", bridge, "up"), what)


def _attach_docker(hub: str, rec: dict, bridge: str) -> None:
    """A veth pair with the recorded names and MACs: the host end a port of the Docker
    network's bridge (in dockerd's namespace), the other a port of the lab network's bridge."""
    what = f"attach Docker network {rec['docker_network']} to network {rec['network']}"
    origin = rec["origin"]["netns"]
    _must(_ip(origin, "link", "add", rec["name"], "address", rec["mac"], "type", "veth", "peer", "name",
              rec["hub_name"], "address", rec["hub_mac"], "netns", hub), what)
    _must(_ip(origin, "link", "set", "dev", rec["name"], "master", rec["bridge"], "up"), what)
    _must(_ip(nsutil.netns_path(hub), "link", "set", "dev", rec["hub_name"], "master", bridge, "up"), what)


def _remove_docker_port(state: LabState, rec: dict) -> str | None:
    """Delete the veth pair made for a Docker network (its peer goes with it): only the host
    end found in dockerd's namespace (same inode) under the recorded name, with the recorded
    MAC, a veth."""
    import json

    origin = rec["origin"]
    try:
        st = os.stat(origin["netns"])
    except OSError:
        return None
    if (st.st_dev, st.st_ino) != (origin["dev"], origin["ino"]):
        refuse(state.lab, f"veth {rec['name']}", f"its namespace {origin['netns']} is another one")
        return None
    res = _ip(origin["netns"], "-j", "-d", "link", "show", "dev", rec["name"])
    try:
        [link] = json.loads(res.stdout) if res.returncode == 0 else [None]
    except ValueError:
        link = None
    if not isinstance(link, dict):
        return None  # never made, or gone with the hub
    if link.get("address") != rec["mac"] or (link.get("linkinfo") or {}).get("info_kind") != "veth":
        refuse(state.lab, f"interface {rec['name']}", "not the veth labsim made (another MAC or kind)")
        return None
    res = _ip(origin["netns"], "link", "del", "dev", rec["name"])
    if res.returncode != 0:
        refuse(state.lab, f"veth {rec['name']}", res.stderr.strip())
        return None
    return f"veth {rec['name']} (Docker network {rec['docker_network']})"


def _link(netns: str, name: str) -> dict | None:
    import json

    res = _ip(netns, "-j", "link", "show", "dev", name)
    try:
        found = json.loads(res.stdout) if res.returncode == 0 else []
    except ValueError:
        found = []
    return found[0] if found and isinstance(found[0], dict) else None


def restore_ports(state: LabState) -> list[str]:
    """Return each interface the state says labsim attached to where and as it was: only an
    entry of the shape labsim writes, for an interface found in the lab's own hub under the
    recorded hub name with the recorded MAC, to the recorded namespace if it is still the one
    (same inode). Anything else is left and said: when the hub goes, the kernel gives a NIC
    back to the host's namespace and removes a veth or tap with it."""
    done: list[str] = []
    hub = nsutil.netns_path(ns_prefix(state.lab))
    if not valid_lab(state.lab) or not isinstance(state.attached, list) or not os.path.exists(hub):
        return done
    for rec in state.attached:
        why = attach_record_problem(rec)
        if why is not None:
            refuse(state.lab, "an attached interface", why)
            continue
        if "docker_network" in rec:
            gone = _remove_docker_port(state, rec)
            done += [gone] if gone else []
            continue
        link = _link(hub, rec["hub_name"])
        if link is None:
            continue  # never moved (a failure before it), or returned already
        if link.get("address") != rec["mac"]:
            refuse(state.lab, f"interface {rec['hub_name']}", "not the interface labsim attached (another MAC)")
            continue
        origin = rec["origin"]
        try:
            st = os.stat(origin["netns"])
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != (origin["dev"], origin["ino"]):
            refuse(state.lab, f"returning {rec['name']}", f"its namespace {origin['netns']} is gone or another one")
            continue
        target = "1" if origin["netns"] == "/proc/1/ns/net" else os.path.basename(origin["netns"])
        try:
            _must(_ip(hub, "link", "set", "dev", rec["hub_name"], "down", "nomaster"), f"detach {rec['name']}")
            _must(_ip(hub, "link", "set", "dev", rec["hub_name"], "netns", target, "name", rec["name"]),
                  f"return {rec['name']} to {origin['netns']}")
        except RuntimeOpError as exc:
            refuse(state.lab, f"interface {rec['hub_name']}", str(exc))
            continue
        _restore_settings(origin["netns"], rec)
        done.append(f"interface {rec['name']} returned to {origin['netns']}")
    return done


def _restore_settings(netns: str, rec: dict) -> None:
    """MTU, the static addresses, the bridge it was a port of, up/down: as recorded. A step
    that fails is said, the rest still done."""
    name = rec["name"]
    steps = [["link", "set", "dev", name, "mtu", str(rec["mtu"])]]
    for a in rec["addresses"]:
        extra = ["broadcast", a["broadcast"]] if a.get("broadcast") else []
        if ":" in a["local"]:
            extra.append("nodad")  # it was usable before the lab: no DAD wait now
        steps.append(["addr", "add", f"{a['local']}/{int(a['prefixlen'])}", *extra, "dev", name])
    if rec["master"]:
        steps.append(["link", "set", "dev", name, "master", rec["master"]])
    if rec["up"]:
        steps.append(["link", "set", "dev", name, "up"])
    for argv in steps:
        res = _ip(netns, *argv)
        if res.returncode != 0:
            print(f"labsim: returning {name}: ip {' '.join(argv)}: {res.stderr.strip()}", file=sys.stderr)


def destroy_state(state: LabState, grace_s: float = 1.0) -> list[str]:
    """Remove what `state` lists and labsim can prove it made (down, gc, a failed bring-up).
    The state file is read, not trusted: only namespaces named for the lab, processes
    inside them or with the start time recorded when labsim spawned them, and paths under
    the lab's directory or its /etc/netns entries; anything else it names is left and said
    so on stderr."""
    removed: list[str] = []
    namespaces = []
    for ns in state.namespaces:
        if owns_namespace(state.lab, ns):
            namespaces.append(ns)
        else:
            refuse(state.lab, f"namespace {ns!r}", f"not named {ns_prefix(state.lab)} or {ns_prefix(state.lab)}_<node>")
    victims = set(nsutil.pids_in_netns([nsutil.netns_path(n) for n in namespaces]))
    for p in state.processes:
        pid, why = _spawned_by_labsim(state, p)
        if why is None:
            victims.add(pid)
        elif pid not in victims and process_start_time(pid) is not None:
            refuse(state.lab, f"process {pid}", why)
    victims.discard(os.getpid())
    removed += [f"process {pid}" for pid in sorted(victims)]
    stop_processes(victims, grace_s)
    # before the hub goes: a veth or tap in it would go with it
    removed += restore_ports(state)
    for ns in reversed(namespaces):
        if nsutil.remove_netns(ns):
            removed.append(f"netns {ns}")
    for path in state.paths:
        try:
            gone = remove_under(str(path), lab_roots(state.lab, path))
        except PermissionError as exc:
            refuse(state.lab, f"path {path!r}", str(exc).split(": ", 1)[-1])
            continue
        if gone:
            removed.append(gone)
    state.forget()
    for d in (NETNS_ETC, Path(nsutil.NETNS_RUN_DIR)):
        try:
            d.rmdir()  # only when empty: no other lab or tool is using it
        except OSError:
            pass
    return removed


def lab_roots(lab: str, path: object) -> list[Path]:
    """Where a path of `lab` may be: its own directory, or /etc/netns when the path is one of
    the lab's namespaces' entries there (itself, not something below another's)."""
    roots = [labstate.RUN_DIR / lab] if valid_lab(lab) else []
    if isinstance(path, str):
        head, name = os.path.split(os.path.normpath(path))
        if os.path.realpath(head) == os.path.realpath(NETNS_ETC) and owns_namespace(lab, name):
            roots.append(NETNS_ETC)
    return roots


def _spawned_by_labsim(state: LabState, rec: object) -> tuple[int, str | None]:
    """(PID, None) if a recorded process is one labsim started: alive with the start time
    recorded at its spawn, started after the lab's owner (no process older than the lab is
    one it started), not labsim itself or init; else (PID or 0, why not)."""
    pid = rec.get("pid") if isinstance(rec, dict) else None
    start = rec.get("start") if isinstance(rec, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or pid == os.getpid():
        return 0, "not a process labsim started"
    if not isinstance(start, int) or not alive(pid, start):
        return pid, "not the process labsim started (no start time recorded, or another one)"
    if isinstance(state.owner_start, int) and start < state.owner_start:
        return pid, "older than the lab: not one labsim started for it"
    return pid, None


def write_private(path, data: bytes, mode: int) -> None:
    """Write a file that has its final mode from the first byte (a key is never readable by
    others, not even for a moment): created with `mode`, an existing one set to it before
    it is truncated and written; a symlink in its place is refused (O_NOFOLLOW)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        os.ftruncate(fd, 0)
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
