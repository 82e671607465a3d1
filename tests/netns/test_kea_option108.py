"""RFC 8925 §3.3 against the real server: Kea sends option 108 only to a client that asks for
it in its parameter request list. Two DISCOVERs from the same node (labsim's own packet
builder, fresh hardware addresses so each is a new client to Kea): the OFFER to the one that
lists 108 carries it (the ipv6-mostly topology's 1800 s), the OFFER to the one that does not
has no option 108 at all."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.helpers import LABSIM, REPO, run_labsim

pytestmark = pytest.mark.root

PROBE = """
import json, os, socket, sys, time
sys.path.insert(0, sys.argv[1])
from labsim.node.dhcp4client import DISCOVER, OFFER, OPT_DNS, OPT_MASK, OPT_ROUTER, OPT_V6ONLY, build, parse
out = {}
for ask in (True, False):
    prl = [OPT_MASK, OPT_ROUTER, OPT_DNS] + ([OPT_V6ONLY] if ask else [])
    mac, xid = b"\\x02" + os.urandom(5), int.from_bytes(os.urandom(4), "big")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    s.bind(("0.0.0.0", 68))
    end = time.monotonic() + 5
    offer = None
    for _ in range(5):  # bounded: a DISCOVER a second, five at most
        s.sendto(build(DISCOVER, xid, mac, prl), ("255.255.255.255", 67))
        s.settimeout(1.0)
        try:
            while offer is None and time.monotonic() < end:
                r = parse(s.recv(2048))
                if r.xid == xid and r.type == OFFER:
                    offer = r
        except (TimeoutError, ValueError):
            pass
        if offer is not None:
            break
    s.close()
    out["asks" if ask else "does_not_ask"] = None if offer is None else {
        "v6only": offer.u32(OPT_V6ONLY), "has_108": OPT_V6ONLY in offer.options, "yiaddr": str(offer.yiaddr)}
print(json.dumps(out))
"""


def test_kea_sends_option_108_only_to_clients_that_ask():
    name = "k108" + uuid.uuid4().hex[:6]
    try:
        up = run_labsim("up", str(REPO / "topologies/ipv6-mostly.yml"), "--name", name, timeout=120)
        assert up.returncode == 0, up.stderr
        res = subprocess.run([LABSIM, "exec", "--lab", name, "legacy", "--", "python3", "-S", "-c", PROBE, str(REPO)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        got = json.loads(res.stdout)
        assert got["asks"] is not None and got["does_not_ask"] is not None, got  # Kea answered both
        assert got["asks"]["has_108"] and got["asks"]["v6only"] == 1800
        assert not got["does_not_ask"]["has_108"]
    finally:
        subprocess.run([LABSIM, "down", name], capture_output=True, timeout=60)
