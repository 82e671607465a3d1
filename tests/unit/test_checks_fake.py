"""Tier 1: every check against the fake runtime. What curl, the agent, ping and DNS servers
print is scripted; the result (ok, reason, typed facts) is what a user would see."""

from __future__ import annotations

import errno

import pytest

from labsim.checks.dns import DnsCheck, run_dns
from labsim.checks.http import HttpCheck, run_http
from labsim.checks.measure import MeasureCheck, run_measure
from labsim.checks.ping import PingCheck, run_ping
from labsim.checks.reasons import Reason
from labsim.checks.resolve import ResolveCheck, run_resolve
from labsim.checks.tcp import TcpCheck, run_tcp
from labsim.checks.tls import TlsCheck, run_tls
from labsim.node.nodeprog import split_program
from labsim.errors import RuntimeOpError
from labsim.runtime.fake import Datagram, Exec, Reply

from tests.unit.scripted import (agent_reply, connect_out, curl_reply, curl_stdout, dns_answer, env_for,
                                 handler, resolve_out)

URL = "http://api.example.test/v1"


def http(url: str = URL, **kw) -> HttpCheck:
    return HttpCheck.model_validate({"from": "client", "url": url, **kw})


def run(check, spec, **script):
    env, rt = env_for(handler(**script))
    return check(spec, env), rt


# -- http: write-out cases ----------------------------------------------------------------------
def test_http_success_reads_every_field():
    res, rt = run(run_http, http(), curl=curl_reply(
        body='{"ok": true, "next": "http://192.0.2.7/x"}', http_code=200, remote_ip="2001:db8:64::c000:207",
        headers={"Content-Type": "application/json"}, http_version="2",
        stderr="*   Trying [2001:db8:64::c000:207]:80...\n* Connected\n"))
    assert res.ok and res.reason is None and res.check == "http"
    f = res.facts
    assert (f.status, f.remote_ip, f.http_version, f.json) == (200, "2001:db8:64::c000:207", "2", {"ok": True, "next": "http://192.0.2.7/x"})
    assert f.headers == {"content-type": "application/json"} and f.tried == ["2001:db8:64::c000:207"]
    assert f.ipv4_literal_urls == ["http://192.0.2.7"] and res.warnings == [Reason.IPV4_LITERAL_IN_BODY]
    assert res.timings_ms.total == pytest.approx(5.0) and res.timings_ms.dns == pytest.approx(1.0)
    assert f.tool_error is None and f.curl_exit == 0


@pytest.mark.parametrize("verbose, tried", [
    ("*   Trying [2001:db8:1::dead]:443...\n*   Trying [2001:db8:1::beef]:443...\n",
     ["2001:db8:1::dead", "2001:db8:1::beef"]),
    ("*   Trying 2001:db8:1::dead:80...\n", ["2001:db8:1::dead"]),  # curl before 7.78: no brackets
    ("*   Trying 192.0.2.1:80...\n*   Trying 192.0.2.1:80...\n", ["192.0.2.1"]),
    ("*   Trying [::ffff:192.0.2.1]:80...\n", ["::ffff:c000:201"]),
    ("* Trying nonsense:80...\n", []),
])
def test_http_tried_keeps_whole_ipv6_addresses(verbose, tried):
    res, _ = run(run_http, http(), curl=curl_reply(exitcode=7, http_code=0, stderr=verbose))
    assert res.facts.tried == tried


