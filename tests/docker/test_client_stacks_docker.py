"""The client side's behaviour on the docker runtime too: the hostconf fidelity tests, the
hostconf-vs-dhcpcd differential tests and review's derived-network tests run again with every
lab on docker (the same tests, LABSIM_DIFF_RUNTIME=docker), so what holds on netns is checked
on docker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.root

MODULES = ["tests/netns/test_hostconf_fidelity.py", "tests/netns/test_dhcpcd_differential.py",
           # review's derived networks and platform siblings (PREF64, a static client, a /64 PREF64)
           "tests/netns/test_review_platforms.py::test_pref64_network_per_platform",
           "tests/netns/test_review_platforms.py::test_static_client_with_a_64_pref64_completes"]




def test_client_stacks_behave_alike_on_docker(docker_image):
    env = {**os.environ, "LABSIM_DIFF_RUNTIME": "docker"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "skipped" not in res.stdout.splitlines()[-1], res.stdout[-500:]
