"""labsim's command line. The only place errors become exit codes:
0 ok, 1 an expectation failed, 2 bad input, 3 environment or runtime problem."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .errors import InputError, InputErrors, LabNotFoundError, LabsimError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
    help="""Network labs for IPv6-only readiness: real DNS64 (unbound), NAT64 (tayga),
authoritative DNS (PowerDNS) and backends in Linux network namespaces.

[bold]Typical session[/bold]

  labsim up topologies/apple-review.yml --name t1
  labsim exec --lab t1 client -- curl -s http://api.example.test/
  labsim exec --lab t1 client -- getent ahosts api.example.test
  labsim logs --lab t1 dns64
  labsim down t1

Exit codes: 0 ok, 2 bad input (file:line: field: message, nothing created),
3 environment or runtime problem (not root, daemon missing, not ready in time).""")
# reports are wide tables: when not on a terminal (CI logs, pipes), don't squeeze to 80
out = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 150)))
err = Console(stderr=True)


def _fail(exc: LabsimError) -> None:
    # the message quotes user input ('[/]' is valid YAML): never read it as markup
    err.print(f"[bold red]labsim: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _interrupt_on_term() -> None:
    # SIGTERM/SIGHUP become KeyboardInterrupt so bring-up's cleanup runs on every exit path
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _pick_lab(lab: str | None) -> str:
    from .runtime.state import LabState

    if lab:
        return lab
    labs = LabState.all_labs()
    if len(labs) == 1:
        return labs[0]
    raise LabNotFoundError("more than one lab is up; say which with --lab: " + ", ".join(labs)
                           if labs else "no lab is up (labsim up FILE)")


@app.command()
def up(
    file: Path = typer.Argument(..., help="Topology file (YAML) or a built-in's name (labsim topologies)."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Lab name (default: the file's `name`). "
                                       "Two labs from one file need two names."),
    runtime: str = typer.Option("netns", "--runtime", help="Where nodes run: netns (network namespaces) "
                                "or docker (a container per node from labsim/node; `labsim image build`)."),
    timeout: float = typer.Option(15.0, help="Seconds to wait for every daemon to answer its probe."),
    as_json: bool = typer.Option(False, "--json", help="Print the lab's nodes as JSON."),
    keep_on_failure: bool = typer.Option(False, "--keep-on-failure", help="If a daemon does not come up, "
                                         "leave the lab as it is to look inside (labsim logs, labsim exec); "
                                         "remove it with labsim down."),
) -> None:
    """Bring a lab up; returns when every node's daemon answers, then prints nodes and addresses.

    If anything fails (or you press Ctrl-C) everything created so far is removed."""
    from . import lab as labmod
    from .loader import load_lab

    _interrupt_on_term()
    try:
        loaded = load_lab(file, name)
        with err.status("bringing up", spinner="dots") as status:
            result = labmod.up(loaded, runtime, progress=lambda m: status.update(m), ready_timeout=timeout,
                               keep_on_failure=keep_on_failure)
    except LabsimError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("labsim: interrupted; the lab was removed")
        raise typer.Exit(130)
    st = result.state
    if as_json:
        print(json.dumps({"lab": st.lab, "nodes": st.nodes, "timings": result.timings}, indent=1))
        return
    _print_nodes(st.lab, st.nodes)
    err.print(f"lab [bold]{st.lab}[/] ready in {result.timings['total']:.2f}s "
              f"(lab CA: {st.extra.get('ca')}). Next: labsim exec --lab {st.lab} NODE -- CMD")


def _print_nodes(lab: str, nodes: dict) -> None:
    table = Table(title=f"lab {lab}", title_justify="left")
    for col in ("node", "kind", "netns", "addresses", "routes"):
        table.add_column(col)
    for name, n in nodes.items():
        addrs = "\n".join(f"{i['name']} {a}" for i in n["interfaces"] for a in (i["ipv6"], i["ipv4"]) if a)
        routes = "\n".join(f"{r['to']} via {r['via']}" for r in n["routes"])
        table.add_row(name, n["kind"], n["netns"], addrs, routes)
    out.print(table)


@app.command()
def status(
    name: Optional[str] = typer.Argument(None, help="One lab (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List labs, their state, nodes and addresses, which daemons are running, and what
    self-configuring clients learnt (SLAAC address, resolvers, NAT64 prefix, CLAT, DHCPv4)."""
    from .runtime.state import LabState, alive

    labs = [name] if name else LabState.all_labs()
    report = []
    try:
        for lab in labs:
            try:
                st = LabState.load(lab)
            except FileNotFoundError:
                raise LabNotFoundError(f"no lab named {lab!r}") from None
            procs = [{**p, "running": alive(p["pid"], p.get("start"))} for p in st.processes]
            from .hostconf import learnt_of

            report.append({"lab": st.lab, "status": st.status, "runtime": st.runtime,
                           "topology": st.topology, "ca": st.extra.get("ca"), "nodes": st.nodes,
                           "processes": procs,
                           # what self-configuring clients learnt (SLAAC, RDNSS, PREF64, CLAT, DHCPv4)
                           "learnt": learnt_of(str(st.dir), st.nodes or {})})
    except LabsimError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(report, indent=1))
        return
    if not report:
        out.print("no labs")
    for r in report:
        dead = [f"{p['node']}/{p['service']}" for p in r["processes"] if not p["running"]]
        out.print(f"[bold]{r['lab']}[/] {r['status']} ({r['runtime']}, {r['topology']})"
                  + (f" [red]stopped: {', '.join(dead)}[/]" if dead else ""))
        if r["nodes"]:
            _print_nodes(r["lab"], r["nodes"])
        from .hostconf import summary

        for node, learnt in r["learnt"].items():
            out.print(f"  {node} learnt: {summary(learnt)}", markup=False)


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def exec(  # noqa: A001 - the command is called exec
    node: str = typer.Argument(..., help="Node to run in."),
    cmd: List[str] = typer.Argument(..., help="Command and its arguments (after --)."),
    lab: Optional[str] = typer.Option(None, "--lab", "-l", help="Lab name (default: the only lab up)."),
) -> None:
    """Run a command inside a node, with the node's own resolv.conf and hosts; its exit code
    passes through. Example: labsim exec --lab t1 client -- curl -s http://api.example.test/"""
    from .runtime.netns import node_ns
    from .runtime.state import LabState

    try:
        lab = _pick_lab(lab)
        try:
            st = LabState.load(lab)
        except FileNotFoundError:
            raise LabNotFoundError(f"no lab named {lab!r}") from None
        if node not in st.nodes:
            raise LabNotFoundError(f"lab {lab!r} has no node {node!r}; nodes: {', '.join(st.nodes)}")
    except LabsimError as exc:
        _fail(exc)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if st.runtime == "docker":
        from .runtime.docker import exec_argv

        argv = exec_argv(lab, node, cmd)  # docker exec -i [-t]: exit code passes through
        os.execvp(argv[0], argv)
    os.execvp("ip", ["ip", "netns", "exec", node_ns(lab, node), *cmd])


