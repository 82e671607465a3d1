"""Reason codes, what to do about each, and the tables that turn a tool's error into one.

Every Reason is declared with its hint, so a reason without one cannot exist (a reporter
never looks a hint up in a side table). The tables are total: an errno, EAI or rcode name
they do not list maps to a stated default, never to a KeyError or None.
"""

from __future__ import annotations

import errno
from enum import StrEnum


class Hinted(StrEnum):
    """A string enum whose every member is declared as (value, hint): one without a hint is a
    TypeError when the module is imported, not a KeyError in a report."""

    hint: str

    def __new__(cls, value: str, hint: str) -> Hinted:
        if not hint.strip():
            raise TypeError(f"{value}: an empty hint")
        member = str.__new__(cls, value)
        member._value_ = value
        member.hint = hint
        return member


class Reason(Hinted):
    NO_AAAA = ("NO_AAAA", "publish an AAAA record: a dual-stack proxy or CDN edge in front of the "
               "IPv4-only service")
    NXDOMAIN = ("NXDOMAIN", "the name does not exist in this network's DNS")
    NO_ADDRESS = ("NO_ADDRESS", "the name has no A or AAAA record")
    DNS_TIMEOUT = ("DNS_TIMEOUT", "no answer from the resolver: is it reachable over IPv6, and listed first?")
    DNS_SERVFAIL = ("DNS_SERVFAIL", "the resolver could not answer: check the authoritative servers")
    DNS_REFUSED = ("DNS_REFUSED", "the resolver refuses this client: allow its prefix (access-control, "
                   "allow-recursion, allow-from)")
    IPV4_LITERAL = ("IPV4_LITERAL", "an IPv4 address in the URL or config never goes through DNS64: use "
                    "a name, synthesize from the NAT64 prefix (RFC 7050/6052), or run a CLAT")
    NO_ROUTE = ("NO_ROUTE", "no route to that address from this network")
    CONNECT_REFUSED = ("CONNECT_REFUSED", "nothing listens there over this address family: a daemon "
                       "bound to 0.0.0.0 only? bind ::")
    CONNECT_TIMEOUT = ("CONNECT_TIMEOUT", "packets are dropped on the way (firewall, security group, "
                       "missing route)")
    TIMEOUT = ("TIMEOUT", "connected, but no complete answer in time")
    TLS_NAME_MISMATCH = ("TLS_NAME_MISMATCH", "the certificate does not name the host the client asked "
                         "for (after a DNS failover too): add the public name to every edge's certificate")
    TLS_VERIFY_FAILED = ("TLS_VERIFY_FAILED", "the certificate does not verify (issuer, expiry)")
    TLS_HANDSHAKE = ("TLS_HANDSHAKE", "the TLS handshake failed")
    HTTP_STATUS = ("HTTP_STATUS", "the server answered with an error status")
    BAD_RESPONSE = ("BAD_RESPONSE", "the answer is not valid HTTP (plain HTTP to a TLS port, a "
                    "non-HTTP service, a broken HTTP/2 stream)")
    REDIRECT_TO_IPV4_LITERAL = ("REDIRECT_TO_IPV4_LITERAL", "the redirect points at an IPv4 literal: "
                                "redirect to a name")
    IPV4_LITERAL_IN_BODY = ("IPV4_LITERAL_IN_BODY", "the response hands the app an IPv4-literal URL, "
                            "which fails on IPv6-only networks: return names")
    WS_HANDSHAKE = ("WS_HANDSHAKE", "the WebSocket opening handshake did not reach 101 Switching "
                    "Protocols: does every proxy on the way pass Upgrade/Connection?")
    EMPTY_REPLY = ("EMPTY_REPLY", "the server closed the connection without answering")
    SEND_ERROR = ("SEND_ERROR", "the connection broke while sending")
    RECV_ERROR = ("RECV_ERROR", "the connection broke while receiving")
    PACKET_LOSS = ("PACKET_LOSS", "some packets were lost")
    NO_NAT64_PREFIX = ("NO_NAT64_PREFIX", "the host learnt no NAT64 prefix: advertise PREF64 (RFC 8781) in "
                       "router advertisements, or give it a DNS64 resolver that answers ipv4only.arpa")
    CLAT_DOWN = ("CLAT_DOWN", "the CLAT is not running (no NAT64 prefix known, or it was withdrawn): "
                 "advertise PREF64 or fix DNS64 so the CLAT can come up")
    NOT_IN_LAB = ("NOT_IN_LAB", "the lab does not serve this name and has no way out: give --uplink to "
                  "reach the real API through the lab's NAT64, or model it (--topology FILE; labsim init "
                  "writes one to start from)")
    TOOL_ERROR = ("TOOL_ERROR", "the check's tool gave no usable result (it failed to start, was "
                  "killed, or printed nothing parseable): see its stderr in the facts")
    UNKNOWN = ("UNKNOWN", "see the detail")


