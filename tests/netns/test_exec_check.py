"""Tier 2: the `exec` check inside a node — the node's own resolver and namespace, a stalled
program killed at the check's timeout, JSON facts in `labsim run --json`."""

from __future__ import annotations

import json

import pytest

from tests.helpers import SMALL_SCENARIO, run_labsim

pytestmark = pytest.mark.root

STEPS = """\
  - exec: {from: client, argv: [getent, ahosts, www.example.test]}
    expect: {exit_status: 0, stdout_contains: "2001:db8:7::99"}
  - exec:
      from: client
      argv: ["{python}", "-c", "import json, socket; print(json.dumps({'a': [i[4][0] for i in socket.getaddrinfo('www.example.test', 443)]}))"]
    expect: {stdout: {a.0: "2001:db8:7::99"}}
  - exec: {from: client, argv: [getent, hosts, nx.example.test], reasons: {".*": NXDOMAIN}}
    expect: {reason: NXDOMAIN, exit_status: 2}
  - exec: {from: client, argv: [sleep, "30"], timeout: 1}
    expect: {reason: TIMEOUT, max_ms: 5000}
"""


def test_exec_steps_in_a_node(tmp_path, lab_name):
    f = tmp_path / f"{lab_name}.yml"
    f.write_text(SMALL_SCENARIO.format(name=lab_name, steps=STEPS))
    res = run_labsim("run", str(f), "--json", str(tmp_path / "r.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    steps = json.loads((tmp_path / "r.json").read_text())[0]["steps"]
    assert steps[1]["result"]["facts"]["json"]["a"][0] == "2001:db8:7::99"
    stalled = steps[3]["result"]
    assert stalled["facts"]["timed_out"] and stalled["timings_ms"]["total"] < 5000