@pytest.mark.parametrize("url, exitcode, verbose, times, reason", [
    (URL, 7, "* connect to 2001:db8::1 port 80 failed: Connection refused", {}, Reason.CONNECT_REFUSED),
    (URL, 7, "*   Trying [2001:db8::1]:80...\n* Immediate connect fail: Network is unreachable", {}, Reason.NO_ROUTE),
    ("http://192.0.2.1/", 7, "*   Trying 192.0.2.1:80...\n* Immediate connect fail: Network is unreachable", {},
     Reason.IPV4_LITERAL),
    # a name whose every address is IPv4, from a node that cannot reach IPv4
    (URL, 7, "*   Trying 192.0.2.9:80...\n* Immediate connect fail: Network is unreachable", {}, Reason.NO_AAAA),
    (URL, 7, "* something new", {}, Reason.UNKNOWN),
    (URL, 28, "*   Trying [2001:db8::1]:80...", {"time_connect": 0}, Reason.CONNECT_TIMEOUT),
    ("http://192.0.2.1/", 28, "", {"time_connect": 0}, Reason.IPV4_LITERAL),
    (URL, 28, "", {"time_connect": 0.002}, Reason.TIMEOUT),
    (URL, 60, "* SSL: certificate subject name 'x' does not match target host name", {}, Reason.TLS_NAME_MISMATCH),
    (URL, 60, "* SSL: no alternative certificate subject name matches target host name", {}, Reason.TLS_NAME_MISMATCH),
    (URL, 60, "* SSL certificate problem: unable to get local issuer certificate", {}, Reason.TLS_VERIFY_FAILED),
    (URL, 35, "", {}, Reason.TLS_HANDSHAKE),
    (URL, 52, "", {}, Reason.EMPTY_REPLY),
    (URL, 56, "", {}, Reason.RECV_ERROR),
    (URL, 8, "", {}, Reason.BAD_RESPONSE),
    (URL, 3, "", {}, Reason.TOOL_ERROR),
    (URL, 77, "", {}, Reason.TLS_VERIFY_FAILED),
])
def test_http_failure_reasons(url, exitcode, verbose, times, reason):
    res, _ = run(run_http, http(url), curl=curl_reply(exitcode=exitcode, http_code=0, errormsg="curl said so",
                                                     stderr=verbose, times=times))
    assert (res.ok, res.reason, res.detail) == (False, reason, "curl said so")
    assert res.facts.curl_exit == exitcode


def test_http_unresolved_name_asks_the_nodes_resolver():
    def dns(call: Datagram):
        assert call.destination[0] == "2001:db8:1::53"
        return dns_answer(call.data, answers={"A": ["192.0.2.7"]})
    res, _ = run(run_http, http(), curl=curl_reply(exitcode=6, http_code=0), dns=dns)
    assert res.reason is Reason.NO_AAAA
    u = res.facts.unresolved
    assert (u.nameserver, u.rcode, u.a, u.aaaa) == ("2001:db8:1::53", "NOERROR", ["192.0.2.7"], [])


def test_http_redirect_to_an_ipv4_literal_fails():
    res, _ = run(run_http, http(), curl=curl_reply(http_code=302, headers={"Location": "http://192.0.2.1/x"}))
    assert (res.ok, res.reason, res.facts.location) == (False, Reason.REDIRECT_TO_IPV4_LITERAL, "http://192.0.2.1/x")


# -- http: no usable output is TOOL_ERROR, never a pass ----------------------------------------------
GOOD = curl_stdout()


@pytest.mark.parametrize("reply, problem", [
    (Reply("", "curl: option --bogus: is unknown\n", 2), "no write-out"),  # a URL read as an option
    (Reply("", "", 0), "no write-out"),  # missing output counted as exit 0 before
    (Reply("<html>partial body", "", -9), "no write-out"),  # killed
    (Reply(GOOD.replace("exitcode=0", "exitcode=zero"), "", 0), "not a number"),
    (Reply(GOOD, "", 3), "curl exited with 3, its write-out says 0"),
    (Reply(GOOD.replace("exitcode=0", "exitcode=7"), "", 0), "curl exited with 0, its write-out says 7"),
    (Reply(GOOD.replace('headers={}', 'headers={"broken'), "", 0), "not JSON"),
    (Reply(GOOD.replace('headers={}', 'headers=[1]'), "", 0), "not a JSON object"),
    (Reply(GOOD.split("time_total")[0], "", 0), "write-out without time_total"),
])
def test_http_without_usable_output_is_a_tool_error(reply, problem):
    res, _ = run(run_http, http(), curl=reply)
    assert (res.ok, res.reason, res.check) == (False, Reason.TOOL_ERROR, "http")
    tool = res.facts.tool_error
    assert tool.tool == "curl" and problem in tool.problem and problem in res.detail
    assert tool.returncode == reply.returncode and tool.stderr == reply.stderr


