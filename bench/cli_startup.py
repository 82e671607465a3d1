"""CLI start-up: what a user waits for per command, against the tools it stands in for.

Measured in one run, in rounds (every command once per round, in a shuffled order, so load
that comes and goes on a shared machine lands on all alike), each a whole process, stdin and
stdout not a terminal (as in scripts and CI):
  labsim --help; labsim run --help; labsim status; labsim status --json; labsim status LAB;
  labsim exec --lab LAB c1 -- true; `labsim up apple-review` + `labsim down` (two processes,
  one figure); `up apple-review --json`'s time outside its own bring-up (the whole process
  less the `timings.total` it reports: imports, parsing, loading, the summary, exit); the
  references `ip netns exec NS true`, `docker exec CONTAINER true` (a
  container of the labsim/node image, no network), the interpreter floor `python -c pass`,
  `load apple-review only` (import labsim.loader and load the topology: the pydantic
  validation `up` cannot skip, so the part of `up` outside its bring-up no CLI work removes),
  and `pydantic, one model` (import pydantic, define a one-field model, validate a value: the
  least any pydantic-validating command pays; `up` outside its bring-up is also printed as
  a ratio to it).
Printed: medians, and each as the median of its per-round ratio to `python -c pass` of the
same round, with the range of those ratios (issue 21: --help and status <= 3x, up + down
<= 0.8 s, up outside its bring-up <= 2x), and as a ratio
to `ip netns exec` and `docker exec`. Targets (issue 14): --help <= 0.15 s, exec <= 0.08 s,
status <= 0.2 s. The labs are a generated one (one router, one client) and apple-review; no
traffic is sent. To measure another checkout: PYTHONPATH=DIR (its labsim is used throughout).

Run as root:  .venv/bin/python bench/cli_startup.py [--runs 20] [--prefix bench] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

LABSIM = str(Path(sys.executable).parent / "labsim")
IMAGE = "labsim/node:0.1.0"
TOPOLOGY = """name: cli
networks:
  lan: {ipv6: "2001:db8:50::/64"}
nodes:
  r1: {kind: router, links: [lan]}
  c1: {kind: client, links: [lan]}