@app.command()
def logs(
    node: str = typer.Argument(..., help="Node whose daemons' logs to print."),
    lab: Optional[str] = typer.Option(None, "--lab", "-l", help="Lab name (default: the only lab up)."),
    lines: int = typer.Option(50, "--lines", "-n", help="Last N lines of each log (0: all)."),
) -> None:
    """Print the logs of the daemons running in a node."""
    from .runtime.state import LabState

    try:
        lab = _pick_lab(lab)
        st = LabState.load(lab)
        procs = [p for p in st.processes if p["node"] == node]
        if node not in st.nodes:
            raise LabNotFoundError(f"lab {lab!r} has no node {node!r}; nodes: {', '.join(st.nodes)}")
    except FileNotFoundError:
        _fail(LabNotFoundError(f"no lab named {lab!r}"))
    except LabsimError as exc:
        _fail(exc)
    if not procs:
        err.print(f"node {node!r} runs no daemon")
    for p in procs:
        out.print(f"[bold]== {node}/{p['service']}[/] ({p['log']})", highlight=False)
        text = Path(p["log"]).read_text(errors="replace") if Path(p["log"]).exists() else ""
        body = text.splitlines()[-lines:] if lines else text.splitlines()
        print("\n".join(body))


@app.command()
def down(
    name: Optional[str] = typer.Argument(None, help="Lab to remove (default: the only lab up)."),
    all_labs: bool = typer.Option(False, "--all", help="Remove every lab."),
) -> None:
    """Remove a lab: its processes, namespaces, interfaces, mounts and files."""
    from . import lab as labmod
    from .runtime.state import LabState

    try:
        names = LabState.all_labs() if all_labs else [_pick_lab(name)]
        for lab in names:
            removed = labmod.down(lab)
            err.print(f"lab {lab}: removed {len(removed)} objects")
    except LabsimError as exc:
        _fail(exc)


