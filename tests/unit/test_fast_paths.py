"""The console script's fast paths (labsim.commands.table): `labsim --help`, `labsim COMMAND
--help`, `labsim --version` and `labsim status [NAME] [--json]` print byte for byte what the
full CLI prints, with its exit code, without importing typer, rich or pydantic; where they
cannot be sure (another width, colour, a value rich would render its own way) the full CLI
answers. Each case runs both as whole processes: the fast one, and LABSIM_NO_FAST=1."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsim.commands import faststatus
from labsim.commands.helptext import HELP

HEAVY = ("typer", "rich", "pydantic", "click")
ENTRY = "from labsim.commands.entry import main; main()"


def labsim(*args: str, env: dict[str, str] | None = None, fast: bool = True) -> tuple[int, str, str, set[str]]:
    """(exit code, stdout, stderr, top-level packages imported) of the console script, off a terminal."""
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LABSIM_NO_FAST", "FORCE_COLOR")}
    e.update(env or {})
    if not fast:
        e["LABSIM_NO_FAST"] = "1"
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", ENTRY, *args], capture_output=True,
                         text=True, env=e, stdin=subprocess.DEVNULL, timeout=60)
    lines = res.stderr.splitlines()
    imported = {ln.split("|")[-1].strip().split(".")[0] for ln in lines if ln.startswith("import time:")}
    err = "".join(ln + "\n" for ln in lines if not ln.startswith("import time:"))
    return res.returncode, res.stdout, err, imported


def same_as_full_cli(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Asserts the fast and the full CLI end alike; returns what the fast one imported."""
    code, out, err, imported = labsim(*args, env=env)
    full = labsim(*args, env=env, fast=False)
    assert (code, out, err) == full[:3], args
    return imported


def test_stored_help_is_what_typer_prints_now():
    """Regenerates every help screen with typer: any change to a command's options or
    docstring without `make helptext` fails here."""
    res = subprocess.run([sys.executable, "-m", "labsim.commands.gen_help", "--check"], capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("argv", [(), ("--help",), ("run", "--help"), ("status", "--help"), ("bench",),
                                  ("image", "build", "--help"), ("--version",)], ids=" ".join)
def test_help_and_version_without_typer(argv):
    imported = same_as_full_cli(*argv)
    assert not imported & set(HEAVY), imported


def test_every_stored_help_screen_is_taken():
    assert {("--help",), (), ("status", "--help"), ("bench", "resolvers", "--help")} <= set(HELP)
    code, out, err, imported = labsim("review", "--help")
    assert (code, out, err) == HELP[("review", "--help")] and not imported & set(HEAVY)


@pytest.mark.parametrize("env", [{"COLUMNS": "100"}, {"FORCE_COLOR": "1"}, {"TERMINAL_WIDTH": "60"}],
                         ids=lambda e: " ".join(f"{k}={v}" for k, v in e.items()))
def test_other_widths_and_colours_go_to_typer(env):
    imported = same_as_full_cli("--help", env=env)
    assert "typer" in imported


@pytest.mark.parametrize("argv", [("bogus", "--help"), ("status", "--json", "--help"), ("-h",)], ids=" ".join)
def test_what_is_not_stored_goes_to_typer(argv):
    assert "typer" in same_as_full_cli(*argv)


def node(name, lab, kind, addrs, routes=()):
    return {"kind": kind, "netns": f"ls-{lab}_{name}",
            "interfaces": [{"name": f"eth{i}", "ipv6": a6, "ipv4": a4} for i, (a6, a4) in enumerate(addrs)],
            "routes": [{"to": t, "via": v} for t, v in routes]}


def write_lab(run_dir, lab, nodes, learnt=None, **extra):
    d = run_dir / lab
    d.mkdir(parents=True)
    state = {"lab": lab, "runtime": "netns", "topology": f"/x/{lab}.yml", "status": "up", "owner_pid": 0,
             "processes": [{"node": "dns64", "service": "unbound", "pid": 999999999, "start": 1, "log": "/x"}],
             "nodes": nodes, "extra": {"ca": f"/run/labsim/{lab}/ca.pem"}, **extra}
    (d / "state.json").write_text(json.dumps(state))
    for n, data in (learnt or {}).items():
        (d / "nodes" / n).mkdir(parents=True)
        (d / "nodes" / n / "learnt.json").write_text(json.dumps(data))


LEARNT = {"addresses": [{"address": "2001:db8:10:0:647d:beff:fe0d:d430"}], "resolvers": ["2001:db8:1::53"],
          "nat64_prefix": "64:ff9b::/96", "nat64_prefix_source": "pref64", "dhcp4": {"state": "v6only"}}


@pytest.fixture
def labs(tmp_path):
    write_lab(tmp_path, "t1", {
        "client": node("client", "t1", "client", [("2001:db8:10::2/64", "10.0.0.2/24")],
                       [("2001:db8:1::/64", "2001:db8:10::1")]),
        "gw": node("gw", "t1", "router", [("2001:db8:10::1/64", None), ("2001:db8:1::1/64", "")]),
    }, learnt={"client": LEARNT})
    write_lab(tmp_path, "t2", {"c": node("c", "t2", "client", [("2001:db8::a:2/64", None)])})  # :a: is an emoji
    write_lab(tmp_path, "t3", {}, status="creating")
    return {"LABSIM_RUN_DIR": str(tmp_path)}


@pytest.mark.parametrize("argv", [("status",), ("status", "--json"), ("status", "t1"), ("status", "--json", "t3"),
                                  ("status", "t1", "--json"), ("status", "nosuch"), ("status", "../t1"),
                                  ("status", "t1", "t2"), ("status", "-x")], ids=" ".join)
@pytest.mark.parametrize("columns", ["150", "80", "40"])
def test_status_prints_what_the_full_cli_prints(labs, argv, columns):
    same_as_full_cli(*argv, env={**labs, **({"COLUMNS": columns} if columns != "150" else {})})


def test_status_reads_without_typer(labs, tmp_path):
    for argv in (("status", "t1"), ("status", "t3"), ("status", "--json")):
        assert not same_as_full_cli(*argv, env=labs) & set(HEAVY), argv
    # an address holding ':a:' prints an emoji through rich: left to rich
    assert "rich" in same_as_full_cli("status", "t2", env=labs)
    code, out, _, imported = labsim("status", env={"LABSIM_RUN_DIR": str(tmp_path / "none")})
    assert (code, out) == (0, "no labs\n") and not imported & set(HEAVY)


def test_state_files_are_read_as_labstate_reads_them(tmp_path, monkeypatch):
    """The same refusals as LabState.load: a symlinked state file, a name that is no lab's,
    not a JSON object, a field LabState does not have."""
    from labsim.runtime import state

    monkeypatch.setattr(state, "RUN_DIR", tmp_path)
    monkeypatch.setattr(faststatus, "RUN_DIR", str(tmp_path))
    write_lab(tmp_path, "good", {})
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "state.json").symlink_to(tmp_path / "good" / "state.json")
    for lab, text in (("list", "[1]"), ("odd", '{"runtime": "netns", "other": 1}'), ("bad", "{x")):
        (tmp_path / lab).mkdir()
        (tmp_path / lab / "state.json").write_text(text)
    (tmp_path / "dirlink").symlink_to(tmp_path / "good")
    assert faststatus.all_labs() == state.LabState.all_labs()
    assert faststatus.load("good")["lab"] == state.LabState.load("good").lab == "good"
    for lab in ("link", "list", "odd", "bad", "../good", "Good", "nosuch"):
        with pytest.raises((OSError, ValueError, TypeError)):
            state.LabState.load(lab)
        with pytest.raises(faststatus.Fallback):
            faststatus.load(lab)
    assert faststatus.STATE_FIELDS == {f.name for f in dataclasses.fields(state.LabState)}


