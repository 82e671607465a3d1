"""labsim's command line. Errors become exit codes in one place (`Commands.invoke`):
0 ok, 1 an expectation failed, 2 bad input, 3 environment or runtime problem, 130
interrupted (what the command had created is removed first)."""

from __future__ import annotations

import functools
import gc as _gc  # `gc` is a command below
import inspect
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from labsim import __version__
from labsim.commands.options import runtime_option
from labsim.commands.sigint import interrupt_on_term, interrupted_message
from labsim.commands.validate import print_nodes, validate
from labsim.errors import InputError, InputErrors, LabNotFoundError, LabsimError
from labsim.runtime import registry as runtimes

if TYPE_CHECKING:
    from labsim.scenario.runner import CaptureWhen


class Commands(TyperGroup):
    """Every command (and subcommand: bench, image) runs through `invoke`: the one place
    labsim's errors become exit codes and an interrupt becomes 130."""

    def make_context(self, *args, **kwargs):
        try:  # parsing the command line (typer would turn an interrupt here into a silent 130)
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            err.print("labsim: interrupted", highlight=False)
            raise typer.Exit(130) from None

    def invoke(self, ctx):
        interrupt_on_term()
        try:
            return super().invoke(ctx)
        except LabsimError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            err.print(f"labsim: {interrupted_message()}", highlight=False)
            raise typer.Exit(130) from None
        except Exception:
            from labsim.commands import sigint

            if not sigint.seen():
                raise
            # an error the interrupt caused, e.g. pydantic-core's SchemaError wrapping it
            err.print(f"labsim: {interrupted_message()}", highlight=False)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=Commands, add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
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
# emoji off: ":a:" inside an IPv6 address (2001:db8::a:2) must not print as an emoji
out = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 150)), emoji=False)
err = Console(stderr=True, emoji=False)


# --capture's words, as the runner's type (scenario.runner.CaptureWhen)
CAPTURE_WHEN: dict[str, CaptureWhen] = {"failed": "failed", "all": "all", "none": "none"}


def _allow_root_nodes(command):
    """The command with `--allow-root-nodes` (what it grants: labsim.trust)."""
    from labsim.trust import ALLOW_ROOT_FLAG, ALLOW_ROOT_HELP, grant_root
    sig = inspect.signature(command, eval_str=True)
    option = inspect.Parameter("allow_root_nodes", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                               default=typer.Option(False, ALLOW_ROOT_FLAG, help=ALLOW_ROOT_HELP))

    @functools.wraps(command)
    def wrapper(*args, allow_root_nodes: bool = False, **kwargs):
        grant_root(allow_root_nodes)
        return command(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), option])
    wrapper.__annotations__ = {**{n: p.annotation for n, p in sig.parameters.items()}, "allow_root_nodes": bool}
    return wrapper




