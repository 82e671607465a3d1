"""Docker-network mode: a topology network with `docker:` is a Docker bridge network
(labelled labsim.lab) instead of a bridge in the hub. Docker attaches its members at
container start (so at most one such network per node); without IPv6 there, Docker gives
them no IPv6 address, as in production (catalog row 10)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from labsim.errors import InputError, RuntimeOpError
from labsim.model.plan import IfacePlan
from labsim.runtime import links
from labsim.runtime.docker.client import LABEL_LAB, docker_client, docker_sdk, op_error
from labsim.runtime.netns import ns_prefix
from labsim.runtime.state import valid_lab


@dataclass(frozen=True)
class DockerNet:
    """A topology network run as a Docker bridge network."""

    network: str
    docker_name: str  # ls-<lab>_<network>
    enable_ipv6: bool
    ipv4: IPv4Network | None
    ipv6: IPv6Network | None


def plan_networks(plan, hub: str, networks: dict[str, dict]) -> tuple[dict[str, DockerNet], dict[str, IfacePlan]]:
    """`{net: {"enable_ipv6": b}}` -> (bridge -> DockerNet, node -> its iface on one)."""
    dnets = {}
    for net, opts in networks.items():
        spec = plan.topology.networks[net]
        dnets[plan.bridges[net]] = DockerNet(
            net, f"{hub}_{net}", bool(opts.get("enable_ipv6", True)), spec.ipv4, spec.ipv6)
    by_net = {d.network: d for d in dnets.values()}
    attach = {}
    for node in plan.nodes.values():
        on = [i for i in node.ifaces if i.network in by_net]
        if len(on) > 1:
            raise InputError(f"node {node.name!r}: on {len(on)} Docker networks "
                             f"({', '.join(i.network for i in on)}); the docker runtime "
                             f"attaches a node to one at most")
        if on:
            attach[node.name] = on[0]
    return dnets, attach


def create(cli, d: DockerNet, lab: str) -> None:
    docker = docker_sdk()
    pools = []
    for prefix, on in ((d.ipv4, True), (d.ipv6, d.enable_ipv6)):
        if prefix is not None and on:
            # the host's end of the bridge: the prefix's last address, far from planned ones
            pools.append(docker.types.IPAMPool(subnet=str(prefix), gateway=str(prefix[-2])))
    try:
        cli.networks.create(
            d.docker_name, driver="bridge", internal=True, enable_ipv6=d.enable_ipv6 and d.ipv6 is not None,
            ipam=docker.types.IPAMConfig(pool_configs=pools), labels={LABEL_LAB: lab})
    except docker.errors.DockerException as exc:
        raise op_error(f"network {d.network}: creating Docker network {d.docker_name}", exc) from exc


def fix_iface(ipr, node: str, iface: IfacePlan, d: DockerNet) -> None:
    """Docker's eth0 on the node's Docker network: the planned name, the planned addresses
    only, and no default routes of Docker's (the lab's routes apply)."""
    try:
        idx = ipr.link_lookup(ifname="eth0")[0]
        for fam in (socket.AF_INET, socket.AF_INET6):
            for r in ipr.get_routes(family=fam, dst_len=0, oif=idx):
                if r.get_attr("RTA_GATEWAY"):
                    ipr.route("del", family=fam, dst_len=0, gateway=r.get_attr("RTA_GATEWAY"), oif=idx)
        if iface.ifname != "eth0":
            ipr.link("set", index=idx, state="down")
            ipr.link("set", index=idx, ifname=iface.ifname)
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx)}
        for ifa in (iface.ipv4, iface.ipv6 if d.enable_ipv6 else None):
            if ifa is not None and str(ifa.ip) not in have:
                ipr.addr("add", index=idx, address=str(ifa.ip), prefixlen=ifa.network.prefixlen,
                         flags=links.IFA_F_NODAD if ifa.version == 6 else 0)
        ipr.link("set", index=idx, state="up")
    except Exception as exc:  # NetlinkError, a missing eth0
        raise RuntimeOpError(f"node {node}: Docker network {d.docker_name} interface: {exc}") from exc


def remove_networks(lab: str, cli=None) -> list[str]:
    """Remove the lab's Docker networks (label labsim.lab; after its containers)."""
    docker = docker_sdk()
    cli = cli or docker_client()
    removed = []
    for net in cli.networks.list(filters={"label": f"{LABEL_LAB}={lab}"}):
        if not (valid_lab(lab) and net.name.startswith(ns_prefix(lab) + "_")):
            continue  # labelled for the lab but not named by labsim: not ours to remove
        try:
            net.remove()
            removed.append(f"network {net.name}")
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise op_error(f"lab {lab}: removing Docker network {net.name}", exc) from exc
    return removed
