"""Bring-up and teardown benchmark: labsim side by side with a plain `ip` script and Mininet.

Measured, each over N runs (median, min, max), all in one process run, interleaved per round:
  1. labsim, topologies/apple-review.yml: `lab.up` until every daemon answers its readiness
     probe (wall clock around the call; res.timings split it), then `lab.down`.
  2. A generated lab of one router and --nodes clients on one switch (lan), router also on `up`:
     a. labsim: `load_lab_text` (timed apart), `lab.up`, `lab.down`;
     b. the floor: a bash script running one `ip` command per step (namespaces `bip-*`);
     c. Mininet 2.3 (Python API, LinuxBridge, no controller) under the system python3, in a
        child process: build+start and stop timed separately. `Mininet.inited` is set first so
        `Mininet.init()` never calls `fixLimits()`, which rewrites global sysctls. Its bridges
        (bms1, bms2) and their ports live in the host namespace (Mininet's default); its hosts
        get IPv4 only, so it does a little less work than the other two (dual stack).
It sends no traffic and changes no host address, route, sysctl or firewall rule. Anything
left on the host afterwards (namespaces, links, processes) is reported, then removed.

Measured in rounds: each round runs every (size, tool) once, in a shuffled order. Printed:
medians per size, ms per node, and the ratios plain/labsim and Mininet/labsim per size (all
measured in the same run), and a PNG of bring-up time against N.

Run as root:  .venv/bin/python bench/bringup.py [--runs 5] [--nodes 10,50,100,250] [--png F]
              [--json FILE] [--quick] [--prefix speed] [--profile]
Mininet (skipped when missing):
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mininet bridge-utils
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APPLE_REVIEW = REPO / "topologies" / "apple-review.yml"
AR_LAB, GEN_LAB = "bench-ar", "bench-50"
PR_SET_CHILD_SUBREAPER = 36
SYS_PYTHON = "/usr/bin/python3"  # Debian's mininet package lives in its dist-packages

# the floor: the same shape as the labsim lab, one `ip` per step; $1 = number of clients.
# (The first `ip netns add` on a host bind-mounts /run/netns onto itself; iproute2 never undoes it.)
PLAIN_UP = r"""
set -eu
n=$1 hub=bip-hub
ip netns add $hub
ip netns exec $hub sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
for br in br-lan br-up; do  # not "up": `ip` would read it as a keyword
  ip -n $hub link add $br type bridge stp_state 0 mcast_snooping 0
  ip -n $hub link set dev $br up
done
node() { ip netns add bip-$1; ip -n bip-$1 link set dev lo up; }
link() {  # link NODE IFNAME PEER BRIDGE ADDR6 [ADDR4]
  local ns=bip-$1
  ip -n $ns link add $2 type veth peer name $3 netns $hub
  ip -n $ns addr add $5 dev $2 nodad
  if [ -n "${6:-}" ]; then ip -n $ns addr add $6 dev $2; fi
  ip -n $ns link set dev $2 up
  ip -n $hub link set dev $3 master $4 up
}
node r1
ip netns exec bip-r1 sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
link r1 eth0 r1-e0 br-lan 2001:db8:50::1/64 10.50.0.1/24
link r1 eth1 r1-e1 br-up 2001:db8:51::1/64
for i in $(seq 1 $n); do
  node c$i
  link c$i eth0 c$i-e0 br-lan 2001:db8:50::$(printf %x $((i + 1)))/64 10.50.0.$((i + 1))/24
  ip -n bip-c$i -6 route add 2001:db8:51::/64 via 2001:db8:50::1
done
"""
PLAIN_DOWN = r"""
for ns in bip-hub bip-r1 $(seq -f 'bip-c%g' 1 $1); do ip netns del $ns; done
"""

# Mininet in a child (system python3); prints {"up": s, "down": s} as its last line
MININET_CHILD = r"""
import json, sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import Host
from mininet.nodelib import LinuxBridge

class Router(Host):
    def config(self, **params):
        out = super().config(**params)
        self.cmd("sysctl -qw net.ipv4.ip_forward=1")  # inside r1's namespace only
        return out

