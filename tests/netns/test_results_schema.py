"""A real `labsim run --json` (resolve, dns, http and https checks, actions) validates against
the results schema shipped in the package, and carries the typed facts users read."""

from __future__ import annotations

import json

import jsonschema
import pytest

from labsim.commands.schema import shipped
from tests.helpers import run_labsim

pytestmark = pytest.mark.root


def test_a_real_run_report_validates_against_the_shipped_schema(tmp_path):
    out = tmp_path / "run.json"
    res = run_labsim("run", "scenarios/apple-review-nat64.yml", "--json", str(out), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(out.read_text())
    schema = shipped()
    jsonschema.Draft202012Validator({**schema, "anyOf": [{"$ref": "#/$defs/RunReport"}]}).validate(report)
    results = [s["result"] for s in report[0]["steps"] if s["result"]]
    assert {r["check"] for r in results} >= {"resolve", "dns", "http"}
    http = next(r for r in results if r["check"] == "http" and r["ok"])
    # whole IPv6 addresses in `tried`, and the address connected to among them
    assert http["facts"]["remote_ip"] in http["facts"]["tried"]
    assert all(f["facts"]["tool_error"] is None for f in results)
