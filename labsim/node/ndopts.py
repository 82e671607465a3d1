"""Router-advertisement options a host learns from: RDNSS, DNSSL (RFC 8106) and PREF64
(RFC 8781), as the kernel hands them to user space over netlink (RTM_NEWNDUSEROPT).

The kernel configures SLAAC addresses and routes itself, but passes these options on as
they are, one per message, to listeners on the RTNLGRP_ND_USEROPT group; it never writes
resolv.conf. Standard library only (this runs inside nodes, on the image's python3 too).
Every parser takes untrusted bytes and raises ValueError on anything malformed.

    nlmsghdr (16) | nduseroptmsg (16) | the ND option (opts_len bytes) | rtattrs (source)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

# mypy reads any name `TYPE_CHECKING` as true; in the node `typing` is never imported (start-up cost)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RTM_NEWNDUSEROPT = 68
RTNLGRP_ND_USEROPT = 20
NDUSEROPT_SRCADDR = 1
ND_RDNSS, ND_DNSSL, ND_PREF64 = 25, 31, 38
ICMPV6_ROUTER_ADVERT = 134
# RFC 8781 §4: the Prefix Length Code -> prefix length
PLC_LENGTH = {0: 96, 1: 64, 2: 56, 3: 48, 4: 40, 5: 32}
LENGTH_PLC = {v: k for k, v in PLC_LENGTH.items()}
PREF64_LINK_LOCAL = IPv6Address("fe80::64")  # the router's second address, PREF64 RAs only

NLMSG = struct.Struct("=IHHII")
USEROPT = struct.Struct("=BBHiBBHI")


@dataclass(frozen=True)
class Rdnss:
    lifetime: int
    servers: tuple[IPv6Address, ...]


@dataclass(frozen=True)
class Dnssl:
    lifetime: int
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Pref64:
    lifetime: int  # seconds (the scaled lifetime times 8); 0 withdraws the prefix
    prefix: IPv6Network


Option = Rdnss | Dnssl | Pref64


@dataclass
class UserOpt:
    ifindex: int
    option: Option | None  # None: an option type we do not read
    source: IPv6Address | None = None
    raw_type: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def parse_option(data: bytes) -> Option | None:
    """One ND option (type, length in 8-octet units, body)."""
    if len(data) < 8:
        raise ValueError(f"an ND option is at least 8 bytes, got {len(data)}")
    otype, olen = data[0], data[1]
    if olen == 0 or olen * 8 > len(data):
        raise ValueError(f"ND option type {otype}: length {olen} does not fit {len(data)} bytes")
    body = data[: olen * 8]
    if otype == ND_RDNSS:
        if olen < 3 or (olen - 1) % 2:
            raise ValueError(f"RDNSS length {olen}: must be 1 + 2 per address, at least one")
        lifetime = struct.unpack_from("!I", body, 4)[0]
        servers = tuple(IPv6Address(body[i:i + 16]) for i in range(8, olen * 8, 16))
        return Rdnss(lifetime, servers)
    if otype == ND_DNSSL:
        lifetime = struct.unpack_from("!I", body, 4)[0]
        return Dnssl(lifetime, tuple(_domains(body[8:])))
    if otype == ND_PREF64:
        if olen != 2:
            raise ValueError(f"PREF64 length {olen}: must be 2 (RFC 8781 §4)")
        word = struct.unpack_from("!H", body, 2)[0]
        plc = word & 0x7
        if plc not in PLC_LENGTH:
            raise ValueError(f"PREF64 prefix length code {plc} is not defined (RFC 8781 §4)")
        length = PLC_LENGTH[plc]
        raw = int.from_bytes(body[4:16] + bytes(4), "big")
        raw &= ((1 << length) - 1) << (128 - length)  # bits past the length are ignored
        return Pref64((word >> 3) * 8, IPv6Network((raw, length)))
    return None


def _domains(data: bytes) -> list[str]:
    """DNS wire-format names, back to back, ending in zero padding (RFC 8106 §5.2)."""
    out, i = [], 0
    while i < len(data) and data[i] != 0:
        labels = []
        while True:
            if i >= len(data):
                raise ValueError("DNSSL: a domain name runs past the option")
            n = data[i]
            i += 1
            if n == 0:
                break
            if n > 63 or i + n > len(data):
                raise ValueError(f"DNSSL: bad label length {n}")
            label = data[i:i + n].decode("ascii")
            if not label or any(not (c.isalnum() or c in "-_") for c in label):
                raise ValueError(f"DNSSL: label {label!r} is not a host name label")
            labels.append(label.lower())
            i += n
        out.append(".".join(labels))
    return out


def parse_messages(buf: bytes) -> list[UserOpt]:
    """Every RTM_NEWNDUSEROPT in one netlink datagram; other message types are skipped."""
    out, off = [], 0
    while off + NLMSG.size <= len(buf):
        length, mtype, _flags, _seq, _pid = NLMSG.unpack_from(buf, off)
        if length < NLMSG.size or off + length > len(buf):
            raise ValueError(f"netlink message length {length} at {off} does not fit {len(buf)}")
        if mtype == RTM_NEWNDUSEROPT:
            out.append(_useropt(buf[off + NLMSG.size: off + length]))
        off += (length + 3) & ~3
    return out


def _useropt(msg: bytes) -> UserOpt:
    if len(msg) < USEROPT.size:
        raise ValueError("nduseroptmsg too short")
    _fam, _p1, opts_len, ifindex, icmp_type, _code, _p2, _p3 = USEROPT.unpack_from(msg)
    opts = msg[USEROPT.size: USEROPT.size + opts_len]
    if len(opts) != opts_len:
        raise ValueError(f"nduseroptmsg says {opts_len} option bytes, has {len(opts)}")
    opt = parse_option(opts) if icmp_type == ICMPV6_ROUTER_ADVERT else None
    src = None
    off = USEROPT.size + ((opts_len + 3) & ~3)
    while off + 4 <= len(msg):
        alen, atype = struct.unpack_from("=HH", msg, off)
        if alen < 4:
            break
        if atype == NDUSEROPT_SRCADDR and alen >= 20:
            src = IPv6Address(msg[off + 4: off + 20])
        off += (alen + 3) & ~3
    return UserOpt(ifindex, opt, src, opts[0] if opts else 0)


def encode_pref64(prefix: IPv6Network, lifetime: int) -> bytes:
    """The PREF64 option for `prefix` (RFC 8781 §4); lifetime rounded up to 8 s units."""
    if prefix.prefixlen not in LENGTH_PLC:
        raise ValueError(f"PREF64 carries /96, /64, /56, /48, /40 or /32, not /{prefix.prefixlen}")
    scaled = min((lifetime + 7) // 8, 0x1FFF)
    return struct.pack("!BBH", ND_PREF64, 2, scaled << 3 | LENGTH_PLC[prefix.prefixlen]) \
        + prefix.network_address.packed[:12]


def pref64_ra(prefix: IPv6Network, lifetime: int, managed: bool, other: bool) -> bytes:
    """An ICMPv6 router advertisement carrying only PREF64 (the kernel fills in the
    checksum): router lifetime 0 (not a default router), hop limit, reachable and retrans
    times unspecified, and the M/O flags of the network's other RAs, which hosts would
    otherwise overwrite with this RA's."""
    flags = (0x80 if managed else 0) | (0x40 if other else 0)
    return struct.pack("!BBHBBHII", ICMPV6_ROUTER_ADVERT, 0, 0, 0, flags, 0, 0, 0) \
        + encode_pref64(prefix, lifetime)
