"""`container`: a node that is the user's own image (docker runtime only).

On the docker runtime the node's container is created from `image` (not labsim/node), with
its own `command` (default: the image's CMD/ENTRYPOINT) and `env`, still `--network none`
and plumbed with the same veths, addresses, routes and bind-mounted /etc files. Nothing is
ever exec'd inside it (the image may lack a shell, `ip` or python): addresses and routes
are set from the host through netlink, files by bind mounts. On the netns runtime such a
node is an input error before anything is created (`requires`).

Readiness: a TCP probe per `ports` entry. The program's bind address is unknown, so the
probe uses an IPv4 address of the node when it has one (a server bound to 0.0.0.0 only -
catalog row 9 - is still ready), else an IPv6 one.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from labsim.kinds.base import Kind, NodeContext, TcpProbe
from labsim.kinds.common import base_files
from labsim.kinds.process import probe_addresses
from labsim.model.plan import PlanError
from labsim.model.topology import NodeBase
from labsim.model.types import ArgWord, EnvName, EnvValue, ImageRef


class Schema(NodeBase):
    kind: Literal["container"]
    image: ImageRef
    command: list[ArgWord] | None = Field(None, max_length=256)  # default: the image's own
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=256)
    ports: list[int] = Field(default_factory=list, max_length=64)  # TCP ports it serves (readiness)


class Container(Kind):
    name = "container"
    schema = Schema
    # a runtime capability (labsim.runtime.base.USER_IMAGES): only docker runs user images
    requires: ClassVar[frozenset[str]] = frozenset({"user_images"})

    def image(self, spec: Schema) -> tuple[str, list[str] | None, dict[str, str]]:
        """What the docker runtime starts this node's container from."""
        return spec.image, (list(spec.command) if spec.command is not None else None), dict(spec.env)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        return base_files(ctx)

    def probes(self, ctx: NodeContext):
        if not ctx.spec.ports:
            return []
        # as for a `process`: listening anywhere a bind can cover; the checks say for whom
        first, *also = probe_addresses(ctx)
        return [TcpProbe(first, p, tuple(also)) for p in ctx.spec.ports]

    def validate(self, ctx: NodeContext) -> None:
        for i, port in enumerate(ctx.spec.ports):
            if not 1 <= port <= 65535:
                raise PlanError(("nodes", ctx.name, "ports", i), f"{port} is not a TCP port (1-65535)")
