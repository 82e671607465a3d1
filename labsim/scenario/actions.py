"""Actions: what a scenario does to a running lab between checks. Each returns a short
description of what it did (shown in reports) and raises ActionError when it cannot."""

from __future__ import annotations

from pathlib import Path

from labsim.bringup.impair import UNDROP_SCRIPT, drop_script
from labsim.bringup.lab import spawn_services
from labsim.bringup.labca import LabCA
from labsim.bringup.readiness import wait_ready
from labsim.errors import LabsimError
from labsim.kinds import registry
from labsim.runtime.processes import stop_processes
from labsim.runtime.state import LabState, alive
from labsim.scenario.model import (
    ICMP_CHAINS,
    ClampMss,
    DropAction,
    MoveAddress,
    NodeAction,
    ReissueCert,
    SetPref64,
    SetRecord,
    StartAction,
    StopAction,
    icmp_rules,
    networks_of,
    with_address,
    with_cert_names,
    with_record,
)
from labsim.scenario.session import LabSession


class ActionError(LabsimError):
    exit_code = 3


def _exec(s: LabSession, node: str, argv: list[str]) -> str:
    res = s.runtime.exec(node, argv, timeout=20)
    if res.returncode != 0:
        raise ActionError(f"{node}: {' '.join(argv)}: {res.stderr.decode(errors='replace').strip()}")
    return res.stdout.decode(errors="replace")


def _processes(s: LabSession) -> list[dict]:
    """The lab's daemons as recorded on disk: the runtime records the ones a `start` action
    spawns in the state file, not in the session's copy loaded at bring-up."""
    return LabState.load(s.state.lab).processes


def stop(s: LabSession, a: StopAction) -> str:
    if a.what == "links":
        for iface in s.loaded.plan.nodes[a.node].ifaces:
            _exec(s, a.node, ["ip", "link", "set", "dev", iface.ifname, "down"])
        return f"links of {a.node} down"
    procs = [p for p in _processes(s) if p["node"] == a.node and alive(p["pid"], p.get("start"))
             and a.service in (None, p["service"])]
    stop_processes({p["pid"] for p in procs}, grace_s=2.0)
    return f"stopped {', '.join(p['service'] for p in procs) or 'nothing'} in {a.node}"


def start(s: LabSession, a: StartAction) -> str:
    if a.what == "links":
        node = s.loaded.plan.nodes[a.node]
        for iface in node.ifaces:
            _exec(s, a.node, ["ip", "link", "set", "dev", iface.ifname, "up"])
        s.runtime.add_routes(a.node, list(node.routes))  # link-down flushed its gateway routes
        return f"links of {a.node} up"
    procs = _processes(s)
    running = {p["service"] for p in procs if p["node"] == a.node and alive(p["pid"], p.get("start"))}
    only = {a.service} if a.service else None
    if (only or {p["service"] for p in procs if p["node"] == a.node}) <= running:
        return f"{a.node} already running {', '.join(sorted(running)) or 'nothing'}"
    probes = spawn_services(s.runtime, s.ctx(a.node), s.state, only=only, skip=running)
    waited = wait_ready(s.runtime, probes, 15.0)
    return f"started {a.service or a.node} (ready after {waited:.2f}s)"


def move_address(s: LabSession, a: MoveAddress) -> str:
    plan = s.loaded.plan
    try:
        new_plan, old, new, ifname = with_address(plan, a)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    flags = ["nodad"] if a.to.version == 6 else []
    # old first: deleting a subnet's primary IPv4 address also deletes its secondaries
    _exec(s, a.node, ["ip", "addr", "del", str(old), "dev", ifname])
    _exec(s, a.node, ["ip", "addr", "add", str(new), "dev", ifname, *flags])
    s.runtime.add_routes(a.node, list(plan.nodes[a.node].routes))  # the address's removal flushed them
    s.replace_plan(new_plan)
    zones = s.rerender_zones()
    return f"{a.node} {old.ip} -> {a.to} on {a.network}; reloaded {', '.join(zones) or 'no zones'}"


def set_record(s: LabSession, a: SetRecord) -> str:
    try:
        topo = with_record(s.loaded.plan, a)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    s.replace_plan(topology=topo)
    s.rerender_zones()
    what = a.values if a.values is not None else dict(a.weights or {})
    return f"{a.name} {a.type} -> {what}"


