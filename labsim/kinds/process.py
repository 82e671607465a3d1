"""`process`: the user's own command as a node, on both runtimes (netns and docker).

The program runs inside the node like any daemon labsim starts: one service (named after
the program's file name, else `process`), its output in the node's log (`labsim logs`),
recorded in the state file, so scenario `stop`/`start` actions stop and restart it.

Everything is an argv, never a shell. The command is wrapped, in this order, by
  setpriv --reuid=USER --regid=GROUP --init-groups --reset-env --   (only with `user`)
  env --chdir=WORKDIR -- NAME=VALUE ...                              (always)
both of which exec in place, so the PID labsim records is the program's own.
`--reset-env` gives the user's HOME, USER, LOGNAME, SHELL and a default PATH; `env` adds the
node's `env` on top. Without `user` the program runs as root with labsim's environment.

`{dir}` in any command word, setup word, env value or `workdir` stands for the node's own
directory (the same path inside the node on both runtimes). `files` are written there
before setup. `workdir` defaults to `{dir}/work`; a relative workdir lies under `{dir}` and
is created before setup (owned by `user`, mode 0750), an absolute one must exist.

`setup` commands run once, in order, before the program starts, wrapped like it (so an
`initdb` runs as the database's user in its directory); the first failure stops bring-up.

Readiness: a bounded TCP probe per `ports` entry, on the node's IPv4 address when it has
one (a server bound to 0.0.0.0 only - catalog row 9 - is still ready), else an IPv6 one.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..model.plan import PlanError
from ..model.topology import NodeBase
from ..model.types import ArgWord, Body, DirPath, EnvName, EnvValue, FileName, PackageName, UserName
from .base import Kind, NodeContext, Service, TcpProbe
from .common import base_files
from .container import probe_address

DIR = "{dir}"  # stands for the node's own directory
DEFAULT_WORKDIR = "work"  # relative to the node directory
SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # what `stop`/`start` accept as `service`
Port = Annotated[int, Field(ge=1, le=65535)]
Argv = Annotated[list[ArgWord], Field(min_length=1, max_length=256)]


class Schema(NodeBase):
    kind: Literal["process"]
    command: Argv  # the program and its arguments (an argv, never a shell)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=256)
    workdir: DirPath | None = None  # default: {dir}/work; relative: under {dir}
    ports: list[Port] = Field(default_factory=list, max_length=64)  # TCP ports it serves (readiness)
    user: UserName | None = None  # drop root to this user (setpriv)
    group: UserName | None = None  # default: the group named like `user` (Debian's system users)
    setup: list[Argv] = Field(default_factory=list, max_length=32)  # run once before the program
    files: dict[FileName, Body] = Field(default_factory=dict, max_length=64)  # written to {dir}
    packages: list[PackageName] = Field(default_factory=list, max_length=64)  # Debian packages it needs

    @field_validator("command", "setup")
    @classmethod
    def _program_not_assignment(cls, value):
        # `env` would take a program named NAME=VALUE for one more variable
        for argv in (value if value and isinstance(value[0], list) else [value]):
            if argv and ("=" in argv[0] or not argv[0]):
                raise ValueError(f"{argv[0]!r}: a program name holds no '=' and is not empty")
        return value


def expand(ctx: NodeContext, word: str) -> str:
    return word.replace(DIR, ctx.dir)


def workdir(ctx: NodeContext) -> str:
    wd = expand(ctx, ctx.spec.workdir or DEFAULT_WORKDIR)
    return wd if wd.startswith("/") else f"{ctx.dir}/{wd}"


def wrap(ctx: NodeContext, argv: list[str]) -> list[str]:
    """The argv that runs `argv` as the node's user, in its workdir, with its env."""
    spec = ctx.spec
    head: list[str] = []
    if spec.user:
        head = ["setpriv", f"--reuid={spec.user}", f"--regid={spec.group or spec.user}",
                "--init-groups", "--reset-env", "--"]
    head += ["env", f"--chdir={workdir(ctx)}", "--",
             *(f"{k}={expand(ctx, v)}" for k, v in spec.env.items())]
    return [*head, *(expand(ctx, w) for w in argv)]


def service_name(spec: Schema) -> str:
    base = PurePosixPath(spec.command[0]).name.lower()
    return base if SERVICE_NAME.fullmatch(base) else "process"


class Process(Kind):
    name = "process"
    schema = Schema

    def needs(self, spec: Schema) -> tuple[tuple[str, ...], tuple[str, ...]]:
        wrappers = ("setpriv", "env") if spec.user else ("env",)
        programs = [spec.command[0], *(argv[0] for argv in spec.setup)]
        # a program named by its directory ({dir}/...) exists only once the lab does
        found = tuple(p for p in programs if DIR not in p)
        return tuple(dict.fromkeys((*wrappers, *found))), ("util-linux", "coreutils", *spec.packages)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        return {**base_files(ctx), **ctx.spec.files}

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        spec = ctx.spec
        cmds = []
        if not (spec.workdir or "").startswith("/"):  # its own directory, under the node's
            owner = ["-o", spec.user, "-g", spec.group or spec.user] if spec.user else []
            cmds.append(["install", "-d", *owner, "-m", "0750", workdir(ctx)])
        return cmds + [wrap(ctx, argv) for argv in spec.setup]

    def services(self, ctx: NodeContext) -> list[Service]:
        return [Service(service_name(ctx.spec), wrap(ctx, ctx.spec.command))]

    def probes(self, ctx: NodeContext):
        addr = probe_address(ctx)
        return [TcpProbe(addr, p) for p in ctx.spec.ports] if addr is not None else []

    def validate(self, ctx: NodeContext) -> None:
        if ctx.spec.ports and not ctx.node.addresses():
            raise PlanError(("nodes", ctx.name, "ports"), "the node has no address to probe its ports on")
        if ctx.spec.group and not ctx.spec.user:
            raise PlanError(("nodes", ctx.name, "group"), "a group is set only together with `user`")