@app.command()
def gc() -> None:
    """Remove what killed processes left: labs whose `labsim up` died before they were up,
    labs of a killed `run`, `review` or `bench`, and namespaces, containers or files named
    for labsim with no state. Labs you brought up with `labsim up` stay until `down`."""
    from . import lab as labmod

    try:
        removed = labmod.gc()
    except LabsimError as exc:
        _fail(exc)
    if not removed:
        err.print("nothing to collect")
    for lab, items in removed.items():
        err.print(f"lab {lab}: removed {len(items)} objects: {', '.join(items)}")


@app.command()
def run(
    files: List[Path] = typer.Argument(..., help="Scenario files (YAML), e.g. scenarios/*.yml."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every result (raw facts, timings) as JSON."),
    junit_out: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML (a testcase per step)."),
    keep: bool = typer.Option(False, "--keep", help="Leave each lab up after its steps (labsim down NAME later)."),
    runtime: str = typer.Option("netns", "--runtime", help="Where nodes run: netns or docker."),
    capture: str = typer.Option("failed", "--capture",
                                help="Packet capture per check step (tcpdump in the check's node and the NAT64): "
                                     "failed (keep failing steps' pcaps), all, none."),
    capture_dir: Path = typer.Option(Path("labsim-captures"), "--capture-dir",
                                     help="Where pcaps are kept: DIR/<lab>/<step>-<node>.pcap."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, help="Run N scenarios at once, each in its own lab."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N: run only the K-th of N slices of the "
                                        "files (deterministic; every file in exactly one slice)."),
    durations: Optional[Path] = typer.Option(None, "--durations", help="A previous run's --json: balance "
                                             "the --shard slices by the scenarios' durations."),
) -> None:
    """Run scenarios: bring each lab up, run its checks and actions, tear it down.

    A directory stands for its *.yml files. Exit 0 when every expectation holds, 1 when one
    fails, 2 on a bad file (every file is checked before any lab is made), 3 when a lab
    cannot be built."""
    from .report import console as console_report
    from .report.junit import to_xml
    from .scaleout import shard as sharding
    from .scaleout.parallel import run_parallel
    from .scenario.load import load_scenario
    from .scenario.runner import run_scenario

    _interrupt_on_term()
    if capture not in ("failed", "all", "none"):
        _fail(InputError(f"--capture {capture!r}: use failed, all or none"))
    try:
        files = sharding.expand(files)
        if shard:
            k, n = sharding.parse_shard(shard)
            files = sharding.select(files, k, n, sharding.load_durations(durations) if durations else None)
    except LabsimError as exc:
        _fail(exc)
    loaded, bad = [], []
    for f in files:  # every file's errors, before any lab is made
        try:
            loaded.append(load_scenario(f))
        except InputError as exc:
            bad.append(exc)
        except LabsimError as exc:
            _fail(exc)
    if bad:
        _fail(bad[0] if len(bad) == 1 else InputErrors(
            [e for exc in bad for e in getattr(exc, "errors", [exc])], more=sum(getattr(e, "more", 0) for e in bad)))
    results = []
    try:
        with err.status("running", spinner="dots") as status:
            if jobs > 1:
                results = run_parallel(loaded, jobs, runtime, keep, progress=lambda m: status.update(m),
                                       capture=capture, capture_dir=capture_dir)
            for ls in loaded if jobs == 1 else ():
                results.append(run_scenario(ls, progress=lambda m: status.update(m), keep=keep, runtime=runtime,
                                            capture=capture, capture_dir=capture_dir))
    except LabsimError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("labsim: interrupted; labs were removed")
        raise typer.Exit(130)
    console_report.render(results, out)
    if json_out:
        json_out.write_text(json.dumps([r.to_dict() for r in results], indent=1, default=str))
    if junit_out:
        junit_out.write_text(to_xml(results))
    passed = sum(r.passed for r in results)
    out.print(f"{passed} passed, {len(results) - passed} failed")
    raise typer.Exit(0 if passed == len(results) else 1)


@app.command()
def review(
    urls: Optional[List[str]] = typer.Argument(None, help="Endpoints to review: http(s)://, ws(s):// or "
                                               "tcp://HOST:PORT."),
    urls_file: Optional[Path] = typer.Option(None, "--urls", help="A file of URLs, one a line "
                                             "(optionally 'METHOD URL'; # comments)."),
    har: Optional[Path] = typer.Option(None, "--har", help="A HAR capture of the app: every request's URL "
                                       "(POST/PUT/... replayed as OPTIONS)."),
    topology: Path = typer.Option(Path("apple-review"), "--topology",
                                  help="The lab the endpoints live in (a file or a built-in's name: "
                                       "labsim topologies); with no URLs given, every name "
                                       "its backends, proxies and CDN edges publish is reviewed."),
    client: Optional[str] = typer.Option(None, "--client", help="Node to run from (default: the first "
                                         "IPv6-only client)."),
    network: Optional[List[str]] = typer.Option(None, "--network", help="Only these networks: "
                                                "dns64-nat64, ipv6-only (default: both)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write verdicts and raw facts as JSON."),
    timeout: float = typer.Option(5.0, help="Seconds per request."),
    uplink: bool = typer.Option(False, "--uplink", help="Let the lab reach the outside (your real API) "
                                "through user-mode networking (slirp4netns) from its NAT64 node; the "
                                "host's routes, NAT and sysctls stay untouched. The host's loopback is "
                                "10.0.2.2 from inside."),
    resolve: Optional[List[str]] = typer.Option(None, "--resolve", help="NAME=ADDRESS served by the lab's "
                                                "DNS (repeatable), e.g. api.local.test=10.0.2.2 for a server "
                                                "on this host's loopback."),
    capture: str = typer.Option("failed", "--capture",
                                help="Packet capture per network (client and NAT64 nodes): failed (keep it when "
                                     "a verdict FAILs), all, none."),
    capture_dir: Path = typer.Option(Path("labsim-captures"), "--capture-dir",
                                     help="Where pcaps are kept: DIR/<lab>/<network>-<node>.pcap."),
    platform: Optional[List[str]] = typer.Option(None, "--platform", help="Client platforms (repeatable): "
                                                 "linux, ios, android, macos (default: all). See docs/platforms.md."),
    follow: int = typer.Option(2, "--follow", min=0, max=5, help="Also review what answers point at "
                               "(redirects, URLs and host names in bodies), this many hops deep; 0: off."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    junit_out: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML: one testcase per "
                                             "endpoint x network x platform."),
) -> None:
    """Replay endpoints on the two networks app review uses and give a verdict for each.

    [bold]dns64-nat64[/]: IPv6-only client, DNS64 resolver, NAT64.
    [bold]ipv6-only[/]: the same network with no translation at all.

    Verdicts: PASS, WARN (works, with something IPv6-only users trip on), FAIL, each with a
    reason code (NO_AAAA, IPV4_LITERAL, TLS_NAME_MISMATCH, ...) and what to do about it.
    Verdicts are per platform (linux, ios, android, macos), side by side only where they differ.
    Endpoints: http(s)://, ws(s)://, tcp://HOST:PORT; --follow reviews what answers point at.
    Exit 0 when nothing FAILs, 1 when something does, 2 on bad input."""
    from .builtin import topology_path
    from .inputfiles import read_text
    from .loader import load_lab_text
    from .report.review import render
    from .review.platforms import parse_platforms
    from .scenario.review import NETWORKS, lab_endpoints, run_review
    from .scenario.review_inputs import endpoints_from, parse_resolve

    _interrupt_on_term()
    nets = tuple(network) if network else NETWORKS
    try:
        bad = [n for n in nets if n not in NETWORKS]
        if bad:
            raise InputError(f"--network {bad[0]!r}: choose from {', '.join(NETWORKS)}")
        names = parse_resolve(resolve or [])
        topology = topology_path(topology)  # a file, or a built-in's name
        platforms = parse_platforms(platform)
        loaded = load_lab_text(read_text(topology, what="topology"), None, str(topology))
        endpoints = endpoints_from(urls or [], urls_file, har) or lab_endpoints(loaded)
        if not endpoints:
            raise InputError("no endpoints: give URLs, --urls FILE or --har FILE")
        if capture not in ("failed", "all", "none"):
            raise InputError(f"--capture {capture!r}: use failed, all or none")
        with err.status("reviewing", spinner="dots") as status:
            reviews = run_review(loaded, endpoints, client, nets, timeout, progress=lambda m: status.update(m),
                                 uplink=uplink, resolve=names, capture=capture, capture_dir=capture_dir,
                                 platforms=platforms, follow=follow)
    except LabsimError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("labsim: interrupted; labs were removed")
        raise typer.Exit(130)
    render(reviews, nets, out)
    if json_out:
        json_out.write_text(json.dumps([r.to_dict() for r in reviews], indent=1, default=str))
    if html_out or junit_out:
        from .report.review_html import to_html
        from .report.review_junit import to_junit

        if html_out:
            html_out.write_text(to_html(reviews, nets, platforms))
        if junit_out:
            junit_out.write_text(to_junit(reviews, nets))
    failed = sum(v.verdict == "FAIL" for r in reviews for v in r.cells())
    raise typer.Exit(1 if failed else 0)


bench_app = typer.Typer(no_args_is_help=True, help="Measurements that compare configurations.")
app.add_typer(bench_app, name="bench")

from .image import image_app  # noqa: E402 - imports typer only; docker is imported when used

app.add_typer(image_app, name="image")


@bench_app.command("resolvers")
def bench_resolvers(
    file: Path = typer.Argument(..., help="Comparison file, e.g. compare/ipv6-only-client.yml."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Every variant's statistics and samples."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="A self-contained HTML report with the plot."),
    png_out: Optional[Path] = typer.Option(None, "--png", help="The latency CDF plot alone."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="The variant ratios are over (default: the first)."),
    rounds: int = typer.Option(10, "--rounds", help="Interleaved rounds: each takes a slice of every variant."),
    seed: int = typer.Option(0, "--seed", help="Seeds the order shuffled in each round and the bootstrap."),
) -> None:
    """Measure name resolution as applications see it (getaddrinfo in the node, through its
    own resolv.conf) for every variant of a base topology, and put them side by side:
    count, failures by reason, min, p50, p90, p95, p99, max, mean; a CDF plot per variant.
    Every lab is up at once and the variants are measured interleaved in rounds (a slice of
    each, order shuffled), so load that comes and goes lands on all alike; p50 and p95 are
    shown as ratios to the baseline with a 95% bootstrap interval ("no difference" when it
    covers 1)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .measure.compare import load_comparison, run_comparison
    from .report import compare as report

    _interrupt_on_term()
    try:
        comp, plans = load_comparison(file)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("starting", total=len(plans))
            results = run_comparison(plans, progress=lambda msg, n: bar.update(
                task, advance=n, **({"description": msg} if msg else {})), baseline=baseline, rounds=rounds, seed=seed)
    except LabsimError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("labsim: interrupted; labs were removed")
        raise typer.Exit(130)
    report.render_table(comp.name, results, out)
    if json_out:
        json_out.write_text(report.to_json(comp.name, results))
    if html_out or png_out:
        png = report.plot_png(comp.name, results)
        if png_out:
            png_out.write_bytes(png)
        if html_out:
            html_out.write_text(report.to_html(comp.name, comp.description, results, png))


@app.command()
def validate(
    file: Path = typer.Argument(..., help="Topology, scenario or comparison file (or a built-in "
                                "topology's name) to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Check a topology or scenario file and print the planned addresses and routes (no root,
    creates nothing). A scenario is checked with its topology and every step; a comparison
    file (bench resolvers) with every variant."""
    from .builtin import topology_path
    from .inputfiles import read_text
    from .lab import _summary
    from .loader import load_lab
    from .measure.compare import load_comparison
    from .model.yamlpos import parse_yaml
    from .scenario.load import load_scenario

    try:
        file = topology_path(file)  # a built-in's name works too
        data, _ = parse_yaml(read_text(file), str(file))
        if isinstance(data, dict) and "variants" in data:
            comp, plans = load_comparison(file)
            out.print(f"comparison {comp.name}: {len(plans)} variants, valid")
            return
        scenario = load_scenario(file) if isinstance(data, dict) and "steps" in data else None
        loaded = scenario.lab if scenario else load_lab(file)
    except LabsimError as exc:
        _fail(exc)
    nodes = _summary(loaded)
    if as_json:
        print(json.dumps({"lab": loaded.plan.lab, "nodes": nodes,
                          "steps": len(scenario.scenario.steps) if scenario else None}, indent=1))
        return
    _print_nodes(loaded.plan.lab, nodes)
    if scenario:
        out.print(f"scenario {scenario.scenario.name}: {len(scenario.scenario.steps)} steps, valid")


from . import cli_project  # noqa: E402 - setup, topologies, merge, init: their own module

for _command in cli_project.COMMANDS:
    app.command()(cli_project.guarded(_command, _fail))


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print labsim's version.")) -> None:
    if version:
        print(__version__)
        raise typer.Exit(0)


def main() -> None:
    app(prog_name="labsim")


if __name__ == "__main__":
    main()
