"""Tier 1: the runtime registry and what a runtime declares it can do (no root needed: every
refusal here comes before the root check and before anything is claimed or created)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from labsim.errors import InputError
from labsim.kinds import registry as kinds
from labsim.loader import load_lab_text
from labsim.runtime import registry as runtimes
from labsim.runtime.base import CAPABILITY_TEXT, Runtime
from tests.helpers import REPO

CONTAINER_TOPO = """\
name: {name}
networks:
  lan: {{ipv6: "2001:db8:10::/64"{docker}}}
nodes:
  web: {{kind: container, image: "example/web:1", links: [lan]}}
  client: {{kind: client, links: [lan]}}
"""


def test_unknown_runtime_is_an_input_error_listing_the_valid_ones():
    with pytest.raises(InputError) as exc:
        runtimes.get("k8s")
    msg = str(exc.value)
    assert exc.value.exit_code == 2
    assert "'k8s'" in msg and all(name in msg for name in ("netns", "docker")), msg


@given(st.text(max_size=20))
def test_every_name_is_a_runtime_or_an_input_error(name):
    try:
        cls = runtimes.get(name)
    except InputError as exc:
        assert name not in runtimes.RUNTIMES
        assert ", ".join(runtimes.names()) in str(exc)
    else:
        assert cls.name == name and issubclass(cls, Runtime)


def test_registered_runtimes_are_complete():
    """Every runtime implements the whole interface (class-level teardown included) and
    declares only capabilities labsim knows."""
    assert runtimes.names()[0] == runtimes.DEFAULT
    for name, cls in runtimes.RUNTIMES.items():
        assert not getattr(cls, "__abstractmethods__", None), (name, cls.__abstractmethods__)
        for method in ("check_environment", "destroy_state", "orphans", "exec_argv"):
            assert getattr(cls, method).__func__ is not getattr(Runtime, method).__func__, (name, method)
        assert cls.summary, name
        assert cls.capabilities <= set(CAPABILITY_TEXT), (name, cls.capabilities)


def test_kinds_require_only_known_capabilities():
    for name, kind in kinds.KINDS.items():
        assert set(getattr(kind, "requires", ())) <= set(CAPABILITY_TEXT), name
    assert "user_images" in kinds.get("container").requires


def test_capability_refusal_names_the_node_and_the_runtime():
    from labsim.bringup.lab import check_environment

    loaded = load_lab_text(CONTAINER_TOPO.format(name="cap", docker=""), name="cap")
    with pytest.raises(InputError) as exc:
        check_environment(loaded, "netns")
    msg = str(exc.value)
    assert "node 'web'" in msg and "netns" in msg and "--runtime docker" in msg, msg
    assert exc.value.line == 5 and exc.value.field == "nodes.web.kind", (exc.value.line, exc.value.field)


def test_docker_network_refusal_names_the_network_and_the_runtime():
    from labsim.bringup.lab import check_environment

    text = CONTAINER_TOPO.format(name="dn", docker=", docker: {enable_ipv6: false}")
    text = text.replace('  web: {kind: container, image: "example/web:1", links: [lan]}\n', "")
    loaded = load_lab_text(text, name="dn")
    with pytest.raises(InputError) as exc:
        check_environment(loaded, "netns")
    msg = str(exc.value)
    assert "network 'lan'" in msg and "netns" in msg and "--runtime docker" in msg, msg


def test_unknown_runtime_on_the_command_line_exits_2_and_claims_nothing(tmp_path, monkeypatch):
    """`labsim up --runtime bogus` is bad input: exit 2, the valid names listed, no lab
    directory (a corrected retry must not find 'lab exists'); review and bench the same."""
    from typer.testing import CliRunner

    from labsim.commands.cli import app
    from labsim.runtime import state

    monkeypatch.setattr(state, "RUN_DIR", tmp_path / "run")
    topo = str(REPO / "topologies" / "apple-review.yml")
    for argv in (["up", "--runtime", "bogus", topo, "--name", "x"],
                 ["review", "--runtime", "bogus", "--topology", topo],
                 ["bench", "resolvers", "--runtime", "bogus", str(REPO / "compare" / "ipv6-only-client.yml")]):
        res = CliRunner().invoke(app, argv)
        assert res.exit_code == 2, (argv, res.output)
        assert "unknown runtime 'bogus'" in res.output and "netns, docker" in res.output, res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["up"], ["run"], ["review"], ["bench", "resolvers"]])
def test_every_lab_command_takes_every_runtime(command):
    from typer.testing import CliRunner

    from labsim.commands.cli import app

    res = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0
    assert "--runtime" in res.stdout and all(n in res.stdout for n in runtimes.names()), res.stdout


# -- gc and down ask every registered runtime ------------------------------------------------
def _not_used(self, *args, **kwargs):
    raise AssertionError("gc and down never bring anything up")


class MarkerRuntime(Runtime):
    """A runtime whose only traces are marker files: enough for orphans and teardown."""

    name = "marker"
    summary = "test double"
    where: Path

    def __init__(self, state):
        self.state = state

    @classmethod
    def check_environment(cls, loaded):
        pass

    @classmethod
    def destroy_state(cls, state):
        removed = []
        for p in sorted(cls.where.glob(f"{state.lab}.*")):
            p.unlink()
            removed.append(f"marker {p.name}")
        state.forget()
        return removed

    @classmethod
    def orphans(cls):
        return {p.name.split(".", 1)[0] for p in cls.where.glob("*.*")}

    @classmethod
    def exec_argv(cls, lab, node, cmd):
        return list(cmd)

    create_hub = create_node = create_network = connect = add_routes = _not_used
    write_file = node_dir = exec = spawn = socket = _not_used


@pytest.fixture
def marker_only(tmp_path, monkeypatch):
    """The registry holds only MarkerRuntime; labs live under tmp_path (the host's own
    namespaces and containers are never looked at)."""
    from labsim.runtime import state

    MarkerRuntime.where = tmp_path / "markers"
    MarkerRuntime.where.mkdir()
    monkeypatch.setattr(state, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(runtimes, "RUNTIMES", {"marker": MarkerRuntime})
    return MarkerRuntime.where


def test_gc_removes_what_any_runtime_reports_as_orphans(marker_only):
    from labsim.bringup import lab

    (marker_only / "zz1.a").write_text("")
    (marker_only / "zz1.b").write_text("")
    assert lab.gc() == {"zz1": ["marker zz1.a", "marker zz1.b"]}
    assert list(marker_only.iterdir()) == []
    assert lab.gc() == {}


def test_down_without_state_uses_the_runtime_that_finds_the_lab(marker_only):
    from labsim.bringup import lab
    from labsim.errors import LabNotFoundError

    (marker_only / "zz2.a").write_text("")
    assert lab.down("zz2") == ["marker zz2.a"]
    with pytest.raises(LabNotFoundError):
        lab.down("zz2")


def test_a_state_file_is_torn_down_by_its_own_runtime(marker_only):
    from labsim.bringup import lab
    from labsim.runtime.state import LabState

    st = LabState.claim("zz3", "marker", "t.yml")
    (marker_only / "zz3.a").write_text("")
    assert lab.down("zz3") == ["marker zz3.a"]
    assert not st.dir.exists()


def test_pytest_plugin_refuses_an_unknown_runtime(pytester):
    pytester.makeini("[pytest]\nlabsim_scenarios = scenarios/*.yml\n")
    res = pytester.runpytest("--labsim-runtime", "k8s")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*unknown runtime 'k8s'; choose from netns, docker*"])
