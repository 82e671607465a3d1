"""`router`: kernel forwarding between its links. The planner routes through it."""

from __future__ import annotations

from typing import Literal

from ..model.topology import NodeBase
from .base import Kind, NodeContext
from .common import base_files


class Schema(NodeBase):
    kind: Literal["router"]


class Router(Kind):
    name = "router"
    schema = Schema
    forwards = True

    def sysctls(self, node, spec):
        return {"net.ipv6.conf.all.forwarding": "1", "net.ipv4.ip_forward": "1"}

    def render(self, ctx: NodeContext) -> dict[str, str]:
        return base_files(ctx)