def test_http_tool_that_never_finishes_is_a_tool_error():
    def curl(call):
        raise RuntimeOpError("node client: curl still running after 35s")
    res, _ = run(run_http, http(), curl=curl)
    assert (res.ok, res.reason) == (False, Reason.TOOL_ERROR)
    assert res.facts.tool_error.returncode is None and "still running" in res.facts.tool_error.stderr


# -- http: the argv --------------------------------------------------------------------------------
def argv_of(spec: HttpCheck) -> tuple[tuple[str, ...], bytes | None]:
    _, rt = run(run_http, spec, curl=curl_reply())
    (call,) = [c for c in rt.calls if isinstance(c, Exec)]
    return call.argv, call.input


def test_http_argv_url_body_and_headers_are_never_options_or_files():
    argv, stdin = argv_of(http("http://x.test/-K/@etc", method="POST", data="@/etc/shadow",
                               headers={"X-A": "@/etc/passwd"}, cookies={"session": "a=b"}))
    assert argv[:2] == ("curl", "-q")  # -q first: no ~/.curlrc
    assert argv[-2:] == ("--url", "http://x.test/-K/@etc")
    assert "--data-binary" in argv and argv[argv.index("--data-binary") + 1] == "@-"
    assert stdin == b"@/etc/shadow"  # the body is the text itself, read from stdin
    assert "@/etc/shadow" not in argv and "-b" not in argv
    assert ("-H", "X-A: @/etc/passwd") == argv[argv.index("X-A: @/etc/passwd") - 1:argv.index("X-A: @/etc/passwd") + 1]
    assert "Cookie: session=a=b" in argv
    assert argv[argv.index("-X") + 1] == "POST"
    assert argv[argv.index("--proto") + 1] == "=http,https" and "--noproxy" in argv and "--globoff" in argv


def test_http_head_uses_head_not_x():
    argv, stdin = argv_of(http(method="HEAD"))
    assert "--head" in argv and "-X" not in argv and stdin is None


@pytest.mark.parametrize("field, value", [
    ("url", "-x"), ("url", "--config=/etc/passwd"), ("url", "file:///etc/passwd"), ("url", "http://a b/"),
    ("url", "http://a/\r\nX: y"), ("method", "GET /x"), ("headers", {"X-A": "v\r\nX-B: w"}),
    ("headers", {"@/etc/passwd": "v"}), ("headers", {"X A": "v"}), ("cookies", {"s": "a; b=c"}),
    ("connect_to", ["-K/etc/passwd"]), ("connect_to", ["a:1"]),
])
def test_a_scenario_step_refuses_what_curl_could_misread(field, value):
    """Typed when the scenario loads (HttpParams, scenario/fields.py); the argv is the second defence."""
    from pydantic import ValidationError

    from labsim.scenario.model import HttpParams

    with pytest.raises(ValidationError):
        HttpParams.model_validate({"from": "client", "url": "http://a.test/", field: value})


# -- dns ----------------------------------------------------------------------------------------
def dns_spec(**kw) -> DnsCheck:
    return DnsCheck.model_validate({"from": "client", "name": "api.example.test", "server": "2001:db8:1::4", **kw})


def test_dns_answer():
    res, _ = run(run_dns, dns_spec(), dns=lambda c: dns_answer(c.data, answers={"AAAA": ["2001:db8:64::c000:207"]}))
    assert res.ok and res.facts.answers == ["2001:db8:64::c000:207"] and res.facts.rcode == "NOERROR"
    assert res.facts.ttl == 60 and res.facts.server == "2001:db8:1::4" and res.target == "api.example.test AAAA @2001:db8:1::4"


@pytest.mark.parametrize("rcode, answers, qtype, reason", [
    ("NXDOMAIN", {}, "AAAA", Reason.NXDOMAIN), ("SERVFAIL", {}, "AAAA", Reason.DNS_SERVFAIL),
    ("REFUSED", {}, "AAAA", Reason.DNS_REFUSED), ("NOERROR", {"A": ["192.0.2.1"]}, "AAAA", Reason.NO_AAAA),
    ("NOERROR", {}, "A", Reason.NO_ADDRESS)])
