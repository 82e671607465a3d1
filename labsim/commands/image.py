"""`labsim image build|status`: the docker runtime's node image. Added to the app by cli.py,
whose `Commands.invoke` turns errors into exit codes."""

from __future__ import annotations

import typer

image_app = typer.Typer(help="The labsim node image for the docker runtime.", no_args_is_help=True)


@image_app.command("build")
def image_build(offline: bool = typer.Option(False, "--offline", help="Do not try a registry: "
                                             "debootstrap the base from the archive apt uses."),
                force: bool = typer.Option(False, "--force", help="Rebuild even if current "
                                           "(the offline base too)."),
                runner: bool = typer.Option(False, "--runner", help="Build the runner image labsim/labsim:"
                                            "<version> (labsim + every daemon; entrypoint labsim).")) -> None:
    """Build labsim/node:<version> from docker/packages.txt (a no-op when it is current)."""
    from labsim.commands.runner_image import build_runner
    from labsim.runtime.docker.client import docker_client
    from labsim.runtime.docker.image import BUILD_TIMEOUT_S, build_image, ensure_image, say

    print(build_runner(docker_client(timeout=BUILD_TIMEOUT_S), ensure_image, force, say) if runner
          else build_image(offline=offline, force=force))


@image_app.command("status")
def image_status() -> None:
    """Is the node image built, and does it match docker/packages.txt? Exit 0 when current,
    1 when missing or stale."""
    from labsim.runtime.docker.image import status as image_state
    from labsim.runtime.docker.image_spec import LABEL_PACKAGES, packages

    st = image_state()
    if not st.present:
        print(f"{st.name}: missing (labsim image build)")
    else:
        state = "current" if st.current else f"STALE (built from {st.have}, packages.txt is {st.want})"
        print(f"{st.name}: {state}; id {st.id}, {st.size_mb} MB, created {st.created}")
        print(f"/usr volume: {st.usr_volume}")
    print(f"package list: {len(packages())} packages, {LABEL_PACKAGES}={st.want}")
    print(f"offline bases: {', '.join(st.bases) or 'none'}")
    raise typer.Exit(0 if st.current else 1)
