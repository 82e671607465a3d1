"""veth/bridge plumbing over netlink, shared by every runtime.

`bridge`, `plug`, `lo_up`, `routes` on `Rtnl`, which sends requests in batches on a plain
netlink socket born inside a namespace (from `/run/netns/NAME` or `/proc/PID/ns/net`), so a
container's namespace is plumbed exactly like a bare one, and no veth is ever created and
then moved (moving costs ~2.5x more: docs/facts.md). ~8 requests a node; through pyroute2's
IPRoute each cost ~1 ms of Python, and importing it ~0.16-0.33 s.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import TYPE_CHECKING

from labsim.errors import RuntimeOpError
from labsim.runtime import nsutil

if TYPE_CHECKING:  # the plan types (pydantic models behind them, ~0.4 s) only for
    # annotations: teardown needs none
    from labsim.model.plan import IfacePlan, RoutePlan

IFA_F_NODAD = 0x02
LOOPBACK_INDEX = 1  # the kernel gives `lo` index 1 in every namespace


# -- batched netlink, for the netns runtime's bring-up ------------------------------------------
# pyroute2's IPRoute spends ~1 ms of Python (an asyncio loop) on each request, its message
# classes ~0.1-0.4 ms to encode one, and importing it ~0.16 s; bring-up makes ~8 requests a
# node. The few messages bring-up needs are plain structs (rtnetlink(7)), packed here and sent
# several to one write on a plain socket; the kernel's acks are read back and checked.
NLMSG_ERROR, RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 2, 16, 18, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x200, 0x400
IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_BR_STP_STATE, IFLA_BR_MCAST_SNOOPING = 5, 23
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_GATEWAY, RTA_TABLE = 1, 5, 15
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
SOL_NETLINK, NETLINK_CAP_ACK = 270, 10
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
RTMGRP_LINK = 0x1  # multicast group: a message for every link change
_HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
Request = tuple[int, int, bytes, str]  # message type, extra flags, body, what it is (for errors)


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr: length, type, payload, padded to 4 bytes."""
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _name(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def ifinfo(index: int = 0, up: bool = False, *attrs: bytes) -> bytes:
    flags = IFF_UP if up else 0
    return _IFINFO.pack(0, 0, index, flags, flags) + b"".join(attrs)


class Rtnl:
    """A NETLINK_ROUTE socket born in one namespace, sending requests in batches."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        # acks carry only the header of the request they answer, not the whole request
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def batch(self, requests: list[Request], timeout: float = 10.0) -> list[bytes]:
        """Send the requests in one write; return the answers to RTM_GET requests. The kernel
        runs them in order; the first failure raises with its `what` and the kernel's reason
        (later ones may fail only because of it)."""
        out, whats, answers = [], {}, []
        for mtype, flags, body, what in requests:
            self._seq += 1
            out.append(_HDR.pack(_HDR.size + len(body), mtype, NLM_F_REQUEST | NLM_F_ACK | flags,
                                 self._seq, 0) + body)
            whats[self._seq] = what
        self.sock.sendall(b"".join(out))
        first_error = None
        pending = set(whats)
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeOpError(f"{whats[min(pending)]}: no answer from the kernel within {timeout:g} s")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            off = 0
            while off + _HDR.size <= len(data):
                length, mtype, _, seq, _ = _HDR.unpack_from(data, off)
                if length < _HDR.size:
                    break
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, off + _HDR.size)
                    pending.discard(seq)
                    if code and first_error is None and seq in whats:
                        first_error = (whats[seq], -code)
                elif seq in whats:
                    answers.append(data[off:off + length])
                off += (length + 3) & ~3
        if first_error:
            what, code = first_error
            raise RuntimeOpError(f"{what}: {os.strerror(code)}")
        return answers

    def index(self, ifname: str, what: str) -> int:
        """The interface index of `ifname` in this namespace."""
        (answer,) = self.batch([(RTM_GETLINK, 0, ifinfo(0, False, _name(IFLA_IFNAME, ifname)), what)])
        return _IFINFO.unpack_from(answer, _HDR.size)[2]


def rtnl_in(path: str) -> Rtnl:
    """A batched netlink socket born in the namespace at `path`."""
    return Rtnl(nsutil.socket_in(path, socket.AF_NETLINK, socket.SOCK_RAW, nsutil.NETLINK_ROUTE))


def link_query(ifname: str, seq: int = 1) -> bytes:
    """An RTM_GETLINK request for one interface by name (no ack: the answer is the link, or
    an error when there is no such interface yet)."""
    body = ifinfo(0, False, _name(IFLA_IFNAME, ifname))
    return _HDR.pack(_HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body


def carrier(data: bytes, ifname: str) -> bool:
    """True if the netlink messages in `data` (answers or RTMGRP_LINK notifications) show
    `ifname` with its carrier up (IFF_LOWER_UP: a TUN device's is up while a process has
    it open)."""
    off = 0
    while off + _HDR.size <= len(data):
        length, mtype, _, _, _ = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        if mtype == RTM_NEWLINK and length >= _HDR.size + _IFINFO.size:
            flags = _IFINFO.unpack_from(data, off + _HDR.size)[3]
            at, end = off + _HDR.size + _IFINFO.size, off + length
            while at + 4 <= end:
                size, kind = struct.unpack_from("=HH", data, at)
                if size < 4:
                    break
                if kind == IFLA_IFNAME and data[at + 4:at + size].rstrip(b"\0") == ifname.encode():
                    if flags & IFF_LOWER_UP:
                        return True
                at += (size + 3) & ~3
        off += (length + 3) & ~3
    return False


def bridge(hub: Rtnl, name: str) -> int:
    """Create `name`, STP and multicast snooping off, then set it up; return its index."""
    # STP off: ports forward at once. Multicast snooping off: NDP must flood.
    data = _u32(IFLA_BR_STP_STATE, 0) + attr(IFLA_BR_MCAST_SNOOPING, b"\0")
    info = attr(IFLA_LINKINFO, _name(IFLA_INFO_KIND, "bridge") + attr(IFLA_INFO_DATA, data))
    what = f"bridge {name}"
    hub.batch([(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfo(0, False, _name(IFLA_IFNAME, name), info), what),
               (RTM_NEWLINK, 0, ifinfo(0, True, _name(IFLA_IFNAME, name)), what)])
    return hub.index(name, what)


def plug(node: Rtnl, node_fd: int, hub: Rtnl, iface: IfacePlan, bridge_index: int) -> None:
    """One veth: born in the hub as a port of the bridge, its peer placed directly in the
    node's namespace; then the node side's addresses and `up` in one batch, then the hub
    side `up` (in this order, as one request each way before: the bridge sees a port that
    has carrier at once). The peer cannot be born up: it has no peer yet then (ENOTCONN)."""
    what = f"link {iface.ifname} ({iface.network})"
    # a link's own MTU on both ends alike: the bridge forwards what the link carries
    mtu = (_u32(IFLA_MTU, iface.mtu),) if iface.mtu is not None else ()
    peer = ifinfo(0, False, _name(IFLA_IFNAME, iface.ifname), _u32(IFLA_NET_NS_FD, node_fd), *mtu)
    info = attr(IFLA_LINKINFO, _name(IFLA_INFO_KIND, "veth")
                + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer)))
    hub.batch([(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                ifinfo(0, False, _name(IFLA_IFNAME, iface.peer), *mtu, _u32(IFLA_MASTER, bridge_index), info),
                what)])
    idx = node.index(iface.ifname, what)
    reqs: list[Request] = []
    for ifa in (iface.ipv6, iface.ipv4):
        if ifa is not None:
            family = socket.AF_INET6 if ifa.version == 6 else socket.AF_INET
            # nodad: the address is usable at once, no 1-2 s DAD wait
            body = _IFADDR.pack(family, ifa.network.prefixlen, IFA_F_NODAD if ifa.version == 6 else 0,
                                RT_SCOPE_UNIVERSE, idx) + attr(IFA_ADDRESS, ifa.ip.packed)
            if ifa.version == 4:  # as `ip addr add` and pyroute2 send it: IPv4 also names the local address
                body += attr(IFA_LOCAL, ifa.ip.packed)
            reqs.append((RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, what))
    node.batch(reqs + [(RTM_NEWLINK, 0, ifinfo(idx, True), what)])
    hub.batch([(RTM_NEWLINK, 0, ifinfo(0, True, _name(IFLA_IFNAME, iface.peer)),
                f"attach {iface.peer} to bridge {iface.network}")])


def lo_up(node: Rtnl) -> None:
    node.batch([(RTM_NEWLINK, 0, ifinfo(LOOPBACK_INDEX, True), "loopback up")])


def routes(node: Rtnl, plan: list[RoutePlan]) -> None:
    reqs: list[Request] = []
    for r in plan:
        family = socket.AF_INET6 if r.dst.version == 6 else socket.AF_INET
        body = (_RTMSG.pack(family, r.dst.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE,
                            RTN_UNICAST, 0)
                + _u32(RTA_TABLE, RT_TABLE_MAIN) + attr(RTA_DST, r.dst.network_address.packed)
                + attr(RTA_GATEWAY, r.via.packed))
        # replace, not add: re-installing the plan (after links come back up) is a no-op
        reqs.append((RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body, f"route {r.dst} via {r.via}"))
    if reqs:
        node.batch(reqs)
