"""Python packages for an image's interpreter, installed with the host's pip into a build
context directory (the image only copies them: no pip and no network inside the build).
Used by the runner image (labsim's dependencies) and the node image (docker/node-python.txt)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from labsim.errors import RuntimeOpError

IMAGE_PYTHON = (3, 11)  # Debian bookworm's python3, the node image's interpreter
PIP_TIMEOUT_S = 900


def pip_target_args(always: bool = False) -> list[str]:
    """Wheels for the image's interpreter when the host's differs (another Python, macOS);
    `always`: even when it looks the same (a host with a newer glibc than bookworm's would
    otherwise pick wheels the image cannot load)."""
    same = sys.version_info[:2] == IMAGE_PYTHON and sys.platform == "linux"
    if same and not always:
        return []
    arch = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(), platform.machine())
    return ["--python-version", f"{IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}", "--implementation", "cp",
            "--only-binary=:all:", "--platform", f"manylinux2014_{arch}",
            "--platform", f"manylinux_2_28_{arch}", "--platform", f"manylinux_2_34_{arch}"]


def pip_install(target: Path, requirements: list[str], what: str, wheels_only: bool = False) -> None:
    """`pip install --target target` of `requirements` for the image's Python. `what` names
    them in the error; `wheels_only`: always wheels for the image's platform (pip_target_args)."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(target), *pip_target_args(wheels_only), *requirements]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeOpError(f"pip took more than {PIP_TIMEOUT_S}s installing {what}") from None
    if proc.returncode != 0:
        raise RuntimeOpError(f"pip could not install {what} for the image's Python:\n"
                             + proc.stderr[-2000:])
