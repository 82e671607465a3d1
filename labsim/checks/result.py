"""What a check returns: typed facts, timings, and a reason code a user can act on.

A failed check is data, never an exception. `ok` says whether the operation itself worked
(a name resolved, a connection was made, a response came back); `reason` names why not, or
`warnings` name something fragile in a success. A check whose tool gave no parseable result
fails with TOOL_ERROR and the tool's own words in `facts.tool_error` (never a pass).

Every check has its result class (`HttpResult`, ...) whose `facts` is that check's facts
dataclass: reporters and expectations read fields, so a typo fails loudly instead of
reading None. A new check adds a facts class, a result class with its `check` literal, and
one `CheckRecord` in `RECORDS`; `RESULTS`, `AnyResult`, the step keys, the expectations it
allows and the JSON schema (labsim/schema/results.schema.json) follow from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import Field, PlainSerializer, TypeAdapter

from labsim.checks.reasons import Reason
from labsim.checks.stats import Stats

STDERR_KEEP = 4000
# a duration in a report: three decimals are plenty (and keep reports diffable)
Rounded = Annotated[float, PlainSerializer(lambda v: round(v, 3), return_type=float)]


# -- facts shared by several checks -----------------------------------------------------------
@dataclass(kw_only=True)
class ToolRun:
    """A tool that gave no usable result: what it was, how it ended, what it said."""

    tool: str  # argv[0], e.g. curl, python (the in-node agent), ping
    returncode: int | None = None  # None: it never finished (killed, or the exec failed)
    stderr: str = ""  # its last STDERR_KEEP characters
    problem: str = ""  # what labsim could not use, e.g. "no write-out marker in curl's output"


@dataclass(kw_only=True)
class Diagnosis:
    """Why a name gave no usable address: the node's first nameserver, asked directly."""

    nameserver: str | None = None
    rcode: str | None = None
    a: list[str] = field(default_factory=list)
    aaaa: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Attempt:
    """One connect, in the order the application tries its addresses."""

    address: str
    error: str | None = None  # errno name, e.g. ECONNREFUSED; None when it connected
    ms: float = 0.0


@dataclass(kw_only=True)
class Synthesized:
    """`synthesize: true`: the IPv4 literal, the NAT64 prefix the node discovered (RFC 7050)
    and the address the literal became in it (RFC 6052; None when no prefix showed)."""

    ipv4: Annotated[str, Field(alias="from")]
    prefix: str | None = None
    address: str | None = None


@dataclass(kw_only=True)
class Facts:
    tool_error: ToolRun | None = None


# -- facts per check --------------------------------------------------------------------------
@dataclass(kw_only=True)
class ResolveFacts(Facts):
    addresses: list[str] = field(default_factory=list)
    families: list[int] = field(default_factory=list)
    error: str | None = None  # getaddrinfo's code, e.g. EAI_NONAME
    unresolved: Diagnosis | None = None


@dataclass(kw_only=True)
class DnsFacts(Facts):
    server: str | None = None
    rcode: str | None = None
    answers: list[str] = field(default_factory=list)
    cnames: list[str] = field(default_factory=list)
    ttl: int | None = None
    error: str | None = None  # the socket's errno name when the query could not be sent


@dataclass(kw_only=True)
class HttpFacts(Facts):
    url: str = ""
    method: str = "GET"
    status: int | None = None
    remote_ip: str | None = None
    http_version: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, last value
    body: str = ""  # the first BODY_KEEP characters
    json: Any = None  # the body parsed, when it is JSON
    tried: list[str] = field(default_factory=list)  # addresses curl tried, in order
    location: str | None = None  # a redirect's target
    ipv4_literal_urls: list[str] = field(default_factory=list)
    curl_exit: int | None = None
    unresolved: Diagnosis | None = None
    synthesized: Synthesized | None = None
    clat: dict[str, Any] | None = None  # a self-configuring host's CLAT, when an IPv4 literal failed
    bytes_received: int = 0  # the body so far, a stall included (curl's size_download)


