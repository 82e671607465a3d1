"""Typed strings for what scenario and review inputs carry to a command line or a zone:
DNS names, addresses without a scope id, http(s) URLs curl cannot read as an option, HTTP
header names and values, methods, cookie pairs, `--connect-to` specs, record values. Each
is a pydantic annotated type, so a bad value fails at load time with its file and line.

DNS names, addresses, header names and values and record values are the topology model's
own (labsim/model/types.py), so a name or an address means the same in both files; what is
here is what only scenarios and reviews carry (URLs for curl, methods, cookies, bodies).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

from labsim.model import types as t

TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")  # RFC 9110 token
COOKIE_OCTETS = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{0,4096}$")  # RFC 6265
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PORT = r"(?:\d{1,5})?"
CONNECT_HOST = r"(?:[A-Za-z0-9_.-]{0,253}|\[[0-9A-Fa-f:.]{2,45}\])"
CONNECT_TO = re.compile(rf"^{CONNECT_HOST}:{PORT}:{CONNECT_HOST}:{PORT}$")
URL_SCHEMES = ("http", "https")
MAX_URL = 2048


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {type(v).__name__}")
    return v


def dns_name(v: object) -> str:
    """An RFC 1035 name (underscores allowed, as in _dmarc); non-ASCII labels go through IDNA.
    The topology's check; the value is kept as written (a check asks for what it was given)."""
    t.dns_name(_str(v))
    return v  # type: ignore[return-value]


def address(v: object) -> str:
    """An IPv4 or IPv6 address, no scope id (`fe80::1%eth0` would carry text into configs)."""
    s = _str(v)
    if "%" in s:
        raise ValueError("an address with a scope id ('%...') is not accepted")
    try:
        return t.ip_literal(s)
    except ValueError:
        raise ValueError("not an IPv4 or IPv6 address") from None


def no_scope(v: object) -> object:
    """Before an ipaddress type: refuse a scope id, which ipaddress keeps and prints back."""
    if isinstance(v, str) and "%" in v:
        raise ValueError("an address with a scope id ('%...') is not accepted")
    return v


def prefix(v: object) -> str:
    s = _str(v)
    if "%" in s:
        raise ValueError("an address with a scope id ('%...') is not accepted")
    try:
        return str(ipaddress.ip_network(s, strict=False))
    except ValueError:
        raise ValueError("not an address or prefix") from None


def host(v: object) -> str:
    """A node name, a DNS name or an address literal."""
    s = _str(v)
    try:
        return address(s)
    except ValueError:
        pass
    try:
        return dns_name(s)
    except ValueError:
        raise ValueError("neither a node, a DNS name nor an address") from None


def address_or_node(v: object) -> str:
    return t.node_or_address(_str(v))  # a node name: the cross check says whether it exists


def prefix_or_node(v: object) -> str:
    s = _str(v)
    if t.NODE_NAME.fullmatch(s):
        return s
    return prefix(s)


def http_url(v: object) -> str:
    """An absolute http(s) URL: curl never reads it as an option or a glob, it holds no
    whitespace or control characters and urllib finds a host in it."""
    s = _str(v)
    if len(s) > MAX_URL:
        raise ValueError(f"a URL has at most {MAX_URL} characters")
    if s.startswith("-"):
        raise ValueError("curl would read this as an option, not a URL")
    if CONTROL.search(s) or re.search(r"\s", s):
        raise ValueError("a URL holds no whitespace or control characters")
    try:
        parts = urlsplit(s)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    rest = s[s.index(parts.netloc) + len(parts.netloc):] if parts.netloc else s
    if re.search(r"[{}\[\]]", rest) or re.search(r"[{}]", parts.netloc):
        # curl expands {a,b} and [1-100] into many requests; RFC 3986 wants them %-encoded
        raise ValueError("'{', '}', '[' and ']' must be %-encoded (curl reads them as a URL glob)")
    if parts.scheme.lower() not in URL_SCHEMES:
        raise ValueError("only http:// and https:// URLs are supported")
    if not parts.hostname:
        raise ValueError("a URL needs a host")
    if "%" in parts.hostname:
        raise ValueError("an address with a scope id ('%...') is not accepted")
    try:
        host(parts.hostname)
    except ValueError:
        raise ValueError(f"host {parts.hostname!r} is neither a DNS name nor an address") from None
    return s


