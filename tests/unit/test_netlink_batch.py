"""The netns runtime's batched netlink: what goes on the wire, decoded with pyroute2's own
parsers (the library the messages used to be built with), and how the kernel's errors come
back. A fake kernel socket acks every request (or fails the ones asked to)."""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from labsim.errors import RuntimeOpError
from labsim.model.plan import IfacePlan, RoutePlan
from labsim.runtime import links

HDR = struct.Struct("=IHHII")


class FakeKernel:
    """Stands in for a NETLINK_ROUTE socket: records requests, answers acks, an ifindex for
    RTM_GETLINK, and `fail` (message type -> errno) for the requests to refuse."""

    def __init__(self, fail: dict[int, int] | None = None, index: int = 7):
        self.sent: list[tuple[int, int, bytes]] = []  # type, flags, whole message
        self.fail, self.index, self.replies = fail or {}, index, b""

    def setsockopt(self, *args):
        pass

    def settimeout(self, t):
        pass

    def sendall(self, data: bytes) -> None:
        off = 0
        while off < len(data):
            length, mtype, flags, seq, _ = HDR.unpack_from(data, off)
            self.sent.append((mtype, flags, data[off:off + length]))
            if mtype == links.RTM_GETLINK:
                body = struct.pack("=BxHiII", 0, 0, self.index, 0, 0)
                self.replies += HDR.pack(HDR.size + len(body), links.RTM_NEWLINK, 0, seq, 0) + body
            code = -self.fail.get(mtype, 0)
            self.replies += HDR.pack(HDR.size + 4 + HDR.size, links.NLMSG_ERROR, 0, seq, 0) + \
                struct.pack("=i", code) + data[off:off + HDR.size]
            off += (length + 3) & ~3

    def recv(self, n: int) -> bytes:
        out, self.replies = self.replies, b""
        return out


def decoded(cls, raw: bytes):
    msg = cls(raw)
    msg.decode()
    return msg


IFACE = IfacePlan("eth0", "c1-e0", "lan", ipaddress.IPv6Interface("2001:db8:50::2/64"),
                  ipaddress.IPv4Interface("10.50.0.2/24"))


def test_a_veth_is_born_in_the_hub_on_its_bridge_with_the_peer_in_the_node():
    hub, node = FakeKernel(), FakeKernel(index=2)
    links.plug(links.Rtnl(node), 42, links.Rtnl(hub), IFACE, bridge_index=3)
    mtype, flags, raw = hub.sent[0]
    assert mtype == links.RTM_NEWLINK and flags & links.NLM_F_CREATE and flags & links.NLM_F_EXCL
    veth = decoded(ifinfmsg, raw)
    assert veth.get_attr("IFLA_IFNAME") == "c1-e0" and veth.get_attr("IFLA_MASTER") == 3
    info = veth.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0" and peer.get_attr("IFLA_NET_NS_FD") == 42
    # in the node: the index looked up, both addresses (IPv6 without DAD), then up
    kinds = [m for m, _, _ in node.sent]
    assert kinds == [links.RTM_GETLINK, links.RTM_NEWADDR, links.RTM_NEWADDR, links.RTM_NEWLINK]
    v6, v4 = (decoded(ifaddrmsg, raw) for _, _, raw in node.sent[1:3])
    assert (v6["family"], v6["prefixlen"], v6["index"], v6["flags"]) == (socket.AF_INET6, 64, 2, links.IFA_F_NODAD)
    assert v6.get_attr("IFA_ADDRESS") == "2001:db8:50::2"
    assert (v4["family"], v4["prefixlen"], v4["index"]) == (socket.AF_INET, 24, 2)
    assert v4.get_attr("IFA_ADDRESS") == v4.get_attr("IFA_LOCAL") == "10.50.0.2"
    up = decoded(ifinfmsg, node.sent[3][2])
    assert up["index"] == 2 and up["flags"] & 1 and up["change"] & 1
    hub_up = decoded(ifinfmsg, hub.sent[-1][2])  # the hub side last, by name
    assert hub_up.get_attr("IFLA_IFNAME") == "c1-e0" and hub_up["flags"] & 1


def test_a_bridge_is_made_without_stp_or_snooping_then_set_up():
    hub = FakeKernel(index=5)
    assert links.bridge(links.Rtnl(hub), "lan") == 5
    made = decoded(ifinfmsg, hub.sent[0][2])
    data = made.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert made.get_attr("IFLA_IFNAME") == "lan" and not made["flags"] & 1
    assert data.get_attr("IFLA_BR_STP_STATE") == 0 and data.get_attr("IFLA_BR_MCAST_SNOOPING") == 0
    assert decoded(ifinfmsg, hub.sent[1][2])["flags"] & 1


def test_routes_go_in_one_batch_as_static_replacements():
    node = FakeKernel()
    plan = [RoutePlan(ipaddress.ip_network("2001:db8:51::/64"), ipaddress.ip_address("2001:db8:50::1")),
            RoutePlan(ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_address("10.50.0.1"))]
    links.routes(links.Rtnl(node), plan)
    assert len(node.sent) == 2 and all(f & links.NLM_F_REPLACE for _, f, _ in node.sent)
    r6, r4 = (decoded(rtmsg, raw) for _, _, raw in node.sent)
    assert (r6["dst_len"], r6["table"], r6["proto"], r6["type"]) == (64, 254, 4, 1)
    assert r6.get_attr("RTA_DST") == "2001:db8:51::" and r6.get_attr("RTA_GATEWAY") == "2001:db8:50::1"
    assert r4.get_attr("RTA_DST") == "198.18.0.0" and r4.get_attr("RTA_GATEWAY") == "10.50.0.1"


def test_the_kernel_refusing_says_what_and_why():
    node = FakeKernel(fail={links.RTM_NEWADDR: errno.EEXIST})
    with pytest.raises(RuntimeOpError, match=r"link eth0 \(lan\): File exists"):
        links.plug(links.Rtnl(node), 42, links.Rtnl(FakeKernel()), IFACE, bridge_index=3)
    with pytest.raises(RuntimeOpError, match="route 2001:db8:51::/64 via 2001:db8:50::1: Network is unreachable"):
        links.routes(links.Rtnl(FakeKernel(fail={links.RTM_NEWROUTE: errno.ENETUNREACH})),
                     [RoutePlan(ipaddress.ip_network("2001:db8:51::/64"), ipaddress.ip_address("2001:db8:50::1"))])
