"""curl as the http check drives it: the argv (no shell, nothing curl could read as an
option or a file), the write-out it prints, and what each of its exit codes means.

curl runs verbose so the failure cause survives (its `errormsg` says "Couldn't connect" for
both a refusal and an unreachable network); the body goes to stdout, followed by a marker
and named write-out fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from labsim.checks.reasons import Reason

MARKER = "\n@@labsim-curl@@\n"
# named fields, not %{json}: that one builds curl's version string, which initialises libldap
# (a lookup of the machine's own hostname, ~5 ms a request)
FIELDS = ("exitcode", "errormsg", "http_code", "remote_ip", "http_version", "ssl_verify_result",
          "time_namelookup", "time_connect", "time_appconnect", "time_starttransfer", "time_total",
          "size_download")
WRITE_OUT = MARKER + "".join(f"{f}=%{{{f}}}\n" for f in FIELDS) + "headers=%{header_json}"
TRYING = re.compile(r"^\*\s+Trying (\S+?)(?:\.\.\.)?\s*$", re.M)
PROTOCOLS = "=http,https"

# What each exit code means for an HTTP request. 6, 7, 28 and 60 are refined from the
# verbose log and timings (http.failure_reason). Codes of protocols labsim never asks curl
# to speak (FTP, TFTP, LDAP, SSH, RTSP, telnet) and of local trouble (memory, files, bad
# options) are TOOL_ERROR: curl did not do what it was asked. So is any code not listed.
CURL_EXIT: dict[int, Reason] = {
    1: Reason.TOOL_ERROR,  # unsupported protocol (refused by --proto)
    2: Reason.TOOL_ERROR,  # failed to initialize (or a bad command line)
    3: Reason.TOOL_ERROR,  # URL malformed
    4: Reason.TOOL_ERROR,  # a feature not built in
    5: Reason.TOOL_ERROR,  # could not resolve proxy (labsim sets --noproxy '*')
    6: Reason.NXDOMAIN,  # could not resolve host
    7: Reason.NO_ROUTE,  # failed to connect
    8: Reason.BAD_RESPONSE,  # weird server reply
    16: Reason.BAD_RESPONSE,  # HTTP/2 framing
    18: Reason.RECV_ERROR,  # partial file
    22: Reason.HTTP_STATUS,  # HTTP page not retrieved (--fail)
    23: Reason.TOOL_ERROR,  # write error
    26: Reason.TOOL_ERROR,  # read error (the request body)
    27: Reason.TOOL_ERROR,  # out of memory
    28: Reason.TIMEOUT,  # operation timeout
    33: Reason.BAD_RESPONSE,  # HTTP range error
    34: Reason.TOOL_ERROR,  # HTTP post error
    35: Reason.TLS_HANDSHAKE,  # SSL connect error
    43: Reason.TOOL_ERROR,  # internal error
    45: Reason.NO_ROUTE,  # interface error
    47: Reason.BAD_RESPONSE,  # too many redirects
    52: Reason.EMPTY_REPLY,
    55: Reason.SEND_ERROR,
    56: Reason.RECV_ERROR,
    58: Reason.TLS_HANDSHAKE,  # local certificate
    59: Reason.TLS_HANDSHAKE,  # cipher
    60: Reason.TLS_VERIFY_FAILED,  # peer certificate not verified
    61: Reason.BAD_RESPONSE,  # unrecognized transfer encoding
    77: Reason.TLS_VERIFY_FAILED,  # the CA bundle could not be read: nothing verifies
    80: Reason.TLS_HANDSHAKE,  # SSL shutdown
    82: Reason.TLS_VERIFY_FAILED,  # CRL
    83: Reason.TLS_VERIFY_FAILED,  # issuer check
    90: Reason.TLS_VERIFY_FAILED,  # pinned public key
    91: Reason.TLS_VERIFY_FAILED,  # certificate status (OCSP)
    92: Reason.BAD_RESPONSE,  # HTTP/2 stream
    95: Reason.BAD_RESPONSE,  # HTTP/3
    96: Reason.TLS_HANDSHAKE,  # QUIC connection
    98: Reason.TLS_HANDSHAKE,  # client certificate required
    101: Reason.TLS_HANDSHAKE,  # ECH
}


def exit_reason(code: int) -> Reason:
    return CURL_EXIT.get(code, Reason.TOOL_ERROR)


def curl_argv(url: str, method: str, headers: dict[str, str], timeout: float, has_body: bool,
              connect_to: list[str], family: int | None) -> list[str]:
    """curl's argv for one request. The URL goes through --url (never a positional that could
    read as an option); the body, when there is one, comes from stdin (`@-`), so no file is
    ever named on the command line; -q skips ~/.curlrc; --proto keeps curl to HTTP(S)."""
    argv = ["curl", "-q", "-sv", "--globoff", "--noproxy", "*", "--proto", PROTOCOLS,
            "--proto-redir", PROTOCOLS, "-o", "-", "-w", WRITE_OUT, "-m", str(timeout),
            "--connect-timeout", str(timeout)]
    # HEAD must be --head: `-X HEAD` makes curl wait for a body that never comes
    argv += ["--head"] if method == "HEAD" else ["-X", method]
    for k, v in headers.items():  # names are tokens and values have no CR/LF (HttpCheck)
        argv += ["-H", f"{k}: {v}"]
    if has_body:
        argv += ["--data-binary", "@-"]
    for c in connect_to:
        argv += ["--connect-to", c]
    if family:
        argv.append(f"-{family}")
    return argv + ["--url", url]


@dataclass
class WriteOut:
    """curl's write-out, parsed; `problem` says why it is unusable (then nothing else holds)."""

    body: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> last value
    exitcode: int = 0
    problem: str = ""

    def number(self, name: str) -> float:
        try:
            return float(self.fields.get(name) or 0)
        except ValueError:
            return 0.0

    def integer(self, name: str) -> int:
        try:
            return int(self.fields.get(name) or 0)
        except ValueError:
            return 0


