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
  3. With --profile, one more docker bring-up with its steps timed (container create and
     start, launcher exec/spawn, files, setup commands, readiness): where the time goes.
Target (issue 14): docker up to ready <= 1.2 s (median) with the image present. Two
references are measured in the same rounds (absolute times move with the host): the netns
runtime, and the floor, as many bare containers of the node image created and started at
once through the SDK as the lab has nodes, with nothing run inside (what Docker itself costs
before labsim does anything); the ratio and the difference to the floor are labsim's part.

Labs are brought up through labsim.bringup.lab with each runtime by name, as the CLI does.

Run as root:  .venv/bin/python bench/docker_bringup.py [--runs 5] [--cold] [--no-image] [--prefix P]
                                                      [--profile] [--json FILE]
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
TARGET_S = 1.2
ABOVE_FLOOR_S = 0.3  # issue 21: up to all-ready within 0.3 s of Docker's own starts


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


def bare_starts(n: int, tag: str) -> float:
    """The floor: n containers of the node image created and started at once through the
    SDK, as labsim starts them (same workers, `--init`, no network, sleeping), until every
    start returns; then removed. Nothing labsim does inside a container is in this."""
    from concurrent.futures import ThreadPoolExecutor

    import docker

    from labsim.runtime.docker.image_spec import image_name

    cli = docker.from_env()
    api = cli.api

    def one(i: int) -> str:
        cid = api.create_container(image_name(), ["sleep", "infinity"], name=f"{tag}-{i}",
                                   host_config=api.create_host_config(init=True, network_mode="none"),
                                   labels={"labsim.commands.bench": tag})["Id"]
        api.start(cid)
        return cid

    t = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(one, range(n)))
    took = time.monotonic() - t
    for cid in ids:
        api.remove_container(cid, force=True)
    cli.close()
    return took


def bringup(runs: int) -> dict:
    from labsim.bringup import lab
    from labsim.loader import load_lab

    out: dict = {rt: {"up": [], "down": [], "network": [], "services": [], "ready_wait": []} for rt in LABS}
    out["floor"] = {"starts": []}
    nodes = len(load_lab(TOPO, name="probe").plan.nodes)
    for name in LABS.values():  # leftovers of an interrupted run
        try:
            lab.down(name)
        except Exception:
            pass
    checked = None
    for i in range(runs):
        out["floor"]["starts"].append(bare_starts(nodes, f"{LABS['docker']}-floor"))
        print(f"round {i + 1}/{runs} floor  {nodes} bare container starts {out['floor']['starts'][-1]:.2f} s",
              file=sys.stderr)
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
        subprocess.run([sys.executable, "-m", "labsim.commands.cli", "image", "build"],
                       check=True, capture_output=True, cwd=REPO)
        cli_runs.append(time.monotonic() - t)
    out["cached_command"] = stats(cli_runs)
    return out


def leftovers() -> list[str]:
    left = []
    res = subprocess.run(["docker", "ps", "-aq", "--filter", "label=labsim.commands.bench"], capture_output=True, text=True)
    left += [f"floor container {c}" for c in res.stdout.split()]
    for name in LABS.values():
        res = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=labsim.lab={name}"],
                             capture_output=True, text=True)
        left += [f"container {c}" for c in res.stdout.split()]
        left += [f"netns {n}" for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
                 if n.startswith(f"ls-{name}")]
        if Path(f"/run/labsim/{name}").exists():
            left.append(f"dir /run/labsim/{name}")
    return left


def profile() -> list[tuple[float, float, str, str]]:
    """One docker bring-up with its steps timed: (start, duration, thread, step) from the
    call to lab.up. Wraps the runtime's methods and the docker API's for this run only."""
    import functools
    import threading

    import docker.api.container as api_container
    import docker.api.exec_api as api_exec

    import labsim.bringup.lab as lab
    from labsim.loader import load_lab
    from labsim.runtime.docker import runtime

    events: list[tuple[float, float, str, str]] = []
    t0 = time.monotonic()
    undo = []

    def wrap(owner, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*a, **k):
            t = time.monotonic()
            try:
                return fn(*a, **k)
            finally:
                what = " ".join(x if isinstance(x, str) else " ".join(map(str, x))
                                for x in a[1:3] if isinstance(x, (str, list)))
                events.append((t - t0, time.monotonic() - t, threading.current_thread().name,
                               f"{label} {what}"[:90]))
        setattr(owner, attr, timed)
        undo.append((owner, attr, fn))

    for attr in ("create_hub", "create_nodes", "create_node", "connect", "add_routes", "write_file",
                 "exec", "spawn"):
        wrap(runtime.DockerRuntime, attr, attr)
    try:  # the launcher's connection (absent from runtimes before it)
        from labsim.runtime.docker import agentconn

        wrap(agentconn.AgentConn, "connect", "launcher connect")
    except ImportError:
        pass
    for attr in ("create_container", "start", "inspect_container"):
        wrap(api_container.ContainerApiMixin, attr, f"api {attr}")
    for attr in ("exec_create", "exec_start"):
        wrap(api_exec.ExecApiMixin, attr, f"api {attr}")
    for attr in ("_begin_network", "_bring_up_nodes", "_node_services", "wait_ready"):
        wrap(lab, attr, attr)
    name = LABS["docker"]
    try:
        loaded = load_lab(TOPO, name=name)
        t0 = time.monotonic()
        res = lab.up(loaded, runtime="docker")
        events.append((0.0, time.monotonic() - t0, "MainThread", f"lab.up {res.timings}"))
        lab.down(name)
    finally:
        for owner, attr, fn in undo:
            setattr(owner, attr, fn)
    return sorted(events)


