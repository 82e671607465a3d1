"""The labsim node image: every daemon labsim runs, built locally (no registry needed).

    labsim image build [--offline] [--force]     build labsim/node:<version> if needed
    labsim image status                          what is there, and is it current

One package list (`docker/packages.txt`) and one `docker/Dockerfile` (`FROM $BASE`, then
`apt-get install` of that list). Two bases:

- online: `debian:bookworm-slim`, pulled from a registry;
- offline (the only way on a machine without a registry): a minbase bookworm root file
  system made with debootstrap from the archive the host's apt already uses (read from
  /etc/apt/sources.list.d/*.sources or sources.list; nothing host-specific is in the repo),
  `docker import`ed as `labsim/base:bookworm-<hash>` and kept, so a changed package list
  rebuilds only the package layer.

The final image carries the label `labsim.packages=<hash of packages.txt and Dockerfile>`;
when an image with the current hash exists, a build is a no-op (a few milliseconds).
The debootstrap directory is removed on every exit path (error, Ctrl-C, SIGTERM); one left
by a SIGKILLed build is removed by the next build.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import typer

from . import __version__
from .builtin import data_dir
from .errors import EnvironmentMissingError, RuntimeOpError
from .runtime.docker import docker_client as client  # one way to reach docker, with one error

SUITE = "bookworm"
ONLINE_BASE = "debian:bookworm-slim"
IMAGE_REPO = "labsim/node"
BASE_REPO = "labsim/base"
LABEL_PACKAGES = "labsim.packages"
LABEL_VERSION = "labsim.version"
LABEL_BASE = "labsim.base"
APT_DIR = Path("/etc/apt")
TMP_PARENT = Path("/var/tmp")  # not /tmp: debootstrap runs programs from the tree (no noexec)
TMP_PREFIX = "labsim-rootfs-"
BUILD_TIMEOUT_S = 1800


def image_name() -> str:
    return f"{IMAGE_REPO}:{__version__}"


def docker_dir() -> Path:
    """The directory holding Dockerfile and packages.txt (`docker/`, shipped in the wheel)."""
    env = os.environ.get("LABSIM_DOCKER_DIR")
    return Path(env) if env else data_dir("docker")


def packages() -> list[str]:
    text = (docker_dir() / "packages.txt").read_text()
    return [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]


def packages_hash() -> str:
    """What the image is made of: the package list (as a set) and the Dockerfile."""
    h = hashlib.sha256()
    h.update("\n".join(sorted(set(packages()))).encode())
    h.update(b"\0" + (docker_dir() / "Dockerfile").read_bytes())
    return h.hexdigest()[:16]


def say(msg: str) -> None:
    print(f"[labsim image] {msg}", file=sys.stderr, flush=True)


# -- apt sources --------------------------------------------------------------------------
@dataclass
class AptSource:
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    signed_by: str | None = None
    origin: str = ""

    def deb822(self, suites: list[str]) -> str:
        lines = [f"Types: {' '.join(self.types)}", f"URIs: {' '.join(self.uris)}",
                 f"Suites: {' '.join(suites)}", f"Components: {' '.join(self.components)}"]
        if self.signed_by:
            lines.append(f"Signed-By: {self.signed_by}")
        return "\n".join(lines) + "\n"


def _parse_deb822(text: str, origin: str) -> list[AptSource]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += "\n" + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "uris" not in fields or fields.get("enabled", "yes").lower() == "no":
            continue
        signed = fields.get("signed-by")
        out.append(AptSource(fields.get("types", "deb").split(), fields["uris"].split(),
                             fields.get("suites", "").split(), fields.get("components", "").split(),
                             signed if signed and "\n" not in signed else None, origin))
    return out


def _parse_one_line(text: str, origin: str) -> list[AptSource]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        opts = dict(o.split("=", 1) for o in (m.group(2) or "").strip(" []").split() if "=" in o)
        out.append(AptSource([m.group(1)], [m.group(3)], [m.group(4)], m.group(5).split(),
                             opts.get("signed-by"), origin))
    return out


def apt_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """The host's enabled apt sources, in apt's reading order."""
    out: list[AptSource] = []
    main = apt_dir / "sources.list"
    if main.is_file():
        out += _parse_one_line(main.read_text(), str(main))
    d = apt_dir / "sources.list.d"
    for f in sorted(d.glob("*")) if d.is_dir() else []:
        if f.suffix == ".list":
            out += _parse_one_line(f.read_text(), str(f))
        elif f.suffix == ".sources":
            out += _parse_deb822(f.read_text(), str(f))
    return out


def debian_archive(suite: str = SUITE, apt_dir: Path = APT_DIR) -> AptSource:
    """The host's source for `suite` main (where debootstrap fetches the base system)."""
    for src in apt_sources(apt_dir):
        if "deb" in src.types and suite in src.suites and "main" in src.components:
            return src
    raise EnvironmentMissingError(
        f"no apt source for {suite} main in {apt_dir}/sources.list(.d): the offline image "
        "build fetches its packages from the archive apt uses")


def image_sources(suite: str = SUITE, apt_dir: Path = APT_DIR) -> str:
    """deb822 text for the image's apt: the host's entries for `suite`, -updates and -security
    (same archives, so the image gets the versions the host would)."""
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    parts = []
    for src in apt_sources(apt_dir):
        suites = [s for s in src.suites if s in wanted]
        if "deb" in src.types and suites and "main" in src.components:
            parts.append(src.deb822(suites))
    return "\n".join(parts)


