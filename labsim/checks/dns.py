"""`dns`: one query to a named server, from inside a node (dnspython, timed on receipt)."""

from __future__ import annotations

import ipaddress

import dns.rcode
import dns.rdatatype

from .base import CheckEnv, CheckSpec, query
from .result import CheckResult, Reason


class DnsCheck(CheckSpec):
    name: str
    type: str = "AAAA"
    server: str | None = None  # an address or a node name; default: the node's first nameserver
    timeout: float = 2.0


def run_dns(spec: DnsCheck, env: CheckEnv, server: str | None = None) -> CheckResult:
    server = server or (env.address_of(spec.server) if spec.server else None) \
        or (env.nameservers(spec.node) or [""])[0]
    target = f"{spec.name} {spec.type} @{server}"
    try:
        ipaddress.ip_address(server)
    except ValueError:
        return CheckResult("dns", spec.node, target, ok=False, reason=Reason.DNS_TIMEOUT,
                           detail=f"no usable server address {server!r}")
    r, ms = query(env, spec.node, server, spec.name, spec.type, spec.timeout)
    if r is None:
        return CheckResult("dns", spec.node, target, ok=False, reason=Reason.DNS_TIMEOUT,
                           detail=f"no answer in {spec.timeout}s", timings_ms={"total": ms})
    rcode = dns.rcode.to_text(r.rcode())
    want = dns.rdatatype.from_text(spec.type)
    answers = [rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset]
    cnames = [rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.CNAME for rd in rrset]
    res = CheckResult("dns", spec.node, target, ok=rcode == "NOERROR" and bool(answers),
                      facts={"rcode": rcode, "answers": answers, "cnames": cnames, "server": server,
                             "ttl": min((rs.ttl for rs in r.answer), default=None)},
                      timings_ms={"total": ms})
    if rcode == "NXDOMAIN":
        res.reason = Reason.NXDOMAIN
    elif rcode != "NOERROR":
        res.reason = Reason.DNS_SERVFAIL
    elif not answers:
        res.reason = Reason.NO_AAAA if spec.type == "AAAA" else Reason.NO_ADDRESS
    return res
