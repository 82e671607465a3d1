"""Peak memory of `labsim up`: the resident set of the whole process bringing up a generated
lab of one router and N clients (default 250), against the floor of the same interpreter
importing labsim's CLI, measured in the same run (alternating, `--runs` times each).

Peak RSS comes from the kernel's rusage of the finished child (ru_maxrss). The lab is torn
down with `labsim down` after each run; it sends no traffic. Target (issue 14): <= 120 MB
at 250 clients.

Run as root:  .venv/bin/python bench/memory.py [--nodes 250] [--runs 3] [--prefix bench]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bringup import generated_topology  # noqa: E402

LABSIM = str(Path(sys.executable).parent / "labsim")
TARGET_MB = 120


def peak_mb(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one whole process."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> exit {proc.returncode}: {proc.stderr.read().decode()[-800:]}")
    return usage.ru_maxrss / 1024, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=250)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefix", default="bench")
    args = ap.parse_args()
    if os.geteuid() != 0 or not 1 <= args.nodes <= 250 or args.runs < 1:
        ap.error("run as root, with 1 <= --nodes <= 250 and --runs >= 1")
    name = f"{args.prefix}-mem"
    load0 = os.getloadavg()[0]
    up, floor, secs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        topo = Path(tmp) / "gen.yml"
        topo.write_text(generated_topology(args.nodes))
        for run in range(args.runs):
            floor.append(peak_mb([sys.executable, "-c", "import labsim.commands.cli"])[0])
            try:
                mb, took = peak_mb([LABSIM, "up", str(topo), "--name", name])
            finally:
                subprocess.run([LABSIM, "down", name], capture_output=True, timeout=120)
            up.append(mb)
            secs.append(took)
            print(f"[run {run + 1}/{args.runs}] labsim up: {mb:.1f} MB in {took:.2f} s; "
                  f"import floor {floor[-1]:.1f} MB", file=sys.stderr, flush=True)
    m_up, m_floor = statistics.median(up), statistics.median(floor)
    print(f"\npeak RSS, {args.runs} runs, N = {args.nodes} clients + 1 router; load average "
          f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    print(f"{'process':36} {'median MB':>10} {'max MB':>8}  target")
    print(f"{'labsim up (whole process)':36} {m_up:10.1f} {max(up):8.1f}  <= {TARGET_MB} "
          f"{'PASS' if m_up <= TARGET_MB else 'MISS'}")
    print(f"{'python -c import labsim.commands.cli (floor)':36} {m_floor:10.1f} {max(floor):8.1f}")
    print(f"{'labsim up / floor':36} {m_up / m_floor:10.2f}")
    print(f"{'labsim up wall (s, median)':36} {statistics.median(secs):10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
