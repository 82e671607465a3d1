"""Typed strings for everything a topology says: checked once, at load time, everywhere.

A topology is data that labsim (as root) writes into zone files, Lua, nginx/haproxy/unbound/
BIND configs, resolv.conf and argv lists. Every string field of the model and of every kind
schema uses one of these annotated types, so a new kind gets the same strictness for free.
The rule is "say what is allowed" (letters, digits, a few separators), never "strip what is
dangerous". Renderers still escape for their format (`labsim.kinds.escape`) as a second line.

Python's `ipaddress` accepts an IPv6 scope id (`fe80::1%anything`) and prints it back
verbatim, so every address and network type here refuses `%` before parsing.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Annotated, Any

import idna
from pydantic import AfterValidator, BeforeValidator, Field

MAX_NAME = 253  # RFC 1035 §2.3.4, presentation form without the final dot
MAX_LABEL = 63
# a label of a DNS name as data (record owners, targets): letters, digits, '-', '_' (SRV,
# DKIM owners); a host name (RFC 1123, certificates, `names`) has no '_'
_DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
NODE_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
NET_NAME = re.compile(r"[a-z][a-z0-9-]{0,14}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u2028\u2029]")


# -- DNS names ------------------------------------------------------------------------------
def _ascii_name(text: Any) -> str:
    """Lower-case ASCII (A-label) form of a name; IDNA for non-ASCII, with a clear error."""
    if not isinstance(text, str):
        raise ValueError("a DNS name is a string")
    if "%" in text and is_ip_literal(text.split("%", 1)[0].strip("[]")):
        raise ValueError("an address with a scope id ('%...') is not accepted")
    name: str = text
    if not name.isascii():
        try:
            name = idna.encode(name.rstrip("."), uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"not a valid internationalized domain name: {exc}") from None
    return name.lower()


def _check_labels(name: str, label: re.Pattern[str], what: str, *, wildcard: bool = False) -> None:
    if not name:
        raise ValueError(f"an empty {what}")
    if len(name) > MAX_NAME:
        raise ValueError(f"a {what} is at most {MAX_NAME} characters ({len(name)} given)")
    labels = name.split(".")
    for i, lab in enumerate(labels):
        if not lab:
            raise ValueError(f"a {what} has no empty labels ('..', or a leading dot)")
        if wildcard and i == 0 and lab == "*":
            continue
        if len(lab) > MAX_LABEL:
            raise ValueError(f"label {lab[:20]!r}... is longer than {MAX_LABEL} characters")
        if not label.fullmatch(lab):
            allowed = ("letters, digits and '-'" if label is _HOST_LABEL else "letters, digits, '-' and '_'")
            raise ValueError(f"label {lab!r} of a {what} may hold only {allowed} "
                             "('-' not first or last)")


def _idna_ok(name: str, what: str) -> None:
    """What trustme and libidn will do with it later must not fail then: check it now."""
    try:
        idna.encode(name.removeprefix("*."), uts46=False)
    except idna.IDNAError as exc:
        raise ValueError(f"{name!r} is not a valid {what}: {exc}") from None


def dns_name(text: Any) -> str:
    """A DNS name as data: lower case, no final dot, labels of letters, digits, '-', '_'."""
    name = _ascii_name(text)
    name = name[:-1] if name.endswith(".") else name
    _check_labels(name, _DNS_LABEL, "DNS name")
    return name


def host_name(text: Any, *, wildcard: bool = False) -> str:
    """An RFC 1123 host name (certificates, `names`): no '_', passes IDNA as trustme uses it."""
    name = _ascii_name(text)
    name = name[:-1] if name.endswith(".") else name
    _check_labels(name, _HOST_LABEL, "host name", wildcard=wildcard)
    _idna_ok(name, "host name")
    return name


def dns_target(text: Any) -> str:
    """A name inside a record's data (CNAME/NS/PTR/MX/SRV): a final dot is kept (absolute);
    without it the name is relative to the zone, as in a zone file."""
    if not isinstance(text, str):
        raise ValueError("a DNS name is a string")
    if text == "@":
        return text
    absolute = text.endswith(".")
    return dns_name(text) + ("." if absolute else "")


def record_owner(text: Any) -> str:
    """A record's owner, relative to its zone: '@' (the apex), a name, or '*'/'*.' wildcard."""
    if not isinstance(text, str):
        raise ValueError("a record name is a string")
    if text == "@" or text == "*":
        return text
    if text.endswith("."):
        raise ValueError(f"{text!r}: a record name is relative to its zone (no final dot); "
                         "'@' is the apex")
    name = _ascii_name(text)
    _check_labels(name, _DNS_LABEL, "record name", wildcard=True)
    return name


