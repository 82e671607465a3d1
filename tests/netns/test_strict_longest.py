"""Tier 2: a lab whose string fields hold their longest legal values comes up, serves them
exactly, and its daemons run as their unprivileged users (read from /proc, not from the
configs).

tests/data/longest-legal.yml: 253-character names with 63-character labels, an owner that
makes a 253-character name, 2048 characters of TXT full of zone-file metacharacters (quotes,
backslashes, ';', '$INCLUDE', parentheses), a 4096-character response header, a
1024-character URL path, one resolver of each implementation, nginx and haproxy proxies
and a cdn whose upstream/origin/Host are the longest name.
"""

from __future__ import annotations

import os
import sys
import subprocess
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from tests.helpers import REPO, run_labsim

pytestmark = pytest.mark.root

LONGEST = REPO / "tests" / "data" / "longest-legal.yml"

# daemon (its /proc comm) -> the user it must run as once started
EXPECTED_USERS = {
    "named": "bind",
    "unbound": "unbound",
    "kresd": "knot-resolver",
    "pdns_server": "pdns",
    "pdns_recursor": "pdns",
    "haproxy": "haproxy",
}


def _uid_name(uid: int) -> str:
    import pwd

    return pwd.getpwuid(uid).pw_name


def _processes(lab: str) -> list[tuple[int, int, str, str]]:
    """(pid, ppid, comm, effective user) of every live process under the lab's directory,
    and of their children (nginx workers have no path on their command line)."""
    needle = f"/run/labsim/{lab}/".encode()
    table = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields["State"].strip().startswith("Z"):
            continue
        euid = int(fields["Uid"].split()[1])
        table[int(pid)] = (int(fields["PPid"]), fields["Name"].strip(), _uid_name(euid), needle in cmdline)
    mine = {pid for pid, row in table.items() if row[3]}
    mine |= {pid for pid, row in table.items() if row[0] in mine}
    return [(pid, table[pid][0], table[pid][1], table[pid][2]) for pid in sorted(mine)]


@pytest.fixture(scope="module")
def longest_lab():
    import uuid

    name = "tl" + uuid.uuid4().hex[:8]
    res = run_labsim("up", str(LONGEST), "--name", name, timeout=180)
    try:
        assert res.returncode == 0, res.stderr
        yield name
    finally:
        run_labsim("down", name, timeout=60)


def test_daemons_run_as_their_own_users(longest_lab):
    procs = _processes(longest_lab)
    seen = {}
    for _pid, _ppid, comm, user in procs:
        if comm in EXPECTED_USERS:
            seen.setdefault(comm, set()).add(user)
    assert {c: {u} for c, u in EXPECTED_USERS.items()} == seen, procs
    workers = [user for _pid, _ppid, comm, user in procs if comm == "nginx" and user != "root"]
    masters = [user for _pid, _ppid, comm, user in procs if comm == "nginx" and user == "root"]
    assert len(masters) == 2 and workers and set(workers) == {"www-data"}, procs


def _records():
    data = yaml.safe_load(LONGEST.read_text())
    (zone, spec), = data["nodes"]["ns"]["zones"].items()
    owner = next(o for o, r in spec["records"].items() if "TXT" in r and o.startswith("_"))
    return zone, owner, spec["records"][owner]["TXT"]


def _ask(lab: str, server: str, qname: str, rdtype: str) -> dns.message.Message:
    """One query from the client node, over TCP (the TXT answer is over 2 KB)."""
    from labsim.runtime.netns import node_ns

    query = dns.message.make_query(qname, rdtype).to_wire()
    script = ("import sys, dns.message, dns.query; "
              "q = dns.message.from_wire(sys.stdin.buffer.read()); "
              f"sys.stdout.buffer.write(dns.query.tcp(q, {server!r}, timeout=5).to_wire())")
    res = subprocess.run(["ip", "netns", "exec", node_ns(lab, "client"), sys.executable, "-c", script],
                         input=query, capture_output=True, timeout=20)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return dns.message.from_wire(res.stdout)


@pytest.mark.parametrize("server", ["2001:db8:1::6", "2001:db8:1::2", "2001:db8:1::3",
                                    "2001:db8:1::4", "2001:db8:1::5"],
                         ids=["authdns", "bind9", "unbound", "knot", "pdns-recursor"])
def test_the_longest_txt_comes_back_exactly(longest_lab, server):
    """The TXT data (quotes, backslashes, ';', '$INCLUDE') is data end to end: through the
    authoritative server and every resolver, byte for byte, and nothing else."""
    zone, owner, text = _records()
    qname = f"{owner}.{zone}."
    assert len(qname) == 254  # 253 characters and the final dot
    answer = _ask(longest_lab, server, qname, "TXT")
    rrsets = [r for r in answer.answer if r.rdtype == dns.rdatatype.TXT]
    assert len(rrsets) == 1 and len(rrsets[0]) == 1, answer
    got = b"".join(rrsets[0][0].strings).decode()
    assert got == text
