"""Malformed topologies give InputError at the right file:line, and `labsim validate` exits 2.

Each case is a folder under tests/topologies/ holding the bad `lab.yml` and an `expect.yml`:

    why:       what is wrong with the file (for the reader)
    line:      the line the error must point at
    field:     the error's field path (optional)
    contains:  fragments the message must contain
    xfail:     the loader itself is wrong today (a labsim bug; strict xfail)
    cli:       false to skip the `labsim validate` checks (default true)
    cli_xfail: only the CLI is wrong today (strict xfail of the CLI checks)

`labsim validate FILE` runs on every case in-process (typer's CliRunner: exit code, stdout,
stderr) and on a few cases as a real process through the installed entry point
(LABSIM_CLI_SUBPROCESS=all: every case). Every case file names its lab `le-...`, so the CLI
checks can assert that no state directory and no namespace of such a lab exists afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labsim.errors import InputError
from labsim.loader import load_lab, load_lab_text

CASES_DIR = Path(__file__).parent / "topologies"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "lab.yml").is_file())

# The cases the harness must always have; a folder going missing is a failure, not a skip.
REQUIRED = {
    "bad-yaml-syntax", "unknown-kind", "bad-ipv4-prefix", "duplicate-node", "unknown-network",
    "wkp-private-ipv4", "unknown-node-field", "address-outside-prefix", "duplicate-address",
    "record-unknown-node", "nameserver-unknown", "nat64-prefix-length", "network-without-prefix",
    "node-name-uppercase", "empty-file",
}

# labsim's state directories (default and, when set, the override)
RUN_DIRS = {Path("/run/labsim"), Path(os.environ.get("LABSIM_RUN_DIR", "/run/labsim"))}
NETNS_DIRS = (Path("/run/netns"), Path("/etc/netns"))
LAB_PREFIX = "le-"  # every case names its lab le-<something>


def expect(case: str) -> dict:
    return yaml.safe_load((CASES_DIR / case / "expect.yml").read_text())


def _params(kind: str) -> list:
    out = []
    for case in CASES:
        exp = expect(case)
        marks = []
        if exp.get("xfail"):
            marks.append(pytest.mark.xfail(strict=True, reason=exp["xfail"]))
        if kind == "cli":
            if exp.get("cli") is False:
                continue
            if exp.get("cli_xfail"):
                marks.append(pytest.mark.xfail(strict=True, reason=exp["cli_xfail"]))
        out.append(pytest.param(case, marks=marks, id=case))
    return out


def labsim_argv() -> list[str]:
    """The installed `labsim` entry point next to this interpreter, else `python -m labsim.commands.cli`."""
    script = Path(sys.executable).with_name("labsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "labsim.commands.cli"]


def test_every_case_has_an_expectation_and_the_required_cases_exist():
    assert REQUIRED <= set(CASES), f"missing case folders: {sorted(REQUIRED - set(CASES))}"
    for case in CASES:
        exp = expect(case)
        assert exp.get("contains"), f"{case}/expect.yml: no 'contains'"
        assert set(exp) <= {"why", "line", "field", "contains", "xfail", "cli", "cli_xfail"}, case
        if case in REQUIRED:
            assert isinstance(exp.get("line"), int) and not exp.get("xfail"), case


@pytest.mark.parametrize("case", _params("load"))
def test_load_lab_raises_input_error_at_line(case):
    exp = expect(case)
    path = CASES_DIR / case / "lab.yml"
    with pytest.raises(InputError) as info:
        load_lab(path)
    err = info.value
    assert err.file == str(path)
    if "line" in exp:
        assert err.line == exp["line"], str(err)
    if "field" in exp:
        assert err.field == exp["field"], str(err)
    for fragment in exp["contains"]:
        assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
    # the rendered form is what the CLI prints: file:line: [field: ]message
    where = f"{path}:{exp['line']}: " if "line" in exp else f"{path}"
    assert str(err).startswith(where), str(err)


# `labsim validate` in a fresh interpreter costs ~0.5 s (it imports labsim.bringup.lab, pyroute2 and
# trustme before reading the file), so every case runs through the CLI in-process and these run
# through the real entry point too; LABSIM_CLI_SUBPROCESS=all runs every case that way.
SUBPROCESS_CASES = ["bad-yaml-syntax", "unknown-kind", "wkp-private-ipv4"]


def _cli_in_process(path: Path) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from labsim.commands.cli import app

    res = CliRunner().invoke(app, ["validate", str(path)])
    stderr = res.stderr
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        stderr += f"\nTraceback: {res.exception!r}"  # what the real process would print
    return res.exit_code, res.stdout, stderr


@pytest.fixture(scope="module")
def subprocess_runs() -> dict[str, tuple[int, str, str]]:
    """Real `labsim validate` processes, started together, for the subprocess cases."""
    cases = SUBPROCESS_CASES
    if os.environ.get("LABSIM_CLI_SUBPROCESS") == "all":
        cases = [c for c in CASES if expect(c).get("cli") is not False]
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}
    procs = {c: subprocess.Popen([*labsim_argv(), "validate", str(CASES_DIR / c / "lab.yml")],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
             for c in cases}
    out = {}
    for case, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        out[case] = (proc.returncode, stdout, stderr)
    return out


def _created_by_cases() -> list[str]:
    found = []
    for d in RUN_DIRS:
        if d.is_dir():
            found += [str(p) for p in d.iterdir() if p.name.startswith(LAB_PREFIX)]
    for d in NETNS_DIRS:
        if d.is_dir():
            found += [str(p) for p in d.iterdir() if p.name.startswith("ls-" + LAB_PREFIX)]
    return found


def _check_cli_result(case: str, result: tuple[int, str, str]) -> None:
    exp = expect(case)
    path = CASES_DIR / case / "lab.yml"
    code, stdout, stderr = result
    assert code == 2, stderr
    assert stdout == ""
    assert f"labsim: error: {path}:{exp['line']}: " in stderr
    for fragment in exp["contains"]:
        assert fragment in stderr
    assert "Traceback" not in stderr
    assert _created_by_cases() == []


@pytest.mark.parametrize("case", _params("cli"))
def test_cli_validate_exits_2_with_file_line_and_creates_nothing(case):
    _check_cli_result(case, _cli_in_process(CASES_DIR / case / "lab.yml"))


@pytest.mark.parametrize("case", [p for p in _params("cli") if p.id in SUBPROCESS_CASES
                                  or os.environ.get("LABSIM_CLI_SUBPROCESS") == "all"])
def test_cli_entry_point_subprocess(case, subprocess_runs):
    _check_cli_result(case, subprocess_runs[case])


def test_cli_validate_missing_file_exits_2(tmp_path):
    missing = tmp_path / "nope.yml"
    code, stdout, stderr = _cli_in_process(missing)
    assert code == 2
    assert f"labsim: error: {missing}: cannot read file: No such file or directory" in stderr


# -- a few more inputs, inline: what they must give, and where --------------------------------
HEAD = """\
name: t
nat64_prefix: 2001:db8:64::/96
networks:
  v6: {ipv6: "2001:db8:1::/64"}
  v4: {ipv4: 192.0.2.0/24}