@given(st.text(alphabet="az09-_./A é", max_size=70))
def test_lab_names_as_state_sees_them(name):
    from labsim.runtime.state import valid_lab

    assert faststatus.valid_lab(name) == valid_lab(name)


@pytest.mark.parametrize("learnt", [LEARNT, {}, {"addresses": [], "clat": {"state": "up"}, "dhcp4": {"state": "bound",
                                                                                                      "address": "x"}}])
def test_learnt_summary_is_the_full_clis(learnt):
    from labsim.node.learntview import summary

    assert faststatus.summary(learnt) == summary(learnt)


# -- down ----------------------------------------------------------------------------------
def down_labs(run_dir, names):
    run_dir.mkdir()
    for lab in names:
        write_lab(run_dir, lab, {"c": node("c", lab, "client", [("2001:db8::2/64", None)])}, processes=[])
    return {"LABSIM_RUN_DIR": str(run_dir)}


@pytest.mark.parametrize("argv,labs", [(("down", "fdn1"), ["fdn1", "fdn2"]), (("down",), ["fdn1"]),
                                       (("down",), ["fdn1", "fdn2"]), (("down",), []),
                                       (("down", "nosuch"), ["fdn1"]), (("down", "../fdn1"), ["fdn1"]),
                                       (("down", "--all"), ["fdn1", "fdn2"]), (("down", "-x"), ["fdn1"]),
                                       (("down", "fdn1", "fdn2"), ["fdn1", "fdn2"])],
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else ",".join(v) or "none")
def test_down_ends_as_the_full_cli_ends(tmp_path, argv, labs):
    """The same exit code, output and labs left, each run on its own copy of the labs (a
    down removes them)."""
    fast_env, full_env = down_labs(tmp_path / "fast", labs), down_labs(tmp_path / "full", labs)
    code, out, err, imported = labsim(*argv, env=fast_env)
    assert (code, out, err) == labsim(*argv, env=full_env, fast=False)[:3]
    left = [sorted(os.listdir(d)) if d.exists() else None for d in (tmp_path / "fast", tmp_path / "full")]
    assert left[0] == left[1]  # (teardown removes an emptied run directory)
    taken = code == 0 and "--all" not in argv  # the plain forms, on a lab that has a state file
    assert (not imported & set(HEAVY)) == taken, imported
    if taken:
        assert err.startswith("lab fdn1: removed ") and not (tmp_path / "fast" / "fdn1").exists()
