"""Endpoint URLs a review accepts beyond http(s): ws://, wss:// and tcp://HOST:PORT.

Each is held to the same rules as an http(s) URL (labsim.scenario.fields.http_url: no
option-like start, no whitespace or control characters, no curl globs, a real host, no scope
id) by checking its http(s) twin; a tcp:// URL needs a port and carries nothing but an
optional trailing '/'.

Also what a URL found by `--follow` may not lead to when the lab has an uplink (BLOCKED).
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from labsim.scenario import fields

TWIN = {"ws": "http", "wss": "https", "tcp": "http"}


def endpoint_url(v: object) -> str:
    if not isinstance(v, str):
        return fields.http_url(v)  # its own error for a non-string
    scheme, sep, rest = v.partition("://")
    kind = scheme.lower()
    if not sep or kind not in TWIN:
        try:
            return fields.http_url(v)
        except ValueError as exc:
            if "only http" in str(exc):
                raise ValueError("only http://, https://, ws://, wss:// and tcp://HOST:PORT endpoints "
                                 "can be reviewed") from None
            raise
    fields.http_url(f"{TWIN[kind]}://{rest}")
    if kind == "tcp":
        u = urlsplit(v)
        if u.port is None:
            raise ValueError("tcp:// needs a port (tcp://HOST:PORT)")
        if u.path not in ("", "/") or u.query or u.fragment or u.username or u.password:
            raise ValueError("a tcp:// endpoint is tcp://HOST:PORT and nothing more")
    return v


# -- where a URL found by --follow may not lead (with an uplink) -----------------------------
# Checked in order, so the most telling name wins (the metadata addresses before link-local
# and private). A review's uplink leaves from this host: these are the host itself, the
# user's own networks and the cloud's instance metadata, not the app's servers.
BLOCKED: tuple[tuple[str, IPv4Network | IPv6Network], ...] = tuple(
    (kind, ip_network(net)) for kind, net in (
        ("metadata", "169.254.169.254/32"), ("metadata", "fd00:ec2::254/128"),
        ("loopback", "127.0.0.0/8"), ("loopback", "::1/128"),
        ("unspecified", "0.0.0.0/8"), ("unspecified", "::/128"),
        ("link-local", "169.254.0.0/16"), ("link-local", "fe80::/10"),
        ("private", "10.0.0.0/8"), ("private", "172.16.0.0/12"), ("private", "192.168.0.0/16"),
        ("private", "100.64.0.0/10"), ("private", "fc00::/7"), ("private", "fec0::/10"),
        ("multicast", "224.0.0.0/4"), ("multicast", "ff00::/8"),
        ("reserved", "240.0.0.0/4"),  # 255.255.255.255 (broadcast) included
    ))
# IPv6 forms that carry an IPv4 address a packet ends up at: mapped (::ffff:a.b.c.d) and the
# well-known NAT64 prefix (the lab's own prefix is given by the caller)
WELL_KNOWN_NAT64 = IPv6Network("64:ff9b::/96")
NUMERIC_V4 = re.compile(r"^[0-9a-fx.]+$", re.I)


def literal_address(host: str) -> IPv4Address | IPv6Address | None:
    """`host` as the address curl connects to, when it is one: IPv6 (a zone dropped), dotted
    IPv4, and the forms inet_aton also takes (127.1, 2130706433, 0x7f.0.0.1), which curl
    passes to getaddrinfo as addresses, not names."""
    h = host.strip("[]").split("%")[0]
    try:
        return ip_address(h)
    except ValueError:
        pass
    if NUMERIC_V4.match(h) and any(c.isdigit() for c in h):
        try:
            return IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def blocked_kind(addr: IPv4Address | IPv6Address, nat64: tuple[IPv6Network, ...] = (),
                 own: tuple[IPv4Network | IPv6Network, ...] = ()) -> tuple[str, str] | None:
    """(kind, why) when `addr` is no place to send a request found by --follow, else None.
    `own`: the lab's own prefixes (a packet there stays in the lab); `nat64`: prefixes whose
    addresses are judged by the IPv4 address they embed (where the packet goes after NAT64)."""
    if any(addr.version == net.version and addr in net for net in own):
        return None
    shown = str(addr)
    if isinstance(addr, IPv6Address):
        inner: IPv4Address | None = addr.ipv4_mapped
        if inner is None:
            pfx = next((p for p in (*nat64, WELL_KNOWN_NAT64) if addr in p), None)
            inner = IPv4Address(int(addr) & 0xFFFFFFFF) if pfx is not None else None
        if inner is not None:
            got = blocked_kind(inner, (), own)
            return (got[0], f"{shown} carries {got[1]}") if got else None
    for kind, net in BLOCKED:
        if addr.version == net.version and addr in net:
            what = "the cloud metadata address" if kind == "metadata" else f"{kind} ({net})"
            return kind, f"{shown}, {what}"
    return None


# -- one resource, one URL (RFC 3986 §6.2.2 syntax-based, §6.2.3 scheme-based) ---------------
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_PCT = re.compile(r"%([0-9a-fA-F]{2})")
# RFC 3986 §2.3: percent-encoded unreserved characters are the characters themselves
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _pct(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()
    return _PCT.sub(one, text)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    out: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("/./") or rest == "/.":
            rest = "/" + rest[3:]
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if out:
                out.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            i = rest.find("/", 1)
            seg, rest = (rest, "") if i < 0 else (rest[:i], rest[i:])
            out.append(seg)
    return "".join(out)


def normalise(url: str) -> str:
    """The form two URLs of one resource share: scheme and host in lower case, a host's
    trailing dot dropped, the scheme's default port dropped, an empty path as "/",
    percent-encoding in upper-case hex (unreserved characters decoded), dot segments
    removed; query kept, fragment dropped (never sent). A URL that does not parse comes back
    as it was."""
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError:
        return url
    scheme = u.scheme.lower()
    host = (u.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if u.username is not None or u.password is not None:
        cred = u.netloc.rpartition("@")[0]
        netloc = f"{_pct(cred)}@{host}"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = remove_dot_segments(_pct(u.path))
    if scheme in DEFAULT_PORTS:
        path = path or "/"
    out = f"{scheme}://{netloc}{path}"
    if u.query or url.split("#", 1)[0].endswith("?"):
        out += "?" + _pct(u.query)
    return out
