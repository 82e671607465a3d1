"""`client`: where checks run. No daemon; its own resolv.conf and trust in the lab CA.

Its address families are those of its links: a client linked only to IPv6 networks has no
IPv4 address but loopback and no IPv4 route at all.
"""

from __future__ import annotations

from typing import Literal

from ..model.topology import NodeBase
from .base import Kind, NodeContext
from .common import base_files


class Schema(NodeBase):
    kind: Literal["client"]
    trust_lab_ca: bool = True  # curl, openssl and python in the node verify lab certificates


class Client(Kind):
    name = "client"
    schema = Schema
    packages = ("curl", "iproute2", "iputils-ping", "dnsutils")

    def render(self, ctx: NodeContext) -> dict[str, str]:
        return base_files(ctx)
