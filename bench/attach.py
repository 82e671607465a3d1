"""Time from `labsim up --attach lan=PORT` to an attached device's first successful request
through DNS64/NAT64 (kernel SLAAC, RA timing, the resolver from the RA), median of rounds,
beside the same lab without attach (time to the `modern` node's first request), in one run.

The device is a namespace with one end of a veth pair, configured only by its kernel
(accept_ra=2); the other end starts in a second namespace standing in for the host, where
labsim runs (nsenter): nothing of the real host is touched. Root; lab names `w2ab<n>`.

    sudo .venv/bin/python bench/attach.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABSIM = str(REPO / ".venv" / "bin" / "labsim")
TOPO = "topologies/ipv6-mostly.yml"
URL = "http://api.example.test/"
RESOLVER = "2001:db8:1::3"  # the lab's DNS64 (the RA's RDNSS; the test reads it from the RA)


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=20)


def first_request(argv: list[str], deadline_s: float = 60) -> float | None:
    """Seconds until `argv` (a curl) first succeeds, polling every 50 ms, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        if res.returncode == 0 and res.stdout.startswith("{"):
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def one_round(n: int, with_attach: bool) -> float | None:
    lab, host, dev = f"w2ab{n}", f"w2a-bh{n}", f"w2a-bd{n}"
    try:
        for ns in (host, dev):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", host, "link", "add", "w2abport", "type", "veth", "peer", "name", "w2abdev", "netns", dev)
        sh("ip", "netns", "exec", dev, "sysctl", "-qw", "net.ipv6.conf.w2abdev.accept_ra=2")
        sh("ip", "-n", dev, "link", "set", "dev", "w2abdev", "up")
        Path(f"/etc/netns/{dev}").mkdir(parents=True, exist_ok=True)
        Path(f"/etc/netns/{dev}/resolv.conf").write_text(f"nameserver {RESOLVER}\n")
        args = ["nsenter", f"--net=/run/netns/{host}", LABSIM, "up", TOPO, "--name", lab]
        if with_attach:
            args += ["--attach", "lan=w2abport"]
        curl = ["curl", "-s", "-m", "2", URL]
        probe = (["ip", "netns", "exec", dev, *curl] if with_attach
                 else [LABSIM, "exec", "--lab", lab, "modern", "--", *curl])
        t0 = time.monotonic()
        up = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if up.wait(timeout=120) != 0:
            print(f"round {n}: up failed: {up.stderr.read().decode()[-400:] if up.stderr else ''}", file=sys.stderr)
            return None
        up_s = time.monotonic() - t0
        rest = first_request(probe)
        if rest is None:
            return None
        if with_attach:  # the request went through the NAT64 (the backend saw its pool)
            body = subprocess.run(probe, capture_output=True, text=True, timeout=10).stdout
            assert ipaddress.ip_address(json.loads(body)["remote"]) in ipaddress.ip_network("198.18.0.0/24")
        print(f"  {'attach' if with_attach else 'plain '} round {n}: up {up_s:.2f}s, "
              f"first request {up_s + rest:.2f}s", file=sys.stderr)
        return up_s + rest
    finally:
        subprocess.run([LABSIM, "down", lab], capture_output=True, timeout=60)
        for ns in (dev, host):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        subprocess.run(["rm", "-rf", f"/etc/netns/{dev}"], timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    rounds = ap.parse_args().rounds
    result = {}
    for label, with_attach in (("without_attach", False), ("with_attach", True)):
        times = [t for i in range(rounds) if (t := one_round(i, with_attach)) is not None]
        result[label] = {"median_s": round(statistics.median(times), 3) if times else None,
                         "rounds": [round(t, 3) for t in times], "failed": rounds - len(times)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