setLogLevel("warning")
Mininet.inited = True  # skip Mininet.init(): ensureRoot() and fixLimits() (global sysctls)
n = int(sys.argv[1])
t0 = time.monotonic()
net = Mininet(topo=None, switch=LinuxBridge, controller=None, build=False)
try:
    lan, up = net.addSwitch("bms1"), net.addSwitch("bms2")
    r1 = net.addHost("r1", cls=Router, ip="10.50.0.1/24")
    net.addLink(r1, lan)
    net.addLink(r1, up)
    for i in range(1, n + 1):
        h = net.addHost("h%d" % i, ip="10.50.0.%d/24" % (i + 1), defaultRoute="via 10.50.0.1")
        net.addLink(h, lan)
    net.build()
    net.start()
    t_up = time.monotonic() - t0
finally:
    t1 = time.monotonic()
    net.stop()
    t_down = time.monotonic() - t1
print(json.dumps({"up": t_up, "down": t_down}))
"""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generated_topology(n: int) -> str:
    lines = ["name: bench50", "networks:",
             '  lan: {ipv6: "2001:db8:50::/64", ipv4: 10.50.0.0/24}',
             '  up: {ipv6: "2001:db8:51::/64"}',
             "nodes:", "  r1: {kind: router, links: [lan, up]}"]
    lines += [f"  c{i}: {{kind: client, links: [lan]}}" for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


# -- one measurement each: returns {sample name: seconds} -------------------------------------
def labsim_cycle(loaded, name: str, key: str) -> dict[str, float]:
    from labsim.bringup import lab

    t0 = time.monotonic()
    res = lab.up(loaded)  # on failure labsim tears down itself; main's clean_up double-checks
    t1 = time.monotonic()
    lab.down(name)
    t2 = time.monotonic()
    out = {f"{key}.up": t1 - t0, f"{key}.down": t2 - t1}
    out.update({f"{key}.timings.{k}": v for k, v in res.timings.items()})
    return out


def gen_cycle(text: str) -> dict[str, float]:
    from labsim.loader import load_lab_text

    t0 = time.monotonic()
    loaded = load_lab_text(text, name=GEN_LAB)
    return {"gen.load": time.monotonic() - t0, **labsim_cycle(loaded, GEN_LAB, "gen")}


def plain_cycle(n: int) -> dict[str, float]:
    t0 = time.monotonic()
    subprocess.run(["bash", "-c", PLAIN_UP, "bip-up", str(n)], check=True, timeout=120)
    t1 = time.monotonic()
    subprocess.run(["bash", "-c", PLAIN_DOWN, "bip-down", str(n)], check=True, timeout=120)
    t2 = time.monotonic()
    return {"plain.up": t1 - t0, "plain.down": t2 - t1}


def mininet_cycle(n: int) -> dict[str, float]:
    res = subprocess.run([SYS_PYTHON, "-c", MININET_CHILD, str(n)], capture_output=True,
                         text=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"mininet child failed (exit {res.returncode}): {res.stderr[-2000:]}")
    times = json.loads(res.stdout.strip().splitlines()[-1])
    return {"mininet.up": times["up"], "mininet.down": times["down"]}


# -- what this script may leave on the host (others may run labs at the same time) -----------
OURS = ("bip-", f"ls-{AR_LAB}", f"ls-{GEN_LAB}", AR_LAB, GEN_LAB, "bms")


def _our_processes() -> set[str]:
    """Our children (labsim spawns daemons from this process), our labs' daemons, and
    Mininet node shells."""
    out, me = set(), str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if state == "Z" and ppid == me:
            out.add(f"{pid} zombie child of this script: {comm}")
        elif ppid == me or "mininet:" in cmd or any(
                f"/run/labsim/{lab}/" in cmd for lab in (AR_LAB, GEN_LAB)):
            out.add(f"{pid} {cmd.strip()[:100]}")
    return out


def host_snapshot() -> dict[str, set[str]]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    mine = lambda names: {n for n in names if n.startswith(OURS)}  # noqa: E731
    return {
        "netns": mine(_listdir("/run/netns")),
        "links": mine(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()),
        "etc_netns": mine(_listdir("/etc/netns")),
        "run_labsim": mine(_listdir("/run/labsim")),
        "processes": _our_processes(),
        "mounts": {m for m in _mount_targets() if m == "/run/netns" or
                   (m.startswith("/run/netns/") and m[11:].startswith(OURS))},
        "fds": {str(len(os.listdir("/proc/self/fd")))},
    }


def _mount_targets() -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def leftovers(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    out = [f"{what}: {item}" for what in before for item in sorted(after[what] - before[what])
           if what != "fds"]
    if after["fds"] != before["fds"]:
        out.append(f"open fds in this process: {min(before['fds'])} -> {min(after['fds'])}")
    return out


def clean_up(before: dict[str, set[str]]) -> None:
    """Remove what this script's measurements may have left: only things not there before."""
    from labsim.bringup import lab
    from labsim.errors import LabNotFoundError

    for name in (AR_LAB, GEN_LAB):
        try:
            lab.down(name)
        except LabNotFoundError:
            pass
    now = host_snapshot()
    for ns in sorted(now["netns"] - before["netns"]):
        if ns.startswith("bip-"):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    for link in sorted(now["links"] - before["links"]):
        if link.startswith("bms"):
            subprocess.run(["ip", "link", "del", link], check=False, stderr=subprocess.DEVNULL)
    for proc in sorted(now["processes"] - before["processes"]):
        pid, _, what = proc.partition(" ")
        if "mininet:" in what:  # a Mininet node shell whose Mininet died
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    reap_children()


