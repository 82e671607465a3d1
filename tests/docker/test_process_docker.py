"""`kind: process` on the docker runtime: the same story as tests/netns/test_process_kind.py
(the program runs as its user in its workdir with its env, setup ran as that user, `labsim
logs` has its output, `stop`/`start` restart it; an IPv6-only bind is as ready as a 0.0.0.0
one), the program inside a labsim/node container.
Debian's nobody/nogroup have the same ids (65534) on the host and in the image, so /proc
read from the host says the same. Outside CI the test skips when docker is unreachable."""

from __future__ import annotations

import pytest

from tests.netns.test_process_kind import check_binds, check_process_node

pytestmark = pytest.mark.root


def test_process_node_on_docker(tmp_path, lab_name, docker_image):
    check_process_node(tmp_path, lab_name, "docker")


def test_readiness_finds_either_family_on_docker(tmp_path, lab_name, docker_image):
    """IPv6-only and IPv4-only binds come up in containers too; the checks tell them apart."""
    check_binds(tmp_path, lab_name, "docker")
