"""Review benchmark: `labsim review` of the apple-review lab, and each check's cost.

Measured in one run:
  1. Wall time of `labsim review --topology topologies/apple-review.yml --urls
     topologies/apple-review.urls` (both networks, all four platforms, --follow 2), from
     command start to report, --runs times; target: median <= 3 s on netns.
  2. Per endpoint x network, in the two review labs (linux model): labsim's check (curl or
     the in-node socket probe, plus parsing and classification) against the same request by
     hand in the client's namespace (curl; for ws/wss curl with the Upgrade headers; for
     tcp:// socat reading the banner), interleaved, --checks times each; medians and ratios.
Traffic stays inside the labs' namespaces. Run as root:

    .venv/bin/python bench/review.py [--runs 5] [--checks 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
LABSIM = str(Path(sys.executable).parent / "labsim")
TOPOLOGY = REPO / "topologies" / "apple-review.yml"
URLS = REPO / "topologies" / "apple-review.urls"
WS_HEADERS = ["--http1.1", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
              "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def review_once() -> float:
    t0 = time.perf_counter()
    res = subprocess.run([LABSIM, "review", "--topology", str(TOPOLOGY), "--urls", str(URLS)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - t0
    if res.returncode not in (0, 1):
        raise SystemExit(f"review failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}")
    return took


def by_hand(url: str, timeout: float) -> list[str]:
    u = urlsplit(url)
    if u.scheme in ("http", "https"):
        return ["curl", "-s", "-o", "/dev/null", "-m", str(timeout), url]
    if u.scheme in ("ws", "wss"):
        return ["curl", "-s", "-o", "/dev/null", "-m", str(timeout), *WS_HEADERS,
                url.replace("ws", "http", 1)]
    host = f"[{u.hostname}]" if ":" in (u.hostname or "") else u.hostname
    return ["socat", "-t", "0.5", "-", f"TCP:{host}:{u.port},connect-timeout={timeout}"]


def per_check(n: int, timeout: float = 5.0) -> dict[str, dict[str, list[float]]]:
    from labsim.bringup import lab
    from labsim.bringup.lab import make_runtime
    from labsim.checks import CheckEnv
    from labsim.loader import load_lab
    from labsim.review.matrix import run_one
    from labsim.review.options import ReviewOptions
    from labsim.review.platforms import runners
    from labsim.review.run import endpoints_from, review_labs
    from labsim.runtime.netns import node_ns

    loaded = load_lab(TOPOLOGY)
    endpoints = endpoints_from([], URLS, None)
    labs = review_labs(loaded, ReviewOptions(client="client", platforms=("linux",), timeout=timeout), "client")
    linux = runners(("linux",), "client", False)["linux"]
    out: dict[str, dict[str, list[float]]] = {}
    for net, lb in labs.items():
        name = lb.plan.lab
        lab.up(lb, ephemeral=True)
        try:
            env = CheckEnv(make_runtime(lab.LabState.load(name)), sys.executable)
            ns = node_ns(name, "client")
            for e in endpoints:
                hand = ["ip", "netns", "exec", ns, *by_hand(e.url, timeout)]
                check = lambda e=e, env=env: run_one(e.url, e.method, linux, env, timeout)  # noqa: E731
                check(), subprocess.run(hand, capture_output=True, stdin=subprocess.DEVNULL)  # warm up
                row = out.setdefault(f"{e.url} {net}", {"labsim": [], "by hand": []})
                for _ in range(n):  # interleaved, so drift affects both sides alike
                    row["labsim"].append(_timed(check))
                    row["by hand"].append(_timed(lambda hand=hand: subprocess.run(hand, capture_output=True,
                                                                                  stdin=subprocess.DEVNULL)))
        finally:
            lab.down(name)
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--checks", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    walls = []
    for i in range(args.runs):
        say(f"review run {i + 1}/{args.runs}")
        walls.append(review_once())
    say(f"per-check cost, {args.checks} of each")
    checks = per_check(args.checks)
    wall = statistics.median(walls)
    print("\nreview benchmark (apple-review: 2 networks x 4 platforms, --follow 2)\n")
    print(f"wall time, median of {len(walls)}: {wall:.2f} s (min {min(walls):.2f}, max {max(walls):.2f})"
          f"  target <= 3 s {'PASS' if wall <= 3 else 'MISS'}\n")
    print(f"{'endpoint x network':<58} {'labsim ms':>10} {'by hand ms':>11} {'ratio':>6}")
    ratios = {}
    for key, row in checks.items():
        a, b = statistics.median(row["labsim"]), statistics.median(row["by hand"])
        ratios[key] = a / b if b else float("inf")
        print(f"{key:<58} {a * 1000:>10.1f} {b * 1000:>11.1f} {ratios[key]:>6.2f}")
    print(f"\nmedian ratio over all endpoints x networks: {statistics.median(ratios.values()):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"wall_s": walls, "checks_s": checks, "ratios": ratios}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
