"""The `labsim` command: fast paths (`exec` here; help, `status`, `--version`: the table in
labsim.commands.table), everything else to the full CLI.

`labsim exec` is typed in loops and scripts, so it should cost about what `ip netns exec`
does. The full CLI (typer, rich, the runtime registry) takes ~0.1 s to import before it
does anything; this path reads the lab's state file and replaces itself with the runtime's
argv (`labsim.runtime.enter`), importing nothing else. It takes only the plain forms
(`exec [--lab L | -l L | --lab=L] NODE [--] CMD...`) of a lab and node that exist; anything
else (`--help`, another option, no such lab or node, several labs up and no --lab) goes to
the full CLI, which parses it the same way and owns every message and exit code.
"""

from __future__ import annotations

import os
import signal
import sys


def parse_exec(args: list[str]) -> tuple[str | None, str, list[str]] | None:
    """(lab, node, cmd) of `labsim exec ARGS` as the full CLI parses them, or None where
    this parser would have to guess. Options come before the node only (the full CLI stops
    at the first argument: everything after the node is the command)."""
    lab = None
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("--lab", "-l") and i + 1 < len(args):
            lab = args[i + 1]
            i += 2
        elif args[i].startswith("--lab="):
            lab = args[i][len("--lab="):]
            i += 1
        else:
            return None  # --help, --, -lNAME, an unknown option: the full CLI decides
    if i >= len(args):
        return None
    node, cmd = args[i], args[i + 1:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        return None
    return lab, node, cmd


def exec_target(args: list[str]) -> list[str] | None:
    """The argv `labsim exec ARGS` becomes, or None to leave it to the full CLI."""
    parsed = parse_exec(args)
    if parsed is None:
        return None
    lab, node, cmd = parsed
    from labsim.runtime.records import RECORDS
    from labsim.runtime.state import LabState

    try:
        if lab is None:
            labs = LabState.all_labs()
            if len(labs) != 1:
                return None
            lab = labs[0]
        if "/" in lab or lab.startswith("."):
            return None  # not a lab name: the full CLI says so
        state = LabState.load(lab)
    except (OSError, ValueError, TypeError):
        return None  # no such lab, or a state file the full CLI will report on
    enter = RECORDS[state.runtime].enter if state.runtime in RECORDS else None
    if node not in state.nodes or enter is None:
        return None  # a runtime without interactive exec: the full CLI reports so
    return enter(state.lab, node, cmd)


def main() -> None:
    from labsim.commands import sigint

    sigint.install()
    if sys.argv[1:2] == ["exec"]:
        argv = exec_target(sys.argv[2:])
        if argv is not None:
            os.execvp(argv[0], argv)
    else:
        try:
            from labsim.commands.table import answer

            fast = answer(sys.argv[1:])
        except KeyboardInterrupt:  # Ctrl-C while reading: nothing was created
            sys.stderr.write("labsim: interrupted\n")
            raise SystemExit(130) from None
        if fast is not None:
            code, out, err = fast
            sys.stdout.write(out)
            sys.stderr.write(err)
            raise SystemExit(code)
    try:
        from labsim.commands.cli import main as cli_main

        cli_main()  # exits through SystemExit with the command's code
    except KeyboardInterrupt:
        # while the CLI loads or typer builds the command tree, before any command runs:
        # nothing was created (a command's own interrupt is handled in cli.Commands.invoke,
        # which says what it left)
        _interrupted()
    except Exception:
        if not sigint.seen():
            raise
        _interrupted()  # an error the interrupt caused (labsim.commands.sigint)
    finally:
        # the command is over (its own interrupt handling has run): a Ctrl-C now would only
        # turn the exit into a traceback from the interpreter's shutdown
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupted() -> None:
    sys.stderr.write("labsim: interrupted\n")
    raise SystemExit(130) from None


if __name__ == "__main__":
    main()
