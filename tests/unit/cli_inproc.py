"""Run labsim's CLI in this process (no interpreter start per call: the unit tier stays fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from labsim.commands.cli import app
from tests.helpers import REPO


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def labsim(*args: str, cwd: Path = REPO) -> Result:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        res = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    finally:
        os.chdir(old)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return Result(res.exit_code, res.stdout, res.stderr)
