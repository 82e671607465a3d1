"""One way to reach docker (the Python SDK), with one error when it cannot be reached, and
the names and labels every labsim container and network carries."""

from __future__ import annotations

from labsim.errors import EnvironmentMissingError, RuntimeOpError
from labsim.runtime.enter import node_ns

LABEL_LAB = "labsim.lab"
LABEL_NODE = "labsim.node"


def docker_sdk():
    """The `docker` package, imported when first needed (the netns runtime never needs it)."""
    try:
        import docker
    except ImportError as exc:
        raise EnvironmentMissingError("the docker runtime needs the Python package `docker` "
                                      "(pip install 'docker>=7')") from exc
    return docker


DEFAULT_SOCKET = "/var/run/docker.sock"


def unreachable_message(exc: BaseException, env: dict[str, str] | None = None, uid: int | None = None) -> str:
    """What was tried and the usual fixes, for a docker that cannot be reached: the cause in
    a few words (not docker-py's nested tuple cut mid-word), permission named as such."""
    import os

    env = dict(os.environ) if env is None else env
    uid = os.geteuid() if uid is None else uid
    host = env.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"the socket {DEFAULT_SOCKET} (DOCKER_HOST is not set)"
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text or "EACCES" in text:
        cause = "permission denied"
        fix = ("run labsim as root (sudo \"$(command -v labsim)\" …), or give your user access to the "
               "socket (the docker group)") if uid != 0 else "check the socket's owner and mode"
    elif "No such file" in text or "FileNotFoundError" in text or "ConnectionRefused" in text \
            or "Connection refused" in text:
        cause = "nothing is listening there"
        fix = "start Docker (systemctl start docker), or set DOCKER_HOST to where it listens"
    else:
        cause = text.splitlines()[0][:200] if text else type(exc).__name__
        fix = "start Docker, check the socket's permissions, or set DOCKER_HOST"
    return f"docker is not reachable at {where}: {cause}. To fix: {fix}"


def docker_client(timeout: int = 60):
    docker = docker_sdk()
    try:
        cli = docker.from_env(timeout=timeout)
        cli.ping()
        return cli
    except docker.errors.DockerException as exc:
        raise EnvironmentMissingError(unreachable_message(exc)) from exc


def op_error(what: str, exc: BaseException) -> RuntimeOpError:
    """A docker SDK error as labsim's own (the caller chains it with `from exc`)."""
    msg = getattr(exc, "explanation", None) or str(exc)
    return RuntimeOpError(f"{what}: {msg}")


def container_name(lab: str, node: str) -> str:
    return node_ns(lab, node)  # `ls-<lab>_<node>`, the netns runtime's namespace name
