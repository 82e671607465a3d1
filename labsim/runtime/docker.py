"""The docker runtime: one container per node, plumbed exactly like the netns runtime.

Each node is a container `ls-<lab>_<node>` from the labsim node image (every daemon
installed; `labsim image build`), started with no Docker network (`--network none`), an
init (`--init`, tini) and `sleep infinity`. Its network namespace (`/proc/<pid>/ns/net` of
that init) gets the same veth pairs, addresses and routes as a netns node, through the same
`links` code, from the same hub: a plain network namespace `ls-<lab>` holding one bridge per
network. The hub stays a bare namespace because it runs nothing: a container would add
~0.3 s and a root file system for a handful of bridges, and the netns teardown already
removes it.

Files: the lab directory (/run/labsim/<lab>) is bind-mounted at the same path, so configs
that name absolute paths in the node directory work unchanged. A file for `/etc/X` is written
to `<lab>/etc/<node>/X` on the host and bind-mounted over `/etc/X` inside the container
(nsenter into its mount namespace), so resolv.conf and hosts are the lab's, not Docker's; a
`shared` lab-level path (the lab CA's /etc/ssl) is bind-mounted the same way. Rewriting a
file later writes it in place, and the node sees the change at once.

Processes: `exec` and `spawn` are `docker exec` (the daemons get the container's
capabilities, seccomp profile and cgroup); `spawn` returns the host PID of the daemon (from
the exec's inspect), usable for liveness and fd probes and for signals. `host` services
(slirp4netns) run on the host with `{netns}` = `/proc/<container pid>/ns/net`. The labsim
package is bind-mounted read-only at /opt/labsim/labsim with PYTHONPATH=/opt/labsim, so
`python3 -m labsim.agent` and `python3 -m labsim.kinds.echo_server` run on the image's own
python3 (standard library only); an argv naming the host's interpreter (`sys.executable`)
is run with that `python3`.

Every container is recorded in the state file before it is created and carries the labels
`labsim.lab` and `labsim.node`; `destroy_docker_state` removes containers by both, then the
hub, host processes and files (netns's `destroy_state`), from the state file alone.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from ..errors import EnvironmentMissingError, InputError, RuntimeOpError
from ..model.plan import IfacePlan, RoutePlan
from . import links, nsutil
from .base import Runtime
from .netns import destroy_state, node_ns, ns_prefix, write_private
from .state import LabState, process_start_time

LABEL_LAB = "labsim.lab"
LABEL_NODE = "labsim.node"
PKG_MOUNT = "/opt/labsim"  # PYTHONPATH; the package itself is at /opt/labsim/labsim
NODE_PYTHON = "python3"  # the image's interpreter, for labsim's in-node programs
CAPS = ["NET_ADMIN", "NET_RAW"]  # ip/nft/tayga --mktun; ping
START_WORKERS = 8  # containers started at once by create_nodes (~1.2 s for 7 on 2 cores)


@dataclass(frozen=True)
class DockerNet:
    """A topology network run as a Docker bridge network (labelled labsim.lab)."""

    network: str
    docker_name: str  # ls-<lab>_<network>
    enable_ipv6: bool
    ipv4: IPv4Network | None
    ipv6: IPv6Network | None


def container_name(lab: str, node: str) -> str:
    return node_ns(lab, node)  # `ls-<lab>_<node>`, the netns runtime's namespace name


def _docker():
    try:
        import docker
    except ImportError as exc:
        raise EnvironmentMissingError("the docker runtime needs the Python package `docker` "
                                      "(pip install 'docker>=7')") from exc
    return docker


def docker_client(timeout: int = 60):
    docker = _docker()
    try:
        cli = docker.from_env(timeout=timeout)
        cli.ping()
        return cli
    except docker.errors.DockerException as exc:
        raise EnvironmentMissingError(f"docker is not reachable: {exc}") from exc


def _fail(what: str, exc: BaseException) -> RuntimeOpError:
    msg = getattr(exc, "explanation", None) or str(exc)
    return RuntimeOpError(f"{what}: {msg}")


class DockerRuntime(Runtime):
    name = "docker"
    python = NODE_PYTHON  # NodeContext.python / CheckEnv.python for this runtime

    def __init__(self, state: LabState, image: str | None = None):
        self.state = state
        self.lab = state.lab
        self.hub = ns_prefix(self.lab)
        self.image = image
        # nodes started from a user's image (kind `container`): node -> (image, command, env);
        # set by labsim.lab before create_nodes. The command None means the image's own.
        self.images: dict[str, tuple[str, list[str] | None, dict[str, str]]] = {}
        # Docker-network mode (use_docker_networks): bridge -> DockerNet, node -> its iface there
        self.dnets: dict[str, DockerNet] = {}
        self.dattach: dict[str, IfacePlan] = {}
        self._cli = None
        self._pids: dict[str, int] = {}
        self._ipr: dict[str, object] = {}
        self._hub_fd: int | None = None

    # -- helpers -----------------------------------------------------------------------
    @property
    def cli(self):
        if self._cli is None:
            self._cli = docker_client()
        return self._cli

    def container(self, node: str) -> str:
        return container_name(self.lab, node)

    def _host_dir(self, node: str) -> Path:
        return self.state.dir / "nodes" / node

    def _etc_dir(self, node: str) -> Path:
        return self.state.dir / "etc" / node

    def pid(self, node: str) -> int:
        """Host PID of the container's init: its namespaces are /proc/<pid>/ns/*."""
        if node not in self._pids:
            try:
                info = self.cli.api.inspect_container(self.container(node))
            except _docker().errors.DockerException as exc:
                raise _fail(f"node {node}: container {self.container(node)}", exc) from exc
            pid = info["State"].get("Pid") or 0
            if not pid:
                raise RuntimeOpError(f"node {node}: container {self.container(node)} is not running "
                                     f"({info['State'].get('Status')})")
            self._pids[node] = pid
        return self._pids[node]

    def netns_path(self, node: str) -> str:
        return f"/proc/{self.pid(node)}/ns/net"

    def _netlink(self, node: str):
        if node not in self._ipr:
            self._ipr[node] = nsutil.iproute_in(self.netns_path(node))
        return self._ipr[node]

    def _hub_netlink(self):
        if self.hub not in self._ipr:
            self._ipr[self.hub] = nsutil.iproute_in(nsutil.netns_path(self.hub))
        return self._ipr[self.hub]

    def close(self) -> None:
        """Close the netlink sockets and the docker connection kept open during bring-up."""
        for ipr in self._ipr.values():
            try:
                ipr.close()
            except OSError:
                pass  # a socket that never came up; teardown must go on
        self._ipr.clear()
        if self._hub_fd is not None:
            os.close(self._hub_fd)
            self._hub_fd = None
        if self._cli is not None:
            self._cli.close()
            self._cli = None

    def _argv(self, argv: list[str]) -> list[str]:
        """The host's interpreter means labsim's in-node python: the image's python3."""
        if argv and argv[0] == sys.executable:
            return [self.python, *argv[1:]]
        return list(argv)

    # -- nodes and links -----------------------------------------------------------------
    def create_hub(self) -> None:
        if self.image is None:
            from ..image import ensure_image

            self.image = ensure_image(self.cli)
        self.state.record(namespaces=[self.hub])
        nsutil.create_netns(self.hub, {"net.ipv6.conf.all.disable_ipv6": "1",
                                       "net.ipv6.conf.default.disable_ipv6": "1"})
        self._hub_fd = os.open(nsutil.netns_path(self.hub), os.O_RDONLY)

    def create_nodes(self, nodes: dict[str, dict[str, str]]) -> None:
        """Start several nodes' containers at once (each start is ~0.3 s, mostly waiting
        on dockerd). `create_node` for these nodes then returns at once."""
        todo = {n: s for n, s in nodes.items() if n not in self._pids}
        if not todo:
            return
        self._prepare(list(todo))
        assert self.cli is not None  # one client, made here, shared by the workers
        with ThreadPoolExecutor(max_workers=min(START_WORKERS, len(todo))) as pool:
            futures = [pool.submit(self._start, n, s) for n, s in todo.items()]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
        # pyroute2 0.9's IPRoute is bound to the thread that first uses it: open them here
        for n in todo:
            links.loopback_up(self._netlink(n))
            if n in self.dattach:
                self._fix_docker_iface(n)

    def create_node(self, node: str, sysctls: dict[str, str]) -> None:
        if node in self._pids:
            return  # started by create_nodes
        self._prepare([node])
        self._start(node, sysctls)
        links.loopback_up(self._netlink(node))
        if node in self.dattach:
            self._fix_docker_iface(node)

    def _prepare(self, nodes: list[str]) -> None:
        names = [self.container(n) for n in nodes]
        self.state.record(containers=[c for c in names if c not in self.state.containers])
        for n in nodes:
            self._host_dir(n).mkdir(parents=True, exist_ok=True, mode=0o755)

    def _start(self, node: str, sysctls: dict[str, str]) -> None:
        docker = _docker()
        lab_dir = str(self.state.dir)
        pkg = str(Path(__file__).resolve().parent.parent)
        sysctls = {"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0",
                   **sysctls}
        volumes = {lab_dir: {"bind": lab_dir, "mode": "rw"}}
        if node in self.images:
            # the user's image, command and environment; nothing of labsim runs inside it
            image, command, env = self.images[node]
            extra = {"log_config": docker.types.LogConfig(type="json-file")}  # `docker logs`
        else:
            image, command = self.image or _default_image(), ["sleep", "infinity"]
            env = {"PYTHONPATH": PKG_MOUNT, "PYTHONDONTWRITEBYTECODE": "1"}
            volumes[pkg] = {"bind": f"{PKG_MOUNT}/labsim", "mode": "ro"}
            extra = {"log_config": docker.types.LogConfig(type="none"),
                     "devices": ["/dev/net/tun:/dev/net/tun:rwm"]}
        d = self._dnet_of(node)
        if d is None:
            extra["network_mode"] = "none"
        else:  # started on its Docker network (a `none` container cannot join one later)
            iface = self.dattach[node]
            extra["network"] = d.docker_name
            extra["networking_config"] = {d.docker_name: self.cli.api.create_endpoint_config(
                ipv4_address=str(iface.ipv4.ip) if iface.ipv4 else None,
                ipv6_address=str(iface.ipv6.ip) if iface.ipv6 and d.enable_ipv6 else None)}
        try:
            c = self.cli.containers.run(
                image, command, name=self.container(node),
                detach=True, init=True, hostname=socket.gethostname(),
                cap_add=CAPS, sysctls=sysctls,
                labels={LABEL_LAB: self.lab, LABEL_NODE: node},
                volumes=volumes, environment=env, **extra)
            c.reload()
            pid = c.attrs["State"]["Pid"]
        except docker.errors.DockerException as exc:
            raise _fail(f"node {node}: starting container {self.container(node)}", exc) from exc
        if not pid:
            out = ""
            if node in self.images:
                try:
                    out = ": " + c.logs(tail=15).decode(errors="replace").strip()
                except docker.errors.DockerException:
                    pass
            raise RuntimeOpError(f"node {node}: container {self.container(node)} exited at once{out}")
        self._pids[node] = pid

    def use_docker_networks(self, plan, networks: dict[str, dict]) -> None:
        """Make these topology networks Docker bridge networks (`{net: {"enable_ipv6": b}}`),
        before create_hub: their members are attached by Docker (at container start, so at
        most one such network per node), not by veths. Without IPv6, Docker gives the
        members no IPv6 address there, as in production (catalog row 10)."""
        self.dnets = {}
        for net, opts in networks.items():
            spec = plan.topology.networks[net]
            self.dnets[plan.bridges[net]] = DockerNet(
                net, f"{self.hub}_{net}", bool(opts.get("enable_ipv6", True)), spec.ipv4, spec.ipv6)
        by_net = {d.network: d for d in self.dnets.values()}
        self.dattach = {}
        for node in plan.nodes.values():
            on = [i for i in node.ifaces if i.network in by_net]
            if len(on) > 1:
                raise InputError(f"node {node.name!r}: on {len(on)} Docker networks "
                                 f"({', '.join(i.network for i in on)}); the docker runtime "
                                 f"attaches a node to one at most")
            if on:
                self.dattach[node.name] = on[0]

    def _dnet_of(self, node: str) -> DockerNet | None:
        iface = self.dattach.get(node)
        return next((d for d in self.dnets.values() if iface and d.network == iface.network), None)

    def create_network(self, bridge: str) -> None:
        if bridge in self.dnets:
            self._create_docker_network(self.dnets[bridge])
            return
        links.make_bridge(self._hub_netlink(), bridge)

    def _create_docker_network(self, d: DockerNet) -> None:
        docker = _docker()
        pools = []
        for prefix, on in ((d.ipv4, True), (d.ipv6, d.enable_ipv6)):
            if prefix is not None and on:
                # the host's end of the bridge: the prefix's last address, far from planned ones
                pools.append(docker.types.IPAMPool(subnet=str(prefix), gateway=str(prefix[-2])))
        try:
            self.cli.networks.create(
                d.docker_name, driver="bridge", internal=True, enable_ipv6=d.enable_ipv6 and d.ipv6 is not None,
                ipam=docker.types.IPAMConfig(pool_configs=pools), labels={LABEL_LAB: self.lab})
        except docker.errors.DockerException as exc:
            raise _fail(f"network {d.network}: creating Docker network {d.docker_name}", exc) from exc

    def connect(self, node: str, iface: IfacePlan, bridge: str) -> None:
        if bridge in self.dnets:
            return  # attached by Docker when the container started (_fix_docker_iface)
        assert self._hub_fd is not None, "create_hub first"
        links.connect(self._netlink(node), self._hub_netlink(), self._hub_fd, iface, bridge)

    def add_routes(self, node: str, routes: list[RoutePlan]) -> None:
        # no IPv6 on a Docker network: routes through a neighbour's IPv6 address there are
        # unusable (no such address), as for a container there in production
        dead = [d.ipv6 for d in self.dnets.values() if not d.enable_ipv6 and d.ipv6 is not None]
        links.add_routes(self._netlink(node), [r for r in routes
                                               if not any(r.via in p for p in dead)])

    def _fix_docker_iface(self, node: str) -> None:
        """Docker's eth0 on the node's Docker network: the planned name, the planned
        addresses only, and no default routes of Docker's (the lab's routes apply)."""
        iface, d = self.dattach[node], self._dnet_of(node)
        ipr = self._netlink(node)
        try:
            idx = ipr.link_lookup(ifname="eth0")[0]
            for fam in (socket.AF_INET, socket.AF_INET6):
                for r in ipr.get_routes(family=fam, dst_len=0, oif=idx):
                    if r.get_attr("RTA_GATEWAY"):
                        ipr.route("del", family=fam, dst_len=0, gateway=r.get_attr("RTA_GATEWAY"), oif=idx)
            if iface.ifname != "eth0":
                ipr.link("set", index=idx, state="down")
                ipr.link("set", index=idx, ifname=iface.ifname)
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx)}
            for ifa in (iface.ipv4, iface.ipv6 if d.enable_ipv6 else None):
                if ifa is not None and str(ifa.ip) not in have:
                    ipr.addr("add", index=idx, address=str(ifa.ip), prefixlen=ifa.network.prefixlen,
                             flags=links.IFA_F_NODAD if ifa.version == 6 else 0)
            ipr.link("set", index=idx, state="up")
        except Exception as exc:  # NetlinkError, a missing eth0
            raise RuntimeOpError(f"node {node}: Docker network {d.docker_name} interface: {exc}") from exc

    # -- files ---------------------------------------------------------------------------
    def node_dir(self, node: str) -> str:
        return str(self._host_dir(node))  # mounted at the same path in the container

    def write_file(self, node: str, path: str, text: str | bytes, mode: int = 0o644,
                   shared: str | None = None) -> str:
        etc = path.startswith("/etc/")
        if etc:
            host = self._etc_dir(node) / path[len("/etc/"):]
            seen = path
        else:
            host = self._host_dir(node) / path
            seen = str(host)
        if shared is not None:
            if etc:
                self._mount_over(node, Path(shared), path)
            else:
                host.parent.mkdir(parents=True, exist_ok=True)
                host.symlink_to(shared)  # the lab directory has the same path inside
            return seen
        host.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        data = text.encode() if isinstance(text, str) else text
        # in place (a file already mounted changes at once), with its final mode from the start
        write_private(host, data, mode)
        if etc:
            self._mount_over(node, host, path)
        return seen

    def _mount_over(self, node: str, src: Path, target: str) -> None:
        """Bind-mount host `src` (inside the lab directory, so the container sees it at the
        same path) over `target` in the container, unless it is there already."""
        pid = self.pid(node)
        try:
            nsutil.in_thread(lambda: _bind_in_mount_ns(pid, str(src), target))
        except OSError as exc:
            raise RuntimeOpError(f"node {node}: mounting {target}: {exc}") from exc

    # -- processes -----------------------------------------------------------------------
    def exec(self, node: str, argv: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        argv = self._argv(argv)
        docker = _docker()
        api = self.cli.api
        try:
            eid = api.exec_create(self.container(node), argv, stdin=input is not None,
                                  stdout=True, stderr=True)["Id"]
            sock = api.exec_start(eid, socket=True)
        except docker.errors.DockerException as exc:
            raise _fail(f"node {node}: docker exec {argv[0]}", exc) from exc
        raw = getattr(sock, "_sock", sock)
        deadline = time.monotonic() + timeout
        try:
            if input is not None:
                raw.sendall(input)
                raw.shutdown(socket.SHUT_WR)  # the process sees end of input
            out, err = _read_frames(raw, deadline)
        except TimeoutError as exc:
            self._kill_exec(eid)
            raise RuntimeOpError(f"node {node}: {argv[0]} still running after {timeout}s") from exc
        finally:
            sock.close()
        code = self._exit_code(eid, deadline)
        if code is None:
            self._kill_exec(eid)
            raise RuntimeOpError(f"node {node}: {argv[0]} still running after {timeout}s")
        if code in (126, 127) and out.startswith(b"OCI runtime exec failed"):
            # the command could not be started: report it as a shell would (127: not found)
            out, err = b"", out
            code = 127 if b"not found" in err else 126
        return subprocess.CompletedProcess(argv, code, out, err)

    def _exit_code(self, eid: str, deadline: float) -> int | None:
        # the stream ends as the process exits; its exit code is recorded a moment later
        while True:
            info = self.cli.api.exec_inspect(eid)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return info["ExitCode"]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.002)

    def _kill_exec(self, eid: str) -> None:
        try:
            pid = self.cli.api.exec_inspect(eid).get("Pid")
            if pid:
                os.kill(pid, 9)
        except (ProcessLookupError, _docker().errors.DockerException):
            pass

    def spawn(self, node: str, service: str, argv: list[str], host: bool = False) -> int:
        log = self._host_dir(node) / f"{service}.log"  # the same path inside the container
        if host:
            argv = [a.replace("{netns}", self.netns_path(node)) for a in argv]
            with open(log, "ab") as out:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        close_fds=True)
            pid = proc.pid
            proc.returncode = 0  # never waited on here; teardown reaps or kills it
        else:
            argv = self._argv(argv)
            # sh execs the daemon in place: the exec's PID is the daemon's
            wrapped = ["sh", "-c", 'exec "$@" >>"$0" 2>&1 </dev/null', str(log), *argv]
            pid = self._exec_detached(node, wrapped)
        self.state.record(processes=[{"node": node, "service": service, "pid": pid,
                                      "start": process_start_time(pid), "argv": argv,
                                      "log": str(log), "host": host,
                                      "container": None if host else self.container(node)}])
        return pid

    def _exec_detached(self, node: str, argv: list[str]) -> int:
        docker = _docker()
        api = self.cli.api
        try:
            eid = api.exec_create(self.container(node), argv, stdout=False, stderr=False)["Id"]
            api.exec_start(eid, detach=True)
            deadline = time.monotonic() + 5
            while True:
                info = api.exec_inspect(eid)
                if info.get("Pid"):
                    return info["Pid"]
                if not info.get("Running") and info.get("ExitCode") is not None:
                    raise RuntimeOpError(f"node {node}: {shlex.join(argv[4:])[:80]} exited at once "
                                         f"(exit {info['ExitCode']})")
                if time.monotonic() > deadline:
                    raise RuntimeOpError(f"node {node}: docker exec reported no PID")
                time.sleep(0.002)
        except docker.errors.DockerException as exc:
            raise _fail(f"node {node}: docker exec {argv[4] if len(argv) > 4 else argv[0]}", exc) from exc

    def socket(self, node: str, family: int, type_: int = socket.SOCK_DGRAM) -> socket.socket:
        return nsutil.socket_in(self.netns_path(node), family, type_)

    def destroy(self) -> list[str]:
        cli, self._cli = self._cli, None
        self.close()  # netlink sockets and the hub fd first
        try:
            return destroy_docker_state(self.state, cli=cli)
        finally:
            if cli is not None:
                cli.close()


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_FS, CLONE_NEWNS, MS_BIND = 0x200, 0x20000, 4096


