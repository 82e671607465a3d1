"""Bring a planned lab up through a runtime, and take labs down or collect their garbage.

    up:  runtime by name -> capabilities, root, binaries -> claim state -> hub + bridges
         -> nodes begun -> lab CA -> per node, as the runtime finishes it: sysctls, veths,
         routes, then (on a worker) files -> setup commands -> services
         -> readiness probes -> status 'up'
Any failure or interrupt on the way tears down everything recorded so far. Nothing here
names a concrete runtime: they are looked up in `runtime.registry` (by the state's
`runtime` for down and gc). Commands use this through `session.lab_session`.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from labsim.bringup import attach
from labsim.bringup.impair import loss_rules
from labsim.bringup.labca import LabCA
from labsim.bringup.preflight import container_problem
from labsim.bringup.readiness import PendingProbe, wait_ready

# down and gc live in teardown (no kinds or model imported); `lab.down` etc. stay the API
from labsim.bringup.teardown import destroy_lab, down, gc, lab_namespaces  # noqa: F401
from labsim.errors import EnvironmentMissingError, RuntimeOpError
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import LoadedLab
from labsim.node.nodeprog import NODE_PROGRAMS, split_program
from labsim.runtime import registry as runtimes
from labsim.runtime.base import DOCKER_NETWORKS, Runtime
from labsim.runtime.netns import node_ns
from labsim.runtime.records import confinement
from labsim.runtime.state import LabState

# every node: no DAD (addresses usable at once), no router advertisements unless asked for,
# IPv6 addresses that survive a link going down and up (a scenario's `stop: links`), and
# IPv4 secondaries that survive their primary's removal (`move_address`)
BASE_SYSCTLS = {
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.default.accept_ra": "0",
    "net.ipv6.conf.all.keep_addr_on_down": "1",
    "net.ipv6.conf.default.keep_addr_on_down": "1",
    "net.ipv4.conf.all.promote_secondaries": "1",
    "net.ipv4.conf.default.promote_secondaries": "1",
}

Progress = Callable[[str], None]


@dataclass
class UpResult:
    state: LabState
    timings: dict[str, float] = field(default_factory=dict)
    runtime: Runtime | None = None  # the lab's runtime, still usable (reconnects on use)


def required_capabilities(loaded: LoadedLab) -> list[tuple[tuple, str, str]]:
    """What the topology needs beyond the basics: (where in the file, who, capability). A
    kind declares `requires` (a set of capabilities); a network with `docker:` needs
    Docker networks."""
    out = []
    for name, spec in loaded.topology.nodes.items():
        for cap in sorted(getattr(registry.get(spec.kind), "requires", ())):
            out.append((("nodes", name, "kind"), f"node {name!r}: kind {spec.kind!r}", cap))
    for net, net_spec in loaded.topology.networks.items():
        if getattr(net_spec, "docker", None) is not None:
            out.append((("networks", net, "docker"), f"network {net!r}: `docker:`", DOCKER_NETWORKS))
    return out


def check_environment(loaded: LoadedLab, runtime: str = runtimes.DEFAULT) -> type[Runtime]:
    """The runtime by name, what the topology needs of it (input errors), then root and what
    the runtime needs on the host: all before anything is created. Returns the runtime."""
    rt_cls = runtimes.get(runtime)
    for loc, who, cap in required_capabilities(loaded):
        if cap not in rt_cls.capabilities:
            able = runtimes.with_capability(cap)
            raise loaded.source.error(loc, f"{who} needs --runtime {' or '.join(able) or '(none)'} "
                                           f"({runtimes.describe(cap)}); the {rt_cls.name} runtime "
                                           f"cannot")
    if os.geteuid() != 0:
        raise EnvironmentMissingError("labsim needs root for network namespaces (run with sudo)")
    problem = container_problem()  # in a container: the docker run flags it lacks, before anything
    if problem:
        raise EnvironmentMissingError(problem)
    rt_cls.check_environment(loaded)
    return rt_cls


def up(loaded: LoadedLab, runtime: str = runtimes.DEFAULT, progress: Progress | None = None,
       ready_timeout: float = 15.0, ephemeral: bool = False, keep_on_failure: bool = False,
       session: bool = False) -> UpResult:
    """Bring the lab up. `ephemeral`: the lab lives only as long as this process (scenario
    runs, reviews); `gc` removes it once the process is gone, even if it was up. `session`:
    checks follow, and the runtime keeps what speeds them up (netns: the fork server, for
    `Runtime.call`) until the caller's `end_session`."""
    say = progress or (lambda msg: None)
    rt_cls = check_environment(loaded, runtime)
    ports = attach.plan(loaded, rt_cls)  # host interfaces to attach: refused here, before anything
    plan = loaded.plan
    # ephemeral in the first write: a killed run's lab is gc's from the start (and one
    # write less: each costs a rename, ~2 ms on this machine's ext4 /run)
    state = LabState.claim(plan.lab, rt_cls.name, str(Path(loaded.path).resolve()),
                           extra={"ephemeral": True} if ephemeral else None)
    rt = rt_cls(state)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        if session:
            rt.begin_session()
        rt.preload(_node_programs(loaded, rt))
        rt.prepare(loaded)
        say(f"creating {len(plan.nodes)} nodes on {len(plan.bridges)} networks")
        sysctls = _begin_network(rt, loaded)
        state.nodes = _summary(loaded, rt)  # from here `logs` and `exec` work, even on a failed lab
        state.save()
        pending = _bring_up_nodes(rt, loaded, state, sysctls, say, timings, t0)
        say(f"waiting for {len(pending)} readiness probes")
        timings["ready_wait"] = wait_ready(rt, pending, ready_timeout)
        if ports:  # once the router answers: a device's first router solicitation gets an RA
            attach.attach_all(rt, state, ports, plan.bridges, say)
        for name in loaded.plan.nodes:
            ctx = _ctx(loaded, rt, name)
            _run_commands(rt, ctx, registry.get(ctx.node.kind).after_ready(ctx))
        timings["total"] = time.monotonic() - t0
        state.status = "up"
        state.extra["timings"] = timings
        state.save()
        if not ephemeral:
            KEPT_UP.add(plan.lab)  # from here an interrupt leaves it up: the CLI says so
        return UpResult(state, timings, rt)
    except BaseException as exc:
        rt.end_session()  # no session follows a failed bring-up
        if keep_on_failure and not isinstance(exc, KeyboardInterrupt):
            state.status = "failed"
            state.save()
            raise
        say("bring-up failed: tearing down what was created")
        rt.destroy()
        raise
    finally:
        rt.close()


