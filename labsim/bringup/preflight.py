"""What labs need from a container labsim itself runs in (the runner image, `docker run`), probed
before anything is made, and said as the exact `docker run` flags that are missing.

Without them the first symptom was far from the cause: no flags at all failed at
`bind-mount /run/netns: Operation not permitted`; some capabilities but not all, a 142-line
traceback ending in a read-only /proc/sys, with exit 1 (the code for "a check failed"). Each
probe reads what the kernel says of this process (no mount, nothing created):

    CapEff bit 21 (CAP_SYS_ADMIN)   namespaces, their mounts          --cap-add SYS_ADMIN
    CapEff bit 12 (CAP_NET_ADMIN)   links, addresses, routes, nft     --cap-add NET_ADMIN
    CapEff bit 13 (CAP_NET_RAW)     ping, tcpdump                     --cap-add NET_RAW
    /dev/net/tun (char 10:200)      tayga's TUN (NAT64, CLAT)         --device /dev/net/tun
    /proc/sys mounted read-only     per-namespace sysctls             --security-opt systempaths=unconfined
    Seccomp: 2 (a filter)           Docker's profile refuses unshare  --security-opt seccomp=unconfined
    AppArmor profile not unconfined docker-default refuses mounts     --security-opt apparmor=unconfined

Outside a container none of this applies: root (or the doctor's kernel probe) says it all.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN = 12, 13, 21
# the flags in the order the README gives them
ALL_FLAGS = ("--cap-add SYS_ADMIN", "--cap-add NET_ADMIN", "--cap-add NET_RAW", "--device /dev/net/tun",
             "--security-opt seccomp=unconfined", "--security-opt apparmor=unconfined",
             "--security-opt systempaths=unconfined")


@dataclass(frozen=True)
class Probe:
    """What the kernel says of this process, as read (a fixture in tests)."""

    cap_eff: int
    tun_is_char_device: bool
    proc_sys_read_only: bool
    seccomp_mode: int  # 0 none, 1 strict, 2 filter
    apparmor_profile: str | None  # None: no AppArmor here


def in_container(root: Path = Path("/")) -> bool:
    """Docker writes /.dockerenv, podman /run/.containerenv; systemd-nspawn and others set
    `container` in PID 1's environment (and in ours, inherited)."""
    return ((root / ".dockerenv").exists() or (root / "run" / ".containerenv").exists()
            or bool(os.environ.get("container")))


def read_probe(proc: Path = Path("/proc"), dev: Path = Path("/dev")) -> Probe:
    status = (proc / "self" / "status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        tun = stat.S_ISCHR(os.stat(dev / "net" / "tun").st_mode)
    except OSError:
        tun = False
    read_only = False
    for line in (proc / "self" / "mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == "/proc/sys":
            read_only = "ro" in parts[3].split(",")
    try:
        profile: str | None = (proc / "self" / "attr" / "current").read_text().strip().removesuffix(" (enforce)")
    except OSError:
        profile = None
    return Probe(int(fields.get("CapEff", "0").strip(), 16), tun, read_only,
                 int(fields.get("Seccomp", "0").strip() or 0), profile or None)


def missing_flags(p: Probe) -> list[str]:
    """The `docker run` flags this container lacks for labs, in the README's order."""
    missing = set()
    for cap, flag in ((CAP_SYS_ADMIN, "--cap-add SYS_ADMIN"), (CAP_NET_ADMIN, "--cap-add NET_ADMIN"),
                      (CAP_NET_RAW, "--cap-add NET_RAW")):
        if not p.cap_eff >> cap & 1:
            missing.add(flag)
    if not p.tun_is_char_device:
        missing.add("--device /dev/net/tun")
    if p.seccomp_mode != 0:
        missing.add("--security-opt seccomp=unconfined")
    if p.apparmor_profile not in (None, "unconfined"):
        missing.add("--security-opt apparmor=unconfined")
    if p.proc_sys_read_only:
        missing.add("--security-opt systempaths=unconfined")
    return [f for f in ALL_FLAGS if f in missing]


def advice(flags: list[str]) -> str:
    return ("labsim runs in a container that lacks what labs need (network namespaces, NAT64's TUN, "
            f"per-lab sysctls). Add to `docker run`: {' '.join(flags)}  (or --privileged where the "
            "Docker host allows it)")


def container_problem() -> str | None:
    """None when not in a container or when it has everything; else the advice to print."""
    if not in_container():
        return None
    flags = missing_flags(read_probe())
    return advice(flags) if flags else None
