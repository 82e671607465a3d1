"""`--help` shows what to type: nothing after a flag, an upper-case placeholder otherwise,
never typer's Python type names (`<bool>`, `<list[str]>`)."""

from __future__ import annotations

import re

import pytest

from tests.unit.cli_inproc import labsim as run_labsim

COMMANDS = [["run"], ["review"], ["up"], ["validate"], ["setup"], ["init"], ["merge"], ["scenarios"],
            ["topologies"], ["down"], ["status"], ["exec"], ["bench", "resolvers"], ["image", "build"], []]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a) or "labsim")
def test_help_has_no_python_type_names(argv):
    res = run_labsim(*argv, "--help")
    assert res.returncode == 0, res.stderr
    assert not re.search(r"<(bool|str|int|float|path|list\[[^]]*\])>", res.stdout), res.stdout
    if argv == ["review"]:
        assert re.search(r"--uplink\s+Let the lab", res.stdout)  # a flag: no placeholder