@dataclass(kw_only=True)
class TcpFacts(Facts):
    addresses: list[str] = field(default_factory=list)
    remote_ip: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    unresolved: Diagnosis | None = None
    synthesized: Synthesized | None = None
    clat: dict[str, Any] | None = None


@dataclass(kw_only=True)
class TlsFacts(TcpFacts):
    certificate_names: list[str] = field(default_factory=list)
    version: str | None = None
    cipher: str | None = None


@dataclass(kw_only=True)
class SocketFacts(TcpFacts):
    """A ws://, wss:// or tcp:// endpoint (labsim.checks.websocket): the connect as for tcp,
    then TLS (wss), the WebSocket opening handshake (ws, wss) or what the server says first."""

    url: str = ""
    status: int | None = None  # the handshake's status: 101 when it upgraded
    headers: dict[str, str] = field(default_factory=dict)  # the handshake's, lower-case names
    accept_ok: bool | None = None  # Sec-WebSocket-Accept matched the key (RFC 6455 §4.2.2)
    banner: str | None = None  # tcp://: the server's first words
    tls_version: str | None = None


@dataclass(kw_only=True)
class PingFacts(Facts):
    sent: int = 0
    received: int = 0
    loss: float = 1.0


@dataclass(kw_only=True)
class LearntFacts(Facts):
    """What a self-configuring host learnt (labsim.node.hostconf writes it as learnt.json); the
    CLAT and DHCPv4 parts are those modules' own reports."""

    addresses: list[str] = field(default_factory=list)
    resolvers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    resolv_conf: dict[str, Any] | None = None  # the node's resolv.conf read back: nameservers, search
    pref64: dict[str, Any] | None = None  # the PREF64 in use: prefix, lifetime
    pref64_all: list[dict[str, Any]] = field(default_factory=list)  # every valid one: prefix, lifetime, used
    pref64_withdrawn: str | None = None
    ra_sources: list[str] = field(default_factory=list)
    default_routers: list[dict[str, Any]] = field(default_factory=list)
    native_ipv4: str | None = None  # why the host has IPv4 of its own (then no CLAT)
    rfc7050: list[str] = field(default_factory=list)
    nat64_prefix: str | None = None
    nat64_prefix_source: str | None = None
    clat: dict[str, Any] | None = None
    dhcp4: dict[str, Any] | None = None
    timeline_s: dict[str, float] = field(default_factory=dict)
    ready: bool = False


@dataclass(kw_only=True)
class MeasureFacts(Facts):
    stats: Stats | None = None
    samples_ms: list[float] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    requested: int = 0


@dataclass(kw_only=True)
class ExecFacts(Facts):
    """`exec`: what the program did; `json` is stdout (or its last line) parsed, when it is JSON."""

    argv: list[str] = field(default_factory=list)
    exit_status: int | None = None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    json: Any = None


@dataclass(kw_only=True)
class PmtuProbe:
    mtu: int
    result: Literal["ok", "too_big", "lost"]
    reported_mtu: int | None = None  # what an ICMP error (or the kernel) said the MTU is


@dataclass(kw_only=True)
class PmtuFacts(Facts):
    pmtu: int | None = None  # the largest packet that got an answer
    ptb_seen: bool = False  # an ICMP Packet Too Big / fragmentation-needed came back
    blackhole: bool = False  # bigger packets vanished with no ICMP error
    remote_ip: str | None = None
    probes: list[PmtuProbe] = field(default_factory=list)


# -- timings per check (milliseconds; None where the check did not get that far) --------------
@dataclass(kw_only=True)
class Timings:
    total: float | None = None  # what `max_ms` bounds


@dataclass(kw_only=True)
class ResolveTimings(Timings):
    resolve: float | None = None