def errno_reason(name: str | None) -> Reason:
    """A socket errno name (ECONNREFUSED, ...) as a reason; any other name is UNKNOWN."""
    return ERRNO_REASON.get(name or "", Reason.UNKNOWN)


ERRNO_REASON: dict[str, Reason] = {
    "ECONNREFUSED": Reason.CONNECT_REFUSED,
    "ETIMEDOUT": Reason.CONNECT_TIMEOUT,
    "ENETUNREACH": Reason.NO_ROUTE,
    "EHOSTUNREACH": Reason.NO_ROUTE,
    "EADDRNOTAVAIL": Reason.NO_ROUTE,  # no source address of that family
    "ENETDOWN": Reason.NO_ROUTE,
    "EHOSTDOWN": Reason.NO_ROUTE,
    "EAFNOSUPPORT": Reason.NO_ROUTE,  # the node has no stack of that family
    "EACCES": Reason.CONNECT_TIMEOUT,  # a firewall rejected the send: packets do not pass
    "EPERM": Reason.CONNECT_TIMEOUT,
    "ECONNRESET": Reason.RECV_ERROR,
    "ECONNABORTED": Reason.RECV_ERROR,
    "EPIPE": Reason.SEND_ERROR,
    "EMSGSIZE": Reason.SEND_ERROR,
    "ENOBUFS": Reason.SEND_ERROR,
}
assert all(name in errno.errorcode.values() for name in ERRNO_REASON)

# getaddrinfo's error codes (the agent reports them by name). NONAME/NODATA/ADDRFAMILY are
# refined by asking the node's resolver directly when a check can (classify_unresolved).
EAI_REASON: dict[str, Reason] = {
    "EAI_AGAIN": Reason.DNS_TIMEOUT,  # temporary failure: no answer from any nameserver
    "EAI_FAIL": Reason.DNS_SERVFAIL,  # non-recoverable failure (SERVFAIL, REFUSED)
    "EAI_NONAME": Reason.NXDOMAIN,
    "EAI_NODATA": Reason.NO_AAAA,  # the name exists without an address the node can use
    "EAI_ADDRFAMILY": Reason.NO_AAAA,
    "EAI_SYSTEM": Reason.TOOL_ERROR,  # a local system call failed, not the network
    "EAI_MEMORY": Reason.TOOL_ERROR,
    "EAI_BADFLAGS": Reason.TOOL_ERROR,
    "EAI_FAMILY": Reason.TOOL_ERROR,
    "EAI_SOCKTYPE": Reason.TOOL_ERROR,
    "EAI_SERVICE": Reason.TOOL_ERROR,
    "EAI_OVERFLOW": Reason.TOOL_ERROR,
    "EAI_INPROGRESS": Reason.TOOL_ERROR,  # the asynchronous API, which labsim does not use
    "EAI_CANCELED": Reason.TOOL_ERROR,
    "EAI_NOTCANCELED": Reason.TOOL_ERROR,
    "EAI_ALLDONE": Reason.TOOL_ERROR,
    "EAI_INTR": Reason.TOOL_ERROR,
    "EAI_IDN_ENCODE": Reason.TOOL_ERROR,
}

# DNS response codes (dnspython's names) and the series' own codes (NO_ADDRESS, TIMEOUT)
RCODE_REASON: dict[str, Reason] = {
    "NXDOMAIN": Reason.NXDOMAIN,
    "REFUSED": Reason.DNS_REFUSED,
    "NO_ADDRESS": Reason.NO_ADDRESS,
    "TIMEOUT": Reason.DNS_TIMEOUT,
    "BAD_RESPONSE": Reason.BAD_RESPONSE,
}


def lookup_reason(code: str | None) -> Reason:
    """A failed lookup's code as a reason: an EAI name (libc), a DNS rcode name (raw
    queries: every rcode other than NOERROR/NXDOMAIN/REFUSED is DNS_SERVFAIL), an errno
    name (the query could not be sent) or a series code (TIMEOUT, NO_ADDRESS, BAD_RESPONSE).
    Any other name is UNKNOWN."""
    code = code or ""
    if code in EAI_REASON:
        return EAI_REASON[code]
    if code in RCODE_REASON:
        return RCODE_REASON[code]
    if code in errno.errorcode.values():
        return errno_reason(code)
    import dns.rcode

    try:
        dns.rcode.from_text(code)
    except dns.rcode.UnknownRcode:
        return Reason.UNKNOWN
    return Reason.DNS_SERVFAIL
