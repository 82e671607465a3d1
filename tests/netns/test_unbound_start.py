"""Tier 2: the lab's unbound (the default DNS64) starts without tens of thousands of system
calls. unbound shuffles its outgoing port set at start with one arc4random per port, and
Debian 12's glibc makes each a getrandom(2) call: ~71,000 with unbound's default port set,
55-66 ms to its first answer here, more under a docker bring-up's load. labsim's config
permits 1024 ports of the dynamic range (kinds/dns64_impl/unbound.py); the resolver still
answers through its stub zone from a source port there."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_labsim

pytestmark = pytest.mark.root


def test_unbound_starts_with_few_getrandom_calls_and_still_resolves(lab_name, tmp_path):
    lab = lab_name  # tests/conftest.py: taken down after the test, whatever it left
    if shutil.which("strace") is None:
        pytest.fail("strace is missing (make setup installs it)")
    res = run_labsim("up", "apple-review", "--name", lab, timeout=300)
    assert res.returncode == 0, res.stderr
    conf = (Path("/run/labsim") / lab / "nodes/dns64/unbound.conf").read_text()
    assert "outgoing-port-permit: 49152-50175" in conf
    # a second instance beside the lab's, on its own port and only on loopback
    mine = re.sub(r"(?m)^  (port: 53|interface: (?!127\.0\.0\.1|::1).*)$", "", conf).replace(
        "server:\n", "server:\n  port: 5354\n", 1)
    (tmp_path / "u.conf").write_text(mine)
    trace = tmp_path / "strace.txt"
    ns = f"ls-{lab}_dns64"
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "strace", "-f", "-c", "-o", str(trace),
                             "-e", "trace=getrandom", "unbound", "-d", "-c", str(tmp_path / "u.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        answer = ""
        for _ in range(50):  # bounded: 50 x ~0.1 s
            answer = subprocess.run(["ip", "netns", "exec", ns, "dig", "+short", "+time=1", "+tries=1",
                                     "-p", "5354", "@127.0.0.1", "api.example.test", "AAAA"],
                                    capture_output=True, text=True, timeout=10).stdout.strip()
            if answer:
                break
        assert answer, "the second unbound never answered through the stub zone"
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "pkill", "-f", f"unbound -d -c {tmp_path}/u.conf"],
                       capture_output=True, timeout=10)
        proc.communicate(timeout=20)
    calls = re.search(r"(\d+)(?:\s+\d+)?\s+getrandom", trace.read_text())
    assert calls is not None, trace.read_text()
    assert int(calls.group(1)) < 5000, trace.read_text()  # ~71,000 with unbound's default ports
