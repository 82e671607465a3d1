"""The runtime interface: how a planned lab becomes nodes, links and processes.

An instance serves one lab (made from its state); a few class-level methods serve labs
with no instance: the environment check before anything is created, teardown from a state
file alone (`down`, `gc`), the labs a killed process left behind, and the argv of an
interactive `labsim exec`. Nothing about scenarios. Netlink, mount and exec failures are
turned into labsim's own errors at this boundary (chained with `from exc`).

A runtime declares what it can do beyond the basics (`capabilities`); `lab.check_environment`
refuses a topology that needs more than the chosen runtime has, naming the node or network.
A new runtime: subclass this, add it to `registry.RUNTIMES`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from labsim.errors import RuntimeOpError
from labsim.node.nodeprog import stdlib_program

if TYPE_CHECKING:
    from labsim.loader import LoadedLab
    from labsim.model.plan import IfacePlan, RoutePlan
    from labsim.runtime.state import LabState

# capabilities a topology may need (and a runtime may have)
USER_IMAGES = "user_images"  # nodes started from a user's container image (kind `container`)
DOCKER_NETWORKS = "docker_networks"  # topology networks with `docker:` (Docker bridge networks)
CAPABILITY_TEXT = {USER_IMAGES: "nodes from a user's container image",
                   DOCKER_NETWORKS: "Docker networks (`docker:`)"}


class Runtime(ABC):
    name: ClassVar[str]
    summary: ClassVar[str] = ""  # one line for --help
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # labsim's interpreter inside a node (its agent, the echo server); None: this process's
    python: str | None = None
    state: LabState  # the lab's, given to __init__

    @abstractmethod
    def __init__(self, state: LabState): ...

    # -- class level: no lab instance needed ----------------------------------------------
    # Every registered runtime overrides these four (tests/unit/test_runtime_registry.py); the
    # defaults suit a runtime that leaves nothing on the host (a test double).
    @classmethod
    def check_environment(cls, loaded: LoadedLab) -> None:
        """What this runtime needs on the host for this lab (binaries, a daemon), checked
        before anything is created; raises EnvironmentMissingError."""

    @classmethod
    def destroy_state(cls, state: LabState) -> list[str]:
        """Remove everything `state` lists (and what is labelled or named for its lab), from
        the state file alone; returns what was removed. Removes the state last."""
        state.forget()
        return []

    @classmethod
    def orphans(cls) -> set[str]:
        """Labs that have things of this runtime on the host (for `gc` and `down`)."""
        return set()

    @classmethod
    def exec_argv(cls, lab: str, node: str, cmd: list[str]) -> list[str]:
        """The argv that runs `cmd` interactively in the node (`labsim exec`), exit code
        passing through."""
        raise RuntimeOpError(f"the {cls.name} runtime has no interactive exec")

    # -- one lab -----------------------------------------------------------------------------
    def prepare(self, loaded: LoadedLab) -> None:
        """Read what this runtime needs from the lab before `create_hub` (images, networks)."""

    def create_nodes(self, nodes: dict[str, dict[str, str]]) -> None:
        """Begin every node at once (node -> sysctls), where a runtime can (docker: parallel
        container starts; netns: one thread making every namespace). `create_node` is then
        called for each node and finishes it (or does it all, after this default)."""

    def preload(self, modules: set[str]) -> None:
        """labsim's in-node programs (`nodeprog` modules) this bring-up will start, told
        before anything is made (netns: a fork server imports them meanwhile)."""

    def creation_order(self, nodes: list[str]) -> Iterable[str]:
        """The nodes in the order `create_node` can finish them soonest (docker: as their
        containers come up); bring-up wires each and starts its daemons in this order."""
        return nodes

    @abstractmethod
    def create_hub(self) -> None:
        """Make the lab's hub, where its networks' bridges live."""

    @abstractmethod
    def create_node(self, node: str, sysctls: dict[str, str]) -> None:
        """Make the node's network namespace (and its container, for docker)."""

    @abstractmethod
    def create_network(self, bridge: str) -> None:
        """Make an L2 segment (a bridge in the lab's hub namespace)."""

    @abstractmethod
    def connect(self, node: str, iface: IfacePlan, bridge: str) -> None:
        """A veth from the node to the bridge, addressed and up (no DAD wait)."""

    @abstractmethod
    def add_routes(self, node: str, routes: list[RoutePlan]) -> None: ...

    @abstractmethod
    def write_file(self, node: str, path: str, text: str | bytes, mode: int = 0o644,
                   shared: str | None = None) -> str:
        """Write a file the node sees at `path` ('/etc/...' or relative to the node's
        directory); returns where the node sees it. With `shared`, the node sees that
        lab-level host path (a file or directory) at `path` instead: written once per lab."""

    @abstractmethod
    def node_dir(self, node: str) -> str:
        """The node's own directory, as a path inside the node."""

    @abstractmethod
    def exec(self, node: str, argv: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run a command in the node and wait for it (bounded)."""

    def call(self, node: str, module: str, args: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run labsim's in-node program `module` (the check agent, the socket probe) in the node
        and wait for it (bounded), as `exec` of its `stdlib_program` argv would: the same
        output, exit code and view of the node (resolver, trust store). A runtime may answer
        from a process that has the program imported already (netns: a fork server, kept for
        a session); this default execs a fresh interpreter."""
        return self.exec(node, stdlib_program(self.python or sys.executable, module, *args), timeout, input)

    def begin_session(self) -> None:
        """Told before `preload` when checks will follow bring-up (a lab session): a runtime may
        keep what makes `call` fast until `end_session`."""

    def end_session(self) -> None:
        """The session is over: release what `begin_session` kept (the lab may stay up)."""

    @abstractmethod
    def spawn(self, node: str, service: str, argv: list[str], host: bool = False) -> int:
        """Start a long-running process in the node (or, with `host`, in the host namespace
        with `{netns}` in argv replaced by the node's namespace path), logging to the node's
        `<service>.log`; returns its PID (recorded in the state file)."""

    @abstractmethod
    def socket(self, node: str, family: int, type_: int = socket.SOCK_DGRAM, proto: int = 0) -> socket.socket:
        """A socket that lives in the node's network namespace (for probes and checks)."""

    def attach_port(self, rec: dict, bridge: str) -> None:
        """Make the host interface `rec` describes (labsim.bringup.attach, recorded in the
        state first) a port of `bridge` in the lab's hub; teardown returns it as recorded."""
        raise RuntimeOpError(f"the {self.name} runtime cannot attach host interfaces")

    def destroy(self) -> list[str]:
        """Remove everything the lab made; returns what was removed. Safe to call twice."""
        self.close()
        return type(self).destroy_state(self.state)

    def close(self) -> None:
        """Release handles kept during bring-up (netlink sockets); the lab stays up."""
