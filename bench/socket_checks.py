"""Socket-check benchmark: review's ws://, wss:// and tcp:// checks against the same request by
hand in the node, as a ratio per scheme (issue 21: target <= 1.5x, like the http checks).

In the two review labs of apple-review (linux model: the client node), each ws/wss/tcp
endpoint of topologies/apple-review.urls is checked as review checks it (`run_one`: resolve,
connect, TLS against the node's trust store, the WebSocket handshake or the banner, then
classification) and requested by hand in the client's namespace through `ip netns exec`:
ws/wss with a tiny `python3 -S` one-liner doing the same handshake and with curl sending the
Upgrade headers (it ends at the 101), tcp with the one-liner reading the banner (curl's
telnet:// waits for its timeout; no nc or socat here). The sides alternate, each first in
turn, --rounds times; each round gives one ratio per endpoint x network and floor. Printed
per scheme and floor: the median ratio and its range, and the medians in ms. The labs' first
check is a warm-up (a runtime that keeps a fork server starts it there). Traffic stays inside
the labs' namespaces. Run as root, from the checkout to measure (PYTHONPATH for another):

    .venv/bin/python bench/socket_checks.py [--rounds 15] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
TOPOLOGY = REPO / "topologies" / "apple-review.yml"
URLS = REPO / "topologies" / "apple-review.urls"
SCHEMES = ("ws", "wss", "tcp")
# the same request an application makes, in the fewest lines: resolve through libc, connect,
# TLS verified against the node's trust store, the opening handshake (or the banner)
WS_HAND = ("import socket,ssl,sys;h,p,t,path=sys.argv[1],int(sys.argv[2]),sys.argv[3]=='1',sys.argv[4];"
           "s=socket.create_connection((h,p),5);"
           "s=ssl.create_default_context().wrap_socket(s,server_hostname=h) if t else s;"
           "s.sendall(('GET '+path+' HTTP/1.1\\r\\nHost: '+h+'\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade"
           "\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n').encode());"
           "b=s.recv(4096);sys.exit(0 if b' 101 ' in b else 1)")
WS_HEADERS = ["--http1.1", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
              "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
TCP_HAND = ("import socket,sys;s=socket.create_connection((sys.argv[1],int(sys.argv[2])),5);"
            "sys.exit(0 if s.recv(512) else 1)")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def by_hand(url: str) -> list[str]:
    u = urlsplit(url)
    host = u.hostname or ""
    if u.scheme == "tcp":
        return ["/usr/bin/python3", "-S", "-c", TCP_HAND, host, str(u.port)]
    tls = u.scheme == "wss"
    return ["/usr/bin/python3", "-S", "-c", WS_HAND, host, str(u.port or (443 if tls else 80)),
            "1" if tls else "0", u.path or "/"]


def by_curl(url: str) -> list[str] | None:
    """ws/wss by curl: the opening handshake (it ends at the 101); tcp: none (curl's telnet://
    waits for its timeout, and this machine has no nc or socat)."""
    u = urlsplit(url)
    if u.scheme == "tcp":
        return None
    return ["curl", "-s", "-o", "/dev/null", "-m", "5", *WS_HEADERS, url.replace("ws", "http", 1)]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(rounds: int, lab_name: str, timeout: float = 5.0) -> dict[str, dict]:
    from labsim.bringup import lab
    from labsim.bringup.lab import make_runtime
    from labsim.checks import CheckEnv
    from labsim.loader import load_lab
    from labsim.review.matrix import run_one
    from labsim.review.options import ReviewOptions
    from labsim.review.platforms import runners
    from labsim.review.run import endpoints_from, review_labs
    from labsim.runtime.netns import node_ns

    loaded = load_lab(TOPOLOGY, name=lab_name)
    endpoints = [e for e in endpoints_from([], URLS, None) if urlsplit(e.url).scheme in SCHEMES]
    labs = review_labs(loaded, ReviewOptions(client="client", platforms=("linux",), timeout=timeout), "client")
    linux = runners(("linux",), "client", False)["linux"]
    rows: dict[str, dict] = {}
    for net, lb in labs.items():
        name = lb.plan.lab
        lab.up(lb, ephemeral=True)
        rt = make_runtime(lab.LabState.load(name))
        try:
            env = CheckEnv(rt, sys.executable)
            ns = node_ns(name, "client")
            for e in endpoints:
                hands = {"python": ["ip", "netns", "exec", ns, *by_hand(e.url)]}
                curl = by_curl(e.url)
                if curl is not None:
                    hands["curl"] = ["ip", "netns", "exec", ns, *curl]
                res = run_one(e.url, e.method, linux, env, timeout)  # warm-up (and what it answers)
                rcs = [subprocess.run(h, capture_output=True, stdin=subprocess.DEVNULL, timeout=30).returncode
                       for h in hands.values()]
                row = rows[f"{e.url} {net}"] = {"scheme": urlsplit(e.url).scheme, "check_ok": res.ok,
                                                "hand_rc": rcs, "check": [], **{k: [] for k in hands}}
                sides: list[tuple[str, Callable[..., object]]] = [
                    ("check", lambda e=e, env=env: run_one(e.url, e.method, linux, env, timeout))]
                sides += [(k, lambda h=h: subprocess.run(h, capture_output=True, stdin=subprocess.DEVNULL,
                                                         timeout=30)) for k, h in hands.items()]
                for i in range(rounds):  # interleaved, each side first in turn: drift affects all alike
                    for k, fn in sides[i % len(sides):] + sides[:i % len(sides)]:
                        row[k].append(timed(fn))
        finally:
            end = getattr(rt, "end_session", None)
            if end is not None:
                end()
            rt.close()
            lab.down(name)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--lab", default="bench-sock", help="the labs' name (and its review twin's prefix)")
    args = ap.parse_args()
    rows = measure(args.rounds, args.lab)
    print(f"\nsocket checks vs the same request by hand in the node ({args.rounds} interleaved rounds)\n")
    print(f"{'endpoint x network':<46} {'ok/rc':>8} {'check ms':>9} {'python ms':>10} {'curl ms':>8}")
    for key, row in rows.items():
        ok = f"{str(row['check_ok'])[0]}/{','.join(map(str, row['hand_rc']))}"
        med = {k: statistics.median(row[k]) * 1000 for k in ("check", "python", "curl") if k in row}
        curl = f"{med['curl']:>8.1f}" if "curl" in med else f"{'-':>8}"
        print(f"{key:<46} {ok:>8} {med['check']:>9.1f} {med['python']:>10.1f} {curl}")
    print(f"\n{'scheme':<6} {'by hand':<8} {'median ratio':>12} {'range':>13} {'check ms':>9} {'hand ms':>8}"
          "  target <= 1.5")
    summary = {}
    for scheme in SCHEMES:
        for floor in ("python", "curl"):
            mine = [r for r in rows.values() if r["scheme"] == scheme and floor in r]
            ratios = [c / h for r in mine for c, h in zip(r["check"], r[floor], strict=True)]
            if not ratios:
                continue
            med = statistics.median(ratios)
            c = statistics.median(x for r in mine for x in r["check"])
            h = statistics.median(x for r in mine for x in r[floor])
            summary[f"{scheme} {floor}"] = {"ratio": med, "min": min(ratios), "max": max(ratios),
                                            "check_ms": c * 1000, "hand_ms": h * 1000}
            print(f"{scheme:<6} {floor:<8} {med:>12.2f} {min(ratios):>6.2f}-{max(ratios):<6.2f} {c * 1000:>9.1f}"
                  f" {h * 1000:>8.1f}  {'PASS' if med <= 1.5 else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
