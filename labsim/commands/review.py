"""`labsim review`: app-review replay. Registered on the app by cli.py, whose
`Commands.invoke` turns errors into exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from labsim.errors import InputError
from labsim.runtime import registry as runtimes

# reports are wide tables: when not on a terminal (CI logs, pipes), don't squeeze to 80
out = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 150)))
err = Console(stderr=True)


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
                                "host's routes, NAT and sysctls stay untouched. The host's loopback is "
                                "10.0.2.2 from inside."),
    resolve: list[str] | None = typer.Option(None, "--resolve", help="NAME=ADDRESS served by the lab's "
                                                "DNS (repeatable), e.g. api.local.test=10.0.2.2 for a server "
                                                "on this host's loopback."),
    capture: str = typer.Option("failed", "--capture",
                                help="Packet capture per network (client and NAT64 nodes): failed (keep it when "
                                     "a verdict FAILs), all, none."),
    capture_dir: Path = typer.Option(Path("labsim-captures"), "--capture-dir",
                                     help="Where pcaps are kept: DIR/<lab>/<network>-<node>.pcap."),
    platform: list[str] | None = typer.Option(None, "--platform", help="Client platforms (repeatable): "
                                                 "linux, ios, android, macos (default: all). See docs/platforms.md."),
    follow: int = typer.Option(2, "--follow", min=0, max=5, help="Also review what answers point at "
                               "(redirects, URLs and host names in bodies), this many hops deep; 0: off."),
    html_out: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    junit_out: Path | None = typer.Option(None, "--junit", help="Write JUnit XML: one testcase per "
                                             "endpoint x network x platform."),
    runtime: str = typer.Option(runtimes.DEFAULT, "--runtime", help=f"Where nodes run: {runtimes.help_text()}."),
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
    from labsim.review.report import render
    from labsim.review.run import NETWORKS, lab_endpoints, run_review

    nets = tuple(network) if network else NETWORKS
    bad = [n for n in nets if n not in NETWORKS]
    if bad:
        raise InputError(f"--network {bad[0]!r}: choose from {', '.join(NETWORKS)}")
    runtimes.get(runtime)
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
                             platforms=platforms, follow=follow, runtime=runtime)
    render(reviews, nets, out)
    if json_out:
        json_out.write_text(json.dumps([r.to_dict() for r in reviews], indent=1, default=str))
    if html_out or junit_out:
        from labsim.review.report_html import to_html
        from labsim.review.report_junit import to_junit

        if html_out:
            html_out.write_text(to_html(reviews, nets, platforms))
        if junit_out:
            junit_out.write_text(to_junit(reviews, nets))
    failed = sum(v.verdict == "FAIL" for r in reviews for v in r.cells())
    raise typer.Exit(1 if failed else 0)
