"""The runner image, `labsim/labsim:<version>`: labsim and every daemon in one image, so
labsim runs wherever Docker does (macOS with Docker Desktop, Docker-only CI runners):

    docker run --rm --privileged -v "$PWD:/lab" -w /lab labsim/labsim:<version> run scenarios/

Built FROM the node image (`labsim/node:<version>`, which has the daemons; built first when
missing). The build context is made on the host: the labsim package as installed here (its
shipped data included) and its dependencies, installed with the host's pip for the image's
Python (Debian bookworm's 3.11) into `site/`; the image only copies it. The label
`labsim.runner=<hash of the package files, the dependency list and the base image>` makes a
repeated build a no-op.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import tempfile
import time
from pathlib import Path

from labsim import __version__
from labsim.builtin import DATA_DIRS, PACKAGE_DIR, data_dir
from labsim.errors import RuntimeOpError
from labsim.runtime.docker.image_pip import pip_install

RUNNER_REPO = "labsim/labsim"
LABEL_RUNNER = "labsim.runner"  # the node image finder (runtime.docker.image) skips images with it
BUILD_TIMEOUT_S = 900


def runner_name() -> str:
    return f"{RUNNER_REPO}:{__version__}"


def dependencies() -> list[str]:
    """labsim's runtime requirements (no extras), from its installed metadata."""
    reqs = importlib.metadata.requires("labsim") or []
    return sorted(r for r in reqs if "extra ==" not in r)


def _package_files() -> list[tuple[str, Path]]:
    """(path in the image's site dir, file on the host) for the labsim package and its data."""
    out = []
    for p in sorted(PACKAGE_DIR.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            out.append((str(Path("labsim") / p.relative_to(PACKAGE_DIR)), p))
    if not (PACKAGE_DIR / "_data").is_dir():  # a checkout: its top-level data directories
        for kind in DATA_DIRS:
            d = data_dir(kind)
            for p in sorted(d.rglob("*")) if d.is_dir() else []:
                if p.is_file():
                    out.append((str(Path("labsim") / "_data" / kind / p.relative_to(d)), p))
    return out


def runner_hash(base_id: str) -> str:
    h = hashlib.sha256(f"{__version__}\0{base_id}\0{'|'.join(dependencies())}".encode())
    for rel, p in _package_files():
        h.update(b"\0" + rel.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def make_context(ctx: Path, say) -> None:
    site = ctx / "site"
    site.mkdir(parents=True)
    say("installing labsim's dependencies for the image's Python into the build context")
    pip_install(site, dependencies(), "labsim's dependencies (runner image)")
    for rel, p in _package_files():
        dst = site / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    shutil.copy2(data_dir("docker") / "runner.Dockerfile", ctx / "Dockerfile")


def build_runner(cli, ensure_base, force: bool = False, say=print) -> str:
    """Build `labsim/labsim:<version>` with docker client `cli` FROM the node image that
    `ensure_base(cli)` names (building it when missing); a no-op when current."""
    import docker.errors  # binds `docker` too; mypy sees `docker.errors` only when named

    name = runner_name()
    t0 = time.monotonic()
    try:
        base = ensure_base(cli)
        want = runner_hash(cli.images.get(base).id)
        current = cli.images.list(filters={"label": f"{LABEL_RUNNER}={want}"})
        if current and not force:
            if name not in current[0].tags:
                current[0].tag(RUNNER_REPO, __version__)
            say(f"{name} is up to date ({LABEL_RUNNER}={want})")
            return name
        old = cli.images.list(name=name)
        with tempfile.TemporaryDirectory(prefix="labsim-runner-") as tmp:
            make_context(Path(tmp), say)
            say(f"docker build {name} FROM {base}")
            for chunk in cli.api.build(path=tmp, tag=name, buildargs={"BASE": base},
                                       labels={LABEL_RUNNER: want}, rm=True, forcerm=True,
                                       pull=False, network_mode="host", decode=True):
                if "error" in chunk:
                    raise RuntimeOpError(f"docker build {name} failed: {chunk['error']}")
        for prev in old:  # the superseded runner image, unless a container still uses it
            if prev.id != cli.images.get(name).id:
                try:
                    cli.images.remove(prev.id)
                except docker.errors.APIError:
                    pass
        say(f"{name} built in {time.monotonic() - t0:.1f}s")
        return name
    except docker.errors.DockerException as exc:
        raise RuntimeOpError(f"building {name}: {exc}") from exc
