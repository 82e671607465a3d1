"""Tier 1: failover records (authdns `failover:`) rendered to PowerDNS LUA `ifurlup` over two
address sets, the health-check interval, the cloudapi kind's service, and what a scenario
may say about them (no root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labsim.errors import InputError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import load_lab, load_lab_text
from labsim.scenario.model import Step

REPO = Path(__file__).resolve().parent.parent.parent

BASE = """name: fo
networks: {{v6: {{ipv6: "2001:db8:1::/64"}}}}
nodes:
  ns:
    kind: authdns
    links: [v6]
    zones:
      example.test:
        failover:
          {owner}: {record}
  e1: {{kind: backend, links: [v6]}}
  e2: {{kind: backend, links: [v6]}}
"""


def zone(text: str) -> tuple[str, str]:
    loaded = load_lab_text(text, filename="fo.yml")
    plan = loaded.plan
    ctx = NodeContext(plan, plan.nodes["ns"], loaded.topology.nodes["ns"], dir="/labsim/ns")
    files = registry.get("authdns").render(ctx)
    return files["zones/example.test.zone"], files["pdns.conf"]


def test_failover_renders_ifurlup_over_two_sets_with_a_one_second_check():
    text, conf = zone(BASE.format(owner="api", record="{primary: [e1], secondary: [e2, '2001:db8:1::99'], ttl: 1}"))
    planned = load_lab_text(BASE.format(owner="api", record="{primary: [e1], secondary: [e2]}"), filename="fo.yml").plan
    e1, e2 = (str(planned.nodes[n].addresses(6)[0]) for n in ("e1", "e2"))
    assert (f"api 1 IN LUA AAAA \"ifurlup('http://api.example.test:80/', "
            f"{{{{'{e1}'}}, {{'{e2}', '2001:db8:1::99'}}}})\"") in text.splitlines()
    assert "lua-health-checks-interval=1" in conf.splitlines()


def test_no_failover_no_health_check_setting():
    loaded = load_lab(REPO / "topologies" / "apple-review.yml")
    plan = loaded.plan
    ctx = NodeContext(plan, plan.nodes["ns"], loaded.topology.nodes["ns"], dir="/labsim/ns")
    assert "lua-health-checks" not in registry.get("authdns").render(ctx)["pdns.conf"]


@pytest.mark.parametrize("record, fragment", [
    ("{primary: [e1], secondary: []}", "at least 1"),
    ("{primary: [nobody], secondary: [e2]}", "neither an IPv6 address nor a node"),
    ("{primary: ['192.0.2.1'], secondary: [e2]}", "not an IPv6 address"),
    ("{primary: [e1], secondary: [e2], path: \"/x') os.exit() --\"}", "pattern"),
    ("{primary: [e1], secondary: [e2], http_port: 0}", "greater than or equal to 1"),
])
def test_bad_failover_records_are_input_errors(record, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        zone(BASE.format(owner="api", record=record))


@settings(max_examples=150, deadline=None)
@given(owner=st.text(min_size=1, max_size=30))
def test_no_owner_name_reaches_the_lua_text_unchecked(owner):
    quoted = '"' + owner.replace("\\", "\\\\").replace('"', '\\"') + '"'
    try:
        text, _ = zone(BASE.format(owner=quoted, record="{primary: [e1], secondary: [e2]}"))
    except InputError:
        return
    lua = [line for line in text.splitlines() if " LUA " in line]
    assert len(lua) == 1
    inner = lua[0].split('"', 1)[1].rsplit('"', 1)[0]
    url = re.match(r"ifurlup\('http://([^':]*):80/', ", inner)
    assert url and re.fullmatch(r"[A-Za-z0-9_.-]+", url.group(1)), lua[0]
    assert "\\" not in inner and inner.count("'") == 6


def test_cloudapi_serves_tls_from_the_lab_ca_on_both_families():
    loaded = load_lab(REPO / "topologies" / "cloud-endpoints.yml")
    plan = loaded.plan
    ctx = NodeContext(plan, plan.nodes["cloud"], loaded.topology.nodes["cloud"], dir="/labsim/cloud",
                      python="/venv/bin/python")
    kind = registry.get("cloudapi")
    (svc,) = kind.services(ctx)
    assert svc.argv == ["/venv/bin/python", "-m", "labsim.kinds.cloudserve", "--host", "::", "--port", "443",
                        "--cert", "/labsim/cloud/tls/cert.pem", "--key", "/labsim/cloud/tls/key.pem",
                        "--user", "nobody", "--group", "nogroup"]
    assert "s3.dualstack.eu-central-1.amazonaws.com" in kind.tls(ctx).names


def test_converged_max_ms_needs_within():
    with pytest.raises(ValidationError, match="within"):
        Step.model_validate({"dns": {"from": "c", "name": "a.test"}, "expect": {"converged_max_ms": 100}})
    Step.model_validate({"dns": {"from": "c", "name": "a.test"}, "within": 5, "expect": {"converged_max_ms": 100}})


def test_reissue_cert_needs_names():
    with pytest.raises(ValidationError, match="at least 1"):
        Step.model_validate({"reissue_cert": {"node": "edge1", "names": []}})
