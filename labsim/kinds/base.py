"""What a node kind is: a schema, pure renderers, the processes it runs, how it is probed.

A kind module defines a `Kind` subclass. Everything here is pure: it takes a `NodeContext`
(planned data) and returns files, commands and probe descriptions. The orchestrator runs
them through a runtime; nothing here touches the kernel, so it is testable without root.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import ClassVar, Generic, TypeVar

from labsim.model.plan import IPNetwork, NodePlan, Plan
from labsim.model.topology import NodeBase, Topology

IPAddress = IPv4Address | IPv6Address
# a kind's own spec class: `ctx: NodeContext[BackendSpec]` lets a renderer read its fields typed
SpecT = TypeVar("SpecT", bound=NodeBase, covariant=True)


@dataclass(frozen=True)
class NodeContext(Generic[SpecT]):
    plan: Plan
    node: NodePlan
    spec: SpecT
    dir: str  # the node's own directory, as seen inside the node
    python: str = "python3"  # interpreter for labsim's own in-node programs
    # the machine's hostname: nodes share it (no UTS namespace), and programs that resolve
    # their own name (libldap inside curl, sudo, ...) must find it in hosts, not in DNS
    hostname: str = ""
    # how what a file asks to run is confined on this runtime (runtime.records.confinement):
    # "mount-ns", "user", or empty at load time and in tests that only render
    confinement: str = ""

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(frozen=True)
class Service:
    """A long-running process; `name` names its log file. A `host` service runs in the host
    namespace (user-mode networking attaching to the node); `{netns}` in its argv becomes
    the path of the node's network namespace."""

    name: str
    argv: list[str]
    host: bool = False


@dataclass(frozen=True)
class DnsProbe:
    """Ready when `server` answers a query for `qname` (any rcode unless `rcode` is set)."""

    server: IPAddress
    qname: str
    rdtype: str = "SOA"
    rcode: str | None = None
    timeout: float = 0.05  # per attempt; longer for a server behind a delay relay


@dataclass(frozen=True)
class TcpProbe:
    """Ready when a TCP connect to `port` on `address`, or on any address in `also`, is
    accepted (tried in turn; for a program whose bind address labsim does not know)."""

    address: IPAddress
    port: int
    also: tuple[IPAddress, ...] = ()


@dataclass(frozen=True)
class LinkProbe:
    """Ready when the node's interface `ifname` has its carrier up: a TUN device's carrier
    comes up when a process attaches to it (tayga). Woken by a netlink link notification."""

    ifname: str
    service: str | None = None


@dataclass(frozen=True)
class CommandProbe:
    """Ready when this command, run in the node, exits 0."""

    argv: list[str]
    service: str | None = None


@dataclass(frozen=True)
class FileProbe:
    """Ready when the file (a path under the lab directory, which is the same path on the
    host for every runtime) exists, is not empty and holds `contains` if given: a pid file,
    a state file a helper rewrites, a daemon's "started" log line. Watched from the host
    with inotify, so nothing runs in the node while it waits."""

    path: str
    contains: str | None = None
    service: str | None = None


Probe = DnsProbe | TcpProbe | LinkProbe | CommandProbe | FileProbe


@dataclass(frozen=True)
class TlsRequest:
    """The node wants a certificate from the lab CA for these names, at these paths."""

    names: list[str]
    cert: str = "tls/cert.pem"
    key: str = "tls/key.pem"


def run_dir(path: str, user: str, group: str | None = None) -> list[str]:
    """A setup command making the directory a daemon writes in (sockets, caches, pid files)
    after it has dropped root: created owned by its user and group (default: the group named
    like the user, as Debian's system users have), mode 0750 at once, by argv (`install -d`),
    never by a shell. The user is the Debian package's own, or nobody/nogroup, which exist
    on the host and in the node image alike (their uids differ: names only)."""
    return ["install", "-d", "-o", user, "-g", group or user, "-m", "0750", path]


class Kind:
    name: ClassVar[str]
    schema: ClassVar[type[NodeBase]]
    forwards: ClassVar[bool] = False  # routes packets between its links
    packages: ClassVar[tuple[str, ...]] = ()  # Debian packages it needs
    # Debian packages `needs` adds only with some settings (a client's dhcpcd stack): `labsim
    # setup` without a topology installs them too, as it does `packages`
    setting_packages: ClassVar[tuple[str, ...]] = ()
    binaries: ClassVar[tuple[str, ...]] = ()  # checked before anything is created
    # Python modules its in-node programs import from site-packages on the host (netns), with
    # the labsim extra that brings them: the doctor checks them and `up` refuses without them
    python_modules: ClassVar[dict[str, str]] = {}

    def needs(self, spec: NodeBase) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(binaries, Debian packages) this node needs; checked before anything is created."""
        return self.binaries, self.packages

    def owned_prefixes(self, name: str, spec: NodeBase, topo: Topology) -> list[IPNetwork]:
        """Prefixes this node answers for beyond its links (planned as routes to it)."""
        return []

    def sysctls(self, ctx_node: NodePlan, spec: NodeBase) -> dict[str, str]:
        return {}

    def render(self, ctx: NodeContext) -> dict[str, str]:
        """Config files: '/etc/...' paths or paths relative to the node directory."""
        return {}

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        """Commands run once, in order, before the services (config checks, tun devices)."""
        return []

    def services(self, ctx: NodeContext) -> list[Service]:
        return []

    def probes(self, ctx: NodeContext) -> list[Probe]:
        return []

    def confine(self, ctx: NodeContext, argv: list[str]) -> list[str]:
        """The argv bring-up really runs for one of this kind's setup commands or services:
        labsim's own are run as rendered; a kind running what the topology names (`process`)
        wraps it in an unprivileged user and a mount namespace of its own."""
        return argv

    def after_ready(self, ctx: NodeContext) -> list[list[str]]:
        """Commands run once every node is ready (configuration a service's start made possible)."""
        return []

    def tls(self, ctx: NodeContext) -> TlsRequest | None:
        return None

    def validate(self, ctx: NodeContext) -> None:
        """Cross-node checks at load time; raise PlanError(loc, message)."""
