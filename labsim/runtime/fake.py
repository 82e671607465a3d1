"""A runtime with no kernel behind it, for tests: a handler answers every call.

In the spirit of httpx's MockTransport: checks run against `FakeRuntime(handler)` exactly
as against a real runtime, and the handler scripts what the tools would have printed. It
sees one call at a time and answers it:

    Exec(node, argv, input)       -> Reply(stdout, stderr, returncode), or raise (a runtime
                                     error: the tool did not finish)
    Datagram(node, family, data, destination)
                                  -> bytes (the reply), None (silence: the caller times
                                     out), or raise OSError (the send failed: ENETUNREACH)

    def handler(call):
        if isinstance(call, Exec) and call.argv[0] == "curl":
            return Reply(stdout=b"...", returncode=7)
        raise AssertionError(f"unexpected {call}")

Every call is recorded in `calls`, and files written in `files`. Nothing is created on the
host, and no root is needed.
"""

from __future__ import annotations

import socket as socketlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from labsim.model.plan import IfacePlan, RoutePlan
from labsim.runtime.base import Runtime


@dataclass(frozen=True)
class Exec:
    node: str
    argv: tuple[str, ...]
    input: bytes | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class Spawn:
    node: str
    service: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Datagram:
    node: str
    family: int
    data: bytes
    destination: tuple


@dataclass
class Reply:
    stdout: bytes | str = b""
    stderr: bytes | str = b""
    returncode: int = 0

    def completed(self, argv: list[str]) -> subprocess.CompletedProcess:
        def enc(v: str | bytes) -> bytes:
            return v.encode() if isinstance(v, str) else v

        return subprocess.CompletedProcess(argv, self.returncode, enc(self.stdout), enc(self.stderr))


Call = Exec | Spawn | Datagram
Handler = Callable[[Call], object]


class FakeSocket:
    """A datagram socket whose sends go to the handler; replies come back through a real
    socket pair, so callers that wait with select() (dnspython) wait as they would."""

    def __init__(self, runtime: FakeRuntime, node: str, family: int):
        self._runtime, self._node, self.family = runtime, node, family
        self.type = socketlib.SOCK_DGRAM
        self._mine, self._peer = socketlib.socketpair(socketlib.AF_UNIX, socketlib.SOCK_DGRAM)
        self._last: tuple = ()

    def fileno(self) -> int:
        return self._mine.fileno()

    def setblocking(self, flag: bool) -> None:
        self._mine.setblocking(flag)

    def settimeout(self, value: float | None) -> None:
        self._mine.settimeout(value)

    def sendto(self, data: bytes, destination: tuple) -> int:
        self._last = destination
        reply = self._runtime.answer(Datagram(self._node, self.family, bytes(data), tuple(destination)))
        if reply is not None:
            if not isinstance(reply, (bytes, bytearray, memoryview)):
                raise TypeError(f"the handler answered a datagram with {reply!r}, not bytes")
            self._peer.send(bytes(reply))
        return len(data)

    def recvfrom(self, size: int) -> tuple[bytes, tuple]:
        return self._mine.recv(size), self._last

    def close(self) -> None:
        self._mine.close()
        self._peer.close()

    def __enter__(self) -> FakeSocket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FakeRuntime(Runtime):
    name = "fake"

    def __init__(self, handler: Handler, python: str = "python3"):
        self.handler = handler
        self.python = python
        self.calls: list[Call] = []
        self.files: dict[tuple[str, str], str | bytes] = {}
        self.nodes: dict[str, dict[str, str]] = {}
        self._pid = 1000

    def answer(self, call: Call) -> object:
        self.calls.append(call)
        return self.handler(call)

    # -- what checks use ---------------------------------------------------------------------
    def exec(self, node: str, argv: list[str], timeout: float = 30.0,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        reply = self.answer(Exec(node, tuple(argv), input, timeout))
        if isinstance(reply, subprocess.CompletedProcess):
            return reply
        if not isinstance(reply, Reply):
            raise TypeError(f"the handler answered exec {argv[0]} with {reply!r}, not a Reply")
        return reply.completed(argv)

    def spawn(self, node: str, service: str, argv: list[str], host: bool = False) -> int:
        self.answer(Spawn(node, service, tuple(argv)))
        self._pid += 1
        return self._pid

    def socket(self, node: str, family: int, type_: int = socketlib.SOCK_DGRAM, proto: int = 0):
        if type_ != socketlib.SOCK_DGRAM or proto:
            raise NotImplementedError("the fake runtime answers datagrams only")
        return FakeSocket(self, node, family)

    def write_file(self, node: str, path: str, text: str | bytes, mode: int = 0o644,
                   shared: str | None = None) -> str:
        where = path if path.startswith("/") else f"{self.node_dir(node)}/{path}"
        self.files[(node, where)] = text
        return where

    def node_dir(self, node: str) -> str:
        return f"/run/labsim/fake/{node}"

    # -- bring-up: recorded, nothing made ------------------------------------------------------
    def create_hub(self) -> None:
        pass

    def create_node(self, node: str, sysctls: dict[str, str]) -> None:
        self.nodes[node] = dict(sysctls)

    def create_network(self, bridge: str) -> None:
        pass

    def connect(self, node: str, iface: IfacePlan, bridge: str) -> None:
        pass

    def add_routes(self, node: str, routes: list[RoutePlan]) -> None:
        pass

    def destroy(self) -> list[str]:
        gone = sorted(self.nodes)
        self.nodes.clear()
        return gone
