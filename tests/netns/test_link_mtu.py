"""Tier 2: a link's `mtu` is set on both ends of its veth (the node's and the hub's), and
the kernel uses it: a DF-set packet larger than the link is refused locally."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import run_labsim

pytestmark = pytest.mark.root

TOPO = """name: {name}
networks: {{v6: {{ipv6: "2001:db8:9::/64"}}}}
nodes:
  a: {{kind: client, links: [{{network: v6, mtu: 1280}}]}}
  b: {{kind: client, links: [v6]}}
"""


def test_mtu_on_both_ends_and_in_effect(tmp_path, lab_name):
    f = tmp_path / "mtu.yml"
    f.write_text(TOPO.format(name=lab_name))
    run_labsim("up", str(f), "--name", lab_name, check=True)
    links = json.loads(run_labsim("exec", "--lab", lab_name, "a", "--", "ip", "-j", "link", "show", "eth0",
                                  check=True).stdout)
    assert links[0]["mtu"] == 1280
    hub = json.loads(subprocess.run(["ip", "-n", f"ls-{lab_name}", "-j", "link", "show", "a-e0"],
                                    capture_output=True, text=True, check=True).stdout)
    assert hub[0]["mtu"] == 1280
    other = json.loads(run_labsim("exec", "--lab", lab_name, "b", "--", "ip", "-j", "link", "show", "eth0",
                                  check=True).stdout)
    assert other[0]["mtu"] == 1500
    big = run_labsim("exec", "--lab", lab_name, "a", "--", "ping", "-6", "-M", "do", "-c", "1", "-W", "1",
                     "-s", "1300", "2001:db8:9::2")
    assert big.returncode != 0 and "mtu" in (big.stdout + big.stderr).lower()
    fits = run_labsim("exec", "--lab", lab_name, "a", "--", "ping", "-6", "-M", "do", "-c", "1", "-W", "1",
                      "-s", "1232", "2001:db8:9::2")
    assert fits.returncode == 0, fits.stdout + fits.stderr