DnsName = Annotated[str, AfterValidator(dns_name)]
ZoneName = DnsName
HostName = Annotated[str, AfterValidator(host_name)]
RecordOwner = Annotated[str, AfterValidator(record_owner)]
DnsTarget = Annotated[str, AfterValidator(dns_target)]


# -- addresses ------------------------------------------------------------------------------
def _no_scope(value: Any) -> Any:
    if isinstance(value, str):
        if "%" in value:
            raise ValueError("an address with a scope id ('%...') is not accepted")
        if not value or len(value) > 64 or not re.fullmatch(r"[0-9A-Fa-f:./]+", value):
            raise ValueError("not an IP address or prefix (digits, hex letters, ':', '.', '/')")
    return value


def _scopeless(value: Any) -> Any:
    ip = value.network_address if isinstance(value, (IPv4Network, IPv6Network)) else value
    if getattr(ip, "scope_id", None):
        raise ValueError("an address with a scope id is not accepted")
    return value


_NS = BeforeValidator(_no_scope)
_AS = AfterValidator(_scopeless)
IPv4Addr = Annotated[IPv4Address, _NS, _AS]
IPv6Addr = Annotated[IPv6Address, _NS, _AS]
IPv4Net = Annotated[IPv4Network, _NS, _AS]
IPv6Net = Annotated[IPv6Network, _NS, _AS]


def ip_literal(text: Any) -> str:
    """An IP address as a string, in canonical form (no scope id)."""
    _no_scope(text)
    try:
        return str(ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None


def is_ip_literal(text: str) -> bool:
    try:
        ip_literal(text)
        return True
    except ValueError:
        return False


IPLiteral = Annotated[str, AfterValidator(ip_literal)]


def node_or_address(text: Any) -> str:
    """A node name or an IP literal (canonical), e.g. resolv.conf nameservers, route `via`."""
    if isinstance(text, str) and NODE_NAME.fullmatch(text):
        return text
    try:
        return ip_literal(text)
    except ValueError as exc:
        if isinstance(text, str) and "%" in text:
            raise
        raise ValueError(f"{text!r} is neither a node nor an IP address") from exc


NodeOrAddress = Annotated[str, AfterValidator(node_or_address)]


def route_destination(text: Any) -> str:
    """'default', a prefix (no scope id) or a network name."""
    if text == "default" or (isinstance(text, str) and NET_NAME.fullmatch(text)):
        return str(text)
    try:
        _no_scope(text)
        return str(ip_network(text))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not 'default', a prefix or a network name ({exc})") from None


RouteDestination = Annotated[str, AfterValidator(route_destination)]


def node_address_or_host(text: Any) -> str:
    """A node name, an IP literal, or a host name with a dot (resolved at run time)."""
    if isinstance(text, str) and NODE_NAME.fullmatch(text):
        return text
    if isinstance(text, str) and is_ip_literal(text):
        return ip_literal(text)
    if isinstance(text, str) and "." in text and not re.fullmatch(r"[0-9.]+", text):
        return host_name(text)
    if isinstance(text, str) and "%" in text:
        _ascii_name(text)  # an address with a scope id says so
    raise ValueError(f"{text!r} is neither a node name, an IP address nor a DNS name")


UpstreamRef = Annotated[str, AfterValidator(node_address_or_host)]


def tls_name(text: Any) -> str:
    """A certificate name: a host name (a '*.' wildcard allowed) or an IP literal."""
    if isinstance(text, str) and is_ip_literal(text):
        return ip_literal(text)
    return host_name(text, wildcard=True)


TlsName = Annotated[str, AfterValidator(tls_name)]


def _host_and_port(text: str, port: str | None) -> None:
    if port is not None and not (_u16(port) and int(port) >= 1):
        raise ValueError(f"port {port!r} is not a TCP port (1-65535)")
    if text.startswith("["):
        if not text.endswith("]") or ip_address(ip_literal(text[1:-1])).version != 6:
            raise ValueError(f"{text!r} is not a bracketed IPv6 address")
    elif not NODE_NAME.fullmatch(text) and not is_ip_literal(text):
        host_name(text)


_URL_BASE = re.compile(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[^/:\[\]]+)(?::([^/]*))?/?")


def origin_ref(text: Any) -> str:
    """A CDN origin: `http[s]://host[:port]` (host: DNS name, IP literal in brackets for
    IPv6, or a node name) or a bare node name."""
    if not isinstance(text, str) or len(text) > 300:
        raise ValueError("an origin is a URL base of at most 300 characters")
    if NODE_NAME.fullmatch(text):
        return text
    m = _URL_BASE.fullmatch(text)
    if m is None:
        if "://" not in text and (is_ip_literal(text) or re.fullmatch(r"[A-Za-z0-9.-]+", text)):
            raise ValueError(f"{text!r}: write the origin as a URL, e.g. http://{text}")
        raise ValueError(f"{text!r} is not an origin: http:// or https://host[:port], or a node name "
                         "(the origin is scheme, host and port only; requests keep their own "
                         "path and query)")
    host = m.group(2)
    if not host.startswith("[") and ":" in host:
        raise ValueError(f"{text!r}: an IPv6 origin is written in brackets")
    _host_and_port(host, m.group(3))
    return text


def host_header(text: Any) -> str:
    """A Host header value: a host name or IP literal (IPv6 in brackets), optional :port."""
    if not isinstance(text, str) or len(text) > 260:
        raise ValueError("a Host is a host name with an optional port")
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(.*))?", text)
    try:
        if m is None:
            raise ValueError("bad form")
        _host_and_port(m.group(1), m.group(2))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a host name (with an optional port): {exc}") from None
    return text


