"""Tier 2: one lab session for every command. An unknown runtime is bad input before any
lab is claimed; a session takes its lab down on every exit path, unless kept."""

from __future__ import annotations

import os

import pytest

from tests.helpers import REPO, run_labsim

pytestmark = pytest.mark.root

TOPO = REPO / "topologies" / "apple-review.yml"


def test_up_with_an_unknown_runtime_exits_2_and_creates_nothing(lab_name, host_state):
    before = host_state(lab_name)
    res = run_labsim("up", "--runtime", "bogus", str(TOPO), "--name", lab_name)
    assert res.returncode == 2, res.stderr
    assert "unknown runtime 'bogus'" in res.stderr and "netns, docker" in res.stderr
    assert not os.path.exists(f"/run/labsim/{lab_name}")
    assert host_state(lab_name) == before
    # the corrected retry works (no "lab exists")
    run_labsim("up", "--runtime", "netns", str(TOPO), "--name", lab_name, check=True)
    run_labsim("down", lab_name, check=True)


def test_session_takes_the_lab_down_when_its_block_raises(lab_name, host_state):
    from labsim.loader import load_lab
    from labsim.scenario.session import lab_session

    before = host_state(lab_name)
    with pytest.raises(RuntimeError, match="the block failed"):
        with lab_session(load_lab(TOPO, name=lab_name)) as s:
            res = s.runtime.exec("client", ["getent", "ahosts", "api.example.test"], timeout=10)
            assert res.returncode == 0 and b"2001:db8:64::" in res.stdout
            assert s.state.extra.get("ephemeral") is True  # gc removes it if this process dies
            raise RuntimeError("the block failed")
    assert not os.path.exists(f"/run/labsim/{lab_name}")
    assert host_state(lab_name) == before


def test_a_kept_session_leaves_the_lab_up(lab_name):
    from labsim.loader import load_lab
    from labsim.scenario.session import lab_session

    with lab_session(load_lab(TOPO, name=lab_name), "netns", keep=True) as s:
        pass
    assert s.state.status == "up" and not s.state.extra.get("ephemeral")
    assert run_labsim("exec", "--lab", lab_name, "client", "--", "true").returncode == 0
    run_labsim("down", lab_name, check=True)
    assert not os.path.exists(f"/run/labsim/{lab_name}")
