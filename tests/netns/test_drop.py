"""Tier 2: the scenario actions `drop` and `undrop` in a real lab: packets to/from a node, an
address or a prefix are dropped inside the node's own namespace (tcp by port, udp, icmp),
the checks see it, and `undrop` leaves no rule behind."""

from __future__ import annotations

import pytest

from labsim.bringup import lab as labmod
from labsim.checks import CHECKS
from labsim.bringup.lab import make_runtime
from labsim.loader import load_lab_text
from labsim.runtime.state import LabState
from labsim.scenario import actions
from labsim.scenario.model import DropAction, NodeAction
from labsim.scenario.session import LabSession

pytestmark = pytest.mark.root

TOPO = """name: {name}
networks: {{lan: {{ipv6: "2001:db8:5::/64", ipv4: 192.0.2.0/24}}}}
nodes:
  client: {{kind: client, links: [lan]}}
  web: {{kind: backend, links: [lan], listen: ["::"]}}
"""


def check(session: LabSession, kind: str, **spec):
    model, run = CHECKS[kind]
    return run(model.model_validate({"from": "client", "timeout": 1.5, **spec}), session.env)


def ruleset(session: LabSession, node: str) -> str:
    res = session.runtime.exec(node, ["nft", "list", "ruleset"], timeout=10)
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


def test_drop_and_undrop_change_what_checks_see_and_leave_nothing(lab_name):
    loaded = load_lab_text(TOPO.format(name=lab_name))
    up = labmod.up(loaded, ephemeral=True)
    try:
        s = LabSession(loaded, make_runtime(LabState.load(lab_name)), up.state)
        web6 = str(loaded.plan.nodes["web"].addresses(6)[0])
        web4 = str(loaded.plan.nodes["web"].addresses(4)[0])
        assert check(s, "tcp", host=web6, port=80).ok

        # by node and port, in the receiving node: the SYN vanishes, the client times out
        did = actions.drop(s, DropAction.model_validate({"node": "web", "from": "client", "proto": "tcp", "port": 80}))
        assert "web drops from client tcp port 80" in did
        r = check(s, "tcp", host=web6, port=80)
        assert not r.ok and r.reason.value == "CONNECT_TIMEOUT", r
        assert "tcp dport 80" in ruleset(s, "web") and "drop" in ruleset(s, "web")
        assert check(s, "ping", host=web6, count=1).ok  # only tcp/80 was dropped

        # by prefix, in the sending node, icmp only: ping fails, tcp still works
        actions.drop(s, DropAction.model_validate({"node": "client", "to": "2001:db8:5::/64", "proto": "icmp"}))
        assert not check(s, "ping", host=web6, count=1).ok
        assert check(s, "ping", host=web4, count=1).ok
        actions.undrop(s, NodeAction.model_validate("client"))
        assert check(s, "ping", host=web6, count=1).ok

        actions.undrop(s, NodeAction.model_validate("web"))
        assert check(s, "tcp", host=web6, port=80).ok
        for node in ("web", "client"):
            assert "labsim" not in ruleset(s, node).replace("labsim-impair", "")
        actions.undrop(s, NodeAction.model_validate("web"))  # nothing to remove is not an error
    finally:
        labmod.down(lab_name)