# labs this process brought up to stay (`up`, `run --keep`): an interrupt after that point
# leaves them up, and the CLI's interrupt message names them instead of claiming a cleanup
KEPT_UP: set[str] = set()


def make_runtime(state: LabState) -> Runtime:
    """The runtime of a lab that is up (from its state)."""
    return runtimes.get(state.runtime)(state)


def _ctx(loaded: LoadedLab, rt: Runtime, name: str) -> NodeContext:
    return NodeContext(loaded.plan, loaded.plan.nodes[name], loaded.topology.nodes[name],
                       dir=rt.node_dir(name), python=rt.python or sys.executable,
                       hostname=socket.gethostname(), confinement=confinement(rt.name))


def _begin_network(rt: Runtime, loaded: LoadedLab) -> dict[str, dict[str, str]]:
    """The hub, the networks, and every node begun (docker: container starts in flight);
    returns each node's sysctls."""
    plan = loaded.plan
    rt.create_hub()
    for bridge in plan.bridges.values():
        rt.create_network(bridge)
    sysctls = {node.name: {**BASE_SYSCTLS, **registry.get(node.kind).sysctls(node, loaded.topology.nodes[node.name])}
               for node in plan.nodes.values()}
    rt.create_nodes(sysctls)  # all at once where a runtime can (docker: parallel starts)
    return sysctls


def _bring_up_nodes(rt: Runtime, loaded: LoadedLab, state: LabState, sysctls: dict[str, dict[str, str]],
                    say: Progress, timings: dict[str, float], t0: float) -> list[PendingProbe]:
    """Wire each node as the runtime finishes creating it (docker: containers come up over
    ~0.6 s), then hand it to a worker that writes its files, runs its setup commands and
    starts its daemons while later nodes are still being created. Wiring stays on this
    thread (the runtime keeps one netlink socket per namespace, one conversation at a
    time). On an error no further node is begun and the workers finish before teardown
    sees the state."""
    plan = loaded.plan
    say("writing configuration and the lab CA")
    ca = _lab_ca(loaded, state)
    trust_dir = (ca.write_trust_dir(state.dir / "ssl")
                 if any(getattr(spec, "trust_lab_ca", False) for spec in loaded.topology.nodes.values()) else None)
    probes: dict[str, list[PendingProbe]] = {}
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="labsim-node") as pool:
        futures = {}
        try:
            for name in rt.creation_order(list(plan.nodes)):
                node = plan.nodes[name]
                rt.create_node(name, sysctls[name])
                for iface in node.ifaces:
                    rt.connect(name, iface, plan.bridges[iface.network])
                rt.add_routes(name, list(node.routes))
                futures[name] = pool.submit(_node_services, rt, loaded, state, name, ca, trust_dir, say)
            timings["network"] = time.monotonic() - t0
            for name, fut in futures.items():
                probes[name] = fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # nothing starts once teardown may
            raise
    timings["services"] = time.monotonic() - t0 - timings["network"]
    return [p for name in plan.nodes for p in probes.get(name, [])]


