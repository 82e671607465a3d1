"""`labsim run` as a user drives it: exit codes, JSON and JUnit output, and a killed run
cleaned up by `gc` (scenario labs live only as long as their run)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import SMALL_SCENARIO, LABSIM, REPO, assert_same_host, host_snapshot, run_labsim

pytestmark = pytest.mark.root



def write(tmp: Path, name: str, steps: str) -> Path:
    p = tmp / f"{name}.yml"
    p.write_text(SMALL_SCENARIO.format(name=name, steps=steps))
    return p


def test_exit_codes_json_and_junit(tmp_path):
    good = write(tmp_path, "good", "  - dns: {from: client, name: www.example.test, server: ns}\n"
                                   "    expect: {addresses: ['2001:db8:7::99']}\n")
    bad = write(tmp_path, "bad", "  - dns: {from: client, name: nx.example.test, server: ns}\n"
                                 "    expect: {rcode: NOERROR}\n")
    res = run_labsim("run", str(good), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"))
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_labsim("run", str(good), str(bad), "--json", str(tmp_path / "r.json"),
                     "--junit", str(tmp_path / "r.xml"))
    assert res.returncode == 1
    results = json.loads((tmp_path / "r.json").read_text())
    assert [r["passed"] for r in results] == [True, False]
    step = results[1]["steps"][0]
    assert step["result"]["reason"] == "NXDOMAIN" and step["result"]["facts"]["rcode"] == "NXDOMAIN"
    suites = ET.parse(tmp_path / "r.xml").getroot().findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [("good", "1", "0"), ("bad", "1", "1")]
    assert "rcode: expected NOERROR, got NXDOMAIN" in suites[1].find("testcase/failure").get("message")


def test_a_bad_file_exits_2_before_any_lab_is_made(tmp_path):
    good = write(tmp_path, "good", "  - dns: {from: client, name: www.example.test}\n")
    bad = write(tmp_path, "bad", "  - dns: {from: nobody, name: www.example.test}\n")
    before = host_snapshot("good-")
    res = run_labsim("run", str(good), str(bad))
    assert res.returncode == 2 and f"{bad}:11" in res.stderr and "no node 'nobody'" in res.stderr
    assert_same_host(before, host_snapshot("good-"))


def test_sigkill_during_a_run_then_gc_leaves_nothing(tmp_path):
    slow = write(tmp_path, "slow", "  - dns: {from: client, name: www.example.test, server: ns}\n"
                                   "    tries: 5000\n")
    before = host_snapshot("slow-")
    proc = subprocess.Popen([LABSIM, "run", str(slow)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the lab is up and steps are running
            states = list(Path("/run/labsim").glob("slow-*/state.json"))
            if states and json.loads(states[0].read_text())["status"] == "up":
                break
            time.sleep(0.01)
        else:
            pytest.fail("the run never brought its lab up")
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    res = run_labsim("gc", check=True)
    assert "slow-" in res.stderr
    assert_same_host(before, host_snapshot("slow-"))
