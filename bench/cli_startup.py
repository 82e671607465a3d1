"""CLI start-up: what a user waits for per command, against the tools it stands in for.

Measured in one run, in rounds (every command once per round, in a shuffled order, so load
that comes and goes on a shared machine lands on all alike), each a whole process:
  labsim --help; labsim status; labsim status LAB; labsim exec --lab LAB c1 -- true;
  the references `ip netns exec NS true`, `docker exec CONTAINER true` (a container of the
  labsim/node image, no network), and the interpreter floor `python -c pass`.
Printed: medians, and each as a ratio to `ip netns exec` and to `docker exec` measured in the
same run. Targets (issue 14): --help <= 0.15 s, exec <= 0.08 s, status <= 0.2 s.
The lab is a generated one (one router, one client); it sends no traffic.

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
TARGETS = {"labsim --help": 0.15, "labsim exec": 0.08, "labsim status": 0.2, "labsim status LAB": 0.2}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> exit {res.returncode}: {res.stderr.decode()[-500:]}")
    return took


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
        cmds = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "labsim --help": [LABSIM, "--help"],
            "labsim status": [LABSIM, "status"],
            "labsim status LAB": [LABSIM, "status", name],
            "labsim exec": [LABSIM, "exec", "--lab", name, "c1", "--", "true"],
            "ip netns exec": ["ip", "netns", "exec", f"ls-{name}_c1", "true"],
        }
        if have_docker:
            container = name
            subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", "--name", container,
                            "--entrypoint", "sleep", IMAGE, "600"], check=True, capture_output=True, timeout=60)
            cmds["docker exec"] = ["docker", "exec", container, "true"]
        else:
            say(f"docker or the image {IMAGE} is missing: no docker exec reference")
        samples: dict[str, list[float]] = {k: [] for k in cmds}
        rng = random.Random(0)
        for run in range(args.runs):
            order = list(cmds)
            rng.shuffle(order)
            for key in order:
                samples[key].append(timed(cmds[key]))
            say(f"[run {run + 1}/{args.runs}] " + " ".join(f"{k.split()[-1]} {samples[k][-1]:.3f}" for k in order))
    finally:
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
        lab.down(name)
    load = f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after"
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"\nCLI start-up: {args.runs} runs, whole processes (seconds); load average {load}\n")
    print(f"{'command':20} {'median':>8} {'min':>8} {'/ ip netns exec':>16} {'/ docker exec':>14}  target")
    for key, v in samples.items():
        r_ip = med[key] / med["ip netns exec"]
        r_dk = f"{med[key] / med['docker exec']:14.2f}" if "docker exec" in med else f"{'—':>14}"
        target = TARGETS.get(key)
        goal = f"<= {target:g} {'PASS' if med[key] <= target else 'MISS'}" if target else ""
        print(f"{key:20} {med[key]:8.3f} {min(v):8.3f} {r_ip:16.1f} {r_dk}  {goal}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "load": load, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
