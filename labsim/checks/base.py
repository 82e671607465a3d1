"""What checks share: where they run (a runtime and a node), the in-node agent, and how a
name that did not resolve is classified by asking the node's own resolver directly."""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from pydantic import BaseModel, ConfigDict, Field

from ..runtime.base import Runtime
from .result import Reason


class CheckSpec(BaseModel):
    """Fields every check has. `from` names the node it runs in."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    node: str = Field(alias="from")
    timeout: float = Field(5.0, gt=0, le=120)


@dataclass
class CheckEnv:
    runtime: Runtime
    python: str  # labsim's interpreter, as a path inside the node
    addresses: dict[str, list[str]] = field(default_factory=dict)  # node -> its addresses

    def address_of(self, ref: str, prefer: int = 6) -> str:
        """A node name becomes its address (IPv6 first); anything else is returned as is."""
        addrs = self.addresses.get(ref)
        if not addrs:
            return ref
        return next((a for a in addrs if (":" in a) == (prefer == 6)), addrs[0])

    def agent(self, node: str, *args: str, timeout: float = 30.0) -> dict:
        res = self.runtime.exec(node, [self.python, "-m", "labsim.agent", *args], timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"agent in {node} failed: {res.stderr.decode(errors='replace')[-500:]}")
        return json.loads(res.stdout)

    def nameservers(self, node: str) -> list[str]:
        res = self.runtime.exec(node, ["cat", "/etc/resolv.conf"], timeout=10)
        return [line.split()[1] for line in res.stdout.decode().splitlines()
                if line.startswith("nameserver") and len(line.split()) > 1]


def is_ipv4_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 4
    except ValueError:
        return False


def query(env: CheckEnv, node: str, server: str, name: str, rdtype: str, timeout: float):
    """One UDP query from inside `node`; returns (response or None, ms)."""
    import time

    addr = ipaddress.ip_address(server)
    fam = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    q = dns.message.make_query(name, rdtype)
    with env.runtime.socket(node, fam, socket.SOCK_DGRAM) as s:
        s.setblocking(False)  # dnspython waits with its own deadline only on non-blocking sockets
        t0 = time.perf_counter()
        try:
            # dnspython sends from our socket, which lives in the node's namespace
            r = dns.query.udp(q, str(addr), timeout=timeout, sock=s)
        except (dns.exception.Timeout, OSError):
            return None, (time.perf_counter() - t0) * 1000
        return r, (time.perf_counter() - t0) * 1000


def classify_unresolved(env: CheckEnv, node: str, name: str, timeout: float = 2.0) -> tuple[Reason, dict]:
    """Why `name` gave no usable address in `node`: ask its first nameserver for A and AAAA."""
    servers = env.nameservers(node)
    if not servers:
        return Reason.DNS_TIMEOUT, {"nameservers": []}
    facts: dict = {"nameserver": servers[0]}
    answers = {}
    for rdtype in ("AAAA", "A"):
        r, _ = query(env, node, servers[0], name, rdtype, timeout)
        if r is None:
            return Reason.DNS_TIMEOUT, facts
        rcode = dns.rcode.to_text(r.rcode())
        if rcode == "NXDOMAIN":
            return Reason.NXDOMAIN, facts
        if rcode != "NOERROR":
            facts["rcode"] = rcode
            return Reason.DNS_SERVFAIL, facts
        answers[rdtype] = [rd.to_text() for rrset in r.answer
                           if rrset.rdtype == dns.rdatatype.from_text(rdtype) for rd in rrset]
    facts.update({"A": answers["A"], "AAAA": answers["AAAA"]})
    if answers["A"] and not answers["AAAA"]:
        return Reason.NO_AAAA, facts
    return Reason.NO_ADDRESS, facts
