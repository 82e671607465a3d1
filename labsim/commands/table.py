"""The console script's command table: which command lines are answered without the full
CLI (typer, rich, pydantic: ~0.15-0.25 s before anything is printed), and by what.

  labsim --version                    labsim.__version__
  labsim, labsim [GROUP] [CMD] --help the full CLI's help screen, pre-rendered (helptext.py),
                                      where typer would render exactly that one: off a
                                      terminal, at 80 columns, no colour forced, UTF-8
  labsim status [NAME] [--json]       faststatus (the same report from the same state files)
  labsim down [NAME]                  fastdown (the same teardown; a lab with a state file)
  labsim exec ...                     entry.exec_target (replaces the process)

Anything else, or any of these where the answer would differ from the full CLI's in any byte,
goes to the full CLI (labsim.commands.cli), which stays the one definition of every command.
No typer, rich or pydantic on these paths (rich only to colour an error on a terminal).
LABSIM_NO_FAST=1 sends everything to the full CLI.
"""

from __future__ import annotations

import os
import sys

from labsim.commands.terminal import RENDER_ENV, utf8


def help_width() -> int | None:
    """The width typer's console renders help at, as rich computes it (a terminal's size on
    stdin, stdout or stderr, COLUMNS if all digits, else 80); None where the text would not be
    the stored one whatever the width (stdout a terminal: colours; forced colour; not UTF-8)."""
    if sys.stdout.isatty() or any(v in os.environ for v in RENDER_ENV) or not utf8(sys.stdout):
        return None
    width = None
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
            break
        except (AttributeError, ValueError, OSError):
            pass
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def answer(args: list[str]) -> tuple[int, str, str] | None:
    """(exit code, stdout, stderr) of `labsim ARGS` exactly as the full CLI would end, or None
    to run the full CLI."""
    if os.environ.get("LABSIM_NO_FAST"):
        return None
    if args == ["--version"]:
        from labsim import __version__

        return 0, __version__ + "\n", ""
    if not args or args[-1] == "--help" or len(args) == 1:
        from labsim.commands.helptext import HELP, WIDTH

        stored = HELP.get(tuple(args))
        if stored is None or help_width() != WIDTH or (stored[2] and (sys.stderr.isatty() or not utf8(sys.stderr))):
            return None if stored is not None else _command(args)
        return stored
    return _command(args)


def _command(args: list[str]) -> tuple[int, str, str] | None:
    if args[:1] == ["status"]:
        return _status(args[1:])
    if args[:1] == ["down"]:
        from labsim.commands import fastdown

        lab = fastdown.target(args[1:])
        return None if lab is None else fastdown.down(lab)
    return None


def _status(args: list[str]) -> tuple[int, str, str] | None:
    from labsim.commands.faststatus import render

    text = render(args)
    return None if text is None else (0, text, "")
