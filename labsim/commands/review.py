"""`labsim review`: app-review replay. Registered on the app by cli.py, whose
`Commands.invoke` turns errors into exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer
from rich.console import Console

from labsim.commands.options import runtime_option
from labsim.errors import InputError
from labsim.review.options import ReviewOptions, ReviewOutputs
from labsim.runtime import registry as runtimes

if TYPE_CHECKING:  # the CLI starts without the review machinery; it is imported when run
    from labsim.loader import LoadedLab
    from labsim.review.inputs import Endpoint
    from labsim.review.run import EndpointReview

# reports are wide tables: when not on a terminal (CI logs, pipes), don't squeeze to 80
# emoji off: ":a:" inside an IPv6 address (2001:db8::a:2) must not print as an emoji
out = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 150)), emoji=False)
err = Console(stderr=True, emoji=False)


def review(
    urls: list[str] | None = typer.Argument(None, help="Endpoints to review: http(s)://, ws(s):// or "
                                               "tcp://HOST:PORT."),
    urls_file: Path | None = typer.Option(None, "--urls", help="A file of URLs, one a line "
                                             "(optionally 'METHOD URL'; # comments)."),
    har: Path | None = typer.Option(None, "--har", help="A HAR capture of the app: every request's URL "
                                       "(POST/PUT/... replayed as OPTIONS)."),
    topology: Path = typer.Option(Path("apple-review"), "--topology",
                                  help="The lab the endpoints live in (a file or a built-in's name: "
                                       "labsim topologies); with no URLs given, every name "
                                       "its backends, proxies and CDN edges publish is reviewed."),
    client: str | None = typer.Option(None, "--client", help="Node to run from (default: the first "
                                         "IPv6-only client)."),
    network: list[str] | None = typer.Option(None, "--network", help="Only these networks: "
                                                "dns64-nat64, ipv6-only (default: both)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write verdicts and raw facts as JSON."),
    timeout: float = typer.Option(5.0, help="Seconds per request."),
    uplink: bool = typer.Option(False, "--uplink", help="Let the lab reach the outside (your real API) "
                                "through user-mode networking (slirp4netns) from its NAT64 node; the "
                                "host's routes, NAT and sysctls stay untouched. The host's own loopback "
                                "is not reachable, and --follow fetches nothing that leads to a loopback, "
                                "link-local, metadata or private address (reported as skipped)."),
    resolve: list[str] | None = typer.Option(None, "--resolve", help="NAME=ADDRESS served by the lab's "
                                                "DNS (repeatable), e.g. api.local.test=2001:db8::10."),
    capture: str = typer.Option("failed", "--capture",
                                help="Packet capture per network (client and NAT64 nodes): failed (keep it when "
                                     "a verdict FAILs), all, none."),
    capture_dir: Path | None = typer.Option(None, "--capture-dir",
                                            help="Where pcaps are kept: DIR/<lab>/<network>-<node>.pcap "
                                                 "(default: labsim-captures beside the --json/--junit/--html "
                                                 "report, else a new temporary directory)."),
    platform: list[str] | None = typer.Option(None, "--platform", help="Client platforms (repeatable): "
                                                 "linux, ios, android, macos (default: all). How each is "
                                                 "modelled, with sources: labsim docs platforms"),
    follow: int = typer.Option(2, "--follow", min=0, max=5, help="Also review what answers point at "
                               "(redirects, URLs and host names in bodies), this many hops deep; 0: off."),
    html_out: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    junit_out: Path | None = typer.Option(None, "--junit", help="Write JUnit XML: one testcase per "
                                             "endpoint x network x platform."),
    runtime: str = runtime_option(),
    full_bodies: bool = typer.Option(False, "--full-bodies", help="Keep whole response bodies in --json "
                                     "(default: the first 4 KiB of each, with its length)."),
) -> None:
    """Replay endpoints on the two networks app review uses and give a verdict for each.

    [bold]dns64-nat64[/]: IPv6-only client, DNS64 resolver, NAT64.
    [bold]ipv6-only[/]: the same network with no translation at all.

    Verdicts: PASS, WARN (works, with something IPv6-only users trip on), FAIL, each with a
    reason code (NO_AAAA, IPV4_LITERAL, TLS_NAME_MISMATCH, ...) and what to do about it.
    Verdicts are per platform (linux, ios, android, macos), side by side only where they differ.
    Endpoints: http(s)://, ws(s)://, tcp://HOST:PORT; --follow reviews what answers point at.
    Exit 0 when nothing FAILs, 1 when something does, 2 on bad input."""
    from labsim.builtin import topology_path
    from labsim.inputfiles import read_text
    from labsim.loader import load_lab_text
    from labsim.review.inputs import endpoints_from, parse_resolve
    from labsim.review.platforms import parse_platforms
    from labsim.review.run import NETWORKS, lab_endpoints

    # every option typed and checked here, once, before anything is read or made
    outputs = ReviewOutputs(json=json_out, html=html_out, junit=junit_out)
    opts = ReviewOptions(client=client, networks=tuple(network) if network else NETWORKS, timeout=timeout,
                         uplink=uplink, resolve=parse_resolve(resolve or []),
                         platforms=parse_platforms(platform), follow=follow, capture=capture,
                         capture_dir=capture_dir or default_capture_dir(outputs), runtime=runtime,
                         full_bodies=full_bodies)
    runtimes.get(runtime)
    topology = topology_path(topology)  # a file, or a built-in's name
    loaded = load_lab_text(read_text(topology, what="topology"), None, str(topology))
    endpoints = endpoints_from(urls or [], urls_file, har) or lab_endpoints(loaded)
    if not endpoints:
        raise InputError("no endpoints: give URLs, --urls FILE or --har FILE")
    raise typer.Exit(review_and_report(loaded, endpoints, opts, outputs))


def default_capture_dir(outputs: ReviewOutputs) -> Path | None:
    """labsim-captures beside the first report written, else None (a temporary directory):
    never the current directory unasked."""
    for path in (outputs.json, outputs.junit, outputs.html):
        if path is not None:
            return path.parent / "labsim-captures"
    return None


def not_in_lab_line(reviews: list[EndpointReview]) -> str | None:
    """Said once above the table: the names the lab cannot answer for (NOT_IN_LAB)."""
    from labsim.checks.reasons import Reason

    hosts = list(dict.fromkeys(urlsplit(r.endpoint.url).hostname or r.endpoint.url for r in reviews
                               for v in r.cells() if v.reason == Reason.NOT_IN_LAB))
    if not hosts:
        return None
    return (f"not in the lab: {', '.join(hosts)}: no zone of the lab's DNS holds "
            f"{'it' if len(hosts) == 1 else 'them'} and the lab has no way out. {Reason.NOT_IN_LAB.hint}")


def review_and_report(loaded: LoadedLab, endpoints: list[Endpoint], opts: ReviewOptions,
                      outputs: ReviewOutputs) -> int:
    """Run the review and write every report; the exit status: 1 when something FAILs."""
    from labsim.outputs import write_text
    from labsim.report.inert import inert_text
    from labsim.review.report import render
    from labsim.review.run import run_review

    with err.status("reviewing", spinner="dots") as status:
        reviews = run_review(loaded, endpoints, opts, progress=lambda m: status.update(m))
    judged = [r for r in reviews if r.skipped is None and r.left_out is None]
    skipped = [r for r in reviews if r.skipped is not None or r.left_out is not None]
    line = not_in_lab_line(judged)
    if line:  # the endpoint's text is the user's own input; still shown, never markup
        out.print(inert_text(line, newlines=False), highlight=False)
    render(judged, opts.networks, out)
    for r in skipped:
        # the URL, where it was found and the name in `why` come from a server's answer
        if r.skipped is not None:
            text = (f"  skipped {r.endpoint.url} (found in {r.endpoint.found_in}): {r.skipped.kind}: "
                    f"{r.skipped.why}; not fetched through the uplink")
        else:
            assert r.left_out is not None
            text = (f"  left out {r.endpoint.url} (found in {r.endpoint.found_in}): --follow bound "
                    f"{r.left_out.bound} reached; not reviewed")
        out.print(inert_text(text, newlines=False), highlight=False)
    # DIR/<lab>/<network>-<node>.pcap: say DIR once, wherever it was put
    kept = list(dict.fromkeys(str(Path(c.path).parent.parent) for r in judged for v in r.cells() for c in v.captures))
    for d in kept:
        out.print(inert_text(f"  captures kept in {d}", newlines=False), highlight=False)
    if outputs.json:
        write_text(outputs.json, json.dumps([r.to_dict(opts.full_bodies) for r in reviews], indent=1, default=str))
    if outputs.html:
        from labsim.review.report_html import to_html

        write_text(outputs.html, to_html(judged, opts.networks, opts.platforms))
    if outputs.junit:
        from labsim.review.report_junit import to_junit

        write_text(outputs.junit, with_skipped(to_junit(judged, opts.networks), skipped))
    failed = sum(v.verdict == "FAIL" for r in judged for v in r.cells())
    return 1 if failed else 0


def with_skipped(junit: str, skipped: list[EndpointReview]) -> str:
    """The JUnit report plus one skipped testcase per URL --follow did not fetch (kept out by
    the uplink's guard, or by a bound), in a suite of its own (they have no network or
    platform: they were never sent)."""
    if not skipped:
        return junit
    import xml.etree.ElementTree as ET

    from labsim.report.inert import xml_safe

    root = ET.fromstring(junit)
    suite = ET.SubElement(root, "testsuite", name="review follow (not fetched)", tests=str(len(skipped)),
                          failures="0", errors="0", skipped=str(len(skipped)), time="0.000")
    for r in skipped:
        case = ET.SubElement(suite, "testcase", classname="review.follow", name=r.endpoint.url, time="0.000")
        if r.skipped is not None:
            s = r.skipped
            ET.SubElement(case, "skipped", message=f"{s.kind}: {s.why}"[:500], type=s.kind).text = \
                f"found in: {s.found_in}\nwhy: {s.why}\nnot fetched: the lab's uplink leaves from this host"
        elif r.left_out is not None:
            lo = r.left_out
            ET.SubElement(case, "skipped", message=f"--follow bound {lo.bound} reached"[:500],
                          type=lo.bound).text = f"found in: {lo.found_in}\nnot fetched: the {lo.bound} bound"
    ET.indent(root)
    return ET.tostring(xml_safe(root), encoding="unicode", xml_declaration=True) + "\n"
