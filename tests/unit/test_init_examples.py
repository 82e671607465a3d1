"""`labsim init` writes a project whose scenarios validate and whose workflow passes GitHub's
workflow schema; the shipped CI examples pass their schemas (both validators work offline)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labsim.commands.init_project import api_hosts, render
from labsim.errors import InputError
from tests.helpers import REPO
from tests.unit.cli_inproc import labsim as run_labsim

BIN = Path(sys.executable).parent


def validator(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is in the test extras (pip install -e '.[test]')"
    return path


def check_workflow(path: Path) -> None:
    res = subprocess.run([validator("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_init_writes_a_project_that_validates(tmp_path):
    made = run_labsim("init", str(tmp_path / "proj"), "--api", "https://api.example.com/v1/items?x=1",
                      "--api", "http://example.org/")
    assert made.returncode == 0, made.stderr
    proj = tmp_path / "proj"
    for net in ("dns64-nat64", "ipv6-only"):
        res = run_labsim("validate", str(proj / "scenarios" / f"{net}.yml"), "--json")
        assert res.returncode == 0, res.stderr
    topo = yaml.safe_load((proj / "topologies" / "dns64-nat64.yml").read_text())
    assert topo["nodes"]["api"]["names"] == ["api.example.com", "example.org"]
    assert set(topo["nodes"]["ns"]["zones"]) == {"example.com", "example.org"}
    v6only = yaml.safe_load((proj / "topologies" / "ipv6-only.yml").read_text())
    assert v6only["nodes"]["nat64"]["translate"] is False and v6only["nodes"]["dns64"]["synthesize"] is False
    urls = [s["http"]["url"] for s in yaml.safe_load((proj / "scenarios" / "ipv6-only.yml").read_text())["steps"]
            if "http" in s]
    assert urls == ["https://api.example.com/v1/items?x=1", "http://example.org/"]
    check_workflow(proj / ".github" / "workflows" / "labsim.yml")
    wf = (proj / ".github" / "workflows" / "labsim.yml").read_text()
    assert 'LABSIM_PACKAGE: "${{ vars.LABSIM_PACKAGE }}"' in wf and "pip install labsim" not in wf
    assert "LABSIM_PACKAGE" in made.stdout
    # a second init keeps what exists and writes what is missing, as the README says
    scen = proj / "scenarios" / "ipv6-only.yml"
    scen.write_text("# mine\n")
    (proj / "topologies" / "ipv6-only.yml").unlink()
    res = run_labsim("init", str(proj), "--api", "https://api.example.com/")
    assert res.returncode == 0, res.stderr
    assert scen.read_text() == "# mine\n" and f"kept {scen}" in res.stdout
    assert (proj / "topologies" / "ipv6-only.yml").exists()


def test_init_install_source_and_next_steps_paste_as_they_are(tmp_path):
    """The workflow installs what --install-from names; the next-step commands are printed
    whole on stdout (never wrapped mid-command), with sudo finding a pipx-installed labsim."""
    proj = tmp_path / ("a-long-directory-name-" * 3)
    wheel = "https://example.com/dl/labsim-0.1.0-py3-none-any.whl#sha256=00"
    from tests.helpers import run_labsim as run_process  # a whole process: its own terminal width

    res = run_process("init", str(proj), "--api", "https://api.example.com/", "--install-from", wheel,
                      env={**os.environ, "COLUMNS": "40"})
    assert res.returncode == 0, res.stderr
    assert f'LABSIM_PACKAGE: "{wheel}"' in (proj / ".github" / "workflows" / "labsim.yml").read_text()
    check_workflow(proj / ".github" / "workflows" / "labsim.yml")
    lines = res.stdout.splitlines()
    assert f"next: labsim validate {proj / 'scenarios' / 'dns64-nat64.yml'}" in lines
    assert f'      sudo "$(command -v labsim)" run {proj / "scenarios"}' in lines
    assert "sudo labsim" not in res.stdout + (proj / "scenarios" / "ipv6-only.yml").read_text()


@pytest.mark.parametrize("url", ["https://192.0.2.1/", "ftp://api.example.com/", "https://localhost/",
                                 "https://api.example.com:8443/", "api.example.com"])
def test_init_refuses_what_the_lab_cannot_serve(tmp_path, url):
    res = run_labsim("init", str(tmp_path / "p"), "--api", url)
    assert res.returncode == 2 and "--api" in res.stderr
    assert not (tmp_path / "p").exists()


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_api_urls_are_accepted_or_refused_cleanly(text):
    try:
        apis = api_hosts([text])
    except InputError:
        return
    files = render(apis)  # whatever was accepted renders as YAML that reads back the same
    sc = yaml.safe_load(files["scenarios/dns64-nat64.yml"])
    assert [s["http"]["url"] for s in sc["steps"] if "http" in s] == [apis[0][0]]


def test_shipped_ci_examples_pass_their_schemas():
    check_workflow(REPO / "examples" / "github-actions.yml")
    res = subprocess.run([validator("kubernetes-validate"), str(REPO / "examples" / "kubernetes-job.yml")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    job = yaml.safe_load((REPO / "examples" / "kubernetes-job.yml").read_text())
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] is True


def test_a_copied_scenario_finds_its_builtin_topology(tmp_path):
    (tmp_path / "scenarios").mkdir()
    shutil.copy(REPO / "scenarios" / "apple-review-nat64.yml", tmp_path / "scenarios")
    res = run_labsim("validate", "scenarios/apple-review-nat64.yml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
