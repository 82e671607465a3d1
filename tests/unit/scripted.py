"""What the tools print, scripted for the fake runtime: curl's body and write-out, the in-node
agent's JSON, ping's summary, and DNS replies built with dnspython. Shared by the tier-1
check, expectation and report tests."""

from __future__ import annotations

import json
from typing import Callable

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from labsim.checks import CheckEnv
from labsim.checks.curl import FIELDS, MARKER
from labsim.node.nodeprog import split_program
from labsim.runtime.fake import Datagram, Exec, FakeRuntime, Reply

PYTHON = "/usr/bin/python3"


def curl_stdout(*, exitcode: int = 0, http_code: int = 200, body: str = "", remote_ip: str = "",
                errormsg: str = "", headers: dict | None = None, http_version: str = "1.1",
                times: dict[str, float] | None = None, **fields: str) -> str:
    """curl's stdout as `-w WRITE_OUT` makes it: the body, the marker, the fields."""
    t = {"time_namelookup": 0.001, "time_connect": 0.002, "time_appconnect": 0.0,
         "time_starttransfer": 0.004, "time_total": 0.005, **(times or {})}
    values = {"exitcode": str(exitcode), "errormsg": errormsg, "http_code": str(http_code),
              "remote_ip": remote_ip, "http_version": http_version, "ssl_verify_result": "0",
              "size_download": str(len(body.encode())),
              **{k: str(v) for k, v in t.items()}, **fields}
    hdrs = json.dumps({k: [v] for k, v in (headers or {}).items()})
    return body + MARKER + "".join(f"{f}={values[f]}\n" for f in FIELDS) + "headers=" + hdrs


def curl_reply(stderr: str = "", returncode: int | None = None, **kw) -> Reply:
    """A curl run: stdout from `curl_stdout(**kw)`, its verbose log, and its exit status
    (the write-out's exit code unless told otherwise)."""
    code = kw.get("exitcode", 0) if returncode is None else returncode
    return Reply(curl_stdout(**kw), stderr, code)


def agent_reply(out: dict) -> Reply:
    return Reply(json.dumps(out), "", 0)


def resolve_out(addresses: list[str], error: tuple[str, str] | None = None, ms: float = 1.5) -> dict:
    return {"addresses": addresses, "error": {"code": error[0], "text": error[1]} if error else None, "ms": ms}


def connect_out(addresses: list[str], attempts: list[tuple[str, str | None]], **tls) -> dict:
    connected = next((a for a, e in attempts if e is None), None)
    out = {"resolve": resolve_out(addresses), "connected": connected, "ms": 0.7 if connected else None,
           "attempts": [{"address": a, "error": e, "ms": 0.7} for a, e in attempts]}
    if tls:
        out["tls"] = tls
    return out


def dns_answer(request: bytes, rcode: str = "NOERROR", answers: dict[str, list[str]] | None = None,
               ttl: int = 60) -> bytes:
    """A reply to `request`: `answers` maps a type (A, AAAA, CNAME) to its values, answered
    only when the query asks for that type."""
    q = dns.message.from_wire(request)
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.from_text(rcode))
    qname, qtype = q.question[0].name, dns.rdatatype.to_text(q.question[0].rdtype)
    for rdtype, values in (answers or {}).items():
        if rdtype == qtype and values:
            r.answer.append(dns.rrset.from_text_list(qname, ttl, "IN", rdtype, values))
    return r.to_wire()


Route = Callable[[Exec], Reply]


def handler(*, curl: Route | Reply | None = None, agent: dict[str, object] | None = None,
            ping: Reply | None = None, resolv_conf: str = "nameserver 2001:db8:1::53\n",
            learnt: str | None = None, ipv4_route: str | None = None,
            dns: Callable[[Datagram], bytes | None] | None = None):
    """A handler answering each tool from a script; anything unscripted fails the test.
    `agent` maps an agent operation (resolve, tcp, tls, measure, synthesize) to its JSON or a
    Reply; `learnt` is the node's learnt.json (none: not a self-configuring host);
    `ipv4_route` is what `ip -4 route get` prints (none: an IPv6-only node, no route)."""
    def answer(call):
        if isinstance(call, Datagram):
            if dns is None:
                raise AssertionError(f"unexpected datagram to {call.destination}")
            return dns(call)
        assert isinstance(call, Exec), call
        tool = call.argv[0]
        if tool == "curl" and curl is not None:
            return curl(call) if callable(curl) else curl
        if tool == "cat" and call.argv[1:] == ("/etc/resolv.conf",):
            return Reply(resolv_conf)
        if tool == "cat" and call.argv[1].endswith("/learnt.json"):  # a self-configuring host's report
            return Reply(learnt, "", 0) if learnt is not None else Reply("", f"cat: {call.argv[1]}: No such file", 1)
        if call.argv[:4] == ("ip", "-4", "route", "get"):
            if ipv4_route is None:
                return Reply("", "RTNETLINK answers: Network is unreachable\n", 2)
            return Reply(ipv4_route, "", 0)
        if tool == "ping" and ping is not None:
            return ping
        prog = split_program(call.argv) if tool == PYTHON else None
        if prog and prog[0] == "labsim.node.agent" and agent and prog[1][0] in agent:
            out = agent[prog[1][0]]
            return out if isinstance(out, Reply) else agent_reply(out)  # type: ignore[arg-type]
        raise AssertionError(f"unscripted call {call}")
    return answer


def env_for(answer, addresses: dict[str, list[str]] | None = None) -> tuple[CheckEnv, FakeRuntime]:
    rt = FakeRuntime(answer, python=PYTHON)
    return CheckEnv(rt, PYTHON, addresses or {}), rt


