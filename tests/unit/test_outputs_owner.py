"""Reports and folders labsim writes belong to the owner of the directory they land in (a
user's volume in the runner image, a checkout under sudo), not root."""

from __future__ import annotations

import os

import pytest

from labsim.outputs import make_dirs, write_text

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")


def test_a_report_and_new_folders_take_the_directory_owner(tmp_path):
    os.chown(tmp_path, 1234, 2345)
    write_text(tmp_path / "r.json", "{}")
    st = os.stat(tmp_path / "r.json")
    assert (st.st_uid, st.st_gid) == (1234, 2345)
    deep = make_dirs(tmp_path / "caps" / "lab1" / "x")
    (deep / "a.pcap").write_bytes(b"")
    make_dirs(deep)  # again: nothing new
    for p in (tmp_path / "caps", tmp_path / "caps" / "lab1", deep):
        assert (os.stat(p).st_uid, os.stat(p).st_gid) == (1234, 2345), p


def test_root_owned_directories_keep_root_files(tmp_path):
    write_text(tmp_path / "r.json", "{}")
    assert os.stat(tmp_path / "r.json").st_uid == 0


def test_a_symlink_is_not_followed(tmp_path):
    os.chown(tmp_path, 1234, 2345)
    victim = tmp_path.parent / f"victim-{os.getpid()}"
    victim.write_text("x")
    try:
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "link").symlink_to(victim)
        make_dirs(tmp_path / "d")  # exists: not ours, untouched
        from labsim.outputs import give_to_directory_owner
        give_to_directory_owner(tmp_path / "d")
        assert os.stat(victim).st_uid == 0
    finally:
        victim.unlink()