header_name = t.header_name
header_value = t.header_value


def method(v: object) -> str:
    s = _str(v)
    if not TOKEN.fullmatch(s) or len(s) > 20:
        raise ValueError("an HTTP method is a token such as GET, POST or PROPFIND")
    return s


def cookie_value(v: object) -> str:
    s = _str(v)
    if not COOKIE_OCTETS.fullmatch(s):
        raise ValueError("a cookie value holds no spaces, ';', ',', quotes, '\\\\' "
                         "or control characters")
    return s


def connect_to(v: object) -> str:
    s = _str(v)
    if not CONNECT_TO.fullmatch(s):
        raise ValueError("expected HOST1:PORT1:HOST2:PORT2 (names, addresses in [], ports)")
    return s


def body(v: object) -> str:
    """A literal request body. curl's `--data-binary @FILE` reads a host file, so a body
    starting with '@' is refused: send a file with `data_file:` instead."""
    s = _str(v)
    if s.startswith("@"):
        raise ValueError("a body starting with '@' would make curl read a file on the host; "
                         "use data_file: (relative to the scenario) to send a file")
    if "\x00" in s:
        raise ValueError("a body cannot hold a NUL byte")
    if len(s.encode()) > MAX_BODY:
        raise ValueError(f"a body has at most {MAX_BODY} bytes")
    return s


MAX_BODY = 64 * 1024  # it travels in curl's argv (one argument is capped at 128 KiB)


def label_text(v: object) -> str:
    """Free text shown in reports (step names): one line, no control characters."""
    s = _str(v)
    if len(s) > 200 or CONTROL.search(s):
        raise ValueError("one line of up to 200 characters, no control characters")
    return s


def description(v: object) -> str:
    s = _str(v)
    if len(s) > 4000 or CONTROL.search(s.replace("\n", "").replace("\t", "")):
        raise ValueError("up to 4000 characters, no control characters other than newlines")
    return s


def file_name(v: object) -> str:
    """A path to a file: one line, no control characters, at most 4096 bytes."""
    s = _str(v)
    if not s or len(s.encode()) > 4096 or CONTROL.search(s):
        raise ValueError("a file name is 1-4096 bytes without control characters")
    return s


def rdtype(v: object) -> str:
    import dns.rdatatype

    s = _str(v)
    try:
        dns.rdatatype.from_text(s)
    except Exception:  # dnspython raises its own UnknownRdatatype
        raise ValueError("not a DNS record type") from None
    if not re.fullmatch(r"[A-Za-z0-9]{1,16}", s):
        raise ValueError("not a DNS record type")
    return s.upper()


def name_template(v: object) -> str:
    """A DNS name that may hold the `{i}` and `{run}` placeholders."""
    s = _str(v)
    dns_name(s.replace("{i}", "0").replace("{run}", "r0"))
    return s


Str = BeforeValidator(_str)
DnsName = Annotated[str, Str, AfterValidator(dns_name)]
Address = Annotated[str, Str, AfterValidator(address)]
Host = Annotated[str, Str, AfterValidator(host)]
AddressOrNode = Annotated[str, Str, AfterValidator(address_or_node)]
PrefixOrNode = Annotated[str, Str, AfterValidator(prefix_or_node)]
HttpUrl = Annotated[str, Str, AfterValidator(http_url)]
HeaderName = Annotated[str, Str, AfterValidator(header_name)]
HeaderValue = Annotated[str, Str, AfterValidator(header_value)]
Method = Annotated[str, Str, AfterValidator(method)]
CookieName = HeaderName
CookieValue = Annotated[str, Str, AfterValidator(cookie_value)]
ConnectTo = Annotated[str, Str, AfterValidator(connect_to)]
Body = Annotated[str, Str, AfterValidator(body)]
LabelText = Annotated[str, Str, AfterValidator(label_text)]
FileName = Annotated[str, Str, AfterValidator(file_name)]
Description = Annotated[str, Str, AfterValidator(description)]
RdType = Annotated[str, Str, AfterValidator(rdtype)]
NameTemplate = Annotated[str, Str, AfterValidator(name_template)]
ServiceName = Annotated[str, Str, AfterValidator(lambda s: s if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", s)
                                                 else _bad(s, "a service name is a short lowercase word"))]


def _bad(s: str, why: str):
    raise ValueError(why)
