"""Runtimes by name, as `kinds.registry` holds kinds: the one place that lists them.

`--runtime NAME` and a scenario's `runtime:` are looked up here; an unknown name is an input
error listing the valid ones, raised before anything is claimed or created. `gc` and `down`
ask every runtime here for its orphans.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from ..errors import InputError
from .base import CAPABILITY_TEXT, Runtime

# name -> (module, class): imported on first use, so a command that names no runtime (and
# `--help`) does not pay for netlink or the docker SDK
_WHERE = {"netns": ("labsim.runtime.netns", "NetnsRuntime"),
          "docker": ("labsim.runtime.docker", "DockerRuntime")}
# what `--help` says of each, without importing it (each class's `summary` says the same)
_SUMMARY = {"netns": "a network namespace per node, the host's daemons",
            "docker": "a container per node from the labsim/node image"}


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


def with_capability(capability: str) -> list[str]:
    """Names of the runtimes that can do `capability`."""
    return [n for n, cls in RUNTIMES.items() if capability in cls.capabilities]


def describe(capability: str) -> str:
    return CAPABILITY_TEXT.get(capability, capability)


def help_text() -> str:
    """`netns (…) or docker (…)`: for the --runtime option's help."""
    return " or ".join(f"{n} ({_SUMMARY[n]})" if _SUMMARY.get(n) else n for n in RUNTIMES)