def _oserror(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _bind_in_mount_ns(pid: int, src: str, target: str) -> None:
    """In the calling (throwaway) thread: enter the mount namespace of `pid` and bind-mount
    `src` over `target` there, making the mount point if the image has none. A thread may
    enter a mount namespace once it has its own root/cwd (unshare CLONE_FS): no fork, no
    exec (nsenter + mount from the container's fuse-overlayfs cost ~16 ms a file)."""
    if _libc.unshare(CLONE_FS) != 0:
        raise _oserror("unshare(CLONE_FS)")
    fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNS) != 0:
            raise _oserror("setns")
    finally:
        os.close(fd)
    # from here, paths are the container's (the lab directory is mounted at the same path)
    want = os.stat(src)
    try:
        have = os.stat(target)
        if (have.st_dev, have.st_ino) == (want.st_dev, want.st_ino):
            return  # mounted before; the file was rewritten in place
    except FileNotFoundError:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(src):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    if _libc.mount(src.encode(), target.encode(), None, MS_BIND, None) != 0:
        raise _oserror(f"mount --bind {src} {target}")


def _read_frames(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Docker's multiplexed exec stream (8-byte headers: stream id, length) until EOF."""
    bufs = {1: bytearray(), 2: bytearray()}
    pending = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout as exc:
            raise TimeoutError from exc
        if not chunk:
            break
        pending += chunk
        while len(pending) >= 8:
            length = int.from_bytes(pending[4:8], "big")
            if len(pending) < 8 + length:
                break
            stream = pending[0]
            bufs.get(stream, bufs[1]).extend(pending[8:8 + length])
            del pending[:8 + length]
    return bytes(bufs[1]), bytes(bufs[2])


def _default_image() -> str:
    from ..image import image_name

    return image_name()


# -- teardown, from the state file alone ------------------------------------------------
def lab_containers(cli, lab: str, names: list[str] = ()) -> list:
    """The lab's containers: those labelled for it, and those named in `names`."""
    docker = _docker()
    found = {c.name: c for c in cli.containers.list(all=True, filters={"label": f"{LABEL_LAB}={lab}"})}
    for name in names:
        if name not in found:
            try:
                found[name] = cli.containers.get(name)
            except docker.errors.NotFound:
                pass
    return list(found.values())


def remove_containers(lab: str, names: list[str] = (), cli=None) -> list[str]:
    """Remove (kill) the lab's containers, all at once; returns what was removed."""
    docker = _docker()
    cli = cli or docker_client()

    def rm(c) -> str | None:
        try:
            c.remove(force=True)
            return f"container {c.name}"
        except docker.errors.NotFound:
            return None

    removed: list[str] = []
    for attempt in range(2):
        victims = lab_containers(cli, lab, list(names))
        if victims:
            with ThreadPoolExecutor(max_workers=min(START_WORKERS, len(victims))) as pool:
                futures = [pool.submit(rm, c) for c in victims]
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                raise _fail(f"lab {lab}: removing containers", errors[0]) from errors[0]
            removed += [r for f in futures if (r := f.result())]
        gone = {r.split(" ", 1)[1] for r in removed}
        if attempt or all(n in gone for n in names):
            break
        # a recorded container not found: its create may still be in flight in dockerd
        # (its `labsim up` was killed mid-request); look once more
        time.sleep(0.3)
    return removed


def destroy_docker_state(state: LabState, grace_s: float = 1.0, cli=None) -> list[str]:
    """Remove the lab's containers (by state and by label), then what netns's teardown
    removes: host processes (slirp4netns), the hub namespace, files and the state itself.
    If docker cannot be reached while containers are recorded, nothing is removed and the
    state stays for a later `labsim down`."""
    try:
        removed = remove_containers(state.lab, state.containers, cli=cli)
    except EnvironmentMissingError:
        if state.containers:
            raise
        removed = []
    try:
        removed += remove_networks(state.lab, cli=cli)
    except EnvironmentMissingError:
        pass  # no docker: no Docker network either
    # processes in containers died with them; host ones and the hub go here
    return removed + destroy_state(state, grace_s)


def remove_networks(lab: str, cli=None) -> list[str]:
    """Remove the lab's Docker networks (label labsim.lab; after its containers)."""
    docker = _docker()
    cli = cli or docker_client()
    removed = []
    for net in cli.networks.list(filters={"label": f"{LABEL_LAB}={lab}"}):
        try:
            net.remove()
            removed.append(f"network {net.name}")
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise _fail(f"lab {lab}: removing Docker network {net.name}", exc) from exc
    return removed


def container_labs() -> set[str]:
    """Labs that have containers on this host (for gc); empty if docker is not reachable."""
    try:
        cli = docker_client(timeout=10)
    except EnvironmentMissingError:
        return set()
    try:
        labs = {c.labels.get(LABEL_LAB) for c in
                cli.containers.list(all=True, filters={"label": LABEL_LAB})}
        labs |= {n.attrs.get("Labels", {}).get(LABEL_LAB) for n in
                 cli.networks.list(filters={"label": LABEL_LAB})}
        return labs - {None, ""}
    finally:
        cli.close()


HOST_BINARIES = ("slirp4netns",)  # host services (Service.host) run on the host, not in the image


def check_docker(loaded=None) -> None:
    """Before anything is created: docker reachable (the image is built, if missing, when
    the lab starts), and the host binaries of host services the lab uses."""
    docker_client(timeout=10).close()
    if loaded is None:
        return
    import shutil

    from ..kinds import registry

    missing = sorted({b for spec in loaded.topology.nodes.values()
                      for b in registry.get(spec.kind).needs(spec)[0]
                      if b in HOST_BINARIES and shutil.which(b) is None})
    if missing:
        raise EnvironmentMissingError(f"missing {', '.join(missing)} on the host (it runs outside "
                                      f"the containers): apt-get install {' '.join(missing)}")


def exec_argv(lab: str, node: str, cmd: list[str], tty: bool | None = None) -> list[str]:
    """`docker exec` argv for `labsim exec` (interactive, with a TTY when on a terminal)."""
    if tty is None:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    return ["docker", "exec", "-i", *(["-t"] if tty else []), container_name(lab, node), *cmd]
