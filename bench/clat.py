"""CLAT benchmark: what 464XLAT costs against plain NAT64 with DNS64 synthesis, in one run.

On topologies/ipv6-first.yml (netns), from two IPv6-only hosts on the same network:
  - clat:  `app-clat` reaches the IPv4-only backend by its IPv4 literal (AF_INET socket ->
           its CLAT (tayga, stateless) -> IPv6 -> the NAT64 (tayga) -> IPv4);
  - nat64: `app` reaches the same backend at its DNS64-synthesized address (AF_INET6 -> NAT64).
Measured in each host by one Python process (labsim's interpreter in the node):
  1. HTTP latency: --requests GETs, each on a new TCP connection (connect, request, full
     response), to the backend's echo service; median and p95 (ms);
  2. bulk throughput: --megabytes sent over one TCP connection to a sink in the backend
     node (which answers with the byte count once the sender closes), Gbit/s.
Ratios are clat / nat64 (latency > 1: slower; throughput < 1: less). Then the bring-up of
topologies/ipv6-mostly.yml (RAs, PREF64 sender, Kea, SLAAC, DHCPv4 option 108, CLAT) to
all-ready, --runs times (median, min, max).

Traffic stays inside the lab's namespaces. Run as root:
    .venv/bin/python bench/clat.py [--requests 300] [--megabytes 200] [--runs 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from labsim.bringup import lab as labmod
from labsim.loader import load_lab
from labsim.node.nat64prefix import embed

REPO = Path(__file__).resolve().parent.parent
FIRST, MOSTLY = REPO / "topologies" / "ipv6-first.yml", REPO / "topologies" / "ipv6-mostly.yml"
SINK_PORT = 9000

# in the backend node: count bytes per connection, answer with the count at EOF
SINK = r"""
import socket, threading
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", SINK_PORT)); s.listen(8)
def serve(c):
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        n += len(b)
    c.sendall(str(n).encode()); c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
""".replace("SINK_PORT", str(SINK_PORT))

# in the client node: latencies of `requests` fresh-connection GETs, then one bulk send
CLIENT = r"""
import json, socket, sys, time
addr, port, requests, megabytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
host = ("[%s]" % addr) if fam == socket.AF_INET6 else addr
req = ("GET /bench HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode()
lat = []
for _ in range(requests):
    t0 = time.perf_counter()
    with socket.create_connection((addr, port), timeout=5) as c:
        c.sendall(req)
        while c.recv(65536):
            pass
    lat.append((time.perf_counter() - t0) * 1000)
chunk = b"x" * (1 << 20)
t0 = time.perf_counter()
with socket.create_connection((addr, SINK_PORT), timeout=10) as c:
    for _ in range(megabytes):
        c.sendall(chunk)
    c.shutdown(socket.SHUT_WR)
    got = int(c.recv(64) or b"0")
secs = time.perf_counter() - t0
print(json.dumps({"latency_ms": lat, "bulk_bytes": got, "bulk_s": secs}))
""".replace("SINK_PORT", str(SINK_PORT))


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median": statistics.median(xs), "p95": xs[int(0.95 * (len(xs) - 1))], "min": xs[0], "max": xs[-1],
            "n": len(xs)}


def paths(requests: int, megabytes: int) -> dict:
    loaded = load_lab(FIRST, name="bench-clat")
    labmod.up(loaded)
    sink = None
    try:
        ns = lambda n: f"ls-bench-clat_{n}"  # noqa: E731
        sink = subprocess.Popen(["ip", "netns", "exec", ns("legacy"), sys.executable, "-c", SINK],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        backend = str(loaded.plan.nodes["legacy"].addresses(4)[0])
        synthesized = str(embed(backend, loaded.topology.nat64_prefix))
        time.sleep(0.3)  # the sink's listen()
        out = {}
        # interleaved twice, so a busy neighbour on the machine hurts both paths alike
        for rnd in range(2):
            for name, node, addr in (("clat", "app-clat", backend), ("nat64", "app", synthesized)):
                say(f"round {rnd + 1}: {name}: {requests} requests, {megabytes} MB from {node} to {addr}")
                res = subprocess.run(["ip", "netns", "exec", ns(node), sys.executable, "-c", CLIENT, addr, "80",
                                      str(requests // 2), str(megabytes // 2)],
                                     capture_output=True, timeout=600, check=True)
                r = json.loads(res.stdout)
                acc = out.setdefault(name, {"latency_ms": [], "bulk_bytes": 0, "bulk_s": 0.0, "address": addr})
                acc["latency_ms"] += r["latency_ms"]
                acc["bulk_bytes"] += r["bulk_bytes"]
                acc["bulk_s"] += r["bulk_s"]
        result = {}
        for name, acc in out.items():
            result[name] = {"address": acc["address"], "latency_ms": stats(acc["latency_ms"]),
                            "gbit_s": acc["bulk_bytes"] * 8 / acc["bulk_s"] / 1e9, "bytes": acc["bulk_bytes"]}
        result["ratio"] = {
            "latency_median": result["clat"]["latency_ms"]["median"] / result["nat64"]["latency_ms"]["median"],
            "throughput": result["clat"]["gbit_s"] / result["nat64"]["gbit_s"]}
        return result
    finally:
        if sink is not None:
            sink.kill()
            sink.wait()
        labmod.down("bench-clat")


def bringup(runs: int) -> dict:
    loaded = load_lab(MOSTLY, name="bench-mostly")
    totals, waits = [], []
    for i in range(runs):
        t0 = time.monotonic()
        res = labmod.up(loaded)
        totals.append(time.monotonic() - t0)
        waits.append(res.timings["ready_wait"])
        labmod.down("bench-mostly")
        say(f"ipv6-mostly bring-up {i + 1}/{runs}: {totals[-1]:.2f}s (ready wait {waits[-1]:.2f}s)")
    return {"total_s": {"median": statistics.median(totals), "min": min(totals), "max": max(totals)},
            "ready_wait_s": {"median": statistics.median(waits)}, "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--megabytes", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    result = {"paths": paths(a.requests, a.megabytes), "ipv6_mostly_bringup": bringup(a.runs)}
    p = result["paths"]
    for name in ("clat", "nat64"):
        lat = p[name]["latency_ms"]
        print(f"{name:6} HTTP median {lat['median']:.3f} ms  p95 {lat['p95']:.3f} ms  bulk {p[name]['gbit_s']:.2f} Gbit/s")
    print(f"ratio clat/nat64: latency median {p['ratio']['latency_median']:.2f}x, "
          f"throughput {p['ratio']['throughput']:.2f}x")
    b = result["ipv6_mostly_bringup"]["total_s"]
    print(f"ipv6-mostly bring-up to all-ready: median {b['median']:.2f} s (min {b['min']:.2f}, max {b['max']:.2f})")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
