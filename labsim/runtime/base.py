"""The runtime interface: how a planned lab becomes nodes, links and processes.

Ten methods, nothing about scenarios or kinds. Netlink, mount and exec failures are turned
into labsim's own errors at this boundary (chained with `from exc`).
"""

from __future__ import annotations

import socket
import subprocess
from abc import ABC, abstractmethod

from ..model.plan import IfacePlan, RoutePlan


class Runtime(ABC):
    name: str

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

    @abstractmethod
    def spawn(self, node: str, service: str, argv: list[str], host: bool = False) -> int:
        """Start a long-running process in the node (or, with `host`, in the host namespace
        with `{netns}` in argv replaced by the node's namespace path), logging to the node's
        `<service>.log`; returns its PID (recorded in the state file)."""

    @abstractmethod
    def socket(self, node: str, family: int, type_: int = socket.SOCK_DGRAM) -> socket.socket:
        """A socket that lives in the node's network namespace (for probes and checks)."""

    @abstractmethod
    def destroy(self) -> list[str]:
        """Remove everything the lab made; returns what was removed. Safe to call twice."""

    def close(self) -> None:
        """Release handles kept during bring-up (netlink sockets); the lab stays up."""
