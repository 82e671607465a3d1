"""Scenario benchmark: the whole shipped suite's wall time, and labsim's per-check overhead.

Measured in one run:
  1. `labsim run scenarios/*.yml` end to end (bring-up, steps, teardown of every lab),
     --suite-runs times; target: median <= 60 s on this 2-core machine.
  2. Per-check overhead, in one apple-review lab: labsim's `http` check (curl in the node
     plus parsing and classification) against the same request as a plain
     `ip netns exec NS curl -s -o /dev/null URL`, interleaved, --checks times each;
     target: ratio of medians <= 1.2. The same for `dns` (a query from inside the node via
     dnspython) against `dig` run in the node.
Traffic stays inside the lab's namespaces. Run as root:

    .venv/bin/python bench/scenarios.py [--suite-runs 3] [--checks 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABSIM = str(Path(sys.executable).parent / "labsim")
URL = "http://api.example.test/"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def suite_once() -> float:
    files = sorted(str(p) for p in (REPO / "scenarios").glob("*.yml"))
    t0 = time.perf_counter()
    res = subprocess.run([LABSIM, "run", *files], cwd=REPO, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"the suite failed:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}")
    return took


def per_check(n: int) -> dict[str, list[float]]:
    from labsim import lab
    from labsim.checks import CheckEnv
    from labsim.checks.dns import DnsCheck, run_dns
    from labsim.checks.http import HttpCheck, run_http
    from labsim.lab import make_runtime
    from labsim.loader import load_lab
    from labsim.runtime.netns import node_ns

    name = "bench-chk"
    loaded = load_lab(REPO / "topologies" / "apple-review.yml", name)
    lab.up(loaded, ephemeral=True)
    samples: dict[str, list[float]] = {k: [] for k in ("labsim http", "plain curl", "labsim dns", "plain dig")}
    try:
        env = CheckEnv(make_runtime(lab.LabState.load(name)), sys.executable,
                       {n: [str(a) for a in p.addresses()] for n, p in loaded.plan.nodes.items()})
        http = HttpCheck.model_validate({"from": "client", "url": URL})
        dns = DnsCheck.model_validate({"from": "client", "name": "api.example.test", "server": "dns64"})
        dns64 = env.address_of("dns64")
        ns = node_ns(name, "client")
        plain_curl = ["ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", URL]
        plain_dig = ["ip", "netns", "exec", ns, "dig", "+short", f"@{dns64}", "api.example.test", "AAAA"]
        for _ in range(3):  # warm caches (resolver, page cache) before timing
            run_http(http, env), subprocess.run(plain_curl, capture_output=True)
        for _ in range(n):  # interleaved, so drift affects both sides alike
            samples["labsim http"].append(_timed(lambda: _ok(run_http(http, env))))
            samples["plain curl"].append(_timed(lambda: subprocess.run(plain_curl, capture_output=True, check=True)))
            samples["labsim dns"].append(_timed(lambda: _ok(run_dns(dns, env))))
            samples["plain dig"].append(_timed(lambda: subprocess.run(plain_dig, capture_output=True, check=True)))
    finally:
        lab.down(name)
    return samples


def _ok(result) -> None:
    if not result.ok:
        raise SystemExit(f"check failed: {result.reason} {result.detail}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def row(label: str, xs: list[float], unit: float, fmt: str, target: str = "") -> str:
    med, lo, hi = statistics.median(xs), min(xs), max(xs)
    return f"{label:<34} {med * unit:>9{fmt}} {lo * unit:>9{fmt}} {hi * unit:>9{fmt}}  {target}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite-runs", type=int, default=3)
    ap.add_argument("--checks", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    suite = []
    for i in range(args.suite_runs):
        say(f"suite run {i + 1}/{args.suite_runs}")
        suite.append(suite_once())
    say(f"per-check overhead, {args.checks} of each")
    checks = per_check(args.checks)
    med = {k: statistics.median(v) for k, v in checks.items()}
    http_ratio, dns_ratio = med["labsim http"] / med["plain curl"], med["labsim dns"] / med["plain dig"]
    print(f"\nscenario benchmark ({len(list((REPO / 'scenarios').glob('*.yml')))} scenarios)\n")
    print(f"{'measurement':<34} {'median':>9} {'min':>9} {'max':>9}")
    verdict = "PASS" if statistics.median(suite) <= 60 else "MISS"
    print(row(f"suite wall time (s, {len(suite)} runs)", suite, 1, ".2f", f"<= 60 s {verdict}"))
    for k, v in checks.items():
        print(row(f"{k} (ms)", v, 1000, ".2f"))
    print(f"\n{'labsim http / plain curl':<34} {http_ratio:>9.2f}  <= 1.2 {'PASS' if http_ratio <= 1.2 else 'MISS'}")
    print(f"{'labsim dns / plain dig':<34} {dns_ratio:>9.2f}")
    if args.json:
        args.json.write_text(json.dumps({"suite_s": suite, "checks_s": checks,
                                         "ratios": {"http": http_ratio, "dns": dns_ratio}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