def _nft(s: LabSession, node: str, script: str) -> None:
    res = s.runtime.exec(node, ["nft", "-f", "-"], input=script.encode(), timeout=20)
    if res.returncode != 0:
        raise ActionError(f"{node}: nft: {res.stderr.decode(errors='replace').strip()}")


ICMP_TABLE = "labsim_icmp"  # PMTU errors, apart from `drop`'s own table
MSS_TABLE = "labsim_mss"


def drop_icmp(s: LabSession, a: DropAction) -> str:
    """Drop path-MTU errors in every direction through the node (its own and forwarded), in
    a table of their own, as one nft script (chain names are not nftables keywords)."""
    try:
        rule_lines, rules = icmp_rules(s.loaded.plan, a)
    except ValueError as exc:
        raise ActionError(f"{a.node}: {exc}") from None
    lines = [f"add table inet {ICMP_TABLE}"]
    lines += [f"add chain inet {ICMP_TABLE} {name} {{ type filter hook {hook} priority 0 ; }}"
              for name, hook in ICMP_CHAINS.values()]
    lines += [f"add rule inet {ICMP_TABLE} {line}" for line in rule_lines]
    _nft(s, a.node, "\n".join(lines) + "\n")
    return f"{a.node} drops: " + "; ".join(sorted(set(rules)))


def clamp_mss(s: LabSession, a: ClampMss) -> str:
    reset = f"add table inet {MSS_TABLE}\ndelete table inet {MSS_TABLE}\n"  # no error when absent
    if a.mss is None:
        _nft(s, a.node, reset)
        return f"{a.node} clamps no MSS"
    _nft(s, a.node, reset + f"add table inet {MSS_TABLE}\n"
         f"add chain inet {MSS_TABLE} clamp {{ type filter hook forward priority -150 ; }}\n"
         f"add rule inet {MSS_TABLE} clamp tcp flags syn tcp option maxseg size gt {int(a.mss)} "
         f"tcp option maxseg size set {int(a.mss)} counter\n")
    return f"{a.node} clamps the MSS of forwarded SYNs to {a.mss}"


def drop(s: LabSession, a: DropAction) -> str:
    if a.icmp:
        return drop_icmp(s, a)
    to, source = networks_of(s.loaded.plan, a.to), networks_of(s.loaded.plan, a.source)
    _nft(s, a.node, drop_script(to, source, a.proto, a.port))
    what = " ".join(x for x in (f"to {a.to}" if a.to else "", f"from {a.source}" if a.source else "",
                                a.proto if a.proto != "any" else "", f"port {a.port}" if a.port else "") if x)
    return f"{a.node} drops {what} ({len(to) + len(source)} networks)"


def undrop(s: LabSession, a: NodeAction) -> str:
    _nft(s, a.node, UNDROP_SCRIPT)
    _nft(s, a.node, f"add table inet {ICMP_TABLE}\ndelete table inet {ICMP_TABLE}\n")
    return f"{a.node} drops nothing"


def set_pref64(s: LabSession, a: SetPref64) -> str:
    from labsim.kinds.ra import change_pref64

    try:
        return change_pref64(s.runtime, a.node, a.prefix, a.lifetime)
    except (OSError, ValueError) as exc:
        raise ActionError(f"{a.node}: set_pref64: {exc}") from exc


def reissue_cert(s: LabSession, a: ReissueCert) -> str:
    spec = s.loaded.topology.nodes[a.node]
    try:
        topo = with_cert_names(s.loaded.topology, a)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    s.replace_plan(topology=topo)
    tls = registry.get(spec.kind).tls(s.ctx(a.node))
    if tls is None:
        raise ActionError(f"{a.node} serves no HTTPS")
    ca = LabCA.load(Path(s.state.extra["ca"]), Path(s.state.extra["ca_key"]))
    chain, key = ca.issue(list(a.names))
    s.runtime.write_file(a.node, tls.cert, chain)
    s.runtime.write_file(a.node, tls.key, key, mode=0o600)
    stop(s, StopAction(node=a.node))
    did = start(s, StartAction(node=a.node))
    return f"{a.node} certificate for {', '.join(a.names)}; {did}"


RUN = {"stop": stop, "start": start, "move_address": move_address, "set_record": set_record,
       "drop": drop, "undrop": undrop, "set_pref64": set_pref64, "reissue_cert": reissue_cert,
       "clamp_mss": clamp_mss}
