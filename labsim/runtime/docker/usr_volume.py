"""The node image's /usr as a Docker volume, mounted read-only over /usr in every container
of labsim's node image.

Why: Docker's storage driver on this kind of machine is fuse-overlayfs (`docker info`), so
every file a process in a container opens or maps from the image is a round trip to a
user-space process, one per container, while seven containers start at once on two cores;
the page cache is not shared between those mounts either, so each container reads python3
and every daemon's binary again. /usr holds what the node's processes open on the way up:
the interpreter and the Python standard library of the launcher and of labsim's in-node
programs, unbound, pdns, tayga, ip, install and their shared libraries. A volume lives on
the host's own file system and is bind-mounted, so those opens go straight to the kernel.
Measured on apple-review (7 nodes, interleaved rounds, labsim's part above Docker's floor):
+0.66 s with nothing mounted, +0.37 s with /usr/lib alone (12 rounds), /usr whole another
~0.1 s less (14 rounds; docs/facts.md).

A node of the image then runs the image's own `tini` as its init (`runtime.NODE_INIT`), not
Docker's `--init`: Docker mounts its init at /sbin/docker-init, which is /usr/sbin on a
merged-/usr Debian, before the volumes, so the volume would hide it. Both are tini 0.19.

Docker fills an empty volume from the image's directory when a container that mounts it is
created, daemon-side and in one call: `ensure` makes the volume, then creates (and removes)
one container that mounts it, under a lock, so parallel bring-ups never copy twice. A node
mounts it without `nocopy`: should a volume ever be left empty (its filling container never
created), the first node's create fills it. It is read-only in every node (nothing a node
runs can change another node's programs), and kept as long as its image: a build removes
the volumes of images that are gone, those of the earlier /usr/lib-only layout included.
Only labsim's own image gets one; a user's image (kind `container`) is left as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from labsim.errors import RuntimeOpError
from labsim.runtime.docker.client import op_error

PREFIX = "labsim-node-usr-"
LEGACY_PREFIXES = ("labsim-node-lib-",)  # /usr/lib only (labsim 0.1 until the move to /usr)
TARGET = "/usr"
LABEL_IMAGE = "labsim.image"  # the image ID the volume was filled from
LOCK = "/run/lock/labsim-node-usr.lock"


def volume_name(image_id: str) -> str:
    """`labsim-node-usr-<12 hex digits of the image ID>`."""
    return PREFIX + image_id.split(":", 1)[-1][:12]


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure(api, image_id: str, say=None) -> str:
    """The volume of `image_id` (a full ID), made and filled first if missing. `api`: docker-py's
    APIClient. One inspect when it exists (~2 ms); ~2.5 s to fill it here otherwise."""
    import docker.errors

    name = volume_name(image_id)
    with contextlib.suppress(docker.errors.NotFound):
        api.inspect_volume(name)
        return name
    with _locked():
        with contextlib.suppress(docker.errors.NotFound):
            api.inspect_volume(name)
            return name  # another process filled it while this one waited
        if say is not None:
            say(f"copying the node image's {TARGET} into the volume {name} (once per image)")
        try:
            api.create_volume(name, labels={LABEL_IMAGE: image_id})
            cid = api.create_container(image_id, ["true"], name=f"{name}-fill", labels={LABEL_IMAGE: image_id},
                                       host_config=api.create_host_config(binds=[f"{name}:{TARGET}:rw"],
                                                                          network_mode="none"))["Id"]
            api.remove_container(cid, force=True)
        except docker.errors.DockerException as exc:
            with contextlib.suppress(docker.errors.DockerException):
                api.remove_volume(name, force=True)
            raise op_error(f"filling the volume {name} from the node image's {TARGET}", exc) from exc
    return name


def ours(volumes: list[dict]) -> list[dict]:
    """labsim's /usr volumes, and those of the earlier /usr/lib layout, among `docker volume
    ls` entries (name and label both)."""
    return [v for v in volumes if (v.get("Name") or "").startswith((PREFIX, *LEGACY_PREFIXES))
            and LABEL_IMAGE in (v.get("Labels") or {})]


def remove_stale(api, image_ids: set[str]) -> list[str]:
    """Remove labsim's /usr volumes whose image is not in `image_ids` (full IDs), and every
    one of the /usr/lib layout (no node mounts those any more); one in use stays (Docker
    refuses). A filling container left by a killed `ensure` (created,
    never started) goes first. Returns the names removed."""
    import docker.errors

    gone = []
    for c in api.containers(all=True, filters={"label": LABEL_IMAGE}):
        if c.get("State") == "created":
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(c["Id"], force=True)
    for vol in ours(api.volumes().get("Volumes") or []):
        if vol["Name"].startswith(LEGACY_PREFIXES) or vol["Labels"][LABEL_IMAGE] not in image_ids:
            try:
                api.remove_volume(vol["Name"])
                gone.append(vol["Name"])
            except docker.errors.APIError:
                pass
    return gone


def state(api, image_id: str) -> str:
    """For `labsim image status`: the volume's name and whether it is there."""
    import docker.errors

    name = volume_name(image_id)
    try:
        api.inspect_volume(name)
    except docker.errors.NotFound:
        return f"{name}: missing (made at the next bring-up or `labsim image build`)"
    except docker.errors.DockerException as exc:
        raise RuntimeOpError(f"inspecting the volume {name}: {exc}") from exc
    return f"{name}: present, read-only at {TARGET} in every node"