@dataclass(kw_only=True)
class HttpTimings(Timings):
    discover: float | None = None  # `synthesize`: finding the NAT64 prefix
    dns: float | None = None  # curl's own name lookup
    connect: float | None = None
    tls: float | None = None
    ttfb: float | None = None  # time to the first byte, from the start


@dataclass(kw_only=True)
class TcpTimings(Timings):
    discover: float | None = None  # `synthesize`: finding the NAT64 prefix
    resolve: float | None = None
    connect: float | None = None  # the connect that worked


@dataclass(kw_only=True)
class TlsTimings(TcpTimings):
    tls: float | None = None  # the handshake


@dataclass(kw_only=True)
class SocketTimings(TcpTimings):
    tls: float | None = None
    handshake: float | None = None  # the WebSocket opening handshake


@dataclass(kw_only=True)
class PingTimings(Timings):
    min: float | None = None
    avg: float | None = None
    max: float | None = None


@dataclass(kw_only=True)
class MeasureTimings(Timings):  # total: the series' lookups added up
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


# -- results ----------------------------------------------------------------------------------
@dataclass(kw_only=True)
class CheckResult:
    check: str  # which check: each result class fixes it
    node: str  # where it ran
    target: str  # what it asked for (name, URL, host:port)
    ok: bool
    reason: Reason | None = None
    detail: str = ""  # the underlying error text, as the tool said it
    facts: Facts = field(default_factory=Facts)
    timings_ms: Timings = field(default_factory=Timings)
    warnings: list[Reason] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dump(self)


@dataclass(kw_only=True)
class ResolveResult(CheckResult):
    check: Literal["resolve"] = "resolve"
    facts: ResolveFacts = field(default_factory=ResolveFacts)
    timings_ms: ResolveTimings = field(default_factory=ResolveTimings)


@dataclass(kw_only=True)
class DnsResult(CheckResult):
    check: Literal["dns"] = "dns"
    facts: DnsFacts = field(default_factory=DnsFacts)
    timings_ms: Timings = field(default_factory=Timings)


@dataclass(kw_only=True)
class HttpResult(CheckResult):
    check: Literal["http"] = "http"
    facts: HttpFacts = field(default_factory=HttpFacts)
    timings_ms: HttpTimings = field(default_factory=HttpTimings)


@dataclass(kw_only=True)
class TcpResult(CheckResult):
    check: Literal["tcp"] = "tcp"
    facts: TcpFacts = field(default_factory=TcpFacts)
    timings_ms: TcpTimings = field(default_factory=TcpTimings)


@dataclass(kw_only=True)
class TlsResult(CheckResult):
    check: Literal["tls"] = "tls"
    facts: TlsFacts = field(default_factory=TlsFacts)
    timings_ms: TlsTimings = field(default_factory=TlsTimings)


@dataclass(kw_only=True)
class SocketResult(CheckResult):
    check: Literal["socket"] = "socket"
    facts: SocketFacts = field(default_factory=SocketFacts)
    timings_ms: SocketTimings = field(default_factory=SocketTimings)


@dataclass(kw_only=True)
class PingResult(CheckResult):
    check: Literal["ping"] = "ping"
    facts: PingFacts = field(default_factory=PingFacts)
    timings_ms: PingTimings = field(default_factory=PingTimings)


@dataclass(kw_only=True)
class MeasureResult(CheckResult):
    check: Literal["measure"] = "measure"
    facts: MeasureFacts = field(default_factory=MeasureFacts)
    timings_ms: MeasureTimings = field(default_factory=MeasureTimings)


@dataclass(kw_only=True)
class LearntResult(CheckResult):
    check: Literal["learnt"] = "learnt"
    facts: LearntFacts = field(default_factory=LearntFacts)
    timings_ms: Timings = field(default_factory=Timings)


@dataclass(kw_only=True)
class ExecResult(CheckResult):
    check: Literal["exec"] = "exec"
    facts: ExecFacts = field(default_factory=ExecFacts)
    timings_ms: Timings = field(default_factory=Timings)


