"""`labsim down [NAME]` without the full CLI: the plain forms only, for a lab whose state file
exists. Typer, rich and the command table cost ~0.08 s before the teardown itself (~0.05 s
for apple-review on netns) starts; a `down` is typed after every `up`.

The teardown is `labsim.bringup.teardown.down`, as in the full CLI; what is printed is the
full CLI's own text: `lab NAME: removed N objects` (printed there without highlighting, so
the bytes are the same on a terminal), `labsim: error: ...` in rich's bold red when stderr is
a terminal (rich is imported for that only), `labsim: interrupted; ...` with exit 130 on
Ctrl-C, SIGTERM or SIGHUP. Anything else (`--all`, `--help`, an unknown option, a name with
no state file, no lab or several labs up and no name) goes to the full CLI, which owns every
other message.
"""

from __future__ import annotations

import sys

from labsim.commands.sigint import interrupt_on_term, interrupted_message


def target(args: list[str]) -> str | None:
    """The lab `labsim down ARGS` removes, or None to leave the command to the full CLI."""
    from labsim.runtime.state import LabState, valid_lab

    if len(args) > 1 or any(a.startswith("-") for a in args):
        return None
    try:
        labs = LabState.all_labs()
    except OSError:
        return None
    if not args:
        return labs[0] if len(labs) == 1 else None
    return args[0] if valid_lab(args[0]) and args[0] in labs else None


def down(lab: str) -> tuple[int, str, str]:
    """Remove `lab` as the full CLI's `down` does: (exit code, stdout, stderr)."""
    from labsim.bringup import teardown
    from labsim.errors import LabsimError

    interrupt_on_term()  # as the full CLI: teardown's cleanup runs on every exit path
    try:
        removed = teardown.down(lab)
    except KeyboardInterrupt:
        return 130, "", f"labsim: {interrupted_message()}\n"
    except LabsimError as exc:
        return exc.exit_code, "", _error(str(exc))
    return 0, "", f"lab {lab}: removed {len(removed)} objects\n"


def _error(message: str) -> str:
    if not sys.stderr.isatty():
        return f"labsim: error: {message}\n"
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, emoji=False)
    with console.capture() as cap:
        console.print(f"[bold red]labsim: error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return cap.get()
