"""The built package (what a wheel holds) runs the headline command from any directory, and
the doctor probes the kernel without leaving anything on the host."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import LABSIM, REPO

pytestmark = pytest.mark.root


def test_built_package_reviews_from_another_directory(tmp_path):
    build = tmp_path / "build"
    res = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "-d", str(build)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    # the built copy comes first on the path: its labsim/_data, not the repository's files
    env = {**os.environ, "PYTHONPATH": str(build)}
    res = subprocess.run([sys.executable, "-c", "from labsim.commands.cli import main; main()", "review",
                          "http://api.example.test/", "--json", "r.json"],
                         capture_output=True, text=True, cwd=work, env=env, timeout=180)
    assert "PASS" in res.stdout and "NO_AAAA" in res.stdout, res.stdout + res.stderr
    assert res.returncode == 1 and (work / "r.json").is_file()  # ipv6-only FAILs: exit 1


def test_doctor_probes_in_a_throwaway_namespace(host_state):
    before = host_state("probe-only")  # other people's labs come and go meanwhile
    res = subprocess.run([LABSIM, "setup", "--check", "apple-review"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "COLUMNS": "200"})
    for feature in ("netns", "veth", "bridge", "tun", "nftables", "binary tayga", "package unbound"):
        line = next(l for l in res.stdout.splitlines() if f" {feature} " in l)
        assert " ok " in line, line
    assert res.returncode == 0, res.stdout
    assert host_state("probe-only") == before
