"""`process`: the user's own command as a node, on both runtimes (netns and docker).

The program runs inside the node like any daemon labsim starts: one service (named after
the program's file name, else `process`), its output in the node's log (`labsim logs`),
recorded in the state file, so scenario `stop`/`start` actions stop and restart it.

Everything is an argv, never a shell. The command is wrapped, in this order, by
  setpriv --reuid=USER --regid=GROUP --init-groups --reset-env --   (only with `user`)
  env --chdir=WORKDIR -- NAME=VALUE ...                              (always)
both of which exec in place, so the PID labsim records is the program's own.
`--reset-env` gives the user's HOME, USER, LOGNAME, SHELL and a default PATH; `env` adds the
node's `env` on top.

Nothing a file names runs as root unless it asks (`user: root`) and the command line
confirms it (`--allow-root-nodes`, else the file is refused at load, file:line). Bring-up
runs the program and its `setup` confined (`Process.confine`, `kinds.common.confined`):
without `user` as nobody/nogroup (HOME, USER, LOGNAME, SHELL of nobody and a default PATH,
then the node's `env`), and on the netns runtime, where nodes share the host's file system,
in a mount namespace of its own where the host is read-only, /tmp, /var/tmp, /run and
/dev/shm are private and empty, and only the node's own directory is writable
(labsim.node.privdrop). With `user: root` it runs as root on the host as before.

`{dir}` in any command word, setup word, env value or `workdir` stands for the node's own
directory (the same path inside the node on both runtimes). `files` are written there
before setup, byte for byte: a script's `${dir}` or a template's `{dir}` is the file's own
text. A file named in `expand_dir` has `{dir}` in its text replaced too (a config file
naming paths in the node's directory, whose path holds the lab's name). `workdir` defaults to `{dir}/work`;
a relative workdir lies under `{dir}` and
is created before setup (owned by `user`, mode 0750), an absolute one must exist.

`setup` commands run once, in order, before the program starts, wrapped like it (so an
`initdb` runs as the database's user in its directory); the first failure stops bring-up.

Readiness: a bounded TCP probe per `ports` entry, ready when the port accepts on any of the
node's addresses or its loopback ones (`probe_addresses`). Readiness means "the program is
listening", not "it listens where clients need it": labsim does not know the program's bind
address, and probing one family would fail bring-up for a bind to the other (a probe on the
IPv4 address masks a `[::]` IPV6_V6ONLY or IPv6-address bind; one on IPv6 masks a `0.0.0.0`
bind, catalog row 9). The scenario's checks then say which clients reach it.
"""

from __future__ import annotations

import re
from ipaddress import ip_address
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from labsim.kinds.base import IPAddress, Kind, NodeContext, Service, TcpProbe
from labsim.kinds.common import base_files, confined, refuse_root
from labsim.model.plan import PlanError
from labsim.model.topology import NodeBase
from labsim.model.types import ArgWord, Body, DirPath, EnvName, EnvValue, FileName, PackageName, UserName
from labsim.node.privdrop import GROUP, USER

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
    expand_dir: list[FileName] = Field(default_factory=list, max_length=64)  # files whose {dir} is replaced
    packages: list[PackageName] = Field(default_factory=list, max_length=64)  # Debian packages it needs

    @field_validator("expand_dir")
    @classmethod
    def _expands_its_own_files(cls, value, info: ValidationInfo):
        unknown = [n for n in value if n not in (info.data.get("files") or {})]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))}: not among this node's `files`")
        return value

    @field_validator("user")
    @classmethod
    def _root_only_when_confirmed(cls, value: str | None) -> str | None:
        return refuse_root(value)

    @field_validator("group")
    @classmethod
    def _root_group_only_when_confirmed(cls, value: str | None) -> str | None:
        return refuse_root(value, group=True)

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


# a program bound to loopback only still listens (clients elsewhere are refused: a check says so)
LOOPBACK = (ip_address("127.0.0.1"), ip_address("::1"))


def probe_addresses(ctx: NodeContext) -> list[IPAddress]:
    """Every address a bind can cover: the node's own (IPv4 first: 0.0.0.0 and a dual-stack
    :: both accept there), then loopback (for a program bound there, and 127.0.0.1 for
    0.0.0.0 on a node without IPv4). A node without IPv6 on lo refuses ::1 at once."""
    v4 = ctx.node.addresses(4)
    return list(dict.fromkeys([*v4, *(a for a in ctx.node.addresses() if a not in v4), *LOOPBACK]))


def service_name(spec: Schema) -> str:
    base = PurePosixPath(spec.command[0]).name.lower()
    return base if SERVICE_NAME.fullmatch(base) else "process"


class Process(Kind):
    name = "process"
    schema = Schema

    def needs(self, spec: NodeBase) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if not isinstance(spec, Schema):
            raise TypeError(f"a process node's spec, not {type(spec).__name__}")
        wrappers = ("setpriv", "env") if spec.user else ("env",)
        programs = [spec.command[0], *(argv[0] for argv in spec.setup)]
        # a program named by its directory ({dir}/...) exists only once the lab does
        found = tuple(p for p in programs if DIR not in p)
        return tuple(dict.fromkeys((*wrappers, *found))), ("util-linux", "coreutils", *spec.packages)

    def render(self, ctx: NodeContext) -> dict[str, str]:
        files = {n: expand(ctx, t) if n in ctx.spec.expand_dir else t for n, t in ctx.spec.files.items()}
        return {**base_files(ctx), **files}

    def setup(self, ctx: NodeContext) -> list[list[str]]:
        return self._own_setup(ctx) + [wrap(ctx, argv) for argv in ctx.spec.setup]

    def _own_setup(self, ctx: NodeContext) -> list[list[str]]:
        """labsim's own setup (run as root): the workdir, owned by whoever runs the program."""
        spec = ctx.spec
        if (spec.workdir or "").startswith("/"):
            return []
        if spec.user:
            owner = ["-o", spec.user, "-g", spec.group or spec.user]
        elif ctx.confinement:  # confined: nobody runs it (kinds.common.confined)
            owner = ["-o", USER, "-g", GROUP]
        else:
            owner = []
        return [["install", "-d", *owner, "-m", "0750", workdir(ctx)]]

    def confine(self, ctx: NodeContext, argv: list[str]) -> list[str]:
        if argv in self._own_setup(ctx):
            return argv
        return confined(ctx.confinement, ctx.python, argv, ctx.spec.user, ctx.spec.group, node_dir=ctx.dir,
                        drops_itself=bool(ctx.spec.user))

    def services(self, ctx: NodeContext) -> list[Service]:
        return [Service(service_name(ctx.spec), wrap(ctx, ctx.spec.command))]

    def probes(self, ctx: NodeContext):
        first, *also = probe_addresses(ctx)
        return [TcpProbe(first, p, tuple(also)) for p in ctx.spec.ports]

    def validate(self, ctx: NodeContext) -> None:
        if ctx.spec.group and not ctx.spec.user:
            raise PlanError(("nodes", ctx.name, "group"), "a group is set only together with `user`")
