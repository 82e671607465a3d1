"""`labsim validate`: every file checked as `up` and `run` would check it, nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from labsim.commands.project import out
from labsim.errors import InputError, InputErrors


def print_nodes(lab: str, nodes: dict) -> None:
    table = Table(title=f"lab {lab}", title_justify="left")
    for col in ("node", "kind", "netns", "addresses", "routes"):
        table.add_column(col)
    for name, n in nodes.items():
        addrs = "\n".join(f"{i['name']} {a}" for i in n["interfaces"] for a in (i["ipv6"], i["ipv4"]) if a)
        routes = "\n".join(f"{r['to']} via {r['via']}" for r in n["routes"])
        table.add_row(name, n["kind"], n["netns"], addrs, routes)
    out.print(table)


def validate(
    files: list[Path] = typer.Argument(..., help="Topology, scenario or comparison files, directories "
                                       "(their *.yml), or built-in topology and scenario names."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (a list for several files)."),
) -> None:
    """Check topology, scenario and comparison files and print the planned addresses and routes
    (no root, creates nothing). It takes what `run` takes: several files, a directory, a
    built-in's name. A scenario is checked with its topology and every step; a comparison file
    (bench resolvers) with every variant. Every file is checked; exit 2 if any is wrong."""
    from labsim.builtin import scenario_path, topology_path
    from labsim.scaleout.shard import expand

    def builtin(f: Path) -> Path:  # a built-in name: the scenario first (it checks its topology too)
        p = scenario_path(f)
        return p if p != Path(f) or p.exists() else topology_path(f)

    paths = expand(files, builtin, "topology or scenario")
    reports, bad = [], []
    for p in paths:
        try:
            reports.append(_validate_one(p, as_json))
        except InputError as exc:
            bad.append(exc)
    if as_json and reports:
        print(json.dumps(reports[0] if len(paths) == 1 else reports, indent=1))
    if bad:
        raise bad[0] if len(bad) == 1 else InputErrors(
            [e for exc in bad for e in getattr(exc, "errors", [exc])], more=sum(getattr(e, "more", 0) for e in bad))


def _validate_one(file: Path, as_json: bool) -> dict:
    from labsim.bringup.attach import check as check_attach
    from labsim.bringup.lab import _summary
    from labsim.inputfiles import read_text
    from labsim.loader import load_lab
    from labsim.measure.compare import load_comparison
    from labsim.model.yamlpos import parse_yaml
    from labsim.scenario.load import load_scenario

    data, _ = parse_yaml(read_text(file), str(file))
    if isinstance(data, dict) and "variants" in data:
        comp, plans = load_comparison(file)
        if not as_json:
            out.print(f"comparison {comp.name}: {len(plans)} variants, valid", highlight=False)
        return {"file": str(file), "comparison": comp.name, "variants": len(plans)}
    scenario = load_scenario(file) if isinstance(data, dict) and "steps" in data else None
    loaded = scenario.lab if scenario else load_lab(file)
    check_attach(loaded)  # attach: what can be known without looking at the host
    nodes = _summary(loaded)
    if not as_json:
        print_nodes(loaded.plan.lab, nodes)
        if scenario:
            out.print(f"scenario {scenario.scenario.name}: {len(scenario.scenario.steps)} steps, valid",
                      highlight=False)
    return {"lab": loaded.plan.lab, "nodes": nodes, "steps": len(scenario.scenario.steps) if scenario else None}