def reap_children(timeout: float = 2.0) -> None:
    """Reap our zombie children: daemons labsim spawned from this process, and (as a child
    subreaper, see main) orphans of our children such as Mininet shells."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            time.sleep(0.02)  # some still running: give them a moment


# -- report -----------------------------------------------------------------------------------
ROWS = [  # sample key, label, target in seconds as (operator, limit) or None
    ("ar.up", "apple-review: up to all ready (lab.up)", ("<=", 0.25)),
    ("ar.timings.network", "  res.timings network", None),
    ("ar.timings.services", "  res.timings services", None),
    ("ar.timings.ready_wait", "  res.timings ready_wait", None),
    ("ar.down", "apple-review: teardown (lab.down)", ("<=", 0.3)),
    ("gen.load", "N clients: labsim load_lab_text", None),
    ("gen.up", "N clients: labsim up", None),
    ("gen.timings.network", "  res.timings network", None),
    ("gen.timings.services", "  res.timings services", None),
    ("gen.down", "N clients: labsim down", None),
    ("plain.up", "N clients: plain ip script up", None),
    ("plain.down", "N clients: plain ip script down", None),
    ("mininet.up", "N clients: Mininet build+start", None),
    ("mininet.down", "N clients: Mininet stop", None),
]
RATIOS = [  # numerator, denominator, label, target as (operator, limit) or None
    ("gen.up", "plain.up", "labsim/plain up", ("<=", 0.4)),
    ("gen.up", "mininet.up", "labsim/mininet up", ("<=", 0.25)),
    ("gen.down", "plain.down", "labsim/plain down", None),
    ("gen.down", "mininet.down", "labsim/mininet down", None),
]


def goal(value: float, target: tuple[str, float] | None) -> str:
    if target is None:
        return ""
    op, limit = target
    ok = value < limit if op == "<" else value <= limit
    return f"{op} {limit:g} {'PASS' if ok else 'MISS'}"


def report(samples: dict[str, list[float]], n: int, runs: int, load: str) -> None:
    med = {k: statistics.median(v) for k, v in samples.items() if v}
    what = f"N = {n} clients + 1 router" if n else "topologies/apple-review.yml"
    print(f"\nbring-up benchmark: {runs} runs, {what} (seconds); load average {load}\n")
    print(f"{'measurement':42} {'median':>8} {'min':>8} {'max':>8}  target")
    for key, label, target in ROWS:
        if key not in med:
            continue
        v = samples[key]
        label = label.replace("N ", f"{n} ")
        print(f"{label:42} {med[key]:8.3f} {min(v):8.3f} {max(v):8.3f}  {goal(med[key], target)}")
    print(f"\n{'ratio (of medians)':42} {'value':>8}  target")
    for num, den, label, target in RATIOS:
        if num in med and den in med:
            ratio = med[num] / med[den]
            print(f"{label:42} {ratio:8.2f}  {goal(ratio, target)}")


PER_NODE_MS = 7.0  # target: labsim up per node (clients + router), ms
GROWTH = [("gen.up", "labsim", "-o"), ("plain.up", "plain ip script", "-s"), ("mininet.up", "Mininet", "-^")]


def growth(by_n: dict[int, dict[str, list[float]]]) -> None:
    """One line per N: medians of up, per node, and the ratios to the references."""
    print(f"\nbring-up against N (medians of the runs; per node = up / (N + 1))")
    print(f"{'N':>4} {'labsim':>8} {'ms/node':>8} {'plain':>8} {'mininet':>8} {'plain/labsim':>13} "
          f"{'mininet/labsim':>15}  target")
    for n, samples in sorted(by_n.items()):
        med = {k: statistics.median(v) for k, v in samples.items() if v}
        lab = med.get("gen.up")
        if lab is None:
            continue
        per = lab / (n + 1) * 1000
        pl, mn = med.get("plain.up"), med.get("mininet.up")
        r_pl = f"{pl / lab:13.2f}" if pl else f"{'—':>13}"
        r_mn = f"{mn / lab:15.2f}" if mn else f"{'—':>15}"
        verdict = [f"ms/node <= {PER_NODE_MS:g} {'PASS' if per <= PER_NODE_MS else 'MISS'}"]
        if pl:
            verdict.append(f"plain >= 2.5x {'PASS' if pl / lab >= 2.5 else 'MISS'}")
        if mn:
            verdict.append(f"mininet >= 4x {'PASS' if mn / lab >= 4 else 'MISS'}")
        print(f"{n:4d} {lab:8.3f} {per:8.2f} {pl or float('nan'):8.3f} {mn or float('nan'):8.3f} {r_pl} {r_mn}  "
              + "; ".join(verdict))
    ups = [(n, statistics.median(s["gen.up"])) for n, s in sorted(by_n.items()) if s.get("gen.up")]
    for (n0, t0), (n1, t1) in zip(ups, ups[1:]):  # linear in N: the marginal cost stays flat
        print(f"  marginal cost N={n0}->{n1}: {(t1 - t0) / (n1 - n0) * 1000:.2f} ms per added client")


def growth_png(by_n: dict[int, dict[str, list[float]]], path: str, load: str) -> None:
    from matplotlib.figure import Figure  # no pyplot: no display needed

    fig = Figure(figsize=(7, 4.5), dpi=110)
    ax = fig.subplots()
    sizes = sorted(by_n)
    for key, label, fmt in GROWTH:
        pts = [(n, statistics.median(by_n[n][key])) for n in sizes if by_n[n].get(key)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], fmt, label=label)
    ax.set_xlabel("clients (N), plus one router")
    ax.set_ylabel("bring-up, seconds (median)")
    ax.set_title(f"bring-up time against N (load average {load})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    say(f"wrote {path}")


def profile_up(n: int) -> None:
    """One `lab.up` of the generated lab under pyinstrument: where the time goes."""
    from pyinstrument import Profiler

    from labsim.bringup import lab
    from labsim.loader import load_lab_text

    loaded = load_lab_text(generated_topology(n), name=GEN_LAB)
    prof = Profiler(interval=0.0005)
    prof.start()
    try:
        lab.up(loaded)
    finally:
        prof.stop()
        lab.down(GEN_LAB)
    print(f"\nprofile of one labsim up, N = {n}:")
    print(prof.output_text(unicode=False, color=False))


def main() -> int:
    global AR_LAB, GEN_LAB, OURS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", default="10,50,100,250",
                    help="clients in the generated lab, comma-separated sizes (each 1-250)")
    ap.add_argument("--json", metavar="FILE", help="write every raw sample here")
    ap.add_argument("--png", metavar="FILE", default="bringup.png", help="bring-up time against N")
    ap.add_argument("--quick", action="store_true", help="3 runs, for a smoke run")
    ap.add_argument("--no-apple-review", action="store_true", help="only the generated labs")
    ap.add_argument("--no-mininet", action="store_true", help="leave Mininet out even if installed")
    ap.add_argument("--prefix", default="bench", help="lab names: PREFIX-ar, PREFIX-gen")
    ap.add_argument("--profile", action="store_true",
                    help="after the runs, profile one labsim up at the largest N (needs pyinstrument)")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="pause between measurements (the kernel frees namespaces lazily)")
    args = ap.parse_args()
    runs = 3 if args.quick else args.runs
    try:
        sizes = sorted({int(x) for x in args.nodes.split(",")})
    except ValueError:
        ap.error("--nodes: comma-separated integers")
    if os.geteuid() != 0 or not all(1 <= n <= 250 for n in sizes) or runs < 1:
        ap.error("run as root, with sizes 1..250 and --runs >= 1")
    AR_LAB, GEN_LAB = f"{args.prefix}-ar", f"{args.prefix}-gen"
    OURS = ("bip-", f"ls-{AR_LAB}", f"ls-{GEN_LAB}", AR_LAB, GEN_LAB, "bms")
    from labsim.loader import load_lab

    before, load0 = host_snapshot(), os.getloadavg()[0]
    if before["netns"] or before["links"] or before["run_labsim"]:
        ap.error(f"bip-*/ls-{args.prefix}-* namespaces, bms* links or labs {args.prefix}-* exist: remove them")
    have_mininet = not args.no_mininet and subprocess.run([SYS_PYTHON, "-c", "import mininet.net"],
                                                          capture_output=True).returncode == 0
    if not have_mininet and not args.no_mininet:
        say("mininet is not installed: skipping it (see the docstring for the apt-get line)")
    ar = None if args.no_apple_review else load_lab(APPLE_REVIEW, name=AR_LAB)
    by_n: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}
    ar_samples: dict[str, list[float]] = {}

    def cycles_for(n: int) -> list:
        text = generated_topology(n)
        out = [("labsim generated", lambda: gen_cycle(text)), ("plain ip", lambda: plain_cycle(n))]
        if have_mininet:
            out.append(("mininet", lambda: mininet_cycle(n)))
        return out

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below
    # orphans of our children (Mininet's shells if its process dies) become ours to reap
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    rng = random.Random(0)
    try:
        for run in range(runs):
            # rounds: every size and tool once per round, in a shuffled order, so load that
            # comes and goes on a shared machine lands on all of them alike
            todo = [(n, name, cycle) for n in sizes for name, cycle in cycles_for(n)]
            if ar is not None:
                todo.append((None, "labsim apple-review", lambda: labsim_cycle(ar, AR_LAB, "ar")))
            rng.shuffle(todo)
            for n, name, cycle in todo:
                got = cycle()
                into = ar_samples if n is None else by_n[n]
                for key, value in got.items():
                    into.setdefault(key, []).append(value)
                shown = " ".join(f"{k.rsplit('.', 1)[1]} {v:.3f}" for k, v in got.items()
                                 if ".timings." not in k)
                say(f"[run {run + 1}/{runs}] {name}{'' if n is None else f' N={n}'}: {shown}")
                time.sleep(args.settle)
    finally:
        time.sleep(0.5)  # let killed processes finish exiting before looking
        left = leftovers(before, host_snapshot())
        clean_up(before)
        still = leftovers(before, host_snapshot())
        say("left behind: " + ("; ".join(left) or "nothing") + f" (after clean-up: {len(still)})")
    load = f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after"
    if ar_samples:
        report(ar_samples, 0, runs, load)
    for n in sizes:
        report(by_n[n], n, runs, load)
    growth(by_n)
    if len(sizes) > 1 and args.png:
        growth_png(by_n, args.png, load)
    if args.profile:
        profile_up(max(sizes))
    print("\nleft behind after the runs: " + ("nothing" if not left else ""))
    for item in left:
        print(f"  {item}")
    if still:
        print("still there after this script's own clean-up:\n  " + "\n  ".join(still))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "nodes": sizes, "load": load,
                                               "apple_review": ar_samples,
                                               "samples": {str(n): v for n, v in by_n.items()},
                                               "left_behind": left, "after_cleanup": still}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