def test_dns_rcodes(rcode, answers, qtype, reason):
    res, _ = run(run_dns, dns_spec(type=qtype), dns=lambda c: dns_answer(c.data, rcode, answers))
    assert (res.ok, res.reason, res.facts.rcode) == (False, reason, rcode)


@pytest.mark.parametrize("err, reason", [
    (errno.ENETUNREACH, Reason.NO_ROUTE), (errno.EHOSTUNREACH, Reason.NO_ROUTE),
    (errno.EADDRNOTAVAIL, Reason.NO_ROUTE), (errno.EPERM, Reason.CONNECT_TIMEOUT), (errno.ENOENT, Reason.UNKNOWN)])
def test_dns_send_errors_are_not_timeouts(err, reason):
    def dns(call):
        raise OSError(err, "send failed")
    res, _ = run(run_dns, dns_spec(), dns=dns)
    assert (res.ok, res.reason, res.facts.error) == (False, reason, errno.errorcode[err])


def test_dns_silence_is_a_timeout():
    res, _ = run(run_dns, dns_spec(timeout=0.05), dns=lambda c: None)
    assert (res.ok, res.reason, res.facts.error) == (False, Reason.DNS_TIMEOUT, "TIMEOUT")


def test_dns_garbage_reply_is_a_bad_response():
    res, _ = run(run_dns, dns_spec(timeout=0.5), dns=lambda c: c.data[:2] + b"\x81\x80garbage")
    assert (res.ok, res.reason) == (False, Reason.BAD_RESPONSE)


def test_dns_default_server_is_the_nodes_first_nameserver():
    res, _ = run(run_dns, DnsCheck.model_validate({"from": "client", "name": "a.test"}),
                 resolv_conf="# comment\nnameserver 2001:db8:1::53\nnameserver 2001:db8:1::54\n",
                 dns=lambda c: dns_answer(c.data, answers={"AAAA": ["2001:db8::1"]}))
    assert res.ok and res.facts.server == "2001:db8:1::53"


def test_unresolved_name_whose_nameserver_is_unreachable_is_no_route():
    def dns(call):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")
    res, _ = run(run_resolve, ResolveCheck.model_validate({"from": "client", "name": "a.test"}),
                 agent={"resolve": resolve_out([], ("EAI_NONAME", "Name or service not known"))}, dns=dns)
    assert res.reason is Reason.NO_ROUTE


# -- resolve --------------------------------------------------------------------------------------
def resolve_spec(**kw) -> ResolveCheck:
    return ResolveCheck.model_validate({"from": "client", "name": "api.example.test", **kw})


def test_resolve_addresses_and_families():
    res, _ = run(run_resolve, resolve_spec(), agent={"resolve": resolve_out(["2001:db8::1", "192.0.2.1"], ms=2.5)})
    assert res.ok and res.facts.addresses == ["2001:db8::1", "192.0.2.1"] and res.facts.families == [4, 6]
    assert (res.timings_ms.resolve, res.timings_ms.total) == (2.5, 2.5)


@pytest.mark.parametrize("code, reason", [
    ("EAI_AGAIN", Reason.DNS_TIMEOUT), ("EAI_FAIL", Reason.DNS_SERVFAIL), ("EAI_SYSTEM", Reason.TOOL_ERROR),
    ("EAI_WHATEVER", Reason.UNKNOWN)])
def test_resolve_eai_codes_that_need_no_diagnosis(code, reason):
    res, _ = run(run_resolve, resolve_spec(), agent={"resolve": resolve_out([], (code, "text"))})
    assert (res.ok, res.reason, res.facts.error, res.detail) == (False, reason, code, f"{code}: text")


@pytest.mark.parametrize("code", ["EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY"])
@pytest.mark.parametrize("rcode, answers, reason", [
    ("NXDOMAIN", {}, Reason.NXDOMAIN), ("NOERROR", {"A": ["192.0.2.1"]}, Reason.NO_AAAA),
    ("NOERROR", {}, Reason.NO_ADDRESS), ("SERVFAIL", {}, Reason.DNS_SERVFAIL), ("REFUSED", {}, Reason.DNS_REFUSED)])
