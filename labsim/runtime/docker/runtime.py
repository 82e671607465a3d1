"""DockerRuntime: a container per node, plumbed like a netns node (see the package doc)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import ClassVar

from labsim.errors import EnvironmentMissingError, RuntimeOpError
from labsim.model.plan import IfacePlan, RoutePlan
from labsim.node.launcher import NAME as AGENT_NAME
from labsim.node.nodeprog import SRC
from labsim.runtime import links, nsutil
from labsim.runtime.base import DOCKER_NETWORKS, USER_IMAGES, Runtime
from labsim.runtime.docker import exec_stream, networks, usr_volume
from labsim.runtime.docker.agentconn import AgentConn
from labsim.runtime.docker.client import LABEL_LAB, LABEL_NODE, container_name, docker_client, docker_sdk, op_error
from labsim.runtime.docker.image import node_image_id
from labsim.runtime.docker.image import say as image_say
from labsim.runtime.docker.mountns import bind_in_mount_ns
from labsim.runtime.docker.networks import DockerNet
from labsim.runtime.docker.teardown import container_labs, destroy_docker_state
from labsim.runtime.enter import docker_argv
from labsim.runtime.netns import attach_port, ns_prefix, write_private
from labsim.runtime.state import LabState, process_start_time

PKG_MOUNT = "/opt/labsim"  # PYTHONPATH; the package itself is at /opt/labsim/labsim
NODE_PYTHON = "python3"  # the image's interpreter, for labsim's in-node programs
CAPS = ["NET_ADMIN", "NET_RAW"]  # ip/nft/tayga --mktun; ping
START_WORKERS = 8  # containers started at once by create_nodes (~0.8 s for 7 on 2 cores)
SHARED_DIR = "ssl"  # the lab's trust directory (bringup.lab writes the CA bundle there)
HOST_BINARIES = ("slirp4netns",)  # host services (Service.host) run on the host, not in the image
# the container's command: the launcher (labsim/node/launcher.py) that runs bring-up's commands and daemons
# inside it, a fork each; it becomes `sleep infinity` once the bring-up is done (no site, no
# user paths, the stdlib's frozen modules: few files opened through the container's
# fuse-overlayfs on the way to listening)
LAUNCHER = [NODE_PYTHON, "-I", "-S", "-X", "frozen_modules=on",
            f"{PKG_MOUNT}/labsim/node/launcher.py"]
# PID 1 of a node of labsim's image, in place of Docker's `--init` (the same tini 0.19): from
# the image's /usr, which the node's /usr volume hides Docker's own under (usr_volume.py)
NODE_INIT = ["/usr/bin/tini", "--"]


class DockerRuntime(Runtime):
    name = "docker"
    summary = "a container per node from the labsim/node image"
    capabilities: ClassVar[frozenset[str]] = frozenset({USER_IMAGES, DOCKER_NETWORKS})
    python = NODE_PYTHON  # NodeContext.python / CheckEnv.python for this runtime

    def __init__(self, state: LabState, image: str | None = None):
        self.state = state
        self.lab = state.lab
        self.hub = ns_prefix(self.lab)
        self.image = image  # the node image's ID (create_hub finds it when None)
        self.usr_volume: str | None = None  # its /usr as a volume (usr_volume.py)
        # nodes started from a user's image (kind `container`): node -> (image, command, env);
        # set by `prepare`. The command None means the image's own.
        self.images: dict[str, tuple[str, list[str] | None, dict[str, str]]] = {}
        # Docker-network mode: bridge -> DockerNet, node -> its iface there
        self.dnets: dict[str, DockerNet] = {}
        self.dattach: dict[str, IfacePlan] = {}
        self._cli = None
        self._pids: dict[str, int] = {}
        # netlink sockets born in the hub's and each node's namespace (node -> socket), each
        # node's namespace fd (a veth's peer is placed there), the hub's bridges' indexes
        self._rtnl: dict[str, links.Rtnl] = {}
        self._hub_rtnl: links.Rtnl | None = None
        self._fds: dict[str, int] = {}
        self._bridge_index: dict[str, int] = {}
        # nodes whose launcher this process started: node -> its connection (made while
        # other containers start; None when it could not be reached: `docker exec` then), and
        # a lock per node (one request at a time)
        self._launchers: dict[str, Future] = {}
        # container starts in flight (create_nodes begins them, create_node waits for one),
        # and hub bridges made while they run
        self._pool: ThreadPoolExecutor | None = None
        self._starting: dict[str, Future] = {}
        self._bridges: list[str] = []
        self._locks: dict[str, threading.Lock] = {}

    # -- class level: environment, teardown, orphans, interactive exec --------------------
    @classmethod
    def check_environment(cls, loaded) -> None:
        """Docker reachable (the image is built, if missing, when the lab starts), and the
        host binaries of host services the lab uses."""
        docker_client(timeout=10).close()
        from labsim.kinds import registry

        missing = sorted({b for spec in loaded.topology.nodes.values()
                          for b in registry.get(spec.kind).needs(spec)[0]
                          if b in HOST_BINARIES and shutil.which(b) is None})
        if missing:
            raise EnvironmentMissingError(f"missing {', '.join(missing)} on the host (it runs outside "
                                          f"the containers): apt-get install {' '.join(missing)}")

    @classmethod
    def destroy_state(cls, state: LabState) -> list[str]:
        return destroy_docker_state(state)

    @classmethod
    def orphans(cls) -> set[str]:
        return container_labs()

    @classmethod
    def exec_argv(cls, lab: str, node: str, cmd: list[str]) -> list[str]:
        return docker_argv(lab, node, cmd)

    def attach_port(self, rec: dict, bridge: str) -> None:
        # the hub is a named namespace with a bridge per network, as on netns; its teardown
        # (the netns one, after the containers) returns the interface
        attach_port(self.hub, rec, bridge)

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

    def _shared_dir(self) -> Path:
        """Lab-level files nodes link to (the lab CA's /etc/ssl, `write_file(shared=)`)."""
        return self.state.dir / SHARED_DIR

    def _mounts(self, node: str) -> dict[str, dict[str, str]]:
        """What of the lab directory a node's container sees, each at its host path: its own
        node directory (read-write: configs, logs, its work), its own /etc files (read-only
        in a user's image: only labsim writes them) and the lab's shared files, read-only.
        Never the lab directory itself: the state file that `down` works from, the lab CA's
        key and other nodes' files stay out of every container's reach."""
        etc = "ro" if node in self.images else "rw"  # labsim's hostconf rewrites resolv.conf
        return {str(self._host_dir(node)): {"bind": str(self._host_dir(node)), "mode": "rw"},
                str(self._etc_dir(node)): {"bind": str(self._etc_dir(node)), "mode": etc},
                str(self._shared_dir()): {"bind": str(self._shared_dir()), "mode": "ro"}}

    def pid(self, node: str) -> int:
        """Host PID of the container's init: its namespaces are /proc/<pid>/ns/*."""
        if node not in self._pids:
            try:
                info = self.cli.api.inspect_container(self.container(node))
            except docker_sdk().errors.DockerException as exc:
                raise op_error(f"node {node}: container {self.container(node)}", exc) from exc
            pid = info["State"].get("Pid") or 0
            if not pid:
                raise RuntimeOpError(f"node {node}: container {self.container(node)} is not running "
                                     f"({info['State'].get('Status')})")
            self._pids[node] = pid
        return self._pids[node]

    def netns_path(self, node: str) -> str:
        return f"/proc/{self.pid(node)}/ns/net"

    def _netlink(self, node: str) -> links.Rtnl:
        """Batched netlink in the node (links.Rtnl, as the netns runtime: pyroute2 costs
        ~0.3 s to import here and ~1 ms of Python a request, on CPU the container starts
        need)."""
        if node not in self._rtnl:
            self._rtnl[node] = links.rtnl_in(self.netns_path(node))
        return self._rtnl[node]

    def _hub_netlink(self) -> links.Rtnl:
        if self._hub_rtnl is None:
            self._hub_rtnl = links.rtnl_in(nsutil.netns_path(self.hub))
        return self._hub_rtnl

    def _node_fd(self, node: str) -> int:
        if node not in self._fds:
            self._fds[node] = os.open(self.netns_path(node), os.O_RDONLY)
        return self._fds[node]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=START_WORKERS, thread_name_prefix="labsim-start")
        return self._pool

    def _launcher(self, node: str) -> AgentConn | None:
        """The node's launcher once connected, or None (not ours, or not reachable): `docker
        exec` then."""
        fut = self._launchers.get(node)
        return None if fut is None else fut.result()

    def _close_launchers(self) -> None:
        """Let every launcher become `sleep infinity` now (after _join_starts: no connect is
        in flight); one whose connect never ran gets a connection that closes at once (else
        it would wait out its idle time as a python process)."""
        for node, fut in self._launchers.items():
            conn = None if fut.cancelled() or fut.exception() else fut.result()
            if conn is not None:
                conn.close()
            elif fut.cancelled():
                try:
                    with nsutil.socket_in(self.netns_path(node), socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
                        sock.connect(AGENT_NAME)
                except (OSError, RuntimeOpError):
                    pass  # gone already, or not listening yet: it times out by itself
        self._launchers.clear()

    def close(self) -> None:
        """Close the launchers, the netlink sockets and the docker connection kept open
        during bring-up."""
        self._join_starts()
        self._close_launchers()
        for rtnl in [*self._rtnl.values(), *([self._hub_rtnl] if self._hub_rtnl else [])]:
            rtnl.close()
        self._rtnl.clear()
        self._hub_rtnl = None
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._cli is not None:
            self._cli.close()
            self._cli = None

    def _argv(self, argv: list[str]) -> list[str]:
        """The host's interpreter means labsim's in-node python: the image's python3; the
        host's source root (`nodeprog.SRC`) is the package's mount in the container."""
        if argv and argv[0] == sys.executable:
            argv = [self.python, *argv[1:]]
        return [PKG_MOUNT if a == SRC else a for a in argv]

    # -- nodes and links -----------------------------------------------------------------
    def prepare(self, loaded) -> None:
        """Nodes from a user's image (kinds with `image`), and networks with `docker:`."""
        from labsim.kinds import registry

        self.images = {}
        for name, spec in loaded.topology.nodes.items():
            image_of = getattr(registry.get(spec.kind), "image", None)  # kinds that run a user's image
            if image_of is not None:
                self.images[name] = image_of(spec)
        self.dnets, self.dattach = networks.plan_networks(
            loaded.plan, self.hub, {n: net.docker.model_dump() for n, net in
                                    loaded.topology.networks.items() if net.docker})

    def create_hub(self) -> None:
        if self.image is None:
            self.image = node_image_id(self.cli)
        if self.usr_volume is None:
            self.usr_volume = usr_volume.ensure(self.cli.api, self.image, say=image_say)
        self.state.record(namespaces=[self.hub])
        nsutil.create_netns(self.hub, {"net.ipv6.conf.all.disable_ipv6": "1",
                                       "net.ipv6.conf.default.disable_ipv6": "1"})

    def create_nodes(self, nodes: dict[str, dict[str, str]]) -> None:
        """Begin the nodes' container starts, all at once, and return: each start is ~0.3 s
        of dockerd, containerd and runc (~0.8 s for 7 on 2 cores), so the hub's bridges are
        made meanwhile, and `create_node` waits for one container only, wiring it while the
        others still start."""
        todo = {n: s for n, s in nodes.items() if n not in self._pids and n not in self._starting}
        if todo:
            self._prepare_dirs(list(todo))  # recorded before any is created
            assert self.cli is not None  # one client, made here, shared by the workers
            pool = self._executor()
            self._starting.update({n: pool.submit(self._start, n, s) for n, s in todo.items()})
        self._make_bridges()

    def creation_order(self, nodes: list[str]) -> Iterator[str]:
        """Nodes as their containers come up (starts finish spread over ~0.6 s on 2 cores),
        then any not started by create_nodes, in the order given."""
        waiting = {fut: n for n, fut in self._starting.items() if n in nodes}
        for fut in as_completed(waiting):
            yield waiting[fut]
        yield from (n for n in nodes if n not in waiting.values())

    def create_node(self, node: str, sysctls: dict[str, str]) -> None:
        if node in self._starting:
            self._starting.pop(node).result()  # its start's error, if any
        elif node not in self._pids:
            self._prepare_dirs([node])
            self._start(node, sysctls)
        self._make_bridges()
        self._network_up(node)

    def _make_bridges(self) -> None:
        while self._bridges:
            name = self._bridges.pop(0)
            self._bridge_index[name] = links.bridge(self._hub_netlink(), name)

    def _join_starts(self) -> None:
        """Wait for container starts in flight (a teardown must see every container)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._starting.clear()

    def _network_up(self, node: str) -> None:
        links.lo_up(self._netlink(node))
        dnet = self._dnet_of(node)
        if dnet is not None:  # Docker's own interface: rare, so pyroute2's dumps here
            ipr = nsutil.iproute_in(self.netns_path(node))
            try:
                networks.fix_iface(ipr, node, self.dattach[node], dnet)
            finally:
                ipr.close()

    def _prepare_dirs(self, nodes: list[str]) -> None:
        names = [self.container(n) for n in nodes]
        self.state.record(containers=[c for c in names if c not in self.state.containers])
        # every mount's source exists before its container is created (Docker would make
        # a missing one, root-owned, itself)
        self._shared_dir().mkdir(exist_ok=True, mode=0o755)
        for n in nodes:
            self._host_dir(n).mkdir(parents=True, exist_ok=True, mode=0o755)
            self._etc_dir(n).mkdir(parents=True, exist_ok=True, mode=0o755)

    def _start(self, node: str, sysctls: dict[str, str]) -> None:
        docker = docker_sdk()
        pkg = str(Path(__file__).resolve().parents[2])  # the labsim package
        sysctls = {"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0",
                   **sysctls}
        volumes = self._mounts(node)
        init = True  # Docker's own init (tini) as PID 1: it reaps what the node's processes leave
        if node in self.images:
            # the user's image, command and environment; nothing of labsim runs inside it
            image, command, env = self.images[node]
            extra = {"log_config": docker.types.LogConfig(type="json-file")}  # `docker logs`
        else:
            image, command = self.image or node_image_id(self.cli), LAUNCHER
            env = {"PYTHONPATH": PKG_MOUNT, "PYTHONDONTWRITEBYTECODE": "1"}
            volumes[pkg] = {"bind": f"{PKG_MOUNT}/labsim", "mode": "ro"}
            extra = {"log_config": docker.types.LogConfig(type="none"),
                     "devices": ["/dev/net/tun:/dev/net/tun:rwm"]}
            if self.usr_volume is not None:
                # the volume hides Docker's init (/sbin/docker-init is in /usr): the image's tini
                volumes[self.usr_volume] = {"bind": usr_volume.TARGET, "mode": "ro"}
                command, init = [*NODE_INIT, *LAUNCHER], False
        d = self._dnet_of(node)
        if d is None:
            extra["network_mode"] = "none"
        else:  # started on its Docker network (a `none` container cannot join one later)
            iface = self.dattach[node]
            extra["network"] = d.docker_name
            extra["networking_config"] = {d.docker_name: self.cli.api.create_endpoint_config(
                ipv4_address=str(iface.ipv4.ip) if iface.ipv4 else None,
                ipv6_address=str(iface.ipv6.ip) if iface.ipv6 and d.enable_ipv6 else None)}
        # what `containers.run` does, less its two inspects (one is enough, for the PID)
        from docker.models.containers import _create_container_args

        api = self.cli.api
        try:
            cid = api.create_container(**_create_container_args(dict(
                image=image, command=command, name=self.container(node),
                detach=True, init=init, hostname=socket.gethostname(),
                cap_add=CAPS, sysctls=sysctls,
                labels={LABEL_LAB: self.lab, LABEL_NODE: node},
                volumes=volumes, environment=env, version=api._version, **extra)))["Id"]
            api.start(cid)
            pid = api.inspect_container(cid)["State"]["Pid"]
        except docker.errors.DockerException as exc:
            raise op_error(f"node {node}: starting container {self.container(node)}", exc) from exc
        if not pid:
            out = ""
            if node in self.images:
                try:
                    out = ": " + api.logs(cid, tail=15).decode(errors="replace").strip()
                except docker.errors.DockerException:
                    pass
            raise RuntimeOpError(f"node {node}: container {self.container(node)} exited at once{out}")
        self._pids[node] = pid
        if node not in self.images:
            # connected while other containers start (it listens ~20 ms after the start, more
            # under load); create_node does not wait for it, the first exec or spawn does
            self._locks[node] = threading.Lock()
            self._launchers[node] = self._executor().submit(
                AgentConn.connect, self.netns_path(node), pid, node)

    def _dnet_of(self, node: str) -> DockerNet | None:
        iface = self.dattach.get(node)
        return next((d for d in self.dnets.values() if iface and d.network == iface.network), None)

    def create_network(self, bridge: str) -> None:
        if bridge in self.dnets:
            networks.create(self.cli, self.dnets[bridge], self.lab)
            return
        self._bridges.append(bridge)
        if self._pids or self._starting:  # after create_nodes: now, else while containers start
            self._make_bridges()

    def connect(self, node: str, iface: IfacePlan, bridge: str) -> None:
        if bridge in self.dnets:
            return  # attached by Docker when the container started (networks.fix_iface)
        hub = self._hub_netlink()
        if bridge not in self._bridge_index:
            self._bridge_index[bridge] = hub.index(bridge, f"attach {iface.peer} to bridge {bridge}")
        links.plug(self._netlink(node), self._node_fd(node), hub, iface, self._bridge_index[bridge])

    def add_routes(self, node: str, routes: list[RoutePlan]) -> None:
        # no IPv6 on a Docker network: routes through a neighbour's IPv6 address there are
        # unusable (no such address), as for a container there in production
        dead = [d.ipv6 for d in self.dnets.values() if not d.enable_ipv6 and d.ipv6 is not None]
        links.routes(self._netlink(node), [r for r in routes
                                               if not any(r.via in p for p in dead)])

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
                host.symlink_to(shared)  # the shared directory has the same path inside
            return seen
        host.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        data = text.encode() if isinstance(text, str) else text
        # in place (a file already mounted changes at once), with its final mode from the start
        write_private(host, data, mode)
        if etc:
            self._mount_over(node, host, path)
        return seen

    def _mount_over(self, node: str, src: Path, target: str) -> None:
        """Bind-mount host `src` (in the node's /etc directory or the lab's shared one, both
        mounted in the container at the same path) over `target` in the container, unless it
        is there already."""
        pid = self.pid(node)
        try:
            nsutil.in_thread(lambda: bind_in_mount_ns(pid, str(src), target))
        except OSError as exc:
            raise RuntimeOpError(f"node {node}: mounting {target}: {exc}") from exc

    # -- processes -----------------------------------------------------------------------
    def exec(self, node: str, argv: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        if node in self._launchers:
            with self._locks[node]:
                conn = self._launcher(node)
                if conn is not None:
                    return conn.run(self._argv(argv), timeout, input)
        return exec_stream.run(self.cli, self.container(node), node, self._argv(argv), timeout, input)

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
            launched: int | None = None
            if node in self._launchers:
                with self._locks[node]:
                    conn = self._launcher(node)
                    if conn is not None:
                        launched = conn.spawn(argv, str(log))
            if launched is None:
                # sh execs the daemon in place: the exec's PID is the daemon's
                wrapped = ["sh", "-c", 'exec "$@" >>"$0" 2>&1 </dev/null', str(log), *argv]
                launched = exec_stream.start_detached(self.cli, self.container(node), node, wrapped)
            pid = launched
        self.state.record(processes=[{"node": node, "service": service, "pid": pid,
                                      "start": process_start_time(pid), "argv": argv,
                                      "log": str(log), "host": host,
                                      "container": None if host else self.container(node)}])
        return pid

    def socket(self, node: str, family: int, type_: int = socket.SOCK_DGRAM, proto: int = 0) -> socket.socket:
        return nsutil.socket_in(self.netns_path(node), family, type_, proto)

    def destroy(self) -> list[str]:
        self._join_starts()  # the starts in flight use the client
        cli, self._cli = self._cli, None
        self.close()  # netlink sockets and the hub fd first
        try:
            return destroy_docker_state(self.state, cli=cli)
        finally:
            if cli is not None:
                cli.close()

