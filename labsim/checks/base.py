"""What checks share: where they run (a runtime and a node), the in-node agent, how a tool
that gave nothing usable becomes a TOOL_ERROR result, and how a name that did not resolve is
classified by asking the node's own resolver directly."""

from __future__ import annotations

import errno
import functools
import ipaddress
import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labsim.checks.reasons import Reason, errno_reason
from labsim.checks.result import CheckResult, Diagnosis, ToolRun, adapter, tool_failure
from labsim.errors import RuntimeOpError
from labsim.node.nodeprog import stdlib_program
from labsim.runtime.base import Runtime

T = TypeVar("T")
AGENT = "labsim.node.agent"


class CheckSpec(BaseModel):
    """Fields every check has. `from` names the node it runs in."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    node: str = Field(alias="from")
    timeout: float = Field(5.0, gt=0, le=120)


class ToolFailed(Exception):
    """A check's tool gave no usable result; the check becomes a TOOL_ERROR failure."""

    def __init__(self, run: ToolRun):
        self.run = run
        super().__init__(f"{run.tool}: {run.problem}")


def tool_run(argv: list[str], proc: subprocess.CompletedProcess | None, problem: str,
             tool: str | None = None) -> ToolRun:
    stderr = proc.stderr.decode(errors="replace") if proc is not None and proc.stderr else ""
    return ToolRun(tool=tool or (argv[0] if argv else ""), returncode=None if proc is None else proc.returncode,
                   stderr=stderr, problem=problem)


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

    def exec(self, node: str, argv: list[str], timeout: float,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run a check's tool; a tool that cannot be run or does not finish is ToolFailed."""
        try:
            return self.runtime.exec(node, argv, timeout=timeout, input=input)
        except (RuntimeOpError, OSError) as exc:
            raise ToolFailed(ToolRun(tool=argv[0], stderr=str(exc), problem="did not finish")) from exc

    def call(self, node: str, module: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run labsim's in-node program `module` (`Runtime.call`: on netns forked from a
        server that has it imported, else exec'd); one that cannot be run or does not finish
        is ToolFailed, naming the argv it stands for."""
        try:
            return self.runtime.call(node, module, list(args), timeout=timeout)
        except (RuntimeOpError, OSError) as exc:
            raise ToolFailed(ToolRun(tool=self.python, stderr=str(exc), problem="did not finish")) from exc

    def agent(self, node: str, shape: type[T], *args: str, timeout: float = 30.0) -> T:
        """Run the in-node agent; its JSON output must have `shape` (a TypedDict)."""
        argv = stdlib_program(self.python, AGENT, *args)
        proc = self.call(node, AGENT, list(args), timeout=timeout)
        if proc.returncode != 0:
            raise ToolFailed(tool_run(argv, proc, f"exited with {proc.returncode}", AGENT))
        try:
            return adapter(shape).validate_python(json.loads(proc.stdout))  # type: ignore[arg-type]  # a class is hashable
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            raise ToolFailed(tool_run(argv, proc, f"output is not the agent's JSON: {str(exc)[:300]}", AGENT)) from None

    def nameservers(self, node: str) -> list[str]:
        res = self.exec(node, ["cat", "/etc/resolv.conf"], timeout=10)
        return [line.split()[1] for line in res.stdout.decode(errors="replace").splitlines()
                if line.startswith("nameserver") and len(line.split()) > 1]


def guarded(check: str, target: Callable[[Any], str]):
    """Make a check's run function total: a ToolFailed inside it becomes that check's
    TOOL_ERROR result (a failure with the tool's stderr), never an exception or a pass."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(spec, env: CheckEnv, *args, **kw) -> CheckResult:
            try:
                return fn(spec, env, *args, **kw)
            except ToolFailed as exc:
                return tool_failure(check, spec.node, target(spec), exc.run)
        return run
    return wrap


def is_ipv4_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 4
    except ValueError:
        return False


def query(env: CheckEnv, node: str, server: str, name: str, rdtype: str, timeout: float):
    """One UDP query from inside `node`; returns (response or None, ms, why there is none):
    TIMEOUT, BAD_RESPONSE or the errno name of a send that failed (ENETUNREACH, ...)."""
    addr = ipaddress.ip_address(server)
    fam = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    q = dns.message.make_query(name, rdtype)
    try:
        sock = env.runtime.socket(node, fam, socket.SOCK_DGRAM)
    except (RuntimeOpError, OSError) as exc:
        raise ToolFailed(ToolRun(tool="socket", stderr=str(exc), problem=f"no socket in node {node}")) from exc
    with sock as s:
        s.setblocking(False)  # dnspython waits with its own deadline only on non-blocking sockets
        t0 = time.perf_counter()
        try:
            # dnspython sends from our socket, which lives in the node's namespace
            r = dns.query.udp(q, str(addr), timeout=timeout, sock=s)
        except dns.exception.Timeout:
            return None, (time.perf_counter() - t0) * 1000, "TIMEOUT"
        except OSError as exc:
            return None, (time.perf_counter() - t0) * 1000, errno.errorcode.get(exc.errno or 0, "UNKNOWN")
        except dns.exception.DNSException:  # a reply that is not a DNS answer to our query
            return None, (time.perf_counter() - t0) * 1000, "BAD_RESPONSE"
        return r, (time.perf_counter() - t0) * 1000, None


def no_answer_reason(error: str | None) -> Reason:
    """Why a query got no response: a timeout, a malformed reply, or the send's errno."""
    if error == "TIMEOUT":
        return Reason.DNS_TIMEOUT
    if error == "BAD_RESPONSE":
        return Reason.BAD_RESPONSE
    return errno_reason(error)


def classify_unresolved(env: CheckEnv, node: str, name: str, timeout: float = 2.0) -> tuple[Reason, Diagnosis]:
    """Why `name` gave no usable address in `node`: ask its first nameserver for A and AAAA."""
    servers = env.nameservers(node)
    diag = Diagnosis(nameserver=servers[0] if servers else None)
    if not servers:
        return Reason.DNS_TIMEOUT, diag
    answers: dict[str, list[str]] = {}
    for rdtype in ("AAAA", "A"):
        try:
            r, _, error = query(env, node, servers[0], name, rdtype, timeout)
        except ValueError:  # not an address in resolv.conf
            return Reason.DNS_TIMEOUT, diag
        if r is None:
            return no_answer_reason(error), diag
        rcode = dns.rcode.to_text(r.rcode())
        diag.rcode = rcode
        if rcode == "NXDOMAIN":
            return Reason.NXDOMAIN, diag
        if rcode != "NOERROR":
            return (Reason.DNS_REFUSED if rcode == "REFUSED" else Reason.DNS_SERVFAIL), diag
        answers[rdtype] = [rd.to_text() for rrset in r.answer
                           if rrset.rdtype == dns.rdatatype.from_text(rdtype) for rd in rrset]
    diag.a, diag.aaaa = answers["A"], answers["AAAA"]
    if diag.a and not diag.aaaa:
        return Reason.NO_AAAA, diag
    return Reason.NO_ADDRESS, diag
