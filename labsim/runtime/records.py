"""One record per runtime: everything the rest of labsim may know of a runtime without
importing it. A new runtime is its package plus one `RuntimeRecord` in `RECORDS`; nothing
outside `labsim/runtime/` names a runtime.

Light on purpose (dataclasses and `enter` only): `labsim exec`'s fast path, `--help` and the
shard estimate read it without importing netlink or the docker SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from labsim.runtime.enter import docker_argv, netns_argv


@dataclass(frozen=True)
class HostNeeds:
    """What a runtime needs on the host, for `labsim setup --check` (declared here, so the
    doctor imports no runtime and names none)."""

    node_software: bool  # the nodes' daemons run from the host's binaries and packages
    binaries: dict[str, tuple[str, ...]] = field(default_factory=dict)  # binary -> Debian packages
    services: tuple[str, ...] = ()  # host services that must run (SERVICES)


@dataclass(frozen=True)
class RuntimeRecord:
    name: str  # `--runtime NAME`, a scenario's `runtime:`, a lab state's `runtime`
    where: tuple[str, str]  # (module, class), imported on first use
    summary: str  # what `--help` says of it
    host: HostNeeds
    # the argv `labsim exec LAB NODE CMD…` becomes; None: no interactive exec
    enter: Callable[[str, str, list[str]], list[str]] | None
    # a lab's bring-up and teardown before its nodes, in seconds, for `run -j`/shard estimates
    # (measured on a 2-core machine: netns ~0.3-0.5 s, docker ~1-2 s: bench/docker_bringup.py)
    bringup_s: float
    # nodes see the host's own file system (netns): what a file asks to run gets a mount
    # namespace with the host read-only, not only an unprivileged user (kinds.common.confined)
    shares_host_filesystem: bool = False


# host services a runtime may need; the doctor checks each (required for the runtimes naming it)
SERVICES = ("docker",)

RECORDS: dict[str, RuntimeRecord] = {r.name: r for r in (
    RuntimeRecord("netns", ("labsim.runtime.netns", "NetnsRuntime"),
                  "a network namespace per node, the host's daemons",
                  HostNeeds(node_software=True), netns_argv, bringup_s=0.5, shares_host_filesystem=True),
    # the daemons are in the node image; the host wires veths into the containers
    RuntimeRecord("docker", ("labsim.runtime.docker", "DockerRuntime"),
                  "a container per node from the labsim/node image",
                  HostNeeds(node_software=False, binaries={"ip": ("iproute2",)}, services=("docker",)),
                  docker_argv, bringup_s=2.0),
)}
DEFAULT = "netns"


def confinement(runtime: str) -> str:
    """How what a file asks to run is confined on `runtime`: "mount-ns" (an unprivileged user
    in a mount namespace with the host read-only), "user" (the node has its own file system:
    only the user drops), "" (not a registered runtime: test fakes run it as is)."""
    rec = RECORDS.get(runtime)
    if rec is None:
        return ""
    return "mount-ns" if rec.shares_host_filesystem else "user"
