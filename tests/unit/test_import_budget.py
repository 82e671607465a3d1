"""What commands import, read from `python -X importtime` of whole processes: the full CLI
parses parameters without pydantic (labsim.commands.options.fast_coercion), `up`'s path to
its first netlink request imports no docker, scapy or matplotlib and only the kinds its
topology uses (labsim.kinds.registry)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"pydantic", "docker", "scapy", "matplotlib", "trustme", "cryptography"}


def imported(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Every module the process imported (top-level package names and full names)."""
    res = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd="/",
                         env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=120)
    names = set()
    for line in res.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", line)
        if m:
            names.add(m.group(1))
            names.add(m.group(1).split(".")[0])
    assert names, res.stderr[-2000:]
    return names


@pytest.mark.parametrize("argv", [["up", "--help"], ["run", "--help"], ["status", "w3p-no-such-lab"],
                                  ["logs", "--lab", "w3p-no-such-lab", "c1"], ["--version"]])
def test_full_cli_parses_without_pydantic(argv):
    # LABSIM_NO_FAST: the full CLI (typer), not the stored help texts or the status reader
    mods = imported(["-m", "labsim.commands.entry", *argv], {"LABSIM_NO_FAST": "1", "COLUMNS": "80"})
    assert "labsim.commands.cli" in mods
    assert not mods & HEAVY, sorted(mods & HEAVY)


def test_up_path_imports_only_what_the_lab_needs():
    code = ("from pathlib import Path; import labsim.commands.cli, labsim.loader, labsim.scenario.session, "
            "labsim.bringup.lab; "
            "labsim.loader.load_lab(Path('apple-review'), 'w3p-budget')")
    mods = imported(["-c", code])
    # dnspython too: the readiness probe builds its DNS query by hand (labsim.bringup.dnswire)
    heavy = {"docker", "scapy", "matplotlib", "dns"}
    assert not mods & heavy, sorted(mods & heavy)
    unused = {f"labsim.kinds.{k}" for k in ("cdn", "container", "cloudapi", "dhcp4", "process", "router")}
    assert not mods & unused, sorted(mods & unused)
