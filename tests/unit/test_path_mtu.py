"""Tier 1: per-link MTU in the plan, the ICMP-error drop and MSS clamp actions' inputs, the
`pmtu` check's probing (ping's own output, replayed), and fact expectations (no root)."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labsim.checks.base import CheckEnv
from labsim.checks.pmtu import PmtuCheck, run_pmtu
from labsim.checks.reasons import Reason
from labsim.checks.result import HttpResult
from labsim.errors import InputError
from labsim.loader import load_lab_text
from labsim.scenario.expect import Expect, evaluate
from labsim.scenario.model import Step

TOPO = """name: mtu
networks: {{v6: {{ipv6: "2001:db8:1::/64"}}, v4: {{ipv4: 192.0.2.0/24}}}}
nodes:
  a: {{kind: client, links: [{{network: v6, mtu: {v6}}}, {{network: v4, mtu: {v4}}}]}}
"""


def test_link_mtu_is_planned_per_interface():
    plan = load_lab_text(TOPO.format(v6=1500, v4=1400), filename="mtu.yml").plan
    assert [i.mtu for i in plan.nodes["a"].ifaces] == [1500, 1400]
    plan = load_lab_text(TOPO.format(v6=1280, v4=576), filename="mtu.yml").plan
    assert [i.mtu for i in plan.nodes["a"].ifaces] == [1280, 576]


@pytest.mark.parametrize("v6, v4, line, fragment", [
    (1200, 1500, 4, "an IPv6 link needs an MTU of at least 1280"),
    (1500, 500, 4, "greater than or equal to 576"),
])
def test_bad_mtus_are_input_errors(v6, v4, line, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)) as err:
        load_lab_text(TOPO.format(v6=v6, v4=v4), filename="mtu.yml")
    assert f"mtu.yml:{line}:" in str(err.value)


@pytest.mark.parametrize("raw, fragment", [
    ({"drop": {"node": "r", "icmp": ["frag-needed"], "proto": "tcp"}}, "no 'proto' or 'port'"),
    ({"drop": {"node": "r", "icmp": ["echo"]}}, "packet-too-big"),
    ({"clamp_mss": {"node": "r", "mss": 100}}, "greater than or equal to 536"),
    ({"clamp_mss": {"node": "r"}}, "mss"),
])
def test_bad_actions_are_input_errors(raw, fragment):
    with pytest.raises(ValidationError, match=re.escape(fragment)):
        Step.model_validate(raw)


class PingReplay:
    """ping as it answers on a path whose MTU is `pmtu`: with ICMP errors passing it reports
    the MTU (the router's error, then the kernel's cached value); dropped, big probes vanish."""

    def __init__(self, pmtu: int, errors: bool):
        self.pmtu, self.errors, self.sent = pmtu, errors, []

    def exec(self, node, argv, timeout=30.0, input=None):
        size = int(argv[argv.index("-s") + 1]) + 48
        self.sent.append(size)
        head = f"PING api.example.test(2001:db8:64::c633:6402) {size - 48} data bytes\n"
        if size <= self.pmtu:
            return subprocess.CompletedProcess(argv, 0, head.encode(), b"")
        if self.errors:
            return subprocess.CompletedProcess(
                argv, 1, (head + f"From 2001:db8:64::c000:201 icmp_seq=1 Packet too big: mtu={self.pmtu}\n").encode(), b"")
        return subprocess.CompletedProcess(argv, 1, head.encode(), b"")


def test_pmtu_follows_the_icmp_error():
    ping = PingReplay(1420, errors=True)
    r = run_pmtu(PmtuCheck.model_validate({"from": "c", "host": "api.example.test"}), CheckEnv(ping, "python3"))
    assert r.ok and r.facts.pmtu == 1420 and r.facts.ptb_seen and not r.facts.blackhole
    assert r.facts.remote_ip == "2001:db8:64::c633:6402" and ping.sent == [1500, 1420]


def test_pmtu_black_hole_is_bisected_and_reported():
    ping = PingReplay(1420, errors=False)
    r = run_pmtu(PmtuCheck.model_validate({"from": "c", "host": "h"}), CheckEnv(ping, "python3"))
    assert not r.ok and r.reason == Reason.PACKET_LOSS and r.facts.pmtu == 1420
    assert r.facts.blackhole and not r.facts.ptb_seen and len(ping.sent) <= 16
    assert "black hole" in r.detail


def test_pmtu_nothing_answers():
    ping = PingReplay(100, errors=False)
    r = run_pmtu(PmtuCheck.model_validate({"from": "c", "host": "h"}), CheckEnv(ping, "python3"))
    assert not r.ok and r.facts.pmtu is None and r.reason == Reason.PACKET_LOSS


def test_fact_expectations_by_path_and_bounds():
    r = HttpResult(node="c", target="u", ok=False, reason=Reason.TIMEOUT)
    r.facts.bytes_received, r.facts.json = 0, {"nested": {"pmtu": 1420}, "flag": True}
    outs = evaluate(Expect(reason=Reason.TIMEOUT, facts={"json.nested.pmtu": 1420},
                           facts_min={"bytes_received": 0}, facts_max={"bytes_received": 10}), [r])
    assert all(o.passed for o in outs), outs
    failed = [o.what for o in evaluate(Expect(reason=Reason.TIMEOUT, facts_min={"json.flag": 0, "missing": 1}), [r])
              if not o.passed]
    assert failed == ["facts.json.flag min", "facts.missing min"]


class AnyOutput:
    def __init__(self, code, text):
        self.code, self.text = code, text

    def exec(self, node, argv, timeout=30.0, input=None):
        return subprocess.CompletedProcess(argv, self.code, self.text.encode(), b"")


@settings(max_examples=100, deadline=None)
@given(code=st.integers(0, 255), text=st.text(max_size=300))
def test_any_ping_output_gives_a_bounded_result(code, text):
    r = run_pmtu(PmtuCheck.model_validate({"from": "c", "host": "h"}), CheckEnv(AnyOutput(code, text), "python3"))
    assert len(r.facts.probes) <= 16
    assert r.ok == (r.facts.pmtu is not None and not r.facts.blackhole)
