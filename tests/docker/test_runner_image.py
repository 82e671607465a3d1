"""The runner image: `labsim run` and `labsim review` with the netns runtime inside one
container, from a directory that is not the repository; nothing left on the host after.

Docker's `--privileged` asks for every capability; where the Docker host itself lacks one
(this test machine has no CAP_SYS_RESOURCE), the documented explicit flags are used."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.helpers import IN_CI, REPO

pytestmark = pytest.mark.root

LABEL = "labsim.test=runner-image"
RUN_FLAGS = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
             "--device", "/dev/net/tun", "--security-opt", "seccomp=unconfined",
             "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined"]


@pytest.fixture(scope="module")
def runner():
    from labsim.errors import EnvironmentMissingError
    from labsim.runtime.docker.client import docker_client as client
    from labsim.runtime.docker.image import ensure_image
    from labsim.commands.runner_image import build_runner

    try:
        return build_runner(client(timeout=900), ensure_image, say=lambda m: None)  # a no-op when current
    except EnvironmentMissingError as exc:
        if IN_CI:
            pytest.fail(f"CI=true and docker is not usable: {exc}")
        pytest.skip(f"docker is not usable: {exc}")


def orphan_netns() -> list[str]:
    """Named namespaces on the host that no lab's state claims (other people's labs come and
    go on a shared machine; a lab leaked from the container would have no state here)."""
    netns = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    labs = set(os.listdir("/run/labsim")) if os.path.isdir("/run/labsim") else set()
    return [n for n in netns if not any(n.startswith(f"ls-{lab}") for lab in labs)]


def docker_run(image: str, workdir, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    argv = ["docker", "run", "--rm", "--privileged", "--label", LABEL, "-v", f"{workdir}:/lab", "-w", "/lab", image, *args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if "unable to apply caps" in res.stderr:  # the host lacks a capability --privileged asks for
        argv[3:4] = RUN_FLAGS
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return res


def test_runner_runs_a_scenario_and_a_review(runner, tmp_path):
    (tmp_path / "scenarios").mkdir()
    shutil.copy(REPO / "scenarios" / "apple-review-nat64.yml", tmp_path / "scenarios")
    before = set(orphan_netns())
    res = docker_run(runner, tmp_path, "run", "scenarios/", "--junit", "r.xml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "1 passed, 0 failed" in res.stdout and (tmp_path / "r.xml").is_file()
    res = docker_run(runner, tmp_path, "review", "http://api.example.test/", "--json", "review.json")
    assert res.returncode == 1, res.stderr[-2000:]  # ipv6-only FAILs with NO_AAAA
    assert "NO_AAAA" in res.stdout and (tmp_path / "review.json").is_file()
    assert set(orphan_netns()) <= before  # the labs lived in the container's namespaces only
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LABEL}"], capture_output=True, text=True)
    assert left.stdout.split() == []


def test_runner_without_its_flags_names_the_missing_ones_and_exits_3(runner, tmp_path):
    """No flags: not `bind-mount /run/netns: Operation not permitted`; some caps only: not a
    traceback with exit 1. Each time exit 3, nothing created, and the exact flags to add. With
    the README's flags the doctor inside passes (tcpdump included, no advice to use sudo)."""
    base = ["docker", "run", "--rm", "--label", LABEL, "-v", f"{tmp_path}:/lab", "-w", "/lab"]
    res = subprocess.run([*base, runner, "up", "apple-review"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and "Traceback" not in res.stderr, res.stderr[-2000:]
    for flag in ("--cap-add SYS_ADMIN", "--cap-add NET_ADMIN", "--device /dev/net/tun",
                 "--security-opt systempaths=unconfined"):
        assert flag in res.stderr, (flag, res.stderr)
    some = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"]
    res = subprocess.run([*base, *some, runner, "up", "apple-review"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 3 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "--device /dev/net/tun" in res.stderr and "--cap-add SYS_ADMIN" not in res.stderr
    res = docker_run(runner, tmp_path, "setup", "--check", "--runtime", "netns", "apple-review")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "sudo" not in res.stdout and "MISSING" not in res.stdout
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LABEL}"], capture_output=True, text=True)
    assert left.stdout.split() == []


def test_no_layer_of_the_runner_build_passes_for_the_node_image(runner):
    """The runner image is built FROM the node image and inherits its labels. Each of its
    build's layers stays as an image of its own (the final image's parents); the newest one is
    dangling while the build runs, so Docker's default listing shows it then. None may pass
    the node image finder's test, or a docker bring-up during a runner build would start
    its nodes from it (seen once: the node image's tag check and label search returned a
    runner layer while tests built the runner image in parallel)."""
    import docker

    from labsim.runtime.docker.image import _is_ours, node_image_id
    from labsim.runtime.docker.image_spec import LABEL_PACKAGES, packages_hash

    cli = docker.from_env()
    try:
        found = cli.images.list(all=True, filters={"label": f"{LABEL_PACKAGES}={packages_hash()}"})
        runner_id = cli.images.get(runner).id
        assert runner_id in {i.id for i in found}  # the runner's layers are in this listing
        assert [i.id for i in found if _is_ours(i)] == [node_image_id()]
    finally:
        cli.close()
