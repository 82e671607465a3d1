"""veth/bridge plumbing over netlink, shared by every runtime.

Two flavours of the same plumbing, both on netlink sockets born inside a namespace (from
`/run/netns/NAME` or `/proc/PID/ns/net`), so a container's namespace is plumbed exactly like
a bare one, and no veth is ever created and then moved (FACTS.md: moving costs ~2.5x more):
- `make_bridge`, `connect`, `loopback_up`, `add_routes` on pyroute2 IPRoute handles (the
  docker runtime);
- `bridge`, `plug`, `lo_up`, `routes` on `Rtnl`, which sends requests in batches on a plain
  socket (the netns runtime's bring-up: ~8 requests a node, ~1 ms each through IPRoute).
"""

from __future__ import annotations

import os
import socket
import struct
import time

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from ..errors import RuntimeOpError
from ..model.plan import IfacePlan, RoutePlan

IFA_F_NODAD = 0x02
LOOPBACK_INDEX = 1  # the kernel gives `lo` index 1 in every namespace


def _fail(what: str, exc: NetlinkError) -> RuntimeOpError:
    return RuntimeOpError(f"{what}: {os.strerror(exc.code) if exc.code else exc}")


def make_bridge(ipr: IPRoute, bridge: str) -> None:
    try:
        # STP off: ports forward at once. Multicast snooping off: NDP must flood.
        ipr.link("add", ifname=bridge, kind="bridge", br_stp_state=0, br_mcast_snooping=0)
        ipr.link("set", index=ipr.link_lookup(ifname=bridge)[0], state="up")
    except NetlinkError as exc:
        raise _fail(f"bridge {bridge}", exc) from exc


def connect(node: IPRoute, hub: IPRoute, hub_fd: int, iface: IfacePlan, bridge: str) -> None:
    try:
        node.link("add", ifname=iface.ifname, kind="veth",
                  peer={"ifname": iface.peer, "net_ns_fd": hub_fd})
        idx = node.link_lookup(ifname=iface.ifname)[0]
        for ifa in (iface.ipv6, iface.ipv4):
            if ifa is not None:
                # nodad: the address is usable at once, no 1-2 s DAD wait
                node.addr("add", index=idx, address=str(ifa.ip), prefixlen=ifa.network.prefixlen,
                          flags=IFA_F_NODAD if ifa.version == 6 else 0)
        node.link("set", index=idx, state="up")
    except NetlinkError as exc:
        raise _fail(f"link {iface.ifname} ({iface.network})", exc) from exc
    try:
        peer = hub.link_lookup(ifname=iface.peer)[0]
        master = hub.link_lookup(ifname=bridge)[0]
        hub.link("set", index=peer, master=master, state="up")
    except (NetlinkError, IndexError) as exc:
        raise RuntimeOpError(f"attach {iface.peer} to bridge {bridge}: {exc}") from exc


def loopback_up(ipr: IPRoute) -> None:
    ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def add_routes(ipr: IPRoute, routes: list[RoutePlan]) -> None:
    for r in routes:
        try:
            # replace, not add: re-installing the plan (after links come back up) is a no-op
            ipr.route("replace", dst=str(r.dst), gateway=str(r.via))
        except NetlinkError as exc:
            raise _fail(f"route {r.dst} via {r.via}", exc) from exc


# -- batched netlink, for the netns runtime's bring-up ------------------------------------------
# pyroute2's IPRoute spends ~1 ms of Python (an asyncio loop) on each request; bring-up makes
# ~8 per node. Here pyroute2 only encodes the messages; they go out several to one sendmsg on a
# plain netlink socket, and the kernel's acks are read back and checked (~50 µs a request).
NLMSG_ERROR, RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 2, 16, 18, 20, 24
SOL_NETLINK, NETLINK_CAP_ACK = 270, 10
IFF_UP = 1
_HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port


class Rtnl:
    """A NETLINK_ROUTE socket born in one namespace, sending requests in batches."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        # acks carry only the header of the request they answer, not the whole request
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def batch(self, requests: list[tuple[object, int, int, str]]) -> list[bytes]:
        """Send (message, type, flags, what) requests in one write; return the answers to
        RTM_GET requests. The kernel runs them in order; the first failure raises with its
        `what` and the kernel's reason (later ones may fail only because of it)."""
        out, whats, answers = [], {}, []
        for msg, mtype, flags, what in requests:
            self._seq += 1
            msg["header"]["type"] = mtype
            msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
            msg["header"]["sequence_number"] = self._seq
            msg.encode()
            out.append(msg.data)
            whats[self._seq] = what
        self.sock.sendall(b"".join(out))
        first_error = None
        pending = set(whats)
        deadline = time.monotonic() + 10
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeOpError(f"netlink: no answer to {whats[min(pending)]} within 10 s")
            self.sock.settimeout(10)
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
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", ifname)]
        (answer,) = self.batch([(msg, RTM_GETLINK, 0, what)])
        return struct.unpack_from("=i", answer, _HDR.size + 4)[0]  # ifinfomsg.ifi_index


