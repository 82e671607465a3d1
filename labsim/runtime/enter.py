"""How a command enters a node of a lab that is up, per runtime, from names alone.

`labsim exec` replaces itself with this argv. It sits apart from the runtimes so that the
command's fast path (`labsim.commands.entry`, through `runtime.records`) builds it without
importing netlink or the docker SDK: an interpreter, one JSON read and this module are all
`labsim exec` costs. Each runtime's
`exec_argv` returns the same argv from here.
"""

from __future__ import annotations

import sys


def node_ns(lab: str, node: str) -> str:
    """A node's network namespace (netns) or container (docker): `ls-<lab>_<node>`."""
    return f"ls-{lab}_{node}"


def netns_argv(lab: str, node: str, cmd: list[str]) -> list[str]:
    # `ip netns exec` also bind-mounts /etc/netns/<ns>/*: the node's resolv.conf and hosts
    return ["ip", "netns", "exec", node_ns(lab, node), *cmd]


def docker_argv(lab: str, node: str, cmd: list[str]) -> list[str]:
    """`docker exec -i [-t]` (a TTY when on a terminal): the exit code passes through."""
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    return ["docker", "exec", "-i", *(["-t"] if tty else []), node_ns(lab, node), *cmd]
