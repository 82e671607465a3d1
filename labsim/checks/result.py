"""What a check returns: raw facts, timings, and a reason code a user can act on.

A failed check is data, never an exception. `ok` says whether the operation itself worked
(a name resolved, a connection was made, a response came back); `reason` names why not, or
a warning when it worked with something fragile in it (`warnings`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    NO_AAAA = "NO_AAAA"  # the name has A records but no AAAA, and nothing synthesizes one
    NXDOMAIN = "NXDOMAIN"
    NO_ADDRESS = "NO_ADDRESS"  # the name exists but has neither A nor AAAA
    DNS_TIMEOUT = "DNS_TIMEOUT"
    DNS_SERVFAIL = "DNS_SERVFAIL"
    IPV4_LITERAL = "IPV4_LITERAL"  # an IPv4 literal cannot be reached from an IPv6-only node
    NO_ROUTE = "NO_ROUTE"
    CONNECT_REFUSED = "CONNECT_REFUSED"
    CONNECT_TIMEOUT = "CONNECT_TIMEOUT"
    TIMEOUT = "TIMEOUT"  # connected, but no complete answer in time
    TLS_NAME_MISMATCH = "TLS_NAME_MISMATCH"  # curl error 60: the certificate does not name the host
    TLS_VERIFY_FAILED = "TLS_VERIFY_FAILED"
    TLS_HANDSHAKE = "TLS_HANDSHAKE"
    HTTP_STATUS = "HTTP_STATUS"
    REDIRECT_TO_IPV4_LITERAL = "REDIRECT_TO_IPV4_LITERAL"
    IPV4_LITERAL_IN_BODY = "IPV4_LITERAL_IN_BODY"
    EMPTY_REPLY = "EMPTY_REPLY"
    RECV_ERROR = "RECV_ERROR"
    PACKET_LOSS = "PACKET_LOSS"
    NO_NAT64_PREFIX = "NO_NAT64_PREFIX"  # no PREF64 and RFC 7050 found no prefix: nothing to synthesize with
    CLAT_DOWN = "CLAT_DOWN"  # the node's CLAT is not running: IPv4 literals have no way out
    UNKNOWN = "UNKNOWN"


# What to do about each failure: the reason code is what a user needs to fix the problem.
HINTS: dict[Reason, str] = {
    Reason.NO_AAAA: "publish an AAAA record: a dual-stack proxy or CDN edge in front of the IPv4-only service",
    Reason.NXDOMAIN: "the name does not exist in this network's DNS",
    Reason.NO_ADDRESS: "the name has no A or AAAA record",
    Reason.DNS_TIMEOUT: "no answer from the resolver: is it reachable over IPv6, and listed first?",
    Reason.DNS_SERVFAIL: "the resolver could not answer: check the authoritative servers",
    Reason.IPV4_LITERAL: "an IPv4 address in the URL or config never goes through DNS64: use a name, "
                         "synthesize from the NAT64 prefix (RFC 7050/6052), or run a CLAT",
    Reason.NO_ROUTE: "no route to that address from this network",
    Reason.CONNECT_REFUSED: "nothing listens there over this address family: a daemon bound to 0.0.0.0 "
                            "only? bind ::",
    Reason.CONNECT_TIMEOUT: "packets are dropped on the way (firewall, security group, missing route)",
    Reason.TIMEOUT: "connected, but no complete answer in time",
    Reason.TLS_NAME_MISMATCH: "the certificate does not name the host the client asked for (after a "
                              "DNS failover too): add the public name to every edge's certificate",
    Reason.TLS_VERIFY_FAILED: "the certificate does not verify (issuer, expiry)",
    Reason.TLS_HANDSHAKE: "the TLS handshake failed",
    Reason.HTTP_STATUS: "the server answered with an error status",
    Reason.REDIRECT_TO_IPV4_LITERAL: "the redirect points at an IPv4 literal: redirect to a name",
    Reason.IPV4_LITERAL_IN_BODY: "the response hands the app an IPv4-literal URL, which fails on "
                                 "IPv6-only networks: return names",
    Reason.EMPTY_REPLY: "the server closed the connection without answering",
    Reason.RECV_ERROR: "the connection broke while receiving",
    Reason.PACKET_LOSS: "some packets were lost",
    Reason.NO_NAT64_PREFIX: "the host learnt no NAT64 prefix: advertise PREF64 (RFC 8781) in router "
                            "advertisements, or give it a DNS64 resolver that answers ipv4only.arpa",
    Reason.CLAT_DOWN: "the CLAT is not running (no NAT64 prefix known, or it was withdrawn): advertise "
                      "PREF64 or fix DNS64 so the CLAT can come up",
    Reason.UNKNOWN: "see the detail",
}


@dataclass
class CheckResult:
    check: str  # resolve, dns, http, tls, tcp, ping
    node: str  # where it ran
    target: str  # what it asked for (name, URL, host:port)
    ok: bool
    reason: Reason | None = None
    detail: str = ""  # the underlying error text, as the tool said it
    facts: dict[str, Any] = field(default_factory=dict)  # addresses, remote_ip, status, ...
    timings_ms: dict[str, float] = field(default_factory=dict)
    warnings: list[Reason] = field(default_factory=list)
    tries: list["CheckResult"] = field(default_factory=list)  # repeated checks keep each try

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reason"] = self.reason.value if self.reason else None
        d["warnings"] = [w.value for w in self.warnings]
        d["tries"] = [t.to_dict() for t in self.tries]
        return d