def _fail(exc: LabsimError) -> None:
    # the message quotes user input ('[/]' is valid YAML): never read it as markup
    err.print(f"[bold red]labsim: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _pick_lab(lab: str | None) -> str:
    from labsim.runtime.state import LabState

    if lab:
        return lab
    labs = LabState.all_labs()
    if len(labs) == 1:
        return labs[0]
    raise LabNotFoundError("more than one lab is up; say which with --lab: " + ", ".join(labs)
                           if labs else "no lab is up (labsim up FILE)")

def _load_state(lab: str):
    from labsim.runtime.state import LabState

    try:
        return LabState.load(lab)
    except FileNotFoundError:
        raise LabNotFoundError(f"no lab named {lab!r}") from None


def _lab_node(lab: str | None, node: str):
    lab = _pick_lab(lab)
    st = _load_state(lab)
    if node not in st.nodes:
        raise LabNotFoundError(f"lab {lab!r} has no node {node!r}; nodes: {', '.join(st.nodes)}")
    return st


@app.command()
@_allow_root_nodes
def up(
    file: Path = typer.Argument(..., help="Topology file (YAML) or a built-in's name (labsim topologies)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Lab name (default: the file's `name`). "
                                       "Two labs from one file need two names."),
    runtime: str = runtime_option(),
    timeout: float = typer.Option(15.0, help="Seconds to wait for every daemon to answer its probe."),
    as_json: bool = typer.Option(False, "--json", help="Print the lab's nodes as JSON."),
    keep_on_failure: bool = typer.Option(False, "--keep-on-failure", help="If a daemon does not come up, "
                                         "leave the lab as it is to look inside (labsim logs, labsim exec); "
                                         "remove it with labsim down."),
    attach: list[str] = typer.Option([], "--attach", metavar="NETWORK=IFACE", help="Make a host interface "
                                     "(NIC, tap, veth, bridge) a port of NETWORK until `down`. Repeatable."),
    attach_force: bool = typer.Option(False, "--attach-force", help="--attach even the host's default route."),
) -> None:
    """Bring a lab up; returns when every node's daemon answers, then prints nodes and addresses.

    If anything fails (or you press Ctrl-C) everything created so far is removed."""
    from labsim.bringup.attach import with_cli
    from labsim.loader import load_lab
    from labsim.scenario.session import lab_session

    loaded = with_cli(load_lab(file, name), attach, attach_force)
    with err.status("bringing up", spinner="dots") as status:
        with lab_session(loaded, runtime, keep=True, progress=lambda m: status.update(m),
                         ready_timeout=timeout, keep_on_failure=keep_on_failure, checks=False) as session:
            st, timings = session.state, session.timings
    if as_json:
        print(json.dumps({"lab": st.lab, "nodes": st.nodes, "timings": timings}, indent=1))
        return
    _print_nodes(st.lab, st.nodes)
    err.print(f"lab [bold]{st.lab}[/] ready in {timings['total']:.2f}s "
              f"(lab CA: {st.extra.get('ca')}). Next: labsim exec --lab {st.lab} NODE -- CMD")


_print_nodes = print_nodes  # `up` prints the same table as `validate`


@app.command()
def status(
    name: str | None = typer.Argument(None, help="One lab (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List labs, their state, nodes and addresses, which daemons are running, and what
    self-configuring clients learnt (SLAAC address, resolvers, NAT64 prefix, CLAT, DHCPv4)."""
    from labsim.bringup.attach import port_lines, ports
    from labsim.node.learntview import learnt_of
    from labsim.runtime.state import LabState, alive

    report = []
    for lab in [name] if name else LabState.all_labs():
        st = _load_state(lab)
        procs = [{**p, "running": alive(p["pid"], p.get("start"))} for p in st.processes]
        report.append({"lab": st.lab, "status": st.status, "runtime": st.runtime,
                       "topology": st.topology, "ca": st.extra.get("ca"), "nodes": st.nodes,
                       "processes": procs,
                       # what self-configuring clients learnt (SLAAC, RDNSS, PREF64, CLAT, DHCPv4)
                       "learnt": learnt_of(str(st.dir), st.nodes or {}),
                       "attached": ports(st)})  # host interfaces: what is behind each port
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
        from labsim.node.learntview import summary

        for node, learnt in r["learnt"].items():
            out.print(f"  {node} learnt: {summary(learnt)}", markup=False)
        for line in port_lines(r["attached"]):
            out.print(line, markup=False)


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def exec(  # noqa: A001 - the command is called exec
    node: str = typer.Argument(..., help="Node to run in."),
    cmd: list[str] = typer.Argument(..., help="Command and its arguments (after --)."),
    lab: str | None = typer.Option(None, "--lab", "-l", help="Lab name (default: the only lab up)."),
) -> None:
    """Run a command inside a node, with the node's own resolv.conf and hosts; its exit code
    passes through. Example: labsim exec --lab t1 client -- curl -s http://api.example.test/"""
    st = _lab_node(lab, node)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    argv = runtimes.get(st.runtime).exec_argv(st.lab, node, cmd)
    os.execvp(argv[0], argv)


@app.command()
def logs(
    node: str = typer.Argument(..., help="Node whose daemons' logs to print."),
    lab: str | None = typer.Option(None, "--lab", "-l", help="Lab name (default: the only lab up)."),
    lines: int = typer.Option(50, "--lines", "-n", help="Last N lines of each log (0: all)."),
) -> None:
    """Print the logs of the daemons running in a node."""
    st = _lab_node(lab, node)
    procs = [p for p in st.processes if p["node"] == node]
    if not procs:
        err.print(f"node {node!r} runs no daemon")
    for p in procs:
        out.print(f"[bold]== {node}/{p['service']}[/] ({p['log']})", highlight=False)
        text = Path(p["log"]).read_text(errors="replace") if Path(p["log"]).exists() else ""
        body = text.splitlines()[-lines:] if lines else text.splitlines()
        print("\n".join(body))


@app.command()
def down(
    name: str | None = typer.Argument(None, help="Lab to remove (default: the only lab up)."),
    all_labs: bool = typer.Option(False, "--all", help="Remove every lab."),
) -> None:
    """Remove a lab: its processes, namespaces, containers, interfaces, mounts and files."""
    from labsim.bringup import teardown
    from labsim.runtime.state import LabState

    for lab in LabState.all_labs() if all_labs else [_pick_lab(name)]:
        removed = teardown.down(lab)
        # plain, as the fast path (commands/fastdown.py) prints it
        err.print(f"lab {lab}: removed {len(removed)} objects", highlight=False, soft_wrap=True)


@app.command()
def gc() -> None:
    """Remove what killed processes left: labs whose `labsim up` died before they were up,
    labs of a killed `run`, `review` or `bench`, and namespaces, containers or files named
    for labsim with no state (every runtime is asked). Labs you brought up with `labsim up`
    stay until `down`."""
    from labsim.bringup import teardown

    removed = teardown.gc()
    if not removed:
        err.print("nothing to collect")
    for lab, items in removed.items():
        err.print(f"lab {lab}: removed {len(items)} objects: {', '.join(items)}")


@app.command()
@_allow_root_nodes
def run(
    files: list[Path] = typer.Argument(..., help="Scenario files (YAML), e.g. scenarios/*.yml."),
    json_out: Path | None = typer.Option(None, "--json", help="Write every result (raw facts, timings) as JSON."),
    junit_out: Path | None = typer.Option(None, "--junit", help="Write JUnit XML (a testcase per step)."),
    keep: bool = typer.Option(False, "--keep", help="Leave each lab up after its steps (labsim down NAME later)."),
    runtime: str = runtime_option("A scenario's own `runtime:` wins."),
    capture: str = typer.Option("failed", "--capture",
                                help="Packet capture per check step (tcpdump in the check's node and the NAT64): "
                                     "failed (keep failing steps' pcaps), all, none."),
    capture_dir: Path = typer.Option(Path("labsim-captures"), "--capture-dir",
                                     help="Where pcaps are kept: DIR/<lab>/<step>-<node>.pcap."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, help="Run N scenarios at once, each in its own lab."),
    shard: str | None = typer.Option(None, "--shard", help="K/N: run only the K-th of N slices of the "
                                        "files (deterministic; every file in exactly one slice)."),
    durations: Path | None = typer.Option(None, "--durations", help="A previous run's --json: balance "
                                             "the --shard slices by the scenarios' durations."),
    attach: list[str] = typer.Option([], "--attach", metavar="NETWORK=IFACE", help="Make a host interface "
                                     "(or docker:NETWORK) a port of each scenario's lab network (repeatable)."),
    attach_force: bool = typer.Option(False, "--attach-force", help="--attach even the host's default route."),
) -> None:
    """Run scenarios: bring each lab up, run its checks and actions, tear it down.

    A directory stands for its *.yml files. Exit 0 when every expectation holds, 1 when one
    fails, 2 on a bad file (every file is checked before any lab is made), 3 when a lab
    cannot be built."""
    from labsim.outputs import write_text
    from labsim.report import console as console_report
    from labsim.report.junit import to_xml
    from labsim.scaleout import shard as sharding
    from labsim.scaleout.parallel import run_parallel, start_workers
    from labsim.scenario.load import load_scenario
    from labsim.scenario.runner import RunOptions, run_scenario

    runtimes.get(runtime)  # an unknown name is bad input, before any lab
    when = CAPTURE_WHEN.get(capture)
    if when is None:
        raise InputError(f"--capture {capture!r}: use failed, all or none")
    opts = RunOptions(runtime=runtime, keep=keep, capture=when, capture_dir=capture_dir,
                      attach=tuple(attach), attach_force=attach_force)
    files = sharding.expand(files)
    if shard:
        k, n = sharding.parse_shard(shard)
        files = sharding.select(files, k, n, sharding.load_durations(durations) if durations else None)
    if attach and jobs > 1 and len(files) > 1:  # an interface is a port of one lab at a time
        raise InputError(f"--attach with -j {jobs}: the attached interface can be in one lab at a time; "
                         "use -j 1 (scenarios then take it in turn)", field="--attach")
    # with -j, the workers start (Python, imports) while the files are checked here
    pool = start_workers(min(jobs, len(files))) if jobs > 1 and len(files) > 1 else None
    loaded, bad = [], []
    try:
        for f in files:  # every file's errors, before any lab is made
            try:
                loaded.append(load_scenario(f, attach=opts.attach, attach_force=opts.attach_force))
            except InputError as exc:
                bad.append(exc)
        if bad:
            raise bad[0] if len(bad) == 1 else InputErrors(
                [e for exc in bad for e in getattr(exc, "errors", [exc])], more=sum(getattr(e, "more", 0) for e in bad))
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    results = []
    with err.status("running", spinner="dots") as status:
        if jobs > 1:
            results = run_parallel(loaded, jobs, opts, progress=lambda m: status.update(m), pool=pool)
        for ls in loaded if jobs == 1 else ():
            results.append(run_scenario(ls, opts, progress=lambda m: status.update(m)))
    # the files first: a console that fails loses no report; they belong to the directory's owner
    if json_out:
        write_text(json_out, json.dumps([r.to_dict() for r in results], indent=1, default=str))
    if junit_out:
        write_text(junit_out, to_xml(results))
    console_report.render(results, out)
    passed = sum(r.passed for r in results)
    out.print(f"{passed} passed, {len(results) - passed} failed")
    raise typer.Exit(0 if passed == len(results) else 1)


from labsim.commands.review import review  # noqa: E402 - app-review replay: its own module

app.command()(_allow_root_nodes(review))


bench_app = typer.Typer(no_args_is_help=True, help="Measurements that compare configurations.")
app.add_typer(bench_app, name="bench")


@bench_app.command("resolvers")
def bench_resolvers(
    file: Path = typer.Argument(..., help="Comparison file, e.g. compare/ipv6-only-client.yml."),
    json_out: Path | None = typer.Option(None, "--json", help="Every variant's statistics and samples."),
    html_out: Path | None = typer.Option(None, "--html", help="A self-contained HTML report with the plot."),
    png_out: Path | None = typer.Option(None, "--png", help="The latency CDF plot alone."),
    baseline: str | None = typer.Option(None, "--baseline", help="The variant ratios are over (default: the first)."),
    rounds: int = typer.Option(10, "--rounds", help="Interleaved rounds: each takes a slice of every variant."),
    seed: int = typer.Option(0, "--seed", help="Seeds the order shuffled in each round and the bootstrap."),
    runtime: str = runtime_option(),
) -> None:
    """Measure name resolution as applications see it (getaddrinfo in the node, through its
    own resolv.conf) for every variant of a base topology, and put them side by side:
    count, failures by reason, min, p50, p90, p95, p99, max, mean; a CDF plot per variant.
    Every lab is up at once and the variants are measured interleaved in rounds (a slice of
    each, order shuffled), so load that comes and goes lands on all alike; p50 and p95 are
    shown as ratios to the baseline with a 95% bootstrap interval ("no difference" when it
    covers 1)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from labsim.commands.bench import run_comparison
    from labsim.measure.compare import load_comparison
    from labsim.report import compare as report

    runtimes.get(runtime)
    comp, plans = load_comparison(file)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("starting", total=len(plans))
        def progress(msg: str, n: float) -> None:
            if msg:
                bar.update(task, advance=n, description=msg)
            else:
                bar.update(task, advance=n)

        results = run_comparison(plans, progress=progress,
            baseline=baseline, rounds=rounds, seed=seed, runtime=runtime)
    report.render_table(comp.name, results, out)
    if json_out:
        json_out.write_text(report.to_json(comp.name, results))
    if html_out or png_out:
        png = report.plot_png(comp.name, results)
        if png_out:
            png_out.write_bytes(png)
        if html_out:
            html_out.write_text(report.to_html(comp.name, comp.description, results, png))


from labsim.commands.image import image_app  # noqa: E402 - `labsim image build|status`

app.add_typer(image_app, name="image")


app.command()(_allow_root_nodes(validate))


from labsim.commands import project as cli_project  # noqa: E402 - setup, topologies, merge, init: their own module

for _command in cli_project.COMMANDS:
    app.command()(cli_project.guarded(_command, _fail))


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print labsim's version.")) -> None:
    if version:
        print(__version__)
        raise typer.Exit(0)


def main() -> None:
    try:
        app(prog_name="labsim")
    finally:
        # the command is over (its own interrupt handling has run): a Ctrl-C now would only
        # turn the exit into a traceback. Finalize its garbage now, then spare the
        # interpreter's shutdown from tracing every imported module's objects again (typer,
        # rich, pydantic, cryptography: ~0.05 s of every exit, ~0.3 s once scapy is loaded)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _gc.collect()
        _gc.freeze()


if __name__ == "__main__":
    main()