def test_resolve_not_found_is_diagnosed_by_the_nodes_resolver(code, rcode, answers, reason):
    res, _ = run(run_resolve, resolve_spec(), agent={"resolve": resolve_out([], (code, "text"))},
                 dns=lambda c: dns_answer(c.data, rcode, answers))
    assert (res.ok, res.reason, res.facts.unresolved.rcode) == (False, reason, rcode)


@pytest.mark.parametrize("reply, problem", [
    (Reply("", "Traceback ...\nModuleNotFoundError: labsim", 1), "exited with 1"),
    (Reply("not json", "", 0), "not the agent's JSON"),
    (Reply('{"addresses": "2001:db8::1"}', "", 0), "not the agent's JSON"),
    (Reply("", "", -9), "exited with -9"),
])
def test_agent_without_usable_output_is_a_tool_error(reply, problem):
    for check, spec in ((run_resolve, resolve_spec()),
                        (run_tcp, TcpCheck.model_validate({"from": "client", "host": "a.test", "port": 80})),
                        (run_tls, TlsCheck.model_validate({"from": "client", "host": "a.test"})),
                        (run_measure, MeasureCheck.model_validate({"from": "client", "name": "n{i}.test", "count": 2}))):
        res, _ = run(check, spec, agent={"resolve": reply, "tcp": reply, "tls": reply, "measure": reply})
        assert (res.ok, res.reason) == (False, Reason.TOOL_ERROR), check
        assert problem in res.facts.tool_error.problem and res.facts.tool_error.stderr == reply.stderr
        assert res.facts.tool_error.tool == "labsim.node.agent"


# -- tcp and tls ------------------------------------------------------------------------------------
def tcp_spec(host: str = "api.example.test") -> TcpCheck:
    return TcpCheck.model_validate({"from": "client", "host": host, "port": 443})


def test_an_ipv4_literal_on_a_node_with_ipv4_fails_for_what_happened():
    """A node holding a DHCPv4 lease (or a CLAT) has an IPv4 route: a literal that fails there
    failed for what happened (a timeout, no route), never IPV4_LITERAL (Nat464Xlat.requiresClat:
    such a node has IPv4 of its own)."""
    route = "192.0.2.1 via 10.10.0.1 dev eth0 src 10.10.0.50 uid 0\n    cache\n"
    res, _ = run(run_tcp, tcp_spec("192.0.2.1"), agent={"tcp": connect_out(["192.0.2.1"], [("192.0.2.1", "ETIMEDOUT")])},
                 ipv4_route=route)
    assert res.reason is Reason.CONNECT_TIMEOUT
    res, _ = run(run_http, http("http://192.0.2.1/"), ipv4_route=route,
                 curl=curl_reply(exitcode=28, http_code=0, errormsg="curl said so", times={"time_connect": 0}))
    assert res.reason is Reason.CONNECT_TIMEOUT


@pytest.mark.parametrize("host, attempts, reason", [
    ("api.example.test", [("2001:db8::1", "ECONNREFUSED")], Reason.CONNECT_REFUSED),
    ("api.example.test", [("2001:db8::1", "ETIMEDOUT")], Reason.CONNECT_TIMEOUT),
    ("api.example.test", [("2001:db8::1", "ENETUNREACH")], Reason.NO_ROUTE),
    ("192.0.2.1", [("192.0.2.1", "ENETUNREACH")], Reason.IPV4_LITERAL),
    ("192.0.2.1", [("192.0.2.1", "ETIMEDOUT")], Reason.IPV4_LITERAL),
    ("api.example.test", [("2001:db8::1", "ECONNRESET")], Reason.RECV_ERROR),
    ("api.example.test", [("2001:db8::1", "E2BIG")], Reason.UNKNOWN),
])
def test_tcp_connect_errors(host, attempts, reason):
    res, _ = run(run_tcp, tcp_spec(host), agent={"tcp": connect_out([a for a, _ in attempts], attempts)})
    assert (res.ok, res.reason) == (False, reason)
    assert [(a.address, a.error) for a in res.facts.attempts] == attempts


