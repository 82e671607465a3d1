"""Runtimes by name, as `kinds.registry` holds kinds: the one place that lists them.

`--runtime NAME` and a scenario's `runtime:` are looked up here; an unknown name is an input
error listing the valid ones, raised before anything is claimed or created. `gc` and `down`
ask every runtime here for its orphans.
"""

from __future__ import annotations

from ..errors import InputError
from .base import CAPABILITY_TEXT, Runtime
from .docker import DockerRuntime
from .netns import NetnsRuntime

RUNTIMES: dict[str, type[Runtime]] = {cls.name: cls for cls in (NetnsRuntime, DockerRuntime)}
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
    return " or ".join(f"{n} ({cls.summary})" if cls.summary else n for n, cls in RUNTIMES.items())
