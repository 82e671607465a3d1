"""The package carries its data: built-in topologies by name, the build step that copies the
top-level data directories into the built package, and `labsim setup`'s package lists."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from labsim import builtin

from labsim.commands import setup_env
from tests.helpers import REPO
from tests.unit.cli_inproc import labsim as run_labsim


def test_builtin_names_resolve_to_the_shipped_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing depends on the current directory
    assert builtin.topology_path("apple-review") == REPO / "topologies" / "apple-review.yml"
    assert builtin.topology_path("resolution.yml") == REPO / "topologies" / "resolution.yml"
    assert builtin.topology_path("no-such-topology").name == "no-such-topology"  # the loader says why
    own = tmp_path / "apple-review"
    own.write_text("name: mine\n")
    assert builtin.topology_path("apple-review").resolve() == own  # an existing path wins over a name


def test_topology_names_work_from_any_directory(tmp_path):
    res = run_labsim("validate", "apple-review", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "nat64" in json.loads(res.stdout)["nodes"]
    res = run_labsim("topologies", "--json", cwd=tmp_path)
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert {"apple-review", "resolution"} <= set(rows)
    assert "nat64" in rows["apple-review"]["kinds"]
    res = run_labsim("validate", "no-such-topology", cwd=tmp_path)
    assert res.returncode == 2 and "cannot read file" in res.stderr


def test_a_scenario_may_name_a_builtin_topology(tmp_path):
    (tmp_path / "s.yml").write_text(
        "name: builtin-topo\ntopology: apple-review\nsteps:\n"
        "  - http: {from: client, url: 'http://api.example.test/'}\n    expect: {status: 200}\n")
    res = run_labsim("validate", str(tmp_path / "s.yml"))
    assert res.returncode == 0, res.stderr


def test_build_step_copies_every_data_directory(tmp_path):
    res = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "-d", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    for name in builtin.DATA_DIRS:
        want = sorted(p.relative_to(REPO / name) for p in (REPO / name).rglob("*") if p.is_file())
        got = sorted(p.relative_to(tmp_path / "labsim" / "_data" / name)
                     for p in (tmp_path / "labsim" / "_data" / name).rglob("*") if p.is_file())
        assert got == want, name
    assert (tmp_path / "labsim" / "schema" / "results.schema.json").is_file()
    # the built package finds its own copy, not the repository's
    probe = ("from labsim import builtin; print(builtin.data_dir('docker')); "
             "print(builtin.topology_path('apple-review'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}).stdout
    assert out.splitlines() == [str(tmp_path / "labsim" / "_data" / "docker"),
                                str(tmp_path / "labsim" / "_data" / "topologies" / "apple-review.yml")]


def test_setup_needs_come_from_the_kinds():
    apple = setup_env.needs(["apple-review"])
    assert {"tayga", "unbound", "pdns-server", "iproute2"} <= set(apple.packages)
    assert "knot-resolver" not in apple.packages  # apple-review's DNS64 is unbound
    assert "tayga" in apple.binaries["tayga"]
    everything = setup_env.needs(None)
    makefile = (REPO / "Makefile").read_text()
    debs = re.search(r"^DEBS\s*:=\s*((?:.*\\\n)*.*)$", makefile, re.M).group(1).replace("\\\n", " ").split()
    # every daemon the Makefile's list has is one some kind (or an extra) declares
    assert set(debs) - set(everything.packages) == set()
    # and what kinds need only with some settings (a fresh CI machine had no dhcpcd for the
    # client's `stack: dhcpcd` after `make setup`): a client's clat and dhcpcd, a router's ra
    assert {"dhcpcd-base", "tayga", "radvd"} <= set(everything.packages)


def test_setup_dry_run_and_bad_topology(tmp_path):
    res = run_labsim("setup", "--dry-run", "apple-review", "--package", "labsim-no-such-package")
    assert res.returncode == 0 and res.stdout.split() == ["labsim-no-such-package"]
    res = run_labsim("setup", "--dry-run", str(tmp_path / "missing.yml"))
    assert res.returncode == 2


def test_setup_dry_run_with_nothing_missing_prints_no_blank_line(monkeypatch):
    """stdout is the missing packages alone (for scripts); with none, it stays empty and
    stderr says all are installed."""
    from labsim.commands import setup_env

    monkeypatch.setattr(setup_env, "missing_packages", lambda pkgs: [])
    res = run_labsim("setup", "--dry-run", "apple-review")
    assert res.returncode == 0 and res.stdout == "" and "are installed" in res.stderr


def test_the_doctor_table_names_its_runtime_and_shows_tool_output_as_text():
    import io

    from rich.console import Console

    from labsim.commands.setup_env import Check, render_checks

    con = Console(file=io.StringIO(), width=200, color_system=None)
    code = render_checks([Check("docker", False, "probe said [/] and [bold]x[/bold]", "start Docker")],
                         con, "docker")
    text = con.file.getvalue()
    assert code == 1 and "labsim setup --check --runtime docker" in text and "[/] and [bold]x[/bold]" in text


@pytest.mark.parametrize("text,ok", [("veth\tok\tcreated\nbridge\tfail\tOperation not supported\n", True)])
def test_kernel_probe_output_is_read_strictly(text, ok):
    from labsim.node.kernel_probe import PROBES, parse

    res = parse(text)
    assert res["veth"] == (True, "created") and res["bridge"][0] is False
    # a probe that printed nothing is a failure, never a pass
    assert all(res[n][0] is False for n in PROBES if n not in ("veth",))