nodes:
"""  # nodes start on line 7


@pytest.mark.parametrize("nodes, line, field, fragment", [
    pytest.param("  c:\n    links: [v6]\n", 7, "nodes.c",
                 "missing 'kind'; valid kinds are: authdns, backend, cdn, client, cloudapi, container, dhcp4, "
                 "dns64, nat64, process, proxy, router",
                 id="missing-kind"),
    pytest.param("  c:\n    kind: client\n", 7, "nodes.c.links", "required field is missing",
                 id="missing-links"),
    pytest.param("  c:\n", 7, "nodes.c", "a node is a mapping with at least 'kind' and 'links'",
                 id="node-not-a-mapping"),
    pytest.param("  c:\n    kind: client\n    links: []\n", 9, "nodes.c.links", "at least 1 item",
                 id="no-links"),
    pytest.param("  c:\n    kind: client\n    links: [{network: v6, ip: '2001:db8:1::5'}]\n", 9,
                 "nodes.c.links[0].ip", "unknown field 'ip'; expected one of: ipv4, ipv6, loss, mtu, network",
                 id="unknown-link-field"),
    pytest.param("  c:\n    kind: client\n    links: [v6]\n    resolver: {nameserver: [dns64]}\n",
                 10, "nodes.c.resolver.nameserver",
                 "unknown field 'nameserver'; expected one of: nameservers, options, search",
                 id="unknown-resolver-field"),
    pytest.param("  c:\n    kind: client\n    links: [v6]\n    resolver: {options: ['timeout: 1']}\n",
                 10, "nodes.c.resolver.options[0]", "must be one word", id="resolver-option-two-words"),
    pytest.param("  c:\n    kind: client\n    links: [{network: v6, ipv4: 192.0.2.9}]\n", 9,
                 "nodes.c.links[0].ipv4", "network 'v6' has no IPv4 prefix", id="address-wrong-family"),
    pytest.param("  c:\n    kind: client\n    links: [{network: v6, ipv6: '2001:db8:1::'}]\n", 9,
                 "nodes.c.links[0].ipv6", "2001:db8:1:: is not a host address", id="subnet-router-anycast"),
    pytest.param("  n:\n    kind: nat64\n    links: [v6]\n", 9, "nodes.n.links",
                 "a nat64 node needs an IPv6 and an IPv4 address", id="nat64-one-sided"),
    pytest.param("  n:\n    kind: nat64\n    links: [v6, v4]\n    pool4: 192.0.2.0/25\n", 7, "nodes.n",
                 "192.0.2.0/25 overlaps 192.0.2.0/24 (at networks.v4.ipv4)", id="pool-overlaps-network"),
    pytest.param("  c:\n    kind: client\n    links: [v6]\n    resolver: {nameservers: [b]}\n"
                 "  b:\n    kind: backend\n    links: [v4]\n", 10, "nodes.c.resolver.nameservers[0]",
                 "node 'b' has no address in a family 'c' has", id="nameserver-other-family"),
    pytest.param("  ns:\n    kind: authdns\n    links: [v6]\n    zones:\n      example.test:\n"
                 "        records:\n          www: {A: '2001:db8::1'}\n", 13,
                 "nodes.ns.zones.example.test.records.www.A", "2001:db8::1 is not an IPv4 address",
                 id="a-record-ipv6-value"),
    pytest.param("  ns:\n    kind: authdns\n    links: [v6]\n    zones:\n      example.test:\n"
                 "        records:\n          www: {A: ns}\n", 13,
                 "nodes.ns.zones.example.test.records.www.A",
                 "node 'ns' has no IPv4 address for an A record", id="a-record-ipv6-only-node"),
    pytest.param("  c:\n    kind: client\n    links: [v6]\n    routes: [{to: default, via: gw}]\n", 10,
                 "nodes.c.routes[0].via", "'gw' is neither a node nor an address", id="route-via-unknown"),
    pytest.param("  c:\n    kind: client\n    links: [v6]\n    routes: [{to: moon, via: '2001:db8:1::9'}]\n",
                 10, "nodes.c.routes[0].to", "'moon' is not 'default', a network name or a prefix",
                 id="route-to-unknown"),
    pytest.param("  c:\n    kind: client\n    links: [v6]\n"
                 "    routes: [{to: '2001:db8:9::/64', via: 192.0.2.1}]\n", 10, "nodes.c.routes[0].via",
                 "192.0.2.1 is not on any network 'c' is linked to", id="route-family-mismatch"),
    pytest.param("  a:\n    kind: backend\n    links: [v4]\n    http_port: 0\n", 10, "nodes.a.http_port",
                 "greater than or equal to 1", id="port-zero"),
    # `up` issued a certificate for no name and crashed in trustme; refused here instead
    pytest.param("  a:\n    kind: backend\n    links: [v4]\n    tls_names: []\n", 10, "nodes.a.tls_names",
                 "a certificate needs at least one name", id="empty-tls-names"),
    # a union's members: one error at the field itself, naming each way, no pydantic tags
    pytest.param("  ns:\n    kind: authdns\n    links: [v4]\n    zones: {example.test: {records: {a: {A: 7}}}}\n",
                 10, "nodes.ns.zones.example.test.records.a.A", "or:", id="union-error-at-the-field"),
    pytest.param("  ns:\n    kind: authdns\n    links: [v4]\n    zones:\n      example.test:\n"
                 "        records: {'@': {CNAME: www}}\n", 12, "nodes.ns.zones.example.test.records.@.CNAME",
                 "the zone's SOA and NS", id="cname-at-the-apex"),
])
def test_inline_input_errors(nodes, line, field, fragment):
    with pytest.raises(InputError) as info:
        load_lab_text(HEAD + nodes, filename="inline.yml")
    err = info.value
    assert (err.file, err.line, err.field) == ("inline.yml", line, field), str(err)
    assert fragment in err.message


def test_dns64_without_any_prefix():
    text = HEAD.replace("nat64_prefix: 2001:db8:64::/96\n", "") + "  d:\n    kind: dns64\n    links: [v6]\n"
    with pytest.raises(InputError) as info:
        load_lab_text(text, filename="inline.yml")
    assert info.value.line == 6
    assert info.value.message == ("a dns64 node needs a prefix: set 'prefix' here or "
                                  "'nat64_prefix' at the top")


def test_network_too_small_for_its_links():
    text = ("name: t\nnetworks:\n  v4: {ipv4: 192.0.2.0/30}\nnodes:\n"
            "  a: {kind: client, links: [v4]}\n  b: {kind: client, links: [v4]}\n"
            "  c: {kind: client, links: [v4]}\n")
    with pytest.raises(InputError, match="192.0.2.0/30 has too few addresses for its 3 links") as info:
        load_lab_text(text)
    assert info.value.line == 3


@pytest.mark.parametrize("name, fragment", [
    ("T_1", "a lab name is 1-16 lowercase letters, digits or '-'"),
    ("a-lab-name-longer-than-16", "a lab name is 1-16"),
])
def test_bad_lab_name_override(name, fragment):
    with pytest.raises(InputError, match=fragment):
        load_lab_text(HEAD + "  c: {kind: client, links: [v6]}\n", name=name)


def test_yaml_merge_key_is_applied_or_an_input_error():
    text = HEAD + "  c: &base\n    kind: client\n    links: [v6]\n  d:\n    <<: *base\n"
    try:
        loaded = load_lab_text(text)
    except InputError:
        return
    assert loaded.plan.nodes["d"].kind == "client"
