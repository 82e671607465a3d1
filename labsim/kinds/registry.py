"""The one place kinds are registered. A kind's name equals its module's name."""

from __future__ import annotations

from labsim.errors import InputError
from labsim.kinds.authdns import AuthDns
from labsim.kinds.backend import Backend
from labsim.kinds.base import Kind
from labsim.kinds.cdn import Cdn
from labsim.kinds.client import Client
from labsim.kinds.cloudapi import CloudApi
from labsim.kinds.container import Container
from labsim.kinds.dhcp4 import Dhcp4
from labsim.kinds.dns64 import Dns64
from labsim.kinds.nat64 import Nat64
from labsim.kinds.process import Process
from labsim.kinds.proxy import Proxy
from labsim.kinds.router import Router

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
