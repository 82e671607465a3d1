"""The docker runtime against the netns runtime, and the node image's build time.

Measured in one process run:
  1. topologies/apple-review.yml brought up to ready (`lab.up`: every daemon answers its
     readiness probe; wall clock around the call, res.timings split it) and torn down
     (`lab.down`), on netns and on docker, interleaved per round; median, min and max of N.
     The first docker round also checks the lab works (curl from the client container to
     http://api.example.test/ gives 200 through the NAT64 prefix).
  2. The labsim/node image: a cached build (the label matches: nothing to do), in process
     and as `labsim image build` (a fresh interpreter); with --cold, a cold offline build
     first: the node and base images are removed and rebuilt (debootstrap + import + docker
     build; ~2 min, needs the Debian archive apt uses).
Target: docker ready <= 3 s with the image present.

Labs are brought up through labsim.lab with each runtime by name, as the CLI does.

Run as root:  .venv/bin/python bench/docker_bringup.py [--runs 5] [--cold] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TOPO = REPO / "topologies" / "apple-review.yml"
LABS = {"netns": "bench-ns", "docker": "bench-dk"}


def stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)} if xs else {}


def fmt(s: dict) -> str:
    return f"{s['median']:6.2f} s  (min {s['min']:.2f}, max {s['max']:.2f}, n={s['n']})" if s else "-"


def check_docker_lab(name: str) -> str:
    res = subprocess.run(["docker", "exec", f"ls-{name}_client", "curl", "-sS", "-m", "5", "-o", "/dev/null",
                          "-w", "%{http_code} %{remote_ip}", "http://api.example.test/"],
                         capture_output=True, text=True, timeout=30)
    if not res.stdout.startswith("200 2001:db8:64::"):
        raise SystemExit(f"the docker lab does not work: {res.stdout!r} {res.stderr!r}")
    return res.stdout


def bringup(runs: int) -> dict:
    from labsim import lab
    from labsim.loader import load_lab

    out: dict = {rt: {"up": [], "down": [], "network": [], "services": [], "ready_wait": []} for rt in LABS}
    for name in LABS.values():  # leftovers of an interrupted run
        try:
            lab.down(name)
        except Exception:
            pass
    checked = None
    for i in range(runs):
        for runtime, name in LABS.items():
            loaded = load_lab(TOPO, name=name)
            t = time.monotonic()
            res = lab.up(loaded, runtime=runtime)
            out[runtime]["up"].append(time.monotonic() - t)
            for k in ("network", "services", "ready_wait"):
                out[runtime][k].append(res.timings.get(k, 0.0))
            if runtime == "docker" and checked is None:
                checked = check_docker_lab(name)
            t = time.monotonic()
            lab.down(name)
            out[runtime]["down"].append(time.monotonic() - t)
            print(f"round {i + 1}/{runs} {runtime:6s} up {out[runtime]['up'][-1]:.2f} s, "
                  f"down {out[runtime]['down'][-1]:.2f} s", file=sys.stderr)
    return {"samples": out, "check": checked}


def image_times(cold: bool, runs: int) -> dict:
    from labsim.runtime.docker import image
    from labsim.runtime.docker.image_spec import BASE_REPO, image_name

    out: dict = {}
    if cold:
        import docker

        cli = docker.from_env()
        for tag in [image_name()] + [t for i in cli.images.list(name=BASE_REPO) for t in i.tags]:
            try:
                cli.images.remove(tag, force=True)
            except docker.errors.ImageNotFound:
                pass
        cli.close()
        t = time.monotonic()
        image.build_image(offline=True)
        out["cold_offline_s"] = time.monotonic() - t
    image.ensure_image()
    cached = []
    for _ in range(runs):
        t = time.monotonic()
        image.build_image()
        cached.append(time.monotonic() - t)
    out["cached_in_process"] = stats(cached)
    cli_runs = []
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "labsim.cli", "image", "build"],
                       check=True, capture_output=True, cwd=REPO)
        cli_runs.append(time.monotonic() - t)
    out["cached_command"] = stats(cli_runs)
    return out


def leftovers() -> list[str]:
    left = []
    for name in LABS.values():
        res = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=labsim.lab={name}"],
                             capture_output=True, text=True)
        left += [f"container {c}" for c in res.stdout.split()]
        left += [f"netns {n}" for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
                 if n.startswith(f"ls-{name}")]
        if Path(f"/run/labsim/{name}").exists():
            left.append(f"dir /run/labsim/{name}")
    return left


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="also time a cold offline image build (~2 min)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    img = image_times(args.cold, args.runs)
    bu = bringup(args.runs)
    s = {rt: {k: stats(v) for k, v in d.items()} for rt, d in bu["samples"].items()}
    from labsim.loader import load_lab

    nodes = len(load_lab(TOPO, name="probe").plan.nodes)
    print(f"\napple-review ({nodes} nodes), {args.runs} rounds, interleaved")
    for rt in LABS:
        print(f"  {rt:6s} up to ready {fmt(s[rt]['up'])}")
        print(f"  {'':6s}   network     {fmt(s[rt]['network'])}")
        print(f"  {'':6s}   services    {fmt(s[rt]['services'])}")
        print(f"  {'':6s}   ready wait  {fmt(s[rt]['ready_wait'])}")
        print(f"  {rt:6s} teardown    {fmt(s[rt]['down'])}")
    target = s["docker"]["up"]["median"] <= 3.0
    print(f"  docker target (ready <= 3 s): {'met' if target else 'MISSED'}")
    print(f"  docker lab check: curl -> {bu['check']}")
    print("image labsim/node:")
    if "cold_offline_s" in img:
        print(f"  cold offline build    {img['cold_offline_s']:6.1f} s")
    print(f"  cached, in process    {fmt(img['cached_in_process'])}")
    print(f"  cached, `image build` {fmt(img['cached_command'])}")
    left = leftovers()
    if left:
        print(f"LEFT ON THE HOST: {', '.join(left)}")
    if args.json:
        args.json.write_text(json.dumps({"bringup": s, "samples": bu["samples"], "image": img,
                                         "leftovers": left}, indent=1))


if __name__ == "__main__":
    main()
