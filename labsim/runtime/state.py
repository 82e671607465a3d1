"""The per-lab state file: what a lab created, written *before* each thing is created.

`labsim down` and `labsim gc` work from this file alone, in another process, after a crash
or a SIGKILL of `labsim up`. Writes are atomic (temp file + rename) so a kill mid-write
leaves the previous, still-valid state.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_DIR = Path(os.environ.get("LABSIM_RUN_DIR", "/run/labsim"))
_SAVE_LOCK = threading.RLock()  # re-entrant: record() saves while holding it
# a lab name as the topology allows it (one path component, no '_': namespaces split on it);
# teardown acts on no lab directory, namespace or container named otherwise
LAB_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def valid_lab(name: object) -> bool:
    return isinstance(name, str) and LAB_NAME.fullmatch(name) is not None


def process_start_time(pid: int) -> int | None:
    """Kernel start time of `pid` (clock ticks since boot), to tell a reused PID from ours."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return int(stat.rsplit(")", 1)[1].split()[19])


def exited(pid: int) -> bool:
    """`pid` is gone, or a zombie whose every thread has exited: dead, its parent (in a
    container: the container's init) not having reaped it yet. A multi-threaded daemon's
    leader shows 'Z' while its other threads still run (and hold its ports): not exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    except OSError:
        return True
    return fields.get("State", "").strip().startswith("Z") and fields.get("Threads", "").strip() == "1"


def alive(pid: object, start: object) -> bool:
    """`pid` is the very process whose start time was recorded, and it has not exited. Without
    a recorded start nothing proves it is the one started then (PIDs are reused): not alive."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or not isinstance(start, int):
        return False
    return process_start_time(pid) == start and not exited(pid)


@dataclass
class LabState:
    lab: str
    runtime: str
    topology: str = ""
    status: str = "creating"  # creating -> up; anything but "up" with a dead owner is garbage
    owner_pid: int = 0
    owner_start: int | None = None
    created: float = 0.0
    namespaces: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # files and directories to remove
    containers: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, Any] = field(default_factory=dict)  # summary for `status`
    # host interfaces made ports of the lab's networks, as they were: teardown returns them
    attached: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return RUN_DIR / self.lab

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def claim(cls, lab: str, runtime: str, topology: str, extra: dict[str, Any] | None = None) -> LabState:
        """Create the lab's directory atomically; fails if a lab of that name exists."""
        from labsim.errors import LabExistsError

        RUN_DIR.mkdir(parents=True, exist_ok=True, mode=0o755)
        try:
            # 0755 whatever the umask: daemons that dropped root traverse it to their files
            os.mkdir(RUN_DIR / lab, 0o755 & ~_umask())
        except FileExistsError as exc:
            raise LabExistsError(f"a lab named {lab!r} exists already "
                                 f"(labsim down {lab}, or pick another --name)") from exc
        st = cls(lab=lab, runtime=runtime, topology=topology, owner_pid=os.getpid(),
                 owner_start=process_start_time(os.getpid()), created=time.time(), extra=dict(extra or {}))
        st.save()
        return st

    @classmethod
    def load(cls, lab: str) -> LabState:
        """The state of `lab`. Its name is the directory's, whatever the file says (a file
        naming another lab would point teardown at that lab's directory); a state file that
        is a symlink is not read."""
        if not valid_lab(lab):
            raise FileNotFoundError(f"{lab!r} is not a lab name")
        fd = os.open(RUN_DIR / lab / "state.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError(f"{RUN_DIR / lab / 'state.json'}: not a JSON object")
        data["lab"] = lab
        return cls(**data)

    @classmethod
    def all_labs(cls) -> list[str]:
        if not RUN_DIR.is_dir():
            return []
        return sorted(p.name for p in RUN_DIR.iterdir()
                      if valid_lab(p.name) and p.is_dir() and not p.is_symlink())

    def save(self) -> None:
        with _SAVE_LOCK:  # one temp file per lab: one writer at a time
            tmp = self.file.with_suffix(".tmp")
            data = {k: v for k, v in self.__dict__.items()}
            # never through a symlink left in the temp file's place
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(data, indent=1, default=str))
            os.replace(tmp, self.file)

    def record(self, **items: list) -> None:
        """Append to the lists named and save, before the things are created. Safe from
        several threads (bring-up starts nodes' daemons on workers)."""
        with _SAVE_LOCK:
            for key, values in items.items():
                getattr(self, key).extend(values)
            self.save()

    def owner_alive(self) -> bool:
        return alive(self.owner_pid, self.owner_start)

    def forget(self) -> None:
        """Remove the state directory (the last step of a teardown): by file descriptors,
        following no symlink a node may have left in its directory."""
        if valid_lab(self.lab):
            remove_under(str(self.dir), [RUN_DIR])
        try:
            RUN_DIR.rmdir()  # only if no other lab is left
        except OSError:
            pass


