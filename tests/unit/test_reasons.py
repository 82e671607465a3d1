"""Tier 1: every reason code has a hint, and every code a tool can report (curl exit codes,
errno and EAI names, DNS rcodes) maps to a reason: the tables are total and say what each
code means."""

from __future__ import annotations

import errno
import socket

import dns.rcode
import pytest

from labsim.checks.curl import CURL_EXIT, exit_reason
from labsim.checks.reasons import EAI_REASON, ERRNO_REASON, Hinted, Reason, lookup_reason, errno_reason

# curl's documented exit codes (man curl, EXIT CODES), 1..101
CURL_CODES = range(1, 102)


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_a_hint(reason):
    assert isinstance(reason.hint, str) and len(reason.hint) > 10
    assert Reason(reason.value) is reason  # loads back from its JSON value


def test_a_reason_cannot_be_declared_without_a_hint():
    with pytest.raises(TypeError):
        class Missing(Hinted):
            NEW = "NEW"
    with pytest.raises(TypeError):
        class Empty(Hinted):
            NEW = ("NEW", " ")


@pytest.mark.parametrize("code", CURL_CODES)
def test_every_curl_exit_code_maps_to_a_reason(code):
    reason = exit_reason(code)
    assert isinstance(reason, Reason)
    assert reason is CURL_EXIT.get(code, Reason.TOOL_ERROR)


@pytest.mark.parametrize("code, reason", [
    (6, Reason.NXDOMAIN), (7, Reason.NO_ROUTE), (8, Reason.BAD_RESPONSE), (18, Reason.RECV_ERROR),
    (28, Reason.TIMEOUT), (35, Reason.TLS_HANDSHAKE), (52, Reason.EMPTY_REPLY), (55, Reason.SEND_ERROR),
    (56, Reason.RECV_ERROR), (60, Reason.TLS_VERIFY_FAILED), (83, Reason.TLS_VERIFY_FAILED),
    (92, Reason.BAD_RESPONSE), (1, Reason.TOOL_ERROR), (2, Reason.TOOL_ERROR), (3, Reason.TOOL_ERROR),
    (9, Reason.TOOL_ERROR), (27, Reason.TOOL_ERROR), (43, Reason.TOOL_ERROR), (102, Reason.TOOL_ERROR),
    (255, Reason.TOOL_ERROR)])
def test_curl_exit_codes_that_matter(code, reason):
    assert exit_reason(code) is reason


@pytest.mark.parametrize("name", sorted(errno.errorcode.values()))
def test_every_errno_maps_to_a_reason(name):
    assert errno_reason(name) is ERRNO_REASON.get(name, Reason.UNKNOWN)


@pytest.mark.parametrize("name, reason", [
    ("ECONNREFUSED", Reason.CONNECT_REFUSED), ("ETIMEDOUT", Reason.CONNECT_TIMEOUT),
    ("ENETUNREACH", Reason.NO_ROUTE), ("EHOSTUNREACH", Reason.NO_ROUTE), ("EADDRNOTAVAIL", Reason.NO_ROUTE),
    ("ECONNRESET", Reason.RECV_ERROR), ("EPIPE", Reason.SEND_ERROR), ("ENOENT", Reason.UNKNOWN),
    (None, Reason.UNKNOWN), ("NOT_AN_ERRNO", Reason.UNKNOWN)])
def test_errno_reasons(name, reason):
    assert errno_reason(name) is reason


EAI_NAMES = sorted(n for n in dir(socket) if n.startswith("EAI_"))


@pytest.mark.parametrize("name", EAI_NAMES)
def test_every_eai_code_of_this_libc_is_in_the_table(name):
    assert name in EAI_REASON, f"{name}: add it to EAI_REASON"
    assert lookup_reason(name) is EAI_REASON[name]


@pytest.mark.parametrize("name, reason", [
    ("EAI_AGAIN", Reason.DNS_TIMEOUT), ("EAI_FAIL", Reason.DNS_SERVFAIL), ("EAI_NONAME", Reason.NXDOMAIN),
    ("EAI_NODATA", Reason.NO_AAAA), ("EAI_SYSTEM", Reason.TOOL_ERROR), ("EAI_MEMORY", Reason.TOOL_ERROR)])
def test_lookup_reasons(name, reason):
    assert lookup_reason(name) is reason


@pytest.mark.parametrize("rcode", [dns.rcode.to_text(r) for r in dns.rcode.Rcode if r != dns.rcode.NOERROR])
def test_every_dns_rcode_maps_to_a_reason(rcode):
    expected = {"NXDOMAIN": Reason.NXDOMAIN, "REFUSED": Reason.DNS_REFUSED}.get(rcode, Reason.DNS_SERVFAIL)
    assert lookup_reason(rcode) is expected


@pytest.mark.parametrize("code, reason", [("TIMEOUT", Reason.DNS_TIMEOUT), ("NO_ADDRESS", Reason.NO_ADDRESS),
                                          ("whatever", Reason.UNKNOWN), (None, Reason.UNKNOWN)])
def test_series_codes(code, reason):
    assert lookup_reason(code) is reason


@pytest.mark.parametrize("code, reason", [("ENETUNREACH", Reason.NO_ROUTE), ("BAD_RESPONSE", Reason.BAD_RESPONSE)])
def test_series_send_errors(code, reason):
    assert lookup_reason(code) is reason
