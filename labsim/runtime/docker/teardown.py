"""Teardown of a docker lab from its state file alone (down, gc, a failed bring-up): its
containers by state and by label, its Docker networks, then what the netns teardown
removes (host processes, the hub namespace, files, the state itself)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from labsim.errors import EnvironmentMissingError
from labsim.runtime.docker.client import LABEL_LAB, docker_client, docker_sdk, op_error
from labsim.runtime.docker.networks import remove_networks
from labsim.runtime.netns import destroy_state, ns_prefix
from labsim.runtime.state import LabState, refuse, valid_lab

REMOVE_WORKERS = 8


def ours(obj_name: object, labels: object, lab: str) -> bool:
    """A container or Docker network labsim made for `lab`: labelled for it AND named
    `ls-<lab>_...` (a label alone can be put on anything by anyone; a name alone, too)."""
    return (valid_lab(lab) and isinstance(obj_name, str) and obj_name.startswith(ns_prefix(lab) + "_")
            and isinstance(labels, dict) and labels.get(LABEL_LAB) == lab)


def lab_containers(cli, lab: str, names: Sequence[str] = ()) -> list:
    """The lab's containers: those labelled for it, and those named in `names` (a state's
    record), each only if it has both the lab's label and its name prefix."""
    docker = docker_sdk()
    if not valid_lab(lab):
        return []
    found = {c.name: c for c in cli.containers.list(all=True, filters={"label": f"{LABEL_LAB}={lab}"})
             if ours(c.name, c.labels, lab)}
    for name in names:
        if name in found:
            continue
        if not isinstance(name, str) or not name.startswith(ns_prefix(lab) + "_"):
            refuse(lab, f"container {name!r}", f"not named {ns_prefix(lab)}_<node>")
            continue
        try:
            c = cli.containers.get(name)
        except docker.errors.NotFound:
            continue
        if ours(c.name, c.labels, lab):
            found[name] = c
        else:
            refuse(lab, f"container {name!r}", f"no label {LABEL_LAB}={lab}: labsim did not make it")
    return list(found.values())


def remove_containers(lab: str, names: Sequence[str] = (), cli=None) -> list[str]:
    """Remove (kill) the lab's containers, all at once; returns what was removed."""
    docker = docker_sdk()
    cli = cli or docker_client()

    def rm(c) -> str | None:
        try:
            c.remove(force=True)
            return f"container {c.name}"
        except docker.errors.NotFound:
            return None

    removed: list[str] = []
    for attempt in range(2):
        victims = lab_containers(cli, lab, list(names))
        if victims:
            with ThreadPoolExecutor(max_workers=min(REMOVE_WORKERS, len(victims))) as pool:
                futures = [pool.submit(rm, c) for c in victims]
            errors = [e for f in futures if (e := f.exception()) is not None]
            if errors:
                raise op_error(f"lab {lab}: removing containers", errors[0]) from errors[0]
            removed += [r for f in futures if (r := f.result())]
        gone = {r.split(" ", 1)[1] for r in removed}
        if attempt or all(n in gone for n in names if isinstance(n, str) and n.startswith(ns_prefix(lab) + "_")):
            break
        # a recorded container not found: its create may still be in flight in dockerd
        # (its `labsim up` was killed mid-request); look once more
        time.sleep(0.3)
    return removed


def destroy_docker_state(state: LabState, grace_s: float = 1.0, cli=None) -> list[str]:
    """Remove the lab's containers (by state and by label), then what netns's teardown
    removes: host processes (slirp4netns), the hub namespace, files and the state itself.
    If docker cannot be reached while containers are recorded, nothing is removed and the
    state stays for a later `labsim down`."""
    try:
        removed = remove_containers(state.lab, state.containers, cli=cli)
    except EnvironmentMissingError:
        if state.containers:
            raise
        removed = []
    try:
        removed += remove_networks(state.lab, cli=cli)
    except EnvironmentMissingError:
        pass  # no docker: no Docker network either
    # processes in containers died with them; host ones and the hub go here
    return removed + destroy_state(state, grace_s)


def container_labs() -> set[str]:
    """Labs that have containers or Docker networks on this host (for gc and down); empty
    if docker is not reachable."""
    try:
        cli = docker_client(timeout=10)
    except EnvironmentMissingError:
        return set()
    try:
        labs = {c.labels.get(LABEL_LAB) for c in
                cli.containers.list(all=True, filters={"label": LABEL_LAB})
                if ours(c.name, c.labels, c.labels.get(LABEL_LAB))}
        labs |= {n.attrs.get("Labels", {}).get(LABEL_LAB) for n in
                 cli.networks.list(filters={"label": LABEL_LAB})
                 if ours(n.name, n.attrs.get("Labels"), n.attrs.get("Labels", {}).get(LABEL_LAB))}
        return {lab for lab in labs if valid_lab(lab)}
    finally:
        cli.close()
