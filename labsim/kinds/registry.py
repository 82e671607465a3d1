"""The one place kinds are registered. A kind's name equals its module's name.

A kind's module is imported when the kind is first asked for: a topology uses a few of the
twelve, and importing every one (their spec models, renderers) is ~15-20 ms of every `up`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from labsim.errors import InputError

if TYPE_CHECKING:
    from labsim.kinds.base import Kind

# name (= module labsim.kinds.NAME) -> its class, in the order kinds are listed
_CLASSES = {"client": "Client", "router": "Router", "nat64": "Nat64", "dns64": "Dns64", "authdns": "AuthDns",
            "backend": "Backend", "proxy": "Proxy", "cdn": "Cdn", "container": "Container", "dhcp4": "Dhcp4",
            "cloudapi": "CloudApi", "process": "Process"}


class _Kinds(Mapping[str, "Kind"]):
    """Every kind by name, each made on first use."""

    def __init__(self) -> None:
        self._made: dict[str, Kind] = {}
        self._names = list(_CLASSES)

    def __getitem__(self, name: str) -> Kind:
        kind = self._made.get(name)
        if kind is None:
            if name not in _CLASSES:
                raise KeyError(name)  # not one of these (a kind added by register() is made already)
            kind = getattr(import_module(f"labsim.kinds.{name}"), _CLASSES[name])()
            if kind.name != name:
                raise ValueError(f"kind {kind.name!r} lives in labsim.kinds.{name}")
            self._made[name] = kind
        return kind

    def __contains__(self, name: object) -> bool:  # without importing the kind
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def add(self, kind: Kind) -> None:
        if kind.name in self._names:
            raise ValueError(f"kind {kind.name!r} registered twice")
        self._names.append(kind.name)
        self._made[kind.name] = kind


KINDS = _Kinds()


def register(kind: Kind) -> None:
    KINDS.add(kind)


def get(name: str) -> Kind:
    if name not in KINDS:
        raise InputError(f"unknown kind {name!r}; valid kinds are: {', '.join(sorted(KINDS))}")
    return KINDS[name]


def forwards(kind: str) -> bool:
    return KINDS[kind].forwards
