"""labsim's commands for getting it where its users are: the built-in topologies, `setup`
(install and check what labs need), `merge` (one report from many shards) and `init` (a
starter project). Registered on the app by cli.py, which turns LabsimError into exit codes.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from labsim.commands.options import runtime_option
from labsim.errors import InputError, LabsimError
from labsim.outputs import write_text

# emoji off: ":a:" inside an IPv6 address (2001:db8::a:2) must not print as an emoji
out = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 150)), emoji=False)
err = Console(stderr=True, emoji=False)


def guarded(command: Callable, fail: Callable[[LabsimError], None]) -> Callable:
    """`command` with its LabsimError handed to `fail` (the CLI's one way to exit on errors)."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LabsimError as exc:
            fail(exc)

    return run


def merge(
    reports: list[Path] = typer.Argument(..., help="Reports of `labsim run` shards: *.json and *.xml (JUnit)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the merged JSON report."),
    junit_out: Path | None = typer.Option(None, "--junit", help="Write the merged JUnit XML."),
) -> None:
    """Merge the JSON and JUnit reports of many shards into one of each (the same shape as one
    run's). Exit 0 when every scenario passed, 1 when one failed, 2 on a bad file."""
    from labsim.scaleout import merge as merging

    jsons = [p for p in reports if p.suffix == ".json"]
    xmls = [p for p in reports if p.suffix == ".xml"]
    if len(jsons) + len(xmls) != len(reports) or not reports:
        raise InputError("give run reports as *.json and JUnit as *.xml files")
    if junit_out and not xmls:
        raise InputError("--junit: no JUnit input to merge (give the shards' *.xml reports)")
    if json_out and not jsons:
        raise InputError("--json: no JSON input to merge (give the shards' *.json reports)")
    merged = merging.merge_json(jsons) if jsons else None
    junit = merging.merge_junit(xmls) if xmls else None
    if json_out and merged is not None:
        write_text(json_out, json.dumps(merged, indent=1))
    if junit_out and junit is not None:
        write_text(junit_out, junit)
    failed = 0
    if merged is not None:
        rows = merging.results_of(merged) or []
        failed = sum(not r.get("passed") for r in rows)
        out.print(f"{len(jsons)} JSON reports: {len(rows) - failed} passed, {failed} failed")
    if junit is not None:
        c = merging.junit_counts(junit)
        failed = failed or c["failures"] + c["errors"]
        out.print(f"{len(xmls)} JUnit reports: {c['tests']} tests, {c['failures']} failures, {c['errors']} errors")
    raise typer.Exit(1 if failed else 0)


def topologies(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the built-in topologies: a name works wherever a topology file is taken
    (labsim up apple-review, labsim review --topology resolution)."""
    from labsim.commands.setup_env import builtin_topologies

    rows = builtin_topologies()
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="built-in topologies", title_justify="left")
    for col in ("name", "nodes", "kinds", "description", "file"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], str(r["nodes"]), ", ".join(r["kinds"]), r["description"], r["file"])
    out.print(table)


def scenarios(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the built-in scenarios: a name works wherever a scenario file is taken (labsim run
    apple-review-nat64, labsim validate ipv6-mostly), and `scenarios/` stands for all of them
    where no such directory is here."""
    from labsim import builtin
    from labsim.model.yamlpos import parse_yaml

    rows = []
    for name, path in builtin.scenarios().items():
        try:
            data, _ = parse_yaml(path.read_text(), str(path))
        except Exception:  # noqa: BLE001 - a broken shipped file still gets its row
            data = {}
        data = data if isinstance(data, dict) else {}
        rows.append({"name": name, "catalog": data.get("catalog"), "steps": len(data.get("steps") or []),
                     "description": str(data.get("description", "")), "file": str(path)})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="built-in scenarios", title_justify="left")
    for col in ("name", "catalog row", "steps", "description", "file"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["name"]), str(r["catalog"] or ""), str(r["steps"]), str(r["description"]), str(r["file"]))
    out.print(table)


def docs(name: str | None = typer.Argument(None, help="A page's name (e.g. platforms); none: list them.")) -> None:
    """Print one of labsim's documentation pages as installed with it (docs/ ships in the
    package), or list them with where they are."""
    from labsim import builtin

    pages = {p.stem: p for p in sorted(builtin.data_dir("docs").glob("*.md"))}
    if name is None:
        for stem, path in pages.items():
            print(f"{stem:14} {path}")
        return
    if name.removesuffix(".md") not in pages:
        raise InputError(f"no documentation page {name!r}; pages: {', '.join(pages)}", field="NAME")
    print(pages[name.removesuffix(".md")].read_text(), end="")


def setup(
    topology: list[str] | None = typer.Argument(None, help="Topologies (files or built-in names) to "
                                                   "prepare for (default: every kind, --uplink, bench)."),
    check: bool = typer.Option(False, "--check", help="Change nothing: check root, kernel features "
                               "(in a throwaway namespace), binaries, packages, Docker and the image."),
    runtime: str = runtime_option("With docker the daemons are in the image, so Docker and the image are "
                                  "checked instead of the host's packages."),
    package: list[str] | None = typer.Option(None, "--package", help="Also install this Debian package."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the packages that would be installed."),
) -> None:
    """Install the Debian packages labs need (only the missing ones; no daemon is started or
    left enabled on the host), or check the machine with --check (exit 0 when all is there)."""
    from labsim.commands import setup_env

    if check:
        checks = setup_env.doctor(topology or None, runtime)
        raise typer.Exit(setup_env.render_checks(checks, out, runtime))
    pkgs = setup_env.needs(topology or None, tuple(package or ())).packages
    if dry_run:
        missing = setup_env.missing_packages(pkgs)
        if missing:  # stdout: the package names alone, for scripts
            print(" ".join(missing))
        else:
            err.print(f"labsim: all {len(pkgs)} packages needed are installed")
        return
    done = setup_env.install(pkgs, say=lambda m: err.print(f"labsim: {m}"))
    err.print(f"labsim: {len(pkgs)} packages needed, installed {len(done)}")



def init(
    directory: Path = typer.Argument(Path("."), help="Where to write the project (created if missing)."),
    api: list[str] = typer.Option(..., "--api", help="Your API's URL (repeatable), e.g. https://api.example.com/v1/."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist (without it they are kept)."),
    install_from: str | None = typer.Option(None, "--install-from", metavar="SPEC",
                                            help="What the workflow pip installs: a labsim wheel URL, a "
                                                 "git+https URL or a requirement (default: the repository "
                                                 "variable LABSIM_PACKAGE, which you set)."),
) -> None:
    """Write a starter project: topologies with your API's names in the lab's DNS (the two
    networks app review uses), scenarios that fetch your URLs on each, and a GitHub Actions
    workflow that runs them and uploads JUnit. Nothing touches your real API."""
    from labsim.commands.init_project import write_project

    written, kept = write_project(directory, api, force, install_from)
    for p in written:
        print(f"wrote {p}")
    for p in kept:
        print(f"kept {p} (it exists; --force overwrites)")
    if install_from is None:
        print("the workflow installs labsim from the repository variable LABSIM_PACKAGE: set it to a "
              "labsim wheel URL or git+https URL (or run init again with --install-from SPEC --force)")
    # plain print: a terminal-width wrap in the middle of a command breaks a paste
    print(f"next: labsim validate {directory / 'scenarios' / 'dns64-nat64.yml'}")
    print(f'      sudo "$(command -v labsim)" run {directory / "scenarios"}')


COMMANDS = (topologies, scenarios, docs, setup, merge, init)
