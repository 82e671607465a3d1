"""`labsim setup --check` asks the runtime registry what each runtime needs on the host: the
topologies' daemons (netns) or only the runtime's own binaries and services (docker), so a
runtime added to the registry gets its doctor table without an edit to setup_env. Root, the
kernel probe and the Docker daemon are stood in for: the rows the table prints are checked."""

from __future__ import annotations

import pytest

from labsim.commands import setup_env
from labsim.runtime import registry
from labsim.runtime.registry import HostNeeds
from tests.unit.cli_inproc import labsim as run_labsim


@pytest.fixture
def no_host(monkeypatch):
    """Not root (so no kernel probe runs) and a stand-in Docker check that says if it is required."""
    monkeypatch.setattr(setup_env, "check_privileges",
                        lambda: setup_env.Check("root", False, "uid 1000 (stand-in)"))
    monkeypatch.setattr(setup_env, "check_container", lambda: [])  # this machine may be a container
    monkeypatch.setitem(setup_env.SERVICE_CHECKS, "docker",
                        lambda required: [setup_env.Check("docker", True, "stand-in", "", required)])


def rows(checks) -> dict[str, bool]:
    """check name -> required, for the software and service rows."""
    return {c.what: c.required for c in checks if c.what not in ("root", "netns")}


def test_every_runtime_declares_its_host_needs_with_services_the_doctor_checks():
    for name in registry.names():
        host = registry.host_needs(name)
        assert set(host.services) <= set(registry.SERVICES), name
    assert set(registry.SERVICES) <= set(setup_env.SERVICE_CHECKS)


def test_netns_checks_the_topologys_daemons_and_docker_only_as_optional(no_host):
    table = rows(setup_env.doctor(["apple-review"], "netns"))
    assert {"binary tayga", "package unbound", "binary ip"} <= set(table)
    assert table["docker"] is False


def test_docker_checks_ip_and_requires_the_docker_daemon(no_host):
    table = rows(setup_env.doctor(["apple-review"], "docker"))
    assert table == {"binary ip": True, "docker": True}


def test_a_runtime_added_as_one_record_gets_its_doctor_table_help_and_estimate(no_host, monkeypatch):
    from labsim.runtime.records import RECORDS, RuntimeRecord

    monkeypatch.setitem(RECORDS, "vm", RuntimeRecord(
        "vm", ("labsim.runtime.netns", "NetnsRuntime"), "a virtual machine per node",
        HostNeeds(node_software=False, binaries={"qemu-img": ("qemu-utils",)}), enter=None, bringup_s=9.0))
    table = rows(setup_env.doctor(["apple-review"], "vm"))
    assert table == {"binary qemu-img": True, "docker": False}
    assert "vm (a virtual machine per node)" in registry.help_text()
    assert registry.get("vm").__name__ == "NetnsRuntime"


def test_an_unknown_runtime_is_an_input_error_before_anything_is_probed():
    res = run_labsim("setup", "--check", "--runtime", "k8s")
    assert res.returncode == 2
    assert "unknown runtime 'k8s'; choose from netns, docker" in res.stdout + res.stderr


def test_python_modules_a_kind_needs_are_checked_and_named_with_their_extra(no_host, monkeypatch):
    """`setup --check cloud-endpoints` said all was there and `up` then failed with
    ModuleNotFoundError: moto. A kind declares the modules its node programs import; the doctor
    checks each and names the pip extra, and the netns runtime refuses the lab (exit 3) with
    the same fix before anything is created."""
    from labsim.errors import EnvironmentMissingError
    from labsim.kinds import registry as kinds
    from labsim.loader import load_lab
    from labsim.runtime.netns import NetnsRuntime

    cloud = type(kinds.get("cloudapi"))
    monkeypatch.setattr(cloud, "python_modules", {"labsim_no_such_module": "cloud", "json": "cloud"})
    checks = {c.what: c for c in setup_env.doctor(["cloud-endpoints"], "netns")}
    gone, there = checks["python labsim_no_such_module"], checks["python json"]
    assert not gone.ok and gone.required and "pip install 'labsim[cloud]'" in gone.fix
    assert "moto[server]" in gone.fix  # the extra's own requirements, for pipx inject
    assert there.ok and there.fix == ""
    monkeypatch.setattr("shutil.which", lambda b: "/usr/bin/" + b)  # every binary there
    with pytest.raises(EnvironmentMissingError, match=r"labsim_no_such_module.*pip install 'labsim\[cloud\]'"):
        NetnsRuntime.check_environment(load_lab("cloud-endpoints"))


@pytest.mark.parametrize("env, uid, error, said", [
    ({}, 1000, "('Connection aborted.', PermissionError(13, 'Permission denied'))",
     ["/var/run/docker.sock (DOCKER_HOST is not set)", "permission denied", "docker group"]),
    ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, 0, "('Connection aborted.', ConnectionRefusedError(111, "
     "'Connection refused'))", ["DOCKER_HOST=tcp://127.0.0.1:2375", "nothing is listening", "start Docker"]),
    ({}, 0, "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, "
     "'No such file or directory'))", ["nothing is listening", "DOCKER_HOST"]),
])
def test_an_unreachable_docker_names_what_was_tried_and_the_fix(env, uid, error, said):
    from labsim.runtime.docker.client import unreachable_message

    msg = unreachable_message(Exception(error), env=env, uid=uid)
    assert all(s in msg for s in said), msg
    assert "install Docker" not in msg and "(" not in msg.split(":", 1)[1].split(".")[0]


def test_docker_unreachable_through_the_cli_is_exit_3_with_the_socket_named(tmp_path):
    """A DOCKER_HOST socket path that does not exist: the real docker SDK's error, turned
    into one sentence with the fix; `up --runtime docker` exits 3 before creating anything."""
    import os
    import subprocess

    from tests.helpers import LABSIM

    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    res = subprocess.run([LABSIM, "image", "status"], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"DOCKER_HOST=unix://{tmp_path}/no-docker.sock" in res.stderr and "To fix:" in res.stderr
