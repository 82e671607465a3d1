"""What a machine needs to run labs, installing it, and checking it (`labsim setup`).

The Debian packages come from the kinds themselves (`Kind.needs()` for one topology's nodes,
every kind's `packages` otherwise), plus the tools every lab uses. Installing follows the
rules the Makefile always had: only missing packages, no daemon started on the host while
they install (policy-rc.d answers 101), and the services they bring left disabled after.

`--check` (doctor) reports, without changing anything on the host:
root or capabilities; network namespaces, veth, bridges, TUN and nftables, probed inside a
throwaway namespace (`unshare --net`, gone when the probe exits); each binary and package the
topologies need, with its version (or, for a runtime whose nodes bring their own, the
runtime's binaries); Docker and the node image. What each runtime needs comes from
`runtime.registry.host_needs`: no runtime is named here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from labsim.builtin import topologies as builtin_files
from labsim.errors import EnvironmentMissingError, RuntimeOpError
from labsim.kinds.python_needs import missing_python, python_fix
from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME

# what every lab uses besides its kinds' daemons (addresses and routes, nft rules, the
# clients checks drive, the processes list)
BASE_PACKAGES = ("iproute2", "nftables", "procps", "ca-certificates", "curl", "dnsutils",
                 "iputils-ping", "python3")
BASE_BINARIES = {"ip": "iproute2", "nft": "nftables", "unshare": "util-linux"}
# for everything labsim offers beyond one topology: --uplink (slirp4netns), `bench` (dnsperf),
# `--capture` of failed steps (tcpdump), the offline node-image build (debootstrap), the
# server and client of the shipped PostgreSQL scenario (a `process` node names its own)
EXTRA_PACKAGES = ("slirp4netns", "dnsperf", "tcpdump", "debootstrap", "postgresql", "postgresql-client")
PG_ONLY = "only the scenario postgres-ipv4-only-listen needs it"
OPTIONAL = {"debootstrap": "only the offline node-image build needs it",  # the doctor's "optional"
            "postgresql": PG_ONLY, "postgresql-client": PG_ONLY}
APT_TIMEOUT_S = 1800
PROBE_TIMEOUT_S = 20
POLICY_RC = Path("/usr/sbin/policy-rc.d")
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21


# -- what is needed --------------------------------------------------------------------
def builtin_topologies() -> list[dict]:
    """Name, description, node count and kinds of each built-in topology."""
    from labsim.model.yamlpos import load_yaml

    rows = []
    for name, path in builtin_files().items():
        data, _ = load_yaml(path)
        nodes = data.get("nodes") or {} if isinstance(data, dict) else {}
        kinds = sorted({n.get("kind", "?") for n in nodes.values() if isinstance(n, dict)})
        rows.append({"name": name, "description": str(data.get("description", "")),
                     "nodes": len(nodes), "kinds": kinds, "file": str(path)})
    return rows


@dataclass
class Needs:
    packages: list[str]
    binaries: dict[str, tuple[str, ...]]  # binary -> the packages that provide it
    python: dict[str, str] = field(default_factory=dict)  # module -> the labsim extra bringing it


def needs(topology_refs: list[str] | None = None, extra: tuple[str, ...] = ()) -> Needs:
    """What the given topologies (files or built-in names) need; None: every kind, every
    implementation, every built-in topology, and the extras (uplink, bench, offline image)."""
    from labsim.kinds import registry

    pkgs: list[str] = list(BASE_PACKAGES)
    bins: dict[str, tuple[str, ...]] = {b: (p,) for b, p in BASE_BINARIES.items()}
    pymods: dict[str, str] = {}
    if topology_refs is None:  # every kind, implementation and built-in topology
        from labsim.kinds.dns64_impl import IMPLEMENTATIONS

        builtin = needs(list(builtin_files()))  # what kinds need only with some settings (router ra: radvd)
        pkgs += builtin.packages
        pymods.update(builtin.python)
        bins.update(builtin.binaries)

        for kind in registry.KINDS.values():
            pkgs += kind.packages + kind.setting_packages
            pymods.update(kind.python_modules)
            for b in kind.binaries:
                bins.setdefault(b, kind.packages)
        for impl in IMPLEMENTATIONS.values():
            for b in impl.binaries:
                bins.setdefault(b, impl.packages)
        pkgs += EXTRA_PACKAGES
    else:
        from labsim.loader import load_lab

        for ref in topology_refs:
            loaded = load_lab(ref)
            for spec in loaded.topology.nodes.values():
                wanted, p = registry.get(spec.kind).needs(spec)
                pymods.update(registry.get(spec.kind).python_modules)
                pkgs += p
                for binary in wanted:
                    bins.setdefault(binary, p)
    pkgs += extra
    return Needs(list(dict.fromkeys(pkgs)), bins, pymods)


# -- installing ------------------------------------------------------------------------
def installed_version(package: str) -> str | None:
    """The installed version of a Debian package, None when it is not installed."""
    if shutil.which("dpkg-query") is None:
        return None
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", package],
                          capture_output=True, text=True, timeout=30)
    status, _, version = proc.stdout.partition("\t")
    return version if proc.returncode == 0 and status.endswith("install ok installed") else None


def missing_packages(packages: list[str]) -> list[str]:
    return [p for p in packages if installed_version(p) is None]


def install(packages: list[str], say=print) -> list[str]:
    """apt-get install the missing ones; returns what was installed. Needs root and apt."""
    missing = missing_packages(packages)
    if not missing:
        return []
    if shutil.which("apt-get") is None:
        raise EnvironmentMissingError(f"no apt-get: install these Debian packages another way: "
                                      f"{' '.join(missing)}")
    if os.geteuid() != 0:
        raise EnvironmentMissingError(f"need root to install Debian packages: {' '.join(missing)} "
                                      f"({as_root('labsim setup')})")
    say(f"installing Debian packages: {' '.join(missing)}")
    guard = not POLICY_RC.exists()
    if guard:  # postinst scripts must not start the daemons on the host
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _apt(["apt-get", "update", "-qq"], env)
        _apt(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env)
    finally:
        if guard:
            POLICY_RC.unlink(missing_ok=True)
    _disable_services(missing)
    return missing


def _apt(argv: list[str], env: dict) -> None:
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeOpError(f"{' '.join(argv[:2])} took more than {APT_TIMEOUT_S}s") from None
    if proc.returncode != 0:
        raise RuntimeOpError(f"{' '.join(argv[:2])} failed (exit {proc.returncode}):\n"
                             + proc.stderr[-2000:])


def _disable_services(packages: list[str]) -> None:
    """labsim runs its own copies of these daemons in labs: on a systemd host leave the
    services just installed disabled, so none listens on the host after a reboot."""
    if not Path("/run/systemd/system").is_dir():
        return
    for p in packages:
        files = subprocess.run(["dpkg", "-L", p], capture_output=True, text=True, timeout=30).stdout
        for f in files.splitlines():
            path = Path(f)
            if path.suffix == ".service" and path.parent.name == "system" and "systemd" in f:
                unit = path.name.replace("@.service", "@1.service")  # templates: kresd@1
                subprocess.run(["systemctl", "disable", "--now", unit], capture_output=True, timeout=60)


# -- checking --------------------------------------------------------------------------
@dataclass
class Check:
    what: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def has_caps(*caps: int) -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            eff = int(line.split()[1], 16)
            return all(eff >> c & 1 for c in caps)
    return False


def check_privileges() -> Check:
    if os.geteuid() == 0:
        return Check("root", True, "running as root")
    if has_caps(CAP_NET_ADMIN, CAP_SYS_ADMIN):
        return Check("root", True, "CAP_NET_ADMIN and CAP_SYS_ADMIN")
    return Check("root", False, f"uid {os.geteuid()} without CAP_NET_ADMIN/CAP_SYS_ADMIN",
                 "run labsim with sudo (or in the runner image with --privileged)")


def check_kernel() -> list[Check]:
    """Probe namespaces, veth, bridge, TUN and nftables inside a new network namespace that
    exists only for the probe's lifetime: the host's network is never touched."""
    from labsim.node import kernel_probe

    fixes = {"netns": "a kernel with network namespaces (CONFIG_NET_NS); in a container: --privileged",
             "veth": "the veth driver (CONFIG_VETH)", "bridge": "the bridge driver (CONFIG_BRIDGE)",
             "tun": "/dev/net/tun and CONFIG_TUN (NAT64 needs it); in a container: --device /dev/net/tun",
             "nftables": "nftables in the kernel (CONFIG_NF_TABLES) and `nft` (apt-get install nftables)"}
    if shutil.which("unshare") is None:
        return [Check("netns", False, "no `unshare` binary", "apt-get install util-linux")]
    argv = ["unshare", "--net", "--", sys.executable, "-m", "labsim.node.kernel_probe"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [Check("netns", False, f"the probe took more than {PROBE_TIMEOUT_S}s", fixes["netns"])]
    if proc.returncode != 0 and not proc.stdout:
        return [Check("netns", False, f"cannot create a network namespace: "
                      f"{proc.stderr.strip()[-200:]}", fixes["netns"])]
    results = kernel_probe.parse(proc.stdout)
    return [Check("netns", True, "a throwaway namespace was created")] + [
        Check(name, ok, detail, "" if ok else fixes[name]) for name, (ok, detail) in results.items()]


def check_software(n: Needs) -> list[Check]:
    out = []
    for binary, pkgs in n.binaries.items():
        path = shutil.which(binary)
        out.append(Check(f"binary {binary}", path is not None, path or "not found",
                         "" if path else f"{as_root('labsim setup')} (apt-get install {' '.join(pkgs)})"))
    for p in n.packages:
        v = installed_version(p)
        out.append(Check(f"package {p}", v is not None,
                         v or f"not installed{'; ' + OPTIONAL[p] if p in OPTIONAL else ''}",
                         "" if v else f"{as_root('labsim setup')} (apt-get install {p})", p not in OPTIONAL))
    gone = missing_python(n.python)
    for mod, extra in n.python.items():
        out.append(Check(f"python {mod}", mod not in gone,
                         f"not importable by {sys.executable}" if mod in gone else "importable",
                         python_fix(extra) if mod in gone else ""))
    return out


def check_docker(required: bool) -> list[Check]:
    from labsim.errors import LabsimError

    try:
        from labsim.runtime.docker import docker_client, image

        cli = docker_client(timeout=10)
        version = cli.version().get("Version", "?")
    except LabsimError as exc:  # the message says where it looked, why it failed, what to do
        what, _, fix = str(exc).partition(" To fix: ")
        return [Check("docker", False, what, fix or "start Docker (the docker runtime and the runner image need it)",
                      required)]
    except Exception as exc:  # noqa: BLE001 - any failure to reach the daemon is the finding
        return [Check("docker", False, f"{type(exc).__name__}: {exc}"[:120], "start the Docker daemon", required)]
    try:
        img = image.current_image(cli)
    finally:
        cli.close()
    return [Check("docker", True, f"server {version}", "", required),
            Check(f"image {image.image_name()}", img is not None,
                  "current" if img is not None else "missing or stale", "" if img else "labsim image build",
                  required)]


# how to check each host service a runtime may need (runtime.registry.SERVICES)
SERVICE_CHECKS = {"docker": check_docker}


def as_root(command: str) -> str:
    """`command` as the user should type it: as is when already root (a container has no
    sudo), else through sudo with labsim's own path (sudo's PATH has no pipx install)."""
    if os.geteuid() == 0:
        return command
    return 'sudo "$(command -v labsim)"' + command.removeprefix("labsim")


def check_container() -> list[Check]:
    """In a container: the `docker run` flags labs need that it lacks (bringup/preflight.py)."""
    from labsim.bringup.preflight import in_container, missing_flags, read_probe

    if not in_container():
        return []
    flags = missing_flags(read_probe())
    return [Check("container", not flags, "has what labs need" if not flags else "lacks " + ", ".join(flags),
                  "" if not flags else f"docker run {' '.join(flags)} …")]


def doctor(topology_refs: list[str] | None, runtime: str) -> list[Check]:
    """The checks for `runtime`, as the runtime registry declares its needs: the topologies'
    software where nodes run the host's daemons, else the runtime's own binaries; every host
    service any runtime uses, required for the ones this runtime names."""
    from labsim.runtime import registry

    host = registry.host_needs(runtime)  # an unknown runtime: an input error, nothing probed
    checks = [check_privileges(), *check_container()]
    checks += check_kernel() if checks[0].ok else [
        Check("netns", False, "not probed: needs root", "run labsim setup --check with sudo")]
    n = needs(topology_refs)  # loaded on every runtime: a bad topology is an input error on each
    checks += check_software(n if host.node_software else Needs([], dict(host.binaries)))
    for service in registry.SERVICES:
        checks += SERVICE_CHECKS[service](required=service in host.services)
    return checks


def render_checks(checks: list[Check], console, runtime: str = DEFAULT_RUNTIME) -> int:
    """The doctor's table; returns the exit code (0: everything required is there)."""
    from rich.markup import escape
    from rich.table import Table

    title = "labsim setup --check" + ("" if runtime == DEFAULT_RUNTIME else f" --runtime {runtime}")
    table = Table(title=title, title_justify="left")
    for col in ("check", "status", "detail", "to fix"):
        table.add_column(col)
    for c in checks:
        status = "[green]ok[/]" if c.ok else ("[red]MISSING[/]" if c.required else "[yellow]optional[/]")
        # details quote tools' own output (stderr of a probe): shown as text, never as markup
        table.add_row(escape(c.what), status, escape(c.detail), escape(c.fix))
    console.print(table)
    bad = [c for c in checks if c.required and not c.ok]
    console.print(f"{len(bad)} required piece(s) missing" if bad else "everything needed is there")
    return 1 if bad else 0