OriginRef = Annotated[str, AfterValidator(origin_ref)]
HostHeader = Annotated[str, AfterValidator(host_header)]


# -- resolv.conf ----------------------------------------------------------------------------
RESOLV_OPTION = re.compile(r"[a-z][a-z0-9-]{0,30}(:[0-9]{1,4})?")


def resolv_option(text: Any) -> str:
    if not isinstance(text, str) or not RESOLV_OPTION.fullmatch(text):
        raise ValueError(f"{text!r} must be one word: a resolv.conf option such as 'timeout:1', "
                         "'attempts:2' or 'edns0' (letters, digits, '-', an optional ':N')")
    return text


ResolvOption = Annotated[str, AfterValidator(resolv_option)]
SearchDomain = HostName


# -- HTTP -----------------------------------------------------------------------------------
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # RFC 9110 §5.6.2
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]{0,1023}")  # RFC 3986 path chars


def header_name(text: Any) -> str:
    if not isinstance(text, str) or not _TOKEN.fullmatch(text):
        raise ValueError(f"{text!r} is not an HTTP header name (token characters, 1-64)")
    return text


def header_value(text: Any) -> str:
    if not isinstance(text, str) or len(text) > 4096 or not re.fullmatch(r"[\t\x20-\x7e]*", text):
        raise ValueError("an HTTP header value is printable ASCII (tab allowed), at most 4096 "
                         "characters; no CR, LF or other control characters")
    return text


def url_path(text: Any) -> str:
    if not isinstance(text, str) or not _URL_PATH.fullmatch(text):
        raise ValueError(f"{text!r} is not a URL path: it starts with '/' and holds only URL "
                         "path characters (percent-encode the rest), at most 1024")
    return text


HeaderName = Annotated[str, AfterValidator(header_name)]
HeaderValue = Annotated[str, AfterValidator(header_value)]
UrlPath = Annotated[str, AfterValidator(url_path)]


# -- free text and file names -----------------------------------------------------------------
def text_line(limit: int) -> AfterValidator:
    def check(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"at most {limit} characters ({len(text)} given)")
        if _CONTROL.search(text) or "\n" in text or "\r" in text:
            raise ValueError("control characters (newline, NUL, escape, ...) are not accepted")
        return text
    return AfterValidator(check)