def _link(ifname: str, up: bool = True, **fields) -> ifinfmsg:
    msg = ifinfmsg()
    msg["index"] = fields.pop("index", 0)
    msg["flags"] = msg["change"] = IFF_UP if up else 0
    msg["attrs"] = [("IFLA_IFNAME", ifname), *fields.items()]
    return msg


def bridge(hub: Rtnl, name: str) -> int:
    """Create `name`, STP and multicast snooping off, then set it up; return its index."""
    msg = _link(name, up=False, IFLA_LINKINFO={"attrs": [
        ("IFLA_INFO_KIND", "bridge"),
        # STP off: ports forward at once. Multicast snooping off: NDP must flood.
        ("IFLA_INFO_DATA", {"attrs": [("IFLA_BR_STP_STATE", 0), ("IFLA_BR_MCAST_SNOOPING", 0)]})]})
    hub.batch([(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, f"bridge {name}"),
               (_link(name), RTM_NEWLINK, 0, f"bridge {name}")])
    return hub.index(name, f"bridge {name}")


def plug(node: Rtnl, node_fd: int, hub: Rtnl, iface: IfacePlan, bridge_index: int) -> None:
    """One veth: born in the hub as a port of the bridge, its peer placed directly in the
    node's namespace; then the node side's addresses and `up` in one batch, then the hub
    side `up` (in this order, as one request each way before: the bridge sees a port that
    has carrier at once). The peer cannot be born up: it has no peer yet then (ENOTCONN)."""
    what = f"link {iface.ifname} ({iface.network})"
    peer = {"index": 0, "flags": 0, "change": 0,
            "attrs": [("IFLA_IFNAME", iface.ifname), ("IFLA_NET_NS_FD", node_fd)]}
    msg = _link(iface.peer, up=False, IFLA_MASTER=bridge_index, IFLA_LINKINFO={"attrs": [
        ("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]})
    hub.batch([(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, what)])
    idx = node.index(iface.ifname, what)
    addrs = []
    for ifa in (iface.ipv6, iface.ipv4):
        if ifa is not None:
            msg = ifaddrmsg()
            msg["family"] = socket.AF_INET6 if ifa.version == 6 else socket.AF_INET
            msg["prefixlen"] = ifa.network.prefixlen
            msg["index"] = idx
            # nodad: the address is usable at once, no 1-2 s DAD wait
            msg["flags"] = IFA_F_NODAD if ifa.version == 6 else 0
            # as `ip addr add` and pyroute2 send them: IPv4 also names the local address
            msg["attrs"] = [("IFA_ADDRESS", str(ifa.ip))] + ([("IFA_LOCAL", str(ifa.ip))] if ifa.version == 4 else [])
            addrs.append((msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, what))
    node.batch(addrs + [(_link(iface.ifname, index=idx), RTM_NEWLINK, 0, what)])
    hub.batch([(_link(iface.peer), RTM_NEWLINK, 0, f"attach {iface.peer} to bridge {bridge_index}")])


def lo_up(node: Rtnl) -> None:
    node.batch([(_link("lo", index=LOOPBACK_INDEX), RTM_NEWLINK, 0, "loopback up")])


def routes(node: Rtnl, plan: list[RoutePlan]) -> None:
    reqs = []
    for r in plan:
        msg = rtmsg()
        msg["family"] = socket.AF_INET6 if r.dst.version == 6 else socket.AF_INET
        msg["dst_len"] = r.dst.prefixlen
        msg["table"] = 254  # main
        msg["proto"] = 4  # static, as pyroute2 sets it
        msg["scope"] = 0  # universe
        msg["type"] = 1  # unicast
        msg["attrs"] = [("RTA_TABLE", 254), ("RTA_DST", str(r.dst.network_address)),
                        ("RTA_GATEWAY", str(r.via))]
        # replace, not add: re-installing the plan (after links come back up) is a no-op
        reqs.append((msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, f"route {r.dst} via {r.via}"))
    if reqs:
        node.batch(reqs)