def print_profile(events: list[tuple[float, float, str, str]]) -> None:
    print("\nprofile of one docker bring-up (start s, duration s, thread, step):")
    totals: dict[str, list[float]] = {}
    for start, dur, thread, step in events:
        print(f"  {start:6.3f} {dur:6.3f} {thread[-14:]:>14} {step}")
        key = step.split(" ")[0] + (" " + step.split(" ")[1] if step.startswith(("api", "launcher")) else "")
        totals.setdefault(key, []).append(dur)
    print("  per step: count, sum, median")
    for key, ds in sorted(totals.items(), key=lambda kv: -sum(kv[1])):
        print(f"    {key:28s} {len(ds):3d} {sum(ds):6.3f} s {statistics.median(ds):6.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="also time a cold offline image build (~2 min)")
    ap.add_argument("--prefix", default="bench", help="lab names: PREFIX-ns, PREFIX-dk")
    ap.add_argument("--no-image", action="store_true", help="skip the image build timings")
    ap.add_argument("--profile", action="store_true", help="also time the steps of one docker bring-up")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    LABS.update(netns=f"{args.prefix}-ns", docker=f"{args.prefix}-dk")
    load_before = os.getloadavg()
    img = {} if args.no_image else image_times(args.cold, args.runs)
    bu = bringup(args.runs)
    load_after = os.getloadavg()
    events = profile() if args.profile else []
    s = {rt: {k: stats(v) for k, v in d.items()} for rt, d in bu["samples"].items()}
    from labsim.loader import load_lab

    nodes = len(load_lab(TOPO, name="probe").plan.nodes)
    print(f"\napple-review ({nodes} nodes), {args.runs} rounds, interleaved; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (2 cores)")
    for rt in LABS:
        print(f"  {rt:6s} up to ready {fmt(s[rt]['up'])}")
        print(f"  {'':6s}   network     {fmt(s[rt]['network'])}")
        print(f"  {'':6s}   services    {fmt(s[rt]['services'])}")
        print(f"  {'':6s}   ready wait  {fmt(s[rt]['ready_wait'])}")
        print(f"  {rt:6s} teardown    {fmt(s[rt]['down'])}")
    floor = s["floor"]["starts"]
    print(f"  floor: {nodes} bare container starts at once (node image, no network, nothing inside)")
    print(f"                      {fmt(floor)}")
    ratio = s["docker"]["up"]["median"] / s["netns"]["up"]["median"]
    print(f"  docker / netns up to ready: {ratio:.1f}x (medians, same rounds)")
    print(f"  docker up to ready - floor: {s['docker']['up']['median'] - floor['median']:.2f} s; "
          f"/ floor: {s['docker']['up']['median'] / floor['median']:.2f}x (labsim's own part: wiring, "
          f"launchers, files, daemons to ready)")
    # paired: each round's bring-up less that round's floor (load that comes and goes lands on both)
    above = [u - f for u, f in zip(bu["samples"]["docker"]["up"], bu["samples"]["floor"]["starts"], strict=True)]
    print(f"  per round, docker up to ready - that round's floor: median {statistics.median(above):+.2f} s "
          f"({min(above):+.2f} to {max(above):+.2f}); issue 21's target: <= +{ABOVE_FLOOR_S:g} s "
          f"{'PASS' if statistics.median(above) <= ABOVE_FLOOR_S else 'MISS'}")
    met = s["docker"]["up"]["median"] <= TARGET_S
    print(f"  docker target (ready <= {TARGET_S} s): {'PASS' if met else 'MISS'} "
          f"({s['docker']['up']['median']:.2f} s)")
    print(f"  docker lab check: curl -> {bu['check']}")
    if events:
        print_profile(events)
    if img:
        print("image labsim/node:")
    if "cold_offline_s" in img:
        print(f"  cold offline build    {img['cold_offline_s']:6.1f} s")
    if img:
        print(f"  cached, in process    {fmt(img['cached_in_process'])}")
        print(f"  cached, `image build` {fmt(img['cached_command'])}")
    left = leftovers()
    if left:
        print(f"LEFT ON THE HOST: {', '.join(left)}")
    if args.json:
        args.json.write_text(json.dumps({"bringup": s, "samples": bu["samples"], "image": img,
                                         "ratio_docker_netns": ratio, "target_met": met,
                                         "loadavg": [load_before, load_after],
                                         "profile": events, "leftovers": left}, indent=1))


if __name__ == "__main__":
    main()
