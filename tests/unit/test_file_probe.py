"""File readiness probes (a pid file, a state file, a "started" log line): watched with
inotify from the host, woken by the write itself, bounded by the same deadline and error."""

from __future__ import annotations

import select
import subprocess
import sys
import threading
import time

import pytest

from labsim.errors import ReadinessError
from labsim.bringup.filewatch import DirWatch, file_ready
from labsim.kinds.base import FileProbe
from labsim.bringup.readiness import PendingProbe, describe, wait_ready


def test_a_write_in_the_directory_wakes_the_watch(tmp_path):
    watch = DirWatch(str(tmp_path))
    try:
        assert select.select([watch], [], [], 0)[0] == []
        (tmp_path / "x.pid").write_text("42\n")
        assert select.select([watch], [], [], 1.0)[0] == [watch]
        watch.drain()
        assert select.select([watch], [], [], 0)[0] == []
    finally:
        watch.close()


def test_file_ready_wants_content(tmp_path):
    f = tmp_path / "learnt.json"
    assert not file_ready(str(f), None)  # missing
    f.write_text("")
    assert not file_ready(str(f), None)  # empty: a pid file not written yet
    f.write_text('{"ready": false}')
    assert file_ready(str(f), None)
    assert not file_ready(str(f), '"ready": true')
    f.write_text('{"ready": true}')
    assert file_ready(str(f), '"ready": true')


def test_the_wait_ends_with_the_write_not_a_poll_interval(tmp_path, monkeypatch):
    """The file appears 0.15 s in, by an atomic rename as the helpers write it. With the
    safety re-read pushed past the deadline, only the inotify wake-up can end the wait."""
    from labsim.bringup import readiness

    monkeypatch.setattr(readiness, "FILE_RECHECK_S", 120.0)
    target = tmp_path / "learnt.json"

    def writer():
        time.sleep(0.15)
        tmp = tmp_path / "learnt.tmp"
        tmp.write_text('{"ready": true}')
        tmp.rename(target)

    t = threading.Thread(target=writer)
    t.start()
    try:
        waited = wait_ready(None, [PendingProbe("client", FileProbe(str(target), '"ready": true'), None, None)], 60.0)
    finally:
        t.join()
    assert waited >= 0.15  # it did wait for the write


def test_a_file_never_written_fails_at_the_deadline_naming_it(tmp_path):
    probe = FileProbe(str(tmp_path / "kea.log"), "DHCP4_STARTED")
    with pytest.raises(ReadinessError) as exc:
        wait_ready(None, [PendingProbe("dhcp", probe, None, None)], 0.3)
    assert "kea.log" in str(exc.value) and "DHCP4_STARTED" in str(exc.value)
    assert describe(probe) in str(exc.value)


def test_a_service_that_exits_fails_at_once(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    log = tmp_path / "kea.log"
    log.write_text("no such interface\n")
    t0 = time.monotonic()
    with pytest.raises(ReadinessError) as exc:
        wait_ready(None, [PendingProbe("dhcp", FileProbe(str(log), "DHCP4_STARTED"), proc.pid, str(log))], 60.0)
    assert time.monotonic() - t0 < 10  # not the deadline: the pidfd woke the wait
    assert "exited" in str(exc.value)


def test_a_directory_made_later_is_still_seen(tmp_path):
    """No directory when the wait starts (no watch possible): re-read until it exists."""
    target = tmp_path / "later" / "radvd.pid"

    def writer():
        time.sleep(0.1)
        target.parent.mkdir()
        target.write_text("7\n")

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_ready(None, [PendingProbe("gw", FileProbe(str(target)), None, None)], 30.0)
    finally:
        t.join()
