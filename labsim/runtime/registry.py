"""Runtimes by name, as `kinds.registry` holds kinds: the one place that lists them.

`--runtime NAME` and a scenario's `runtime:` are looked up here; an unknown name is an input
error listing the valid ones, raised before anything is claimed or created. `gc` and `down`
ask every runtime here for its orphans; `labsim setup --check` asks `host_needs` what to
check on the host, so a new runtime is added here and nowhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from labsim.errors import InputError
from labsim.runtime.base import CAPABILITY_TEXT, Runtime

# name -> (module, class): imported on first use, so a command that names no runtime (and
# `--help`) does not pay for netlink or the docker SDK
_WHERE = {"netns": ("labsim.runtime.netns", "NetnsRuntime"),
          "docker": ("labsim.runtime.docker", "DockerRuntime")}
# what `--help` says of each, without importing it (each class's `summary` says the same)
_SUMMARY = {"netns": "a network namespace per node, the host's daemons",
            "docker": "a container per node from the labsim/node image"}



@dataclass(frozen=True)
class HostNeeds:
    """What a runtime needs on the host, for `labsim setup --check` (declared here, so the
    doctor imports no runtime and names none)."""

    node_software: bool  # the nodes' daemons run from the host's binaries and packages
    binaries: dict[str, tuple[str, ...]] = field(default_factory=dict)  # binary -> Debian packages
    services: tuple[str, ...] = ()  # host services that must run (SERVICES)


# host services a runtime may need; the doctor checks each (required for the runtimes naming it)
SERVICES = ("docker",)
_HOST = {"netns": HostNeeds(node_software=True),
         # the daemons are in the node image; the host wires veths into the containers
         "docker": HostNeeds(node_software=False, binaries={"ip": ("iproute2",)}, services=("docker",))}


class _Lazy(Mapping[str, type[Runtime]]):
    def __init__(self) -> None:
        self._loaded: dict[str, type[Runtime]] = {}

    def __getitem__(self, name: str) -> type[Runtime]:
        if name not in self._loaded:
            module, cls = _WHERE[name]  # KeyError for an unknown name, as a dict would
            self._loaded[name] = getattr(importlib.import_module(module), cls)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


RUNTIMES: Mapping[str, type[Runtime]] = _Lazy()
DEFAULT = "netns"


def names() -> list[str]:
    return list(RUNTIMES)


def get(name: str) -> type[Runtime]:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise InputError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}",
                         field="--runtime") from None


def host_needs(name: str) -> HostNeeds:
    """What `name` needs on the host; an unknown name is the same input error as `get`'s."""
    if name not in _WHERE:
        get(name)
    return _HOST[name]


def with_capability(capability: str) -> list[str]:
    """Names of the runtimes that can do `capability`."""
    return [n for n, cls in RUNTIMES.items() if capability in cls.capabilities]


def describe(capability: str) -> str:
    return CAPABILITY_TEXT.get(capability, capability)


def help_text() -> str:
    """`netns (…) or docker (…)`: for the --runtime option's help."""
    return " or ".join(f"{n} ({_SUMMARY[n]})" if _SUMMARY.get(n) else n for n in RUNTIMES)