def free_text(limit: int) -> AfterValidator:
    """Text for people (descriptions, bodies): newlines and tabs fine, other controls not."""
    def check(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"at most {limit} characters ({len(text)} given)")
        if _CONTROL.search(text.replace("\r\n", "\n")):
            raise ValueError("control characters other than newline and tab are not accepted")
        return text
    return AfterValidator(check)


Description = Annotated[str, free_text(4096)]
Body = Annotated[str, free_text(65536)]
ArgWord = Annotated[str, text_line(4096)]  # one argv word: passed as is, never to a shell
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[str, text_line(4096)]
# a docker image reference: [registry[:port]/]path[:tag][@sha256:digest]
ImageRef = Annotated[str, Field(pattern=r"^(?:[A-Za-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:[._-]{1,2}[a-z0-9]+)*"
                                        r"(?:/[a-z0-9]+(?:[._-]{1,2}[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                                        r"(?:@sha256:[0-9a-f]{64})?$", max_length=255)]
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def file_name(text: Any) -> str:
    """One path component: no '/', no '..', not hidden, at most 128 characters."""
    if not isinstance(text, str) or not FILE_NAME.fullmatch(text) or ".." in text:
        raise ValueError(f"{text!r} is not a plain file name (letters, digits, '.', '_', '-')")
    return text


FileName = Annotated[str, AfterValidator(file_name)]


def dir_path(text: Any) -> str:
    """A directory: absolute, or relative (to a node's directory); each component a plain
    file name (no '..', no hidden names, no empty components)."""
    if not isinstance(text, str) or len(text) > 1024:
        raise ValueError("a directory path is a string of at most 1024 characters")
    parts = text[1:].split("/") if text.startswith("/") else text.split("/")
    if text != "/" and not all(FILE_NAME.fullmatch(p) and ".." not in p for p in parts):
        raise ValueError(f"{text!r} is not a directory path (plain names joined by '/', no '..')")
    return text


DirPath = Annotated[str, AfterValidator(dir_path)]
# a login name as Debian's adduser accepts it (NAME_REGEX), e.g. postgres, www-data, nobody
UserName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
# a Debian package name (Debian policy 5.6.1)
PackageName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]{1,99}$")]

# -- record data per type (authdns) -----------------------------------------------------------
TXT_MAX = 2048


def txt_text(text: str) -> str:
    """TXT data as text; a value written "quoted" (zone-file habit) loses its quotes."""
    if len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
        text = text[1:-1]
    if len(text) > TXT_MAX or not re.fullmatch(r"[\x20-\x7e]*", text):
        raise ValueError(f"TXT data is printable ASCII text of at most {TXT_MAX} characters "
                         "(no newline, no control characters)")
    return text


def record_value(rtype: str, value: Any) -> str:
    """Check one value of a record of type `rtype` and return its canonical form. A/AAAA are
    IP literals or node names (expanded later)."""
    if not isinstance(value, str):
        raise ValueError(f"a {rtype} value is a string")
    if rtype in ("A", "AAAA"):
        if NODE_NAME.fullmatch(value):
            return value
        try:
            addr = ip_literal(value)
        except ValueError as exc:
            if "%" in value:
                raise ValueError(f"{value!r}: {exc}") from None
            raise ValueError(f"{value!r} is neither an IPv{4 if rtype == 'A' else 6} address "
                             "nor a node") from None
        if (ip_address(addr).version == 4) != (rtype == "A"):
            raise ValueError(f"{value} is not an IPv{4 if rtype == 'A' else 6} address")
        return addr
    if rtype in ("CNAME", "NS", "PTR"):
        return dns_target(value)
    if rtype == "TXT":
        return txt_text(value)
    if rtype == "MX":
        parts = value.split(" ")
        if len(parts) != 2 or not _u16(parts[0]):
            raise ValueError(f"{value!r}: an MX value is 'PREFERENCE TARGET', e.g. '10 mail'")
        return f"{int(parts[0])} {dns_target(parts[1])}"
    if rtype == "SRV":
        parts = value.split(" ")
        if len(parts) != 4 or not all(_u16(p) for p in parts[:3]):
            raise ValueError(f"{value!r}: an SRV value is 'PRIORITY WEIGHT PORT TARGET'")
        return " ".join([*(str(int(p)) for p in parts[:3]), dns_target(parts[3])])
    raise ValueError(f"record type {rtype!r} is not supported")


def _u16(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535