def test_tcp_connects_to_the_second_address():
    out = connect_out(["2001:db8::1", "2001:db8::2"], [("2001:db8::1", "ECONNREFUSED"), ("2001:db8::2", None)])
    res, _ = run(run_tcp, tcp_spec(), agent={"tcp": out})
    assert res.ok and res.facts.remote_ip == "2001:db8::2" and res.target == "api.example.test:443"
    # resolve, then every connect tried: what `max_ms` bounds
    assert res.timings_ms.total == pytest.approx(1.5 + 0.7 + 0.7)


@pytest.mark.parametrize("tls, ok, reason", [
    ({"ok": True, "version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "names": ["a.test"], "ms": 3.0}, True, None),
    ({"ok": False, "verify_code": 62, "error": "Hostname mismatch", "names": ["b.test"]}, False, Reason.TLS_NAME_MISMATCH),
    ({"ok": False, "verify_code": 20, "error": "unable to get local issuer"}, False, Reason.TLS_VERIFY_FAILED),
    ({"ok": False, "verify_code": None, "error": "EOF"}, False, Reason.TLS_HANDSHAKE),
])
def test_tls_handshakes(tls, ok, reason):
    out = connect_out(["2001:db8::1"], [("2001:db8::1", None)], **tls)
    res, _ = run(run_tls, TlsCheck.model_validate({"from": "client", "host": "a.test"}), agent={"tls": out})
    assert (res.ok, res.reason, res.facts.certificate_names) == (ok, reason, tls.get("names", []))
    if ok:
        assert (res.facts.version, res.timings_ms.tls) == ("TLSv1.3", 3.0)


def test_tls_connected_without_a_handshake_report_is_a_tool_error():
    out = connect_out(["2001:db8::1"], [("2001:db8::1", None)])
    res, _ = run(run_tls, TlsCheck.model_validate({"from": "client", "host": "a.test"}), agent={"tls": out})
    assert (res.ok, res.reason) == (False, Reason.TOOL_ERROR)


# -- ping -------------------------------------------------------------------------------------------
PING_OK = ("PING ::1 56 data bytes\n\n--- ::1 ping statistics ---\n3 packets transmitted, 3 received, "
           "0% packet loss, time 402ms\nrtt min/avg/max/mdev = 0.031/0.045/0.060/0.011 ms\n")


@pytest.mark.parametrize("host, out, rc, ok, reason, sent, received", [
    ("2001:db8::1", PING_OK, 0, True, None, 3, 3),
    ("2001:db8::1", PING_OK.replace("3 received", "1 received"), 1, True, Reason.PACKET_LOSS, 3, 1),
    ("2001:db8::1", PING_OK.replace("3 received", "0 received"), 1, False, Reason.PACKET_LOSS, 3, 0),
    ("192.0.2.1", "From 2001:db8::1 icmp_seq=1 Destination unreachable\n"
     "3 packets transmitted, 0 received, +3 errors, 100% packet loss\n", 1, False, Reason.IPV4_LITERAL, 3, 0),
    ("192.0.2.1", "ping: connect: Network is unreachable\n", 2, False, Reason.IPV4_LITERAL, 0, 0),
    ("2001:db8::1", "ping: connect: Network is unreachable\n", 2, False, Reason.NO_ROUTE, 0, 0),
    ("a.test", "ping: a.test: Name or service not known\n", 2, False, Reason.NXDOMAIN, 0, 0),
    ("a.test", "ping: a.test: Temporary failure in name resolution\n", 2, False, Reason.DNS_TIMEOUT, 0, 0),
])
def test_ping_outputs(host, out, rc, ok, reason, sent, received):
    res, rt = run(run_ping, PingCheck.model_validate({"from": "client", "host": host}), ping=Reply(out, "", rc))
    assert (res.ok, res.reason, res.facts.sent, res.facts.received) == (ok, reason, sent, received)
    assert rt.calls[0].argv[-2:] == ("--", host)


@pytest.mark.parametrize("reply", [Reply("", "ping: invalid argument: '-x'\n", 2), Reply("", "", -9)])
def test_ping_without_statistics_is_a_tool_error(reply):
    res, _ = run(run_ping, PingCheck.model_validate({"from": "client", "host": "2001:db8::1"}), ping=reply)
    assert (res.ok, res.reason, res.facts.tool_error.stderr) == (False, Reason.TOOL_ERROR, reply.stderr)


# -- measure ----------------------------------------------------------------------------------------
def measure_spec(**kw) -> MeasureCheck:
    return MeasureCheck.model_validate({"from": "client", "name": "n{i}.test", "count": 4, **kw})


def test_measure_libc_series():
    samples = [{"ms": m, "error": None} for m in (1.0, 2.0, 3.0, 4.0)]
    res, _ = run(run_measure, measure_spec(), agent={"measure": {"samples": samples, "requested": 4}})
    assert res.ok and res.facts.stats.count == 4 and res.facts.stats.p50 == 2.0 and res.facts.requested == 4
    assert res.facts.samples_ms == [1.0, 2.0, 3.0, 4.0] and res.timings_ms.p50 == 2.0


def test_measure_failures_name_the_worst_code():
    samples = [{"ms": 5.0, "error": e} for e in ("EAI_AGAIN", "EAI_AGAIN", "EAI_NONAME", None)]
    res, _ = run(run_measure, measure_spec(), agent={"measure": {"samples": samples, "requested": 4}})
    assert (res.ok, res.reason, res.detail) == (False, Reason.DNS_TIMEOUT, "EAI_AGAIN×2, EAI_NONAME×1")


def test_measure_of_nothing_is_a_tool_error():
    res, _ = run(run_measure, measure_spec(), agent={"measure": {"samples": [], "requested": 4}})
    assert (res.ok, res.reason) == (False, Reason.TOOL_ERROR) and res.facts.tool_error is not None


def test_measure_raw_dnspython_series_through_the_fake_socket():
    res, _ = run(run_measure, measure_spec(via="dnspython", server="2001:db8:1::53"),
                 dns=lambda c: dns_answer(c.data, answers={"AAAA": ["2001:db8::1"]}))
    assert res.ok and res.facts.stats.count == 4


def test_agent_reply_helper_is_json():
    assert agent_reply({"a": 1}).stdout == '{"a": 1}'


# -- self-configuring hosts: synthesize, CLAT, learnt -----------------------------------------------
LEARNT = {"addresses": [{"address": "2001:db8:10::5", "slaac": True}], "resolvers": ["2001:db8:10::53"],
          "search": [], "pref64": None, "pref64_withdrawn": None, "rfc7050": ["2001:db8:64::/96"],
          "nat64_prefix": "2001:db8:64::/96", "nat64_prefix_source": "rfc7050",
          "clat": {"state": "up", "prefix": "2001:db8:64::/96", "ipv4": "192.0.0.2"}, "dhcp4": None,
          "timeline_s": {"slaac": 0.2}, "ready": True}


def learnt_json(**changes) -> str:
    import json

    return json.dumps({**LEARNT, **changes})


def test_ipv4_literal_on_a_host_whose_clat_is_down_is_clat_down():
    down = {"state": "down", "prefix": None, "error": "no NAT64 prefix"}
    res, _ = run(run_http, http("http://192.0.2.1/"), learnt=learnt_json(clat=down),
                 curl=curl_reply(exitcode=7, http_code=0, stderr="* Immediate connect fail: Network is unreachable"))
    assert (res.reason, res.facts.clat) == (Reason.CLAT_DOWN, down)
    res, _ = run(run_http, http("http://192.0.2.1/"), learnt="{half a fi",
                 curl=curl_reply(exitcode=7, http_code=0, stderr="* Immediate connect fail: Network is unreachable"))
    assert res.reason is Reason.IPV4_LITERAL  # a half-written report changes nothing


SYNTH = {"from": "192.0.2.4", "answers": ["2001:db8:64::c000:aa"], "error": None, "ms": 1.25,
         "prefixes": ["2001:db8:64::/96"], "prefix": "2001:db8:64::/96", "address": "2001:db8:64::c000:204"}


def test_http_synthesize_connects_to_the_literal_inside_the_prefix():
    res, rt = run(run_http, http("http://192.0.2.4/x", synthesize=True), agent={"synthesize": SYNTH},
                  curl=curl_reply(remote_ip="2001:db8:64::c000:204"))
    assert res.ok and res.facts.synthesized.address == "2001:db8:64::c000:204"
    curl = next(c for c in rt.calls if isinstance(c, Exec) and c.argv[0] == "curl")
    assert curl.argv[curl.argv.index("--connect-to") + 1] == "192.0.2.4::[2001:db8:64::c000:204]:"
    assert res.to_dict()["facts"]["synthesized"]["from"] == "192.0.2.4"


@pytest.mark.parametrize("check, spec", [
    (run_http, http("http://192.0.2.4/x", synthesize=True)),
    (run_tcp, TcpCheck.model_validate({"from": "client", "host": "192.0.2.4", "port": 80, "synthesize": True}))])
def test_synthesize_without_a_prefix_is_no_nat64_prefix(check, spec):
    res, _ = run(check, spec, agent={"synthesize": {**SYNTH, "prefixes": [], "prefix": None, "address": None,
                                                    "answers": [], "error": "EAI_NONAME"}})
    assert (res.ok, res.reason, res.facts.synthesized.prefix) == (False, Reason.NO_NAT64_PREFIX, None)
    assert res.timings_ms.discover == 1.25 and "EAI_NONAME" in res.detail


def test_tcp_synthesize_connects_to_the_synthesized_address():
    out = connect_out(["2001:db8:64::c000:204"], [("2001:db8:64::c000:204", None)])
    res, rt = run(run_tcp, TcpCheck.model_validate({"from": "client", "host": "192.0.2.4", "port": 80,
                                                    "synthesize": True}), agent={"synthesize": SYNTH, "tcp": out})
    assert res.ok and res.facts.remote_ip == "2001:db8:64::c000:204" and res.target == "192.0.2.4:80"
    tcp = next(args for c in rt.calls if isinstance(c, Exec)
               for _, args in [split_program(c.argv) or ("", [])] if args[:1] == ["tcp"])
    assert tcp[1] == "2001:db8:64::c000:204"


def test_tcp_ipv4_literal_that_libc_will_not_resolve_is_ipv4_literal():
    out = connect_out([], [])
    out["resolve"]["error"] = {"code": "EAI_ADDRFAMILY", "text": "Address family for hostname not supported"}
    res, _ = run(run_tcp, tcp_spec("192.0.2.1"), agent={"tcp": out})
    assert (res.reason, res.detail) == (Reason.IPV4_LITERAL, "Address family for hostname not supported")


@pytest.mark.parametrize("changes, ok, reason", [
    ({}, True, None),
    ({"clat": {"state": "down", "error": "tayga failed"}}, False, Reason.CLAT_DOWN),
    ({"clat": None, "nat64_prefix": None}, False, Reason.NO_NAT64_PREFIX),
])
def test_learnt(changes, ok, reason):
    from labsim.checks.learnt import LearntCheck, run_learnt

    res, _ = run(run_learnt, LearntCheck.model_validate({"from": "modern"}), learnt=learnt_json(**changes))
    assert (res.ok, res.reason, res.facts.addresses) == (ok, reason, ["2001:db8:10::5"])


@pytest.mark.parametrize("text", ["not json", '{"addresses": [1]}', '["a list"]'])
def test_learnt_unparseable_is_a_tool_error(text):
    from labsim.checks.learnt import LearntCheck, run_learnt

    res, _ = run(run_learnt, LearntCheck.model_validate({"from": "modern"}), learnt=text)
    assert (res.ok, res.reason) == (False, Reason.TOOL_ERROR)


def test_nat64_prefix_discovery_through_the_fake_runtime():
    from ipaddress import IPv6Network

    from labsim.checks.nat64discovery import discover_in_node

    env, _ = env_for(handler(dns=lambda c: dns_answer(c.data, answers={"AAAA": ["64:ff9b::c000:aa", "64:ff9b::c000:ab"]})))
    assert discover_in_node(env, "client") == [IPv6Network("64:ff9b::/96")]
