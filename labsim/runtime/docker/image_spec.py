"""What the labsim node image is, without docker: its name, the directory holding its
Dockerfile and package list, and the hash that says whether a built image is current."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from labsim import __version__
from labsim.builtin import data_dir

SUITE = "bookworm"
ONLINE_BASE = "debian:bookworm-slim"
IMAGE_REPO = "labsim/node"
BASE_REPO = "labsim/base"
LABEL_PACKAGES = "labsim.packages"
LABEL_VERSION = "labsim.version"
LABEL_BASE = "labsim.base"
NODE_PYTHON_REQS = "node-python.txt"  # pip requirements for the image's python3 (docker/)


def image_name() -> str:
    return f"{IMAGE_REPO}:{__version__}"


def docker_dir() -> Path:
    """The directory holding Dockerfile and packages.txt (`docker/`, shipped in the wheel)."""
    env = os.environ.get("LABSIM_DOCKER_DIR")
    return Path(env) if env else data_dir("docker")


def packages() -> list[str]:
    text = (docker_dir() / "packages.txt").read_text()
    return [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]


def python_requirements() -> list[str]:
    """The pinned pip requirements for the image's python3 (docker/node-python.txt)."""
    text = (docker_dir() / NODE_PYTHON_REQS).read_text()
    return [r for line in text.splitlines() if (r := line.split("#", 1)[0].strip())]


def packages_hash() -> str:
    """What the image is made of: the package list (as a set), the Python requirements and
    the Dockerfile."""
    h = hashlib.sha256()
    h.update("\n".join(sorted(set(packages()))).encode())
    h.update(b"\0" + "\n".join(python_requirements()).encode())
    h.update(b"\0" + (docker_dir() / "Dockerfile").read_bytes())
    return h.hexdigest()[:16]


def base_hash(archive_uri: str, sources_text: str) -> str:
    """The offline base's identity: the archive debootstrap fetches from and the sources
    the image's apt gets."""
    h = hashlib.sha256(f"{SUITE}\0minbase\0{archive_uri}\0{sources_text}".encode())
    return h.hexdigest()[:12]
