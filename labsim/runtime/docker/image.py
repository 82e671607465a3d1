"""The labsim node image: every daemon labsim runs, built locally (no registry needed).

    labsim image build [--offline] [--force]     build labsim/node:<version> if needed
    labsim image status                          what is there, and is it current

One package list (`docker/packages.txt`), one pinned pip list (`docker/node-python.txt`:
what the image's python3 needs that Debian lacks, installed on the host for the image's
Python into the build context, as the runner image does) and one `docker/Dockerfile`
(`FROM $BASE`, `apt-get install` of that list, then a copy of the pip-installed tree). Two
bases:

- online: `debian:bookworm-slim`, pulled from a registry;
- offline (the only way on a machine without a registry): a minbase bookworm root file
  system made with debootstrap from the archive the host's apt already uses (read from
  /etc/apt/sources.list.d/*.sources or sources.list; nothing host-specific is in the repo),
  `docker import`ed as `labsim/base:bookworm-<hash>` and kept, so a changed package list
  rebuilds only the package layer.

The final image carries the label `labsim.packages=<hash of packages.txt, node-python.txt
and Dockerfile>`;
when an image with the current hash exists, a build is a no-op (a few milliseconds).
The pure parts (names, hashes, apt sources) are in image_spec and apt_sources; the
debootstrap tree's lifetime in rootfs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labsim import __version__
from labsim.errors import EnvironmentMissingError, RuntimeOpError
from labsim.runtime.docker import usr_volume
from labsim.runtime.docker.apt_sources import AptSource, debian_archive, image_sources
from labsim.runtime.docker.client import docker_client as client
from labsim.runtime.docker.image_pip import pip_install
from labsim.runtime.docker.image_spec import (
    BASE_REPO,
    IMAGE_REPO,
    LABEL_BASE,
    LABEL_PACKAGES,
    LABEL_VERSION,
    ONLINE_BASE,
    SUITE,
    base_hash,
    docker_dir,
    image_name,
    packages,
    packages_hash,
    python_requirements,
)
from labsim.runtime.docker.rootfs import remove_stale_rootfs, rootfs_dir, term_as_interrupt

BUILD_TIMEOUT_S = 1800
IMAGE_PYTHON_DIR = "/opt/labsim-python"  # the pip-installed packages, in the image
# a .pth in a directory on Debian python3's path puts IMAGE_PYTHON_DIR on it, ahead of
# /usr/lib/python3/dist-packages (the pip tree's own dependency versions win)
IMAGE_PTH = "/usr/local/lib/python3.11/dist-packages/labsim-python.pth"
NODE_LABELS = {LABEL_PACKAGES, LABEL_BASE, LABEL_VERSION}  # all an image of ours carries


def say(msg: str) -> None:
    print(f"[labsim image] {msg}", file=sys.stderr, flush=True)


# -- docker helpers -----------------------------------------------------------------------
def _find(cli, label: str, value: str):
    """Our image carrying `label=value`. An image built FROM it (a runner image with labsim
    as its entrypoint) inherits its labels: never take that one for the node image (its
    containers would run `sleep infinity` as a labsim command and exit at once)."""
    # not all=True: the intermediate layers of an image built FROM ours (the runner image)
    # carry our labels and no entrypoint yet, and would pass for the node image
    imgs = cli.images.list(filters={"label": f"{label}={value}"})
    return next((i for i in imgs if _is_ours(i)), None)


def _is_ours(img) -> bool:
    """Built by this module: only our labels, no entrypoint (a node runs `sleep infinity`)."""
    return set(img.labels or {}) <= NODE_LABELS and not (img.attrs.get("Config") or {}).get("Entrypoint")


def current_image(cli=None):
    """The image for this package list, if built (None otherwise)."""
    cli = cli or client()
    return _find(cli, LABEL_PACKAGES, packages_hash())


def ensure_image(cli=None) -> str:
    """The node image's name; built first when missing (online base if it can be pulled,
    else the offline one). `cli`: a docker client to reuse for the (fast) check."""
    cli = cli or client()
    img = _find(cli, LABEL_PACKAGES, packages_hash())
    if img is not None:
        if image_name() not in img.tags:
            img.tag(IMAGE_REPO, __version__)
        return image_name()
    say(f"{image_name()} for this package list is missing: building it (once, ~2 min)")
    return build_image(offline=False, force=False)


def node_image_id(cli=None) -> str:
    """The node image for this package list, by ID (built first when missing). Containers
    start from the ID: a tag is a name anyone on the host can move."""
    cli = cli or client()
    import docker.errors

    with contextlib.suppress(docker.errors.ImageNotFound):
        # the tag, checked as the label search would (~2 ms instead of ~15 ms for the search)
        img = cli.images.get(image_name())
        if (img.labels or {}).get(LABEL_PACKAGES) == packages_hash() and _is_ours(img):
            return img.id
    img = _find(cli, LABEL_PACKAGES, packages_hash())
    if img is None:
        ensure_image(cli)
        img = _find(cli, LABEL_PACKAGES, packages_hash())
    if img is None:
        raise RuntimeOpError(f"{image_name()}: built, but no image carries {LABEL_PACKAGES}={packages_hash()}")
    return img.id


def build_image(offline: bool = False, force: bool = False) -> str:
    """Build `labsim/node:<version>` unless an image for the current package list exists
    (`force`: rebuild anyway, base included). Returns the image name."""
    cli = client(timeout=BUILD_TIMEOUT_S)  # EnvironmentMissingError without docker (or its SDK)
    import docker.errors

    name, want = image_name(), packages_hash()
    t0 = time.monotonic()
    try:
        img = None if force else _find(cli, LABEL_PACKAGES, want)
        if img is not None:
            if name not in img.tags:
                img.tag(IMAGE_REPO, __version__)
            usr_volume.ensure(cli.api, img.id, say=say)
            say(f"{name} is up to date ({LABEL_PACKAGES}={want}, {time.monotonic() - t0:.2f}s)")
            return name
        old = _find_tag(cli, name)
        base = None if offline else _online_base(cli)
        old_base = None
        if base is None:
            old_base = _find_tag(cli, offline_base_name()) if force else None
            base = ensure_offline_base(cli, force=force)
        _docker_build(cli, base, name, want, nocache=force)
        # superseded images go (node first: it is the base's child); kept if a container
        # still uses them
        for prev, now in ((old, name), (old_base, base)):
            if prev is not None and prev.id != cli.images.get(now).id and _ours_alone(prev):
                with contextlib.suppress(docker.errors.APIError):
                    cli.images.remove(prev.id)
                    say(f"removed the superseded image {prev.short_id}")
        # all=True: an untagged image still there (a parent of another) keeps its volume
        for vol in usr_volume.remove_stale(cli.api, {i.id for i in cli.images.list(all=True)}):
            say(f"removed the volume {vol} (its image is gone, or its layout is)")
        usr_volume.ensure(cli.api, cli.images.get(name).id, say=say)
        say(f"{name} built in {time.monotonic() - t0:.1f}s")
        return name
    except docker.errors.DockerException as exc:
        raise RuntimeOpError(f"building {name}: {exc}") from exc
    finally:
        cli.close()


def _ours_alone(img) -> bool:
    """Only images no one else uses by name go: another repository's tag (an image built
    FROM ours and tagged ours by mistake) keeps it."""
    with contextlib.suppress(Exception):
        img.reload()
    return _is_ours(img) and all(t.split(":", 1)[0] in (IMAGE_REPO, BASE_REPO) for t in img.tags)


def _find_tag(cli, name: str):
    import docker.errors

    try:
        return cli.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _online_base(cli) -> str | None:
    import docker.errors

    if _find_tag(cli, ONLINE_BASE) is not None:
        return ONLINE_BASE
    say(f"pulling {ONLINE_BASE}")
    try:
        cli.images.pull(ONLINE_BASE)
        return ONLINE_BASE
    except docker.errors.DockerException as exc:
        msg = str(exc).splitlines()[0][:160]
        say(f"cannot pull {ONLINE_BASE} ({msg}): building the base offline")
        return None


def _docker_build(cli, base: str, name: str, want: str, nocache: bool) -> None:
    say(f"docker build {name} FROM {base}: apt-get install {len(packages())} packages "
        "(about a minute)")
    t = time.monotonic()
    tail: list[str] = []
    layers: list[str] = []  # intermediate images, removed if the build fails
    try:
        _stream_build(cli, base, name, want, nocache, tail, layers)
    except BaseException:
        for layer in reversed(layers):
            with contextlib.suppress(Exception):
                cli.images.remove(layer, noprune=False)
        raise
    say(f"docker build done in {time.monotonic() - t:.1f}s")


def make_context(ctx: Path) -> None:
    """The build context: docker/ and `python/`, a tree the Dockerfile copies to / (the
    pip-installed packages and the .pth naming them)."""
    shutil.copytree(docker_dir(), ctx, dirs_exist_ok=True)
    tree = ctx / "python"
    site = tree / IMAGE_PYTHON_DIR.lstrip("/")
    site.mkdir(parents=True)
    reqs = python_requirements()
    say(f"pip install for the image's python3: {' '.join(reqs)}")
    pip_install(site, reqs, "docker/node-python.txt", wheels_only=True)
    pth = tree / IMAGE_PTH.lstrip("/")
    pth.parent.mkdir(parents=True)
    pth.write_text(IMAGE_PYTHON_DIR + "\n")


def _stream_build(cli, base: str, name: str, want: str, nocache: bool, tail: list[str],
                  layers: list[str]) -> None:
    with term_as_interrupt(), tempfile.TemporaryDirectory(prefix="labsim-node-") as ctx:
        make_context(Path(ctx))
        for chunk in cli.api.build(path=ctx, tag=name, buildargs={"BASE": base},
                                   labels={LABEL_PACKAGES: want},  # one label = one step
                                   network_mode="host", rm=True, forcerm=True, pull=False,
                                   nocache=nocache, decode=True):
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise RuntimeOpError(f"docker build {name} failed: {detail}\n" + "".join(tail[-20:]))
            line = chunk.get("stream") or ""
            if line.strip():
                tail.append(line if line.endswith("\n") else line + "\n")
                if m := re.match(r"^ ---> ([0-9a-f]{12})$", line.strip("\n")):
                    layers.append(m.group(1))
                if line.startswith("Step "):
                    say(line.strip()[:120])


# -- the offline base ---------------------------------------------------------------------
def offline_base_name() -> str:
    """`labsim/base:bookworm-<hash of the archive and sources the host's apt uses>`."""
    return f"{BASE_REPO}:{SUITE}-{base_hash(debian_archive().uris[0], image_sources())}"


def ensure_offline_base(cli, force: bool = False) -> str:
    """The offline base: debootstrap minbase + docker import, made once."""
    src = debian_archive()
    sources = image_sources()
    name = offline_base_name()
    tag = name.split(":", 1)[1]
    if not force and _find_tag(cli, name) is not None:
        say(f"offline base {name} exists")
        return name
    if shutil.which("debootstrap") is None:
        raise EnvironmentMissingError("the offline image build needs debootstrap "
                                      "(apt-get install debootstrap)")
    remove_stale_rootfs()
    with term_as_interrupt(), rootfs_dir() as root:
        _debootstrap(root, src)
        apt = root / "etc" / "apt"
        (apt / "sources.list").unlink(missing_ok=True)
        kept = "\n\n".join(p.strip() for p in sources.split("\n\n")
                         if not (m := re.search(r"^Signed-By: (/\S+)$", p, re.M))
                         or (root / m.group(1).lstrip("/")).exists())
        (apt / "sources.list.d").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list.d" / "debian.sources").write_text(kept + "\n" if kept else src.deb822([SUITE]))
        _import(cli, root, BASE_REPO, tag)
    return name


def _debootstrap(root: Path, src: AptSource) -> None:
    argv = ["debootstrap", "--variant=minbase", "--components=main", "--include=ca-certificates"]
    if src.signed_by and Path(src.signed_by).is_file():
        argv.append(f"--keyring={src.signed_by}")
    argv += [SUITE, str(root), src.uris[0]]
    say(f"debootstrap --variant=minbase {SUITE} from {src.uris[0]} (about 30-60 s)")
    t = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    tail: list[str] = []
    phases: set[str] = set()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line])[-30:]
            m = re.match(r"^I: (\w+)", line)
            if m and m.group(1) not in phases | {"Validating"}:
                phases.add(m.group(1))
                say(f"debootstrap: {line.strip()[:100]}")
        rc = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: stop debootstrap before its tree is removed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if rc != 0:
        raise RuntimeOpError(f"debootstrap failed (exit {rc}):\n" + "".join(tail))
    say(f"debootstrap done in {time.monotonic() - t:.1f}s")


def _import(cli, root: Path, repo: str, tag: str) -> None:
    say(f"docker import {repo}:{tag}")
    t = time.monotonic()
    # --one-file-system: never descend into a mount debootstrap may have left (proc, sys)
    tar = subprocess.Popen(["tar", "--numeric-owner", "--one-file-system", "-C", str(root),
                            "-cf", "-", "."], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def chunks() -> Iterator[bytes]:
        assert tar.stdout is not None
        while block := tar.stdout.read(1 << 20):
            yield block

    try:
        cli.api.import_image(src=chunks(), repository=repo, tag=tag, stream_src=True,
                             changes=[f"LABEL {LABEL_BASE}={tag}", 'CMD ["bash"]'])
    finally:
        if tar.poll() is None:
            tar.kill()
        _, err = tar.communicate()
    if tar.returncode != 0:
        raise RuntimeOpError(f"tar of the root file system failed: {err.decode(errors='replace')}")
    say(f"import done in {time.monotonic() - t:.1f}s")


# -- status -------------------------------------------------------------------------------
@dataclass
class ImageStatus:
    name: str
    want: str
    present: bool = False
    current: bool = False
    have: str | None = None
    id: str | None = None
    size_mb: float | None = None
    created: str | None = None
    bases: list[str] = field(default_factory=list)
    usr_volume: str | None = None  # the image's /usr volume (usr_volume.state)


def status() -> ImageStatus:
    cli = client()
    st = ImageStatus(image_name(), packages_hash())
    img = _find_tag(cli, st.name)
    if img is not None:
        st.present = True
        st.have = (img.labels or {}).get(LABEL_PACKAGES)
        st.current = st.have == st.want
        st.id = img.short_id
        st.size_mb = round(img.attrs.get("Size", 0) / 1e6, 1)
        st.created = img.attrs.get("Created")
        st.usr_volume = usr_volume.state(cli.api, img.id)
    st.bases = [t for i in cli.images.list(name=BASE_REPO) for t in i.tags]
    return st