"""
TARGETS = {"labsim --help": 0.15, "labsim exec": 0.08, "labsim status": 0.2, "labsim status LAB": 0.2,
           "up apple-review+down": 0.8}
RATIO_TARGETS = {"labsim --help": 3.0, "labsim run --help": 3.0, "labsim status": 3.0, "labsim status --json": 3.0,
                 "up: outside bring-up": 2.0}
OUTSIDE = "up: outside bring-up"
LOAD_ONLY = "load apple-review only"
PYDANTIC = "pydantic, one model"
FLOOR = "python -c pass"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(*argvs: list[str]) -> float:
    """Seconds the processes take one after the other (stdin, stdout not terminals)."""
    took = 0.0
    for argv in argvs:
        t0 = time.perf_counter()
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             timeout=60)
        took += time.perf_counter() - t0
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} -> exit {res.returncode}: {res.stderr.decode()[-500:]}")
    return took


def outside_bringup(name: str) -> float:
    """Seconds `labsim up apple-review --json` takes beyond the bring-up it reports itself
    (`timings.total`), then its `down` (not counted)."""
    t0 = time.perf_counter()
    res = subprocess.run([LABSIM, "up", "apple-review", "--name", name, "--json"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=60)
    took = time.perf_counter() - t0
    timed([LABSIM, "down", name])
    if res.returncode != 0:
        raise RuntimeError(f"labsim up --json -> exit {res.returncode}: {res.stderr.decode()[-500:]}")
    return took - json.loads(res.stdout)["timings"]["total"]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--prefix", default="bench", help="the lab is PREFIX-cli, the container PREFIX-cli")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if os.geteuid() != 0 or args.runs < 1:
        ap.error("run as root with --runs >= 1")
    import compileall

    import labsim
    from labsim.bringup import lab
    from labsim.loader import load_lab_text

    # byte-compiled as an installed package is (pip compiles at install): an editable checkout
    # run with PYTHONDONTWRITEBYTECODE would otherwise compile labsim at every start
    compileall.compile_dir(str(Path(labsim.__file__).parent), quiet=1)
    name = f"{args.prefix}-cli"
    have_docker = shutil.which("docker") is not None and subprocess.run(
        ["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0
    load0 = os.getloadavg()[0]
    lab.up(load_lab_text(TOPOLOGY, name=name))
    container = None
    try:
        updown = f"{args.prefix}-ud"
        cmds: dict[str, list[list[str]]] = {
            FLOOR: [[sys.executable, "-c", "pass"]],
            "labsim --help": [[LABSIM, "--help"]],
            "labsim run --help": [[LABSIM, "run", "--help"]],
            "labsim status": [[LABSIM, "status"]],
            "labsim status --json": [[LABSIM, "status", "--json"]],
            "labsim status LAB": [[LABSIM, "status", name]],
            "labsim exec": [[LABSIM, "exec", "--lab", name, "c1", "--", "true"]],
            "up apple-review+down": [[LABSIM, "up", "apple-review", "--name", updown], [LABSIM, "down", updown]],
            "ip netns exec": [["ip", "netns", "exec", f"ls-{name}_c1", "true"]],
            # what `up` cannot do without while it validates the file with pydantic: the
            # loader's imports and apple-review loaded, nothing else (no CLI, no bring-up)
            LOAD_ONLY: [[sys.executable, "-c", "from pathlib import Path; from labsim.loader import load_lab; "
                         "load_lab(Path('apple-review'))"]],
            # the least any command that validates with pydantic pays: import it, define a
            # one-field model, validate one value (pydantic builds its schema machinery on
            # the first model)
            PYDANTIC: [[sys.executable, "-c", "from pydantic import BaseModel\n"
                        "class M(BaseModel):\n    x: int\nM(x=1)"]],
        }
        if have_docker:
            container = name
            subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", "--name", container,
                            "--entrypoint", "sleep", IMAGE, "600"], check=True, capture_output=True, timeout=60)
            cmds["docker exec"] = [["docker", "exec", container, "true"]]
        else:
            say(f"docker or the image {IMAGE} is missing: no docker exec reference")
        samples: dict[str, list[float]] = {k: [] for k in [*cmds, OUTSIDE]}
        rng = random.Random(0)
        for run in range(args.runs):
            order = [*cmds, OUTSIDE]
            rng.shuffle(order)
            for key in order:
                samples[key].append(outside_bringup(f"{args.prefix}-uj") if key == OUTSIDE else timed(*cmds[key]))
            say(f"[run {run + 1}/{args.runs}] " + " ".join(f"{k.split()[-1]} {samples[k][-1]:.3f}" for k in order))
    finally:
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
        lab.down(name)
    load = f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after"
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"\nCLI start-up: {args.runs} runs, whole processes (seconds); load average {load}\n")
    print(f"interpreter start ({FLOOR}, {sys.executable}): median {med[FLOOR] * 1000:.1f} ms\n")
    print(f"{'command':22} {'median':>7} {'min':>7} {'/ python -c pass (range)':>25} {'/ ip netns':>10} "
          f"{'/ docker':>8}  target")
    for key, v in samples.items():
        ratios = [t / f for t, f in zip(v, samples[FLOOR], strict=True)]  # each against the floor of its round
        r_ip = med[key] / med["ip netns exec"]
        r_dk = f"{med[key] / med['docker exec']:8.2f}" if "docker exec" in med else f"{'—':>8}"
        goals = []
        if key in TARGETS:
            goals.append(f"<= {TARGETS[key]:g} s {'PASS' if med[key] <= TARGETS[key] else 'MISS'}")
        if key in RATIO_TARGETS:
            ok = statistics.median(ratios) <= RATIO_TARGETS[key]
            goals.append(f"<= {RATIO_TARGETS[key]:g}x {'PASS' if ok else 'MISS'}")
        print(f"{key:22} {med[key]:7.3f} {min(v):7.3f} {spread(ratios):>25} {r_ip:10.1f} {r_dk}  {', '.join(goals)}")
    per = [o / p for o, p in zip(samples[OUTSIDE], samples[PYDANTIC], strict=True)]
    print(f"\n{OUTSIDE}: {spread(per)} x `{PYDANTIC}` in the same rounds (that process alone is "
          f"{statistics.median(samples[PYDANTIC]) / med[FLOOR]:.2f}x python -c pass: the {RATIO_TARGETS[OUTSIDE]:g}x "
          "target is below what validating with pydantic costs)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "load": load, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