# -- docker helpers -----------------------------------------------------------------------
def _find(cli, label: str, value: str):
    # the runner image (labsim/labsim) is built FROM the node image and inherits its labels:
    # never take it for the node image
    from .runner_image import LABEL_RUNNER

    imgs = [i for i in cli.images.list(filters={"label": f"{label}={value}"})
            if LABEL_RUNNER not in (i.labels or {})]
    return imgs[0] if imgs else None


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


def build_image(offline: bool = False, force: bool = False) -> str:
    """Build `labsim/node:<version>` unless an image for the current package list exists
    (`force`: rebuild anyway, base included). Returns the image name."""
    cli = client(timeout=BUILD_TIMEOUT_S)  # EnvironmentMissingError without docker (or its SDK)
    import docker

    name, want = image_name(), packages_hash()
    t0 = time.monotonic()
    try:
        img = None if force else _find(cli, LABEL_PACKAGES, want)
        if img is not None:
            if name not in img.tags:
                img.tag(IMAGE_REPO, __version__)
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
            if prev is not None and prev.id != cli.images.get(now).id:
                with contextlib.suppress(docker.errors.APIError):
                    cli.images.remove(prev.id)
                    say(f"removed the superseded image {prev.short_id}")
        say(f"{name} built in {time.monotonic() - t0:.1f}s")
        return name
    except docker.errors.DockerException as exc:
        raise RuntimeOpError(f"building {name}: {exc}") from exc
    finally:
        cli.close()


def _find_tag(cli, name: str):
    import docker

    try:
        return cli.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _online_base(cli) -> str | None:
    import docker

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


def _stream_build(cli, base: str, name: str, want: str, nocache: bool, tail: list[str],
                  layers: list[str]) -> None:
    with _term_as_interrupt():
        for chunk in cli.api.build(path=str(docker_dir()), tag=name, buildargs={"BASE": base},
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
def base_hash(src: AptSource, sources_text: str) -> str:
    h = hashlib.sha256(f"{SUITE}\0minbase\0{src.uris[0]}\0{sources_text}".encode())
    return h.hexdigest()[:12]


def offline_base_name() -> str:
    """`labsim/base:bookworm-<hash of the archive and sources the host's apt uses>`."""
    return f"{BASE_REPO}:{SUITE}-{base_hash(debian_archive(), image_sources())}"


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
    with _term_as_interrupt(), rootfs_dir() as root:
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


# -- temp directories ---------------------------------------------------------------------
@contextlib.contextmanager
def rootfs_dir() -> Iterator[Path]:
    """A fresh directory for debootstrap, removed (mounts first) however the block exits."""
    path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=TMP_PARENT))
    try:
        yield path
    finally:
        remove_rootfs(path)


def remove_rootfs(path: Path) -> None:
    for mnt in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    # a bind mount of /dev or /proc must be gone before any rmtree; refuse otherwise
    if _mounts_under(path):
        raise RuntimeOpError(f"{path}: mounts are left under it; not removing it")
    shutil.rmtree(path, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if mnt == str(path) or mnt.startswith(prefix):
            found.append(mnt)
    return found


def remove_stale_rootfs() -> list[str]:
    """Directories left by a build that was SIGKILLed (its PID is in the name)."""
    removed = []
    for d in TMP_PARENT.glob(f"{TMP_PREFIX}*"):
        m = re.match(rf"{TMP_PREFIX}(\d+)-", d.name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            remove_rootfs(d)
            removed.append(str(d))
    return removed


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (so `finally` blocks clean up); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


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
    st.bases = [t for i in cli.images.list(name=BASE_REPO) for t in i.tags]
    return st


image_app = typer.Typer(help="The labsim node image for the docker runtime.", no_args_is_help=True)


@image_app.command("build")
def build_cmd(offline: bool = typer.Option(False, "--offline", help="Do not try a registry: "
                                           "debootstrap the base from the archive apt uses."),
              force: bool = typer.Option(False, "--force", help="Rebuild even if current "
                                         "(the offline base too)."),
              runner: bool = typer.Option(False, "--runner", help="Build the runner image labsim/labsim:"
                                          "<version> (labsim + every daemon; entrypoint labsim).")) -> None:
    """Build labsim/node:<version> from docker/packages.txt (a no-op when it is current)."""
    from .errors import LabsimError
    from .runner_image import build_runner

    try:
        print(build_runner(client(timeout=BUILD_TIMEOUT_S), ensure_image, force, say) if runner
              else build_image(offline=offline, force=force))
    except KeyboardInterrupt:
        say("interrupted; temporary files removed")
        raise typer.Exit(130)
    except LabsimError as exc:
        say(f"error: {exc}")
        raise typer.Exit(exc.exit_code)


@image_app.command("status")
def status_cmd() -> None:
    """Is the node image built, and does it match docker/packages.txt?"""
    from .errors import LabsimError

    try:
        st = status()
    except LabsimError as exc:
        say(f"error: {exc}")
        raise typer.Exit(exc.exit_code)
    if not st.present:
        print(f"{st.name}: missing (labsim image build)")
    else:
        state = "current" if st.current else f"STALE (built from {st.have}, packages.txt is {st.want})"
        print(f"{st.name}: {state}; id {st.id}, {st.size_mb} MB, created {st.created}")
    print(f"package list: {len(packages())} packages, {LABEL_PACKAGES}={st.want}")
    print(f"offline bases: {', '.join(st.bases) or 'none'}")
    raise typer.Exit(0 if st.current else 1)
