"""`dns`: one query to a named server, from inside a node (dnspython, timed on receipt)."""

from __future__ import annotations

import ipaddress

import dns.rcode
import dns.rdatatype

from labsim.checks.base import CheckEnv, CheckSpec, guarded, no_answer_reason, query
from labsim.checks.reasons import Reason
from labsim.checks.result import DnsResult


class DnsCheck(CheckSpec):
    name: str
    type: str = "AAAA"
    server: str | None = None  # an address or a node name; default: the node's first nameserver
    timeout: float = 2.0


@guarded("dns", lambda spec: f"{spec.name} {spec.type}")
def run_dns(spec: DnsCheck, env: CheckEnv, server: str | None = None) -> DnsResult:
    server = server or (env.address_of(spec.server) if spec.server else None) \
        or (env.nameservers(spec.node) or [""])[0]
    res = DnsResult(node=spec.node, target=f"{spec.name} {spec.type} @{server}", ok=False)
    res.facts.server = server
    try:
        ipaddress.ip_address(server)
    except ValueError:
        res.reason, res.detail = Reason.DNS_TIMEOUT, f"no usable server address {server!r}"
        return res
    r, ms, error = query(env, spec.node, server, spec.name, spec.type, spec.timeout)
    res.timings_ms.total = ms
    if r is None:
        res.facts.error = error
        res.reason = no_answer_reason(error)
        res.detail = f"no answer in {spec.timeout}s" if error == "TIMEOUT" else f"no answer: {error}"
        return res
    rcode = dns.rcode.to_text(r.rcode())
    want = dns.rdatatype.from_text(spec.type)
    f = res.facts
    f.rcode = rcode
    f.answers = [rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset]
    f.cnames = [rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.CNAME for rd in rrset]
    f.ttl = min((rs.ttl for rs in r.answer), default=None)
    res.ok = rcode == "NOERROR" and bool(f.answers)
    if rcode == "NXDOMAIN":
        res.reason = Reason.NXDOMAIN
    elif rcode == "REFUSED":
        res.reason = Reason.DNS_REFUSED
    elif rcode != "NOERROR":
        res.reason = Reason.DNS_SERVFAIL
    elif not f.answers:
        res.reason = Reason.NO_AAAA if spec.type == "AAAA" else Reason.NO_ADDRESS
    return res
