"""In a container, labsim names the exact `docker run` flags labs need that are missing, from
what the kernel says of the process (capabilities, /dev/net/tun, a read-only /proc/sys,
seccomp, AppArmor), before anything is created."""

from __future__ import annotations

import pytest

from labsim.bringup.preflight import ALL_FLAGS, Probe, advice, in_container, missing_flags, read_probe

ALL_CAPS = 1 << 12 | 1 << 13 | 1 << 21
# Docker 20.10's default capability set (CapEff of `docker run debian cat /proc/self/status`)
DOCKER_DEFAULT = 0xA80425FB


def test_a_container_started_without_flags_lacks_all_of_them():
    p = Probe(DOCKER_DEFAULT, tun_is_char_device=False, proc_sys_read_only=True, seccomp_mode=2,
              apparmor_profile="docker-default")
    assert missing_flags(p) == [f for f in ALL_FLAGS if f != "--cap-add NET_RAW"]  # Docker grants NET_RAW


def test_the_readmes_flags_leave_nothing_missing():
    p = Probe(DOCKER_DEFAULT | ALL_CAPS, True, False, 0, "unconfined")
    assert missing_flags(p) == []
    assert missing_flags(Probe(DOCKER_DEFAULT | ALL_CAPS, True, False, 0, None)) == []  # no AppArmor


@pytest.mark.parametrize("probe, flag", [
    (Probe(ALL_CAPS & ~(1 << 21), True, False, 0, None), "--cap-add SYS_ADMIN"),
    (Probe(ALL_CAPS, False, False, 0, None), "--device /dev/net/tun"),
    (Probe(ALL_CAPS, True, True, 0, None), "--security-opt systempaths=unconfined"),
    (Probe(ALL_CAPS, True, False, 2, None), "--security-opt seccomp=unconfined"),
])
def test_each_probe_names_its_own_flag(probe, flag):
    assert missing_flags(probe) == [flag]
    assert flag in advice([flag]) and "docker run" in advice([flag])


def test_probes_read_from_proc_files(tmp_path):
    (tmp_path / "self" / "attr").mkdir(parents=True)
    (tmp_path / "self" / "status").write_text("Name:\tx\nCapEff:\t00000000a80425fb\nSeccomp:\t2\n")
    (tmp_path / "self" / "mounts").write_text("proc /proc proc rw 0 0\nproc /proc/sys proc ro,nosuid 0 0\n")
    (tmp_path / "self" / "attr" / "current").write_text("docker-default (enforce)\n")
    p = read_probe(tmp_path, tmp_path / "dev")
    assert p == Probe(0xA80425FB, False, True, 2, "docker-default")


def test_container_detection(tmp_path, monkeypatch):
    monkeypatch.delenv("container", raising=False)
    assert not in_container(tmp_path)
    (tmp_path / ".dockerenv").write_text("")
    assert in_container(tmp_path)
