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


def docker_client(timeout: int = 60):
    docker = docker_sdk()
    try:
        cli = docker.from_env(timeout=timeout)
        cli.ping()
        return cli
    except docker.errors.DockerException as exc:
        raise EnvironmentMissingError(f"docker is not reachable: {exc}") from exc


def op_error(what: str, exc: BaseException) -> RuntimeOpError:
    """A docker SDK error as labsim's own (the caller chains it with `from exc`)."""
    msg = getattr(exc, "explanation", None) or str(exc)
    return RuntimeOpError(f"{what}: {msg}")


def container_name(lab: str, node: str) -> str:
    return node_ns(lab, node)  # `ls-<lab>_<node>`, the netns runtime's namespace name