@dataclass(kw_only=True)
class PmtuResult(CheckResult):
    check: Literal["pmtu"] = "pmtu"
    facts: PmtuFacts = field(default_factory=PmtuFacts)
    timings_ms: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class CheckRecord:
    """Everything labsim knows of one check, in one place: its name (a step's key), its result
    type (whose `facts` and `timings_ms` fields are the check's facts and timings, and whose
    classes the JSON schema describes), where its spec model and run function live (imported
    by `labsim.checks`, not here: reporters read results without importing every check), and
    the expectations a result of it can be judged on (any other is refused at load)."""

    name: str
    result: type[CheckResult]
    module: str  # labsim.checks.<module> holds `spec` (a CheckSpec model) and `run`
    spec: str
    run: str
    expects: frozenset[str] = frozenset()


_ADDRESSED = frozenset({"rcode", "family", "addresses", "addresses_in"})
_CONNECTED = _ADDRESSED | {"remote_ip_in"}
# the registry: a new check is its module, its facts and result classes above, and one line here
RECORDS: dict[str, CheckRecord] = {r.name: r for r in (
    CheckRecord("resolve", ResolveResult, "resolve", "ResolveCheck", "run_resolve", _ADDRESSED),
    CheckRecord("dns", DnsResult, "dns", "DnsCheck", "run_dns", _ADDRESSED),
    CheckRecord("http", HttpResult, "http", "HttpCheck", "run_http",
                frozenset({"status", "body", "body_contains", "headers", "rcode", "remote_ip_in", "family"})),
    CheckRecord("tls", TlsResult, "tls", "TlsCheck", "run_tls", _CONNECTED),
    CheckRecord("tcp", TcpResult, "tcp", "TcpCheck", "run_tcp", _CONNECTED),
    CheckRecord("ping", PingResult, "ping", "PingCheck", "run_ping"),
    CheckRecord("measure", MeasureResult, "measure", "MeasureCheck", "run_measure",
                frozenset({"p50_min_ms", "p50_max_ms", "p95_max_ms", "p99_max_ms", "failures_max"})),
    CheckRecord("learnt", LearntResult, "learnt", "LearntCheck", "run_learnt", frozenset({"addresses_in"})),
    CheckRecord("exec", ExecResult, "exec", "ExecCheck", "run_exec",
                frozenset({"exit_status", "stdout_contains", "stderr_contains", "stdout"})),
    CheckRecord("pmtu", PmtuResult, "pmtu", "PmtuCheck", "run_pmtu", frozenset({"remote_ip_in", "family"})),
    # ws://, wss://, tcp:// endpoints of a review
    CheckRecord("socket", SocketResult, "websocket", "SocketCheck", "run_socket"),
)}
RESULTS: dict[str, type[CheckResult]] = {name: r.result for name, r in RECORDS.items()}
# any check's result, told apart by `check` (what reports hold and the schema describes)
AnyResult = Annotated[Union[tuple(RESULTS.values())],  # type: ignore[valid-type]  # noqa: UP007 - built from RECORDS
                      Field(discriminator="check")]


def tool_failure(check: str, node: str, target: str, run: ToolRun) -> CheckResult:
    """The result of a check whose tool gave nothing usable: a failure, never a pass."""
    # each result class fixes its own `check` field (a Literal default), so it is not passed
    res = RESULTS[check](node=node, target=target, ok=False, reason=Reason.TOOL_ERROR,  # type: ignore[call-arg]
                         detail=f"{run.tool}: {run.problem}".strip(": "))
    res.facts.tool_error = ToolRun(tool=run.tool, returncode=run.returncode,
                                   stderr=run.stderr[-STDERR_KEEP:], problem=run.problem)
    return res


@cache
def adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def dump(obj: Any) -> Any:
    """A result (or a report holding results) as plain JSON data, exactly as the schema says."""
    return adapter(type(obj)).dump_python(obj, mode="json", by_alias=True)  # type: ignore[arg-type]  # a class is hashable