# the name an attached interface has in the lab's hub while it is a port there: no bridge
# (a network name) or veth peer (`<node>-e<i>`, `~<n>e<i>`) has a '_', so none is called this
ATTACH_HUB_NAME = re.compile(r"ls_att[0-9]{1,2}")
IFNAME = re.compile(r"[A-Za-z0-9_.@+-]{1,15}")
MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
# where an attached interface came from: the host's namespace (PID 1's) or a named one
ORIGIN_NETNS = re.compile(r"/proc/1/ns/net|/run/netns/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def attach_record_problem(rec: object) -> str | None:
    """Why a state file's `attached` entry is not one labsim writes (None: it is). Teardown
    acts on nothing else: the entry names the port's hub name, the interface's own name and
    MAC, its origin namespace by path and inode, its MTU, up/down and static addresses."""
    import ipaddress

    if not isinstance(rec, dict):
        return "not a mapping"
    if "docker_network" in rec:
        return _docker_record_problem(rec)
    origin = rec.get("origin")
    checks = [
        (isinstance(rec.get("hub_name"), str) and ATTACH_HUB_NAME.fullmatch(rec["hub_name"]), "hub_name"),
        (isinstance(rec.get("name"), str) and IFNAME.fullmatch(rec["name"]), "name"),
        (isinstance(rec.get("mac"), str) and MAC.fullmatch(rec["mac"]), "mac"),
        (isinstance(rec.get("mtu"), int) and not isinstance(rec["mtu"], bool) and 68 <= rec["mtu"] <= 65535, "mtu"),
        (isinstance(rec.get("up"), bool), "up"),
        (rec.get("master") is None or (isinstance(rec["master"], str) and IFNAME.fullmatch(rec["master"])), "master"),
        (isinstance(origin, dict) and isinstance(origin.get("netns"), str)
         and ORIGIN_NETNS.fullmatch(origin["netns"]) and ".." not in origin["netns"]
         and all(isinstance(origin.get(k), int) for k in ("dev", "ino")), "origin"),
        (isinstance(rec.get("addresses"), list) and len(rec["addresses"]) <= 256, "addresses"),
    ]
    for ok, key in checks:
        if not ok:
            return f"its {key} is not one labsim records"
    for a in rec["addresses"]:
        try:
            ipaddress.ip_interface(f"{a['local']}/{int(a['prefixlen'])}")
            if a.get("broadcast") is not None:
                ipaddress.IPv4Address(a["broadcast"])
        except (TypeError, KeyError, ValueError):
            return "an address that is not one"
    return None


# the host end of the veth pair labsim makes to a Docker network's bridge: `lsd<8 hex><i>`
DOCKER_HOST_END = re.compile(r"lsd[0-9a-f]{8}[0-9]{1,2}")
DOCKER_NET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _docker_record_problem(rec: dict[str, Any]) -> str | None:
    """An `attached` entry for `--attach NET=docker:NAME`: a veth pair labsim made, its host
    end named `lsd...` with the recorded MAC, in dockerd's namespace by inode,
    its hub end the recorded hub name and MAC. Its namespace: the host's, a named one, or
    that of the process tearing down (`/proc/self/ns/net`), by inode."""
    origin = rec.get("origin")
    checks = [
        (isinstance(rec.get("hub_name"), str) and ATTACH_HUB_NAME.fullmatch(rec["hub_name"]), "hub_name"),
        (isinstance(rec.get("name"), str) and DOCKER_HOST_END.fullmatch(rec["name"]), "name"),
        (isinstance(rec.get("mac"), str) and MAC.fullmatch(rec["mac"]), "mac"),
        (isinstance(rec.get("hub_mac"), str) and MAC.fullmatch(rec["hub_mac"]), "hub_mac"),
        (isinstance(rec.get("docker_network"), str) and DOCKER_NET_NAME.fullmatch(rec["docker_network"]),
         "docker_network"),
        (isinstance(rec.get("bridge"), str) and IFNAME.fullmatch(rec["bridge"]), "bridge"),
        (isinstance(origin, dict) and isinstance(origin.get("netns"), str)
         and (origin["netns"] == "/proc/self/ns/net" or ORIGIN_NETNS.fullmatch(origin["netns"]))
         and ".." not in origin["netns"] and all(isinstance(origin.get(k), int) for k in ("dev", "ino")), "origin"),
    ]
    for ok, key in checks:
        if not ok:
            return f"its {key} is not one labsim records"
    return None


def refuse(lab: str, what: str, why: str) -> None:
    """Say (on stderr) what a teardown leaves because nothing proves labsim made it."""
    print(f"labsim: lab {lab}: not removing {what}: {why}", file=sys.stderr)


def path_problem(path: object, roots: list[Path]) -> str | None:
    """Why `path` may not be removed, or None: it must be absolute, without `..`, and its
    directory, symlinks resolved, must be one of `roots` or below one (the path itself is
    not followed: a symlink there is removed, not its target)."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        return "not an absolute path"
    if ".." in path.split("/"):
        return "a path with '..'"
    parent, name = os.path.split(os.path.normpath(path))
    if name in ("", ".", ".."):
        return "not a file or directory name"
    real = os.path.realpath(parent)
    for root in roots:
        top = os.path.realpath(root)
        if real == top or real.startswith(top + os.sep):
            return None
    return "outside labsim's directories (" + ", ".join(str(r) for r in roots) + ")"


def remove_under(path: str, roots: list[Path]) -> str | None:
    """Remove `path` (a directory with all it holds, a file, or a symlink itself) if it lies
    under one of `roots`; returns what was removed ("dir P", "file P") or None. Raises
    PermissionError if `path` is not under a root. Works from an fd of the directory,
    checked after opening (a directory swapped for a symlink since is caught), and never
    follows a symlink: shutil.rmtree with dir_fd walks by descriptors."""
    why = path_problem(path, roots)
    if why is not None:
        raise PermissionError(f"{path}: {why}")
    parent, name = os.path.split(os.path.normpath(path))
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        # the directory actually opened, not the one the name pointed to a moment before
        if path_problem(os.path.join(os.readlink(f"/proc/self/fd/{fd}"), name), roots) is not None:
            raise PermissionError(f"{path}: its directory moved outside labsim's directories")
        try:
            st = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=fd, onerror=_gone_already)
            return f"dir {path}"
        os.unlink(name, dir_fd=fd)
        return f"file {path}"
    finally:
        os.close(fd)


def _gone_already(func: object, path: str, exc_info: tuple) -> None:
    """rmtree's error handler: a file a daemon removed itself meanwhile (its pid file, as it
    exits) is gone already; anything else is an error."""
    if not issubclass(exc_info[0], FileNotFoundError):
        raise exc_info[1]


def _umask() -> int:
    """The process umask, or'ed with 022 so nothing labsim creates is group/world-writable."""
    old = os.umask(0o022)
    os.umask(old)
    return old | 0o022
