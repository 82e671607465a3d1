"""The one place kinds are registered. A kind's name equals its module's name."""

from __future__ import annotations

from ..errors import InputError
from .authdns import AuthDns
from .backend import Backend
from .base import Kind
from .cdn import Cdn
from .cloudapi import CloudApi
from .client import Client
from .container import Container
from .dhcp4 import Dhcp4
from .dns64 import Dns64
from .nat64 import Nat64
from .process import Process
from .proxy import Proxy
from .router import Router

KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    if kind.name in KINDS:
        raise ValueError(f"kind {kind.name!r} registered twice")
    KINDS[kind.name] = kind


for _kind in (Client(), Router(), Nat64(), Dns64(), AuthDns(), Backend(), Proxy(), Cdn(), Container(), Dhcp4(),
              CloudApi(), Process()):
    register(_kind)


def get(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"unknown kind {name!r}; valid kinds are: {', '.join(sorted(KINDS))}") from None


def forwards(kind: str) -> bool:
    return KINDS[kind].forwards
