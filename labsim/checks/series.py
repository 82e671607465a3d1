"""Raw query series to one server, from inside a node: driven through dnsperf (as tight as
the tool the numbers are compared with), or dnspython (no extra binary; ~170 µs of Python a
query, so only for slow servers)."""

from __future__ import annotations

import errno
import re
import socket
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode

from labsim.checks.base import CheckEnv, ToolFailed, tool_run
from labsim.checks.stats import Series

DNSPERF_LINE = re.compile(r"^> (\S+) \S+ \S+ ([0-9.]+)$", re.M)
DNSPERF_TIMEOUT = re.compile(r"^\[Timeout\]", re.M)


def names_for(template: str, count: int) -> list[str]:
    run = "%06x" % (int(time.time() * 1000) & 0xFFFFFF)
    return [template.format(i=i, run=run) for i in range(count)]


def dnsperf_series(env: CheckEnv, node: str, server: str, template: str, rdtype: str, count: int,
                   rate: int | None, max_seconds: float) -> Series:
    names = names_for(template, count)
    path = env.runtime.write_file(node, f"queries-{time.monotonic_ns()}.txt",
                                  "".join(f"{n} {rdtype}\n" for n in names))
    argv = ["dnsperf", "-s", server, "-d", path, "-n", "1", "-t", "2", "-l", str(max_seconds), "-v"]
    if rate:
        argv += ["-Q", str(rate)]
    res = env.exec(node, argv, timeout=max_seconds + 30)
    out = res.stdout.decode(errors="replace")
    series = Series()
    for rcode, secs in DNSPERF_LINE.findall(out):
        series.add(float(secs) * 1000, None if rcode == "NOERROR" else rcode)
    for _ in DNSPERF_TIMEOUT.findall(out):
        series.add(2000.0, "TIMEOUT")
    if not series.ms and res.returncode != 0:
        raise ToolFailed(tool_run(argv, res, f"exited with {res.returncode} and measured nothing"))
    return series


def dnspython_series(env: CheckEnv, node: str, server: str, template: str, rdtype: str, count: int,
                     max_seconds: float) -> Series:
    """One socket in the node's namespace, reused; each query timed to its answer."""
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    series = Series()
    deadline = time.monotonic() + max_seconds
    with env.runtime.socket(node, fam, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for name in names_for(template, count):
            q = dns.message.make_query(name, rdtype)
            t0 = time.perf_counter()
            try:
                r = dns.query.udp(q, server, timeout=2, sock=s)
                series.add((time.perf_counter() - t0) * 1000,
                           None if r.rcode() == 0 else dns.rcode.to_text(r.rcode()))
            except OSError as exc:  # the send failed: no route, no address of that family
                series.add((time.perf_counter() - t0) * 1000, errno.errorcode.get(exc.errno or 0, "UNKNOWN"))
            except dns.exception.Timeout:
                series.add((time.perf_counter() - t0) * 1000, "TIMEOUT")
            except dns.exception.DNSException:
                series.add((time.perf_counter() - t0) * 1000, "BAD_RESPONSE")
            if time.monotonic() > deadline:
                break
    return series