def _node_programs(loaded: LoadedLab, rt: Runtime) -> set[str]:
    """labsim's own programs (`nodeprog` modules) among the lab's services."""
    out = set()
    for name, node in loaded.plan.nodes.items():
        for svc in registry.get(node.kind).services(_ctx(loaded, rt, name)):
            prog = None if svc.host else split_program(svc.argv)
            if prog is not None and prog[0] in NODE_PROGRAMS:
                out.add(prog[0])
    return out


def _lab_ca(loaded: LoadedLab, state: LabState) -> LabCA:
    ca = LabCA.create(loaded.plan.lab)
    ca_path = state.dir / "ca.pem"
    ca_path.write_bytes(ca.cert_pem)
    state.extra["ca"] = str(ca_path)
    state.extra["ca_key"] = str(ca.save_key(state.dir / "ca-key.pem"))  # for `reissue_cert`
    return ca


def _node_services(rt: Runtime, loaded: LoadedLab, state: LabState, name: str, ca: LabCA,
                   trust_dir: Path | None, say: Progress) -> list[PendingProbe]:
    """One node, once wired: its files and certificate, loss rules, setup commands (config
    checks, TUN devices) in order, then its daemons; returns their readiness probes."""
    ctx = _ctx(loaded, rt, name)
    kind = registry.get(ctx.node.kind)
    for path, text in kind.render(ctx).items():
        rt.write_file(name, path, text)
    tls = kind.tls(ctx)
    if tls is not None:
        chain, key = ca.issue(tls.names)
        rt.write_file(name, tls.cert, chain)
        rt.write_file(name, tls.key, key, mode=0o600)
    if trust_dir is not None and getattr(ctx.spec, "trust_lab_ca", False):
        rt.write_file(name, "/etc/ssl", b"", shared=str(trust_dir))
    rules = loss_rules(loaded.topology.nodes[name], loaded.plan.nodes[name])
    if rules:  # packet loss: nftables rules inside the node (its own namespace)
        res = rt.exec(name, ["nft", "-f", "-"], input="\n".join(rules).encode() + b"\n")
        if res.returncode != 0:
            raise RuntimeOpError(f"node {name!r}: loss rules: {res.stderr.decode(errors='replace')}")
    # what a topology names (a process node's setup) runs confined: the kind says how
    _run_commands(rt, ctx, [kind.confine(ctx, argv) for argv in kind.setup(ctx)])
    return spawn_services(rt, ctx, state, say)


def spawn_services(rt: Runtime, ctx: NodeContext, state: LabState, say: Progress | None = None,
                   only: set[str] | None = None, skip: AbstractSet[str] = frozenset()) -> list[PendingProbe]:
    """Start a node's daemons (`only` some, none in `skip`); returns the probes that tell
    when they are ready."""
    kind = registry.get(ctx.node.kind)
    pids: dict[str, int] = {}
    services = kind.services(ctx)
    for svc in services:
        if (only is not None and svc.name not in only) or svc.name in skip:
            continue
        if say:
            say(f"starting {svc.name} in {ctx.name}")
        argv = svc.argv if svc.host else kind.confine(ctx, svc.argv)
        pids[svc.name] = rt.spawn(ctx.name, svc.name, argv, host=svc.host)
    logs = {p["service"]: p["log"] for p in state.processes if p["node"] == ctx.name}
    first = next(iter(pids), None)
    probes = [(p, getattr(p, "service", None) or first) for p in kind.probes(ctx)]
    # a kind without services (`container`: its program is the container's own) is probed too
    return [PendingProbe(ctx.name, probe, pids.get(svc) if svc else None, logs.get(svc) if svc else None)
            for probe, svc in probes
            if svc in pids or (svc is None and not services and only is None)]


def node_context(loaded: LoadedLab, rt: Runtime, name: str) -> NodeContext:
    return _ctx(loaded, rt, name)


def _run_commands(rt: Runtime, ctx: NodeContext, commands: list[list[str]]) -> None:
    """Run a kind's one-off commands in its node, in order; the first failure stops bring-up."""
    for argv in commands:
        res = rt.exec(ctx.name, argv, timeout=20)
        if res.returncode != 0:
            out = (res.stderr or res.stdout or b"").decode(errors="replace").strip()
            raise RuntimeOpError(f"node {ctx.name!r}: `{' '.join(argv)[:80]}` failed "
                                 f"(exit {res.returncode}): {out}")


def _summary(loaded: LoadedLab, rt: object = None) -> dict:
    out = {}
    for node in loaded.plan.nodes.values():
        out[node.name] = {
            "kind": node.kind,
            "netns": node_ns(loaded.plan.lab, node.name),
            "interfaces": [{"name": i.ifname, "network": i.network,
                            "ipv6": str(i.ipv6) if i.ipv6 else None,
                            "ipv4": str(i.ipv4) if i.ipv4 else None} for i in node.ifaces],
            "routes": [{"to": str(r.dst), "via": str(r.via)} for r in node.routes],
            "names": list(loaded.topology.nodes[node.name].names),
        }
    return out


# -- down and gc ----------------------------------------------------------------------------
