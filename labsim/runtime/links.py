"""veth/bridge plumbing over netlink, shared by every runtime.

Everything here works on IPRoute handles opened inside a namespace (`nsutil.iproute_in`,
from `/run/netns/NAME` or `/proc/PID/ns/net`), so a container's namespace is plumbed exactly
like a bare one. Each veth is born inside the node's namespace with its peer placed
directly in the hub: no create-then-move (FACTS.md: moving costs ~2.5x more per node).
"""

from __future__ import annotations

import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..errors import RuntimeOpError
from ..model.plan import IfacePlan, RoutePlan

IFA_F_NODAD = 0x02


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
        if iface.mtu is not None:
            node.link("set", index=idx, mtu=iface.mtu)
        node.link("set", index=idx, state="up")
    except NetlinkError as exc:
        raise _fail(f"link {iface.ifname} ({iface.network})", exc) from exc
    try:
        peer = hub.link_lookup(ifname=iface.peer)[0]
        master = hub.link_lookup(ifname=bridge)[0]
        if iface.mtu is not None:  # both ends alike: the bridge forwards what the link carries
            hub.link("set", index=peer, mtu=iface.mtu)
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
