"""DNS measurement benchmark: labsim's series against dnsperf, same resolver, same run.

In one lab (topologies/resolution.yml), from the client node, against the DNS64 resolver
(unbound), for a cached name (api.example.test AAAA, answered from cache after a warm-up):
  1. dnsperf by hand at a low fixed rate (-Q 2000 -v): its own per-query latencies.
  2. labsim's raw series, `measure via: dnsperf` (labsim drives dnsperf and parses -v), and
     `via: dnspython` (in-process, one socket in the node) — p50 as a ratio to (1).
     Target: labsim's raw p50 within 1.2x of dnsperf's.
  3. Highest sustained rate: dnsperf unpaced for a few seconds vs labsim's raw modes unpaced.
  4. The libc path's own cost: getaddrinfo timed in the node (`measure via: libc`, the same
     cached name) against the raw query p50.
Median of --rounds rounds for each. Traffic stays inside the lab. Run as root:

    .venv/bin/python bench/dns_measure.py [--rounds 5] [--queries 2000] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "api.example.test"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from labsim.bringup import lab
    from labsim.checks import CheckEnv
    from labsim.checks.measure import MeasureCheck, run_measure
    from labsim.bringup.lab import make_runtime
    from labsim.loader import load_lab
    from labsim.runtime.state import LabState

    name = "bench-dns"
    loaded = load_lab(REPO / "topologies" / "resolution.yml", name)
    lab.up(loaded, ephemeral=True)
    res: dict[str, list[float]] = {}
    try:
        env = CheckEnv(make_runtime(LabState.load(name)), sys.executable,
                       {n: [str(a) for a in p.addresses()] for n, p in loaded.plan.nodes.items()})
        server = env.address_of("dns64")

        def measure(**kw) -> dict:
            r = run_measure(MeasureCheck.model_validate({"from": "client", "name": NAME, **kw}), env)
            return dataclasses.asdict(r.facts.stats) if r.facts.stats else {"p50": None, "count": 0}

        measure(via="dnspython", server=server, count=10)  # warm the resolver's cache
        qfile = env.runtime.write_file("client", "bench-queries.txt", f"{NAME} AAAA\n")

        def dnsperf(*extra: str) -> str:
            p = env.runtime.exec("client", ["dnsperf", "-s", server, "-d", qfile, *extra], timeout=120)
            return p.stdout.decode()

        for i in range(args.rounds):
            say(f"round {i + 1}/{args.rounds}")
            out = dnsperf("-n", str(args.queries), "-Q", "2000", "-v")
            lat = sorted(float(x) * 1000 for x in re.findall(r"^> NOERROR \S+ \S+ ([0-9.]+)$", out, re.M))
            res.setdefault("dnsperf p50 @2k/s (ms)", []).append(statistics.median(lat))
            st = measure(via="dnsperf", server=server, count=args.queries, rate=2000)
            res.setdefault("labsim via dnsperf p50 @2k/s (ms)", []).append(st["p50"])
            st = measure(via="dnspython", server=server, count=args.queries)
            res.setdefault("labsim via dnspython p50 (ms)", []).append(st["p50"])
            st = measure(via="libc", count=args.queries)
            res.setdefault("labsim via libc p50, cached name (ms)", []).append(st["p50"])
            out = dnsperf("-l", "3")
            qps = float(re.search(r"Queries per second:\s+([0-9.]+)", out).group(1))
            res.setdefault("dnsperf unpaced (q/s)", []).append(qps)
            t0 = time.perf_counter()
            st = measure(via="dnsperf", server=server, count=50000)
            res.setdefault("labsim via dnsperf unpaced (q/s)", []).append(st["count"] / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            st = measure(via="dnspython", server=server, count=5000)
            res.setdefault("labsim via dnspython unpaced (q/s)", []).append(st["count"] / (time.perf_counter() - t0))
    finally:
        lab.down(name)

    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"\nDNS measurement benchmark: {args.rounds} rounds, {args.queries} queries each, cached name\n")
    print(f"{'measurement':<42} {'median':>10} {'min':>10} {'max':>10}")
    for k, v in res.items():
        print(f"{k:<42} {med[k]:>10.4f} {min(v):>10.4f} {max(v):>10.4f}")
    base = med["dnsperf p50 @2k/s (ms)"]
    ratio = med["labsim via dnsperf p50 @2k/s (ms)"] / base
    print(f"\n{'labsim raw (dnsperf) p50 / dnsperf p50':<42} {ratio:>10.2f}  <= 1.2 {'PASS' if ratio <= 1.2 else 'MISS'}")
    print(f"{'labsim raw (dnspython) p50 / dnsperf p50':<42} {med['labsim via dnspython p50 (ms)'] / base:>10.2f}")
    qps = med["dnsperf unpaced (q/s)"]
    print(f"{'labsim raw (dnsperf) rate / dnsperf rate':<42} {med['labsim via dnsperf unpaced (q/s)'] / qps:>10.2f}")
    print(f"{'labsim raw (dnspython) rate / dnsperf rate':<42} {med['labsim via dnspython unpaced (q/s)'] / qps:>10.3f}")
    print(f"{'libc getaddrinfo p50 / raw query p50':<42} {med['labsim via libc p50, cached name (ms)'] / base:>10.2f}")
    if args.json:
        args.json.write_text(json.dumps({"samples": res, "medians": med}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
