"""Scenario benchmark: the whole shipped suite's wall time, and labsim's per-check overhead.

Measured in one run:
  1. `labsim run scenarios/` end to end (bring-up, steps, teardown of every lab), in
     --suite-runs rounds; each round runs, in shuffled order, `-j 1` and `-j 2` with the
     default `--capture failed`, and `-j 2 --capture none`. Targets on this 2-core machine:
     median <= 60 s at -j 1, <= 25 s at -j 2. The capture's cost is the ratio of the -j 2
     medians, failed / none (the same rounds, so the machine's load affects both alike).
  2. Per-check overhead, in one apple-review lab: labsim's `http` check (curl in the node
     plus parsing and classification) against the same request as a plain
     `ip netns exec NS curl -s -o /dev/null URL`, interleaved, --checks times each;
     target: ratio of medians <= 1.2. The same for `dns` (a query from inside the node via
     dnspython) against `dig` run in the node.
Traffic stays inside the lab's namespaces. Run as root:

    .venv/bin/python bench/scenarios.py [--suite-runs 3] [--checks 50] [--json FILE] [--suite-only]

Other work on the machine shows in the numbers: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABSIM = str(Path(sys.executable).parent / "labsim")
URL = "http://api.example.test/"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


SUITE = {"-j 1": ["-j", "1"], "-j 2": ["-j", "2"], "-j 2 --capture none": ["-j", "2", "--capture", "none"]}
TARGET_S = {"-j 1": 60.0, "-j 2": 25.0}


def suite_once(flags: list[str]) -> tuple[float, float]:
    """(wall seconds, seconds the scenarios spent outside bring-up and steps, summed: teardown
    and packet capture, the part of the capture's cost that other load blurs least)."""
    with tempfile.TemporaryDirectory(prefix="labsim-bench-") as tmp:
        t0 = time.perf_counter()
        res = subprocess.run([LABSIM, "run", *flags, "--capture-dir", tmp, "--json", f"{tmp}/r.json",
                              "scenarios/"], cwd=REPO, capture_output=True, text=True, timeout=900)
        took = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"the suite failed ({' '.join(flags)}):\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}")
        report = json.loads(Path(f"{tmp}/r.json").read_text())
    outside = sum(s["duration_s"] - s["bringup_s"] - sum(st["duration_ms"] for st in s["steps"]) / 1000
                  for s in report)
    return took, outside


def suite_rounds(rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    wall: dict[str, list[float]] = {k: [] for k in SUITE}
    outside: dict[str, list[float]] = {k: [] for k in SUITE}
    rng = random.Random(14)
    for i in range(rounds):
        order = list(SUITE)
        rng.shuffle(order)  # no variant always runs first (or right after another)
        for k in order:
            say(f"suite round {i + 1}/{rounds}: labsim run {k}")
            took, rest = suite_once(SUITE[k])
            wall[k].append(took)
            outside[k].append(rest)
    return wall, outside


def per_check(n: int) -> dict[str, list[float]]:
    from labsim.bringup import lab
    from labsim.checks import CheckEnv
    from labsim.checks.dns import DnsCheck, run_dns
    from labsim.checks.http import HttpCheck, run_http
    from labsim.bringup.lab import make_runtime
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
    return f"{label:<40} {med * unit:>9{fmt}} {lo * unit:>9{fmt}} {hi * unit:>9{fmt}}  {target}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite-runs", type=int, default=3, help="rounds of the three suite runs")
    ap.add_argument("--checks", type=int, default=50)
    ap.add_argument("--suite-only", action="store_true", help="skip the per-check overhead")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    load_before = os.getloadavg()
    suite, outside = suite_rounds(args.suite_runs)
    load_after = os.getloadavg()
    checks: dict[str, list[float]] = {}
    http_ratio = dns_ratio = None
    if not args.suite_only:
        say(f"per-check overhead, {args.checks} of each")
        checks = per_check(args.checks)
        med = {k: statistics.median(v) for k, v in checks.items()}
        http_ratio, dns_ratio = med["labsim http"] / med["plain curl"], med["labsim dns"] / med["plain dig"]
    print(f"\nscenario benchmark ({len(list((REPO / 'scenarios').glob('*.yml')))} scenarios; load average "
          f"{load_before[0]:.2f} before the suite runs, {load_after[0]:.2f} after)\n")
    print(f"{'measurement':<40} {'median':>9} {'min':>9} {'max':>9}")
    for k, xs in suite.items():
        target = TARGET_S.get(k)
        verdict = "" if target is None else f"<= {target:g} s {'PASS' if statistics.median(xs) <= target else 'MISS'}"
        print(row(f"suite {k} (s, {len(xs)} runs)", xs, 1, ".2f", verdict))
    for k, v in checks.items():
        print(row(f"{k} (ms)", v, 1000, ".2f"))
    capture_ratio = statistics.median(suite["-j 2"]) / statistics.median(suite["-j 2 --capture none"])
    capture_s = statistics.median(outside["-j 2"]) - statistics.median(outside["-j 2 --capture none"])
    print(f"\n{'capture failed / none (-j 2 wall)':<40} {capture_ratio:>9.2f}")
    print(f"{'capture cost, summed over scenarios (s)':<40} {capture_s:>9.2f}  (outside bring-up and steps, "
          f"failed minus none)")
    if http_ratio is not None:
        print(f"{'labsim http / plain curl':<40} {http_ratio:>9.2f}  <= 1.2 {'PASS' if http_ratio <= 1.2 else 'MISS'}")
        print(f"{'labsim dns / plain dig':<40} {dns_ratio:>9.2f}")
    if args.json:
        args.json.write_text(json.dumps({"suite_s": suite, "outside_steps_s": outside, "checks_s": checks,
                                         "load": [load_before, load_after], "capture_s": capture_s,
                                         "ratios": {"capture": capture_ratio, "http": http_ratio, "dns": dns_ratio}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
