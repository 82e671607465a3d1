"""Runtimes by name, as `kinds.registry` holds kinds: the one place that lists them.

`--runtime NAME` and a scenario's `runtime:` are looked up here; an unknown name is an input
error listing the valid ones, raised before anything is claimed or created. `gc` and `down`
ask every runtime here for its orphans; `labsim setup --check` asks `host_needs` what to
check on the host, so a new runtime is added here and nowhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from labsim.errors import InputError
from labsim.runtime.base import CAPABILITY_TEXT, Runtime
from labsim.runtime.records import DEFAULT, RECORDS, SERVICES, HostNeeds, RuntimeRecord

# HostNeeds and SERVICES are the records' (re-exported: the doctor asks this module)
__all__ = ["DEFAULT", "RECORDS", "RUNTIMES", "SERVICES", "HostNeeds", "RuntimeRecord", "get", "host_needs",
           "names", "record", "with_capability", "describe", "help_text"]


class _Lazy(Mapping[str, type[Runtime]]):
    def __init__(self) -> None:
        self._loaded: dict[str, type[Runtime]] = {}

    def __getitem__(self, name: str) -> type[Runtime]:
        if name not in self._loaded:
            module, cls = RECORDS[name].where  # KeyError for an unknown name, as a dict would
            self._loaded[name] = getattr(importlib.import_module(module), cls)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(RECORDS)

    def __len__(self) -> int:
        return len(RECORDS)


RUNTIMES: Mapping[str, type[Runtime]] = _Lazy()


def names() -> list[str]:
    return list(RUNTIMES)


def get(name: str) -> type[Runtime]:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise InputError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}",
                         field="--runtime") from None


def record(name: str) -> RuntimeRecord:
    """`name`'s record; an unknown name is the same input error as `get`'s."""
    if name not in RECORDS:
        get(name)
    return RECORDS[name]


def host_needs(name: str) -> HostNeeds:
    """What `name` needs on the host; an unknown name is the same input error as `get`'s."""
    return record(name).host


def with_capability(capability: str) -> list[str]:
    """Names of the runtimes that can do `capability`."""
    return [n for n, cls in RUNTIMES.items() if capability in cls.capabilities]


def describe(capability: str) -> str:
    return CAPABILITY_TEXT.get(capability, capability)


def help_text() -> str:
    """`netns (…) or docker (…)`: for the --runtime option's help."""
    return " or ".join(f"{r.name} ({r.summary})" for r in RECORDS.values())