def parse_write_out(stdout: str, returncode: int | None) -> WriteOut:
    """Split curl's stdout into the body and the write-out. No marker, a field missing, an
    exit code that is not a number or disagrees with the process's, or headers that are not
    JSON: the output is unusable (`problem`), whatever the process's exit status."""
    body, marker, tail = stdout.rpartition(MARKER)
    if not marker:
        return WriteOut(problem="no write-out in its output")
    fields_text, sep, header_json = tail.partition("headers=")
    out = WriteOut(body=body)
    for line in fields_text.splitlines():
        key, _, value = line.partition("=")
        out.fields[key] = value
    missing = [f for f in FIELDS if f not in out.fields]
    if missing or not sep:
        out.problem = f"write-out without {', '.join(missing) or 'headers'}"
        return out
    if not out.fields["exitcode"].isdigit():
        out.problem = f"write-out exitcode {out.fields['exitcode'][:20]!r} is not a number"
        return out
    out.exitcode = int(out.fields["exitcode"])
    if returncode is None or returncode != out.exitcode:
        out.problem = f"curl exited with {returncode}, its write-out says {out.exitcode}"
        return out
    try:
        raw = json.loads(header_json) if header_json.strip() else {}
    except json.JSONDecodeError:
        out.problem = "write-out headers are not JSON"
        return out
    if not isinstance(raw, dict):
        out.problem = "write-out headers are not a JSON object"
        return out
    out.headers = {str(k).lower(): str(v[-1] if isinstance(v, list) and v else v) for k, v in raw.items()}
    return out


def tried_addresses(verbose: str) -> list[str]:
    """The addresses curl tried, in order, from its verbose log: `Trying [2001:db8::1]:443...`
    (curl >= 7.78 brackets IPv6) or `Trying 2001:db8::1:443...` / `Trying 192.0.2.1:80...`."""
    import ipaddress

    out = []
    for hostport in TRYING.findall(verbose):
        if hostport.startswith("["):
            host = hostport[1:].partition("]")[0]
        else:
            host = hostport.rpartition(":")[0] or hostport
        try:
            out.append(str(ipaddress.ip_address(host)))
        except ValueError:
            continue
    return list(dict.fromkeys(out))
