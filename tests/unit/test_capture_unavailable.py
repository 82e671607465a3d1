"""Captures asked for where none can be taken (no tcpdump on the host: the runner image had
none) are said once on stderr, never a silent `captures: []`."""

from __future__ import annotations

from labsim.scenario import capture


def test_no_tcpdump_is_said_once(monkeypatch, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(capture, "_SAID", set())
    why = capture.unavailable()
    assert why is not None and "tcpdump is not installed" in why
    capture.say_unavailable(why)
    capture.say_unavailable(why)
    assert capsys.readouterr().err == f"labsim: no packet captures: {why}\n"
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    assert capture.unavailable() is None
