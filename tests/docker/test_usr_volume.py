"""The node image's /usr as a read-only volume (labsim/runtime/docker/usr_volume.py): a node
sees exactly the image's tree there, cannot write it, and reads it off the host's file
system instead of through fuse-overlayfs, with the image's tini as its init; a build keeps
one volume per image and removes the volumes of images that are gone, and those of the
earlier /usr/lib layout.

Outside CI the module skips when docker is unreachable; in CI that is a failure."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.root

TOPO = """name: x
networks:
  lan: {ipv6: "2001:db8:77::/64"}
nodes:
  r1: {kind: router, links: [lan]}
"""
# names, types, modes, owners, link targets and file sizes of everything under /usr,
# in a stable order (a directory's own size is its file system's business: not compared)
LISTING = ("find /usr \\( -type d -printf '%p %y %m %u %g\\n' \\) -o -printf '%p %y %m %u %g %s %l\\n'"
           " | LC_ALL=C sort | sha256sum")


def sh(container_or_image: list[str], script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *container_or_image, "sh", "-c", script], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def node(docker_image, lab_name):
    from labsim.bringup import lab
    from labsim.loader import load_lab_text

    lab.up(load_lab_text(TOPO, name=lab_name), runtime="docker")
    yield f"ls-{lab_name}_r1"
    lab.down(lab_name)


def test_a_node_reads_the_images_usr_from_a_read_only_volume(node, docker_image):
    from labsim.runtime.docker.image import node_image_id
    from labsim.runtime.docker.usr_volume import volume_name

    mounts = subprocess.run(["docker", "inspect", node, "--format",
                             "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}\n{{end}}"],
                            capture_output=True, text=True, check=True).stdout
    assert f"volume {volume_name(node_image_id())} /usr false" in mounts
    fs = sh(["exec", node], "grep ' /usr ' /proc/mounts").stdout.split()
    assert fs[3].split(",")[0] == "ro" and "fuse" not in fs[2], fs  # the host's own file system
    wrote = sh(["exec", node], "touch /usr/lib/x")
    assert wrote.returncode != 0 and "Read-only file system" in wrote.stderr
    # the same tree as the image's own /usr, seen in a bare container of the image
    in_node = sh(["exec", node], LISTING)
    bare = sh(["run", "--rm", "--network", "none", node_image_id()], LISTING)
    assert in_node.returncode == bare.returncode == 0, (in_node.stderr, bare.stderr)
    assert in_node.stdout == bare.stdout
    # and the interpreter and a daemon's libraries load from it
    assert sh(["exec", node], "python3 -c 'import ssl, json' && curl --version").returncode == 0
    # PID 1 is the image's tini (Docker's --init would be hidden under the volume), and the
    # launcher under it has become `sleep infinity` once the bring-up was done
    init = sh(["exec", node], "tr '\\0' ' ' </proc/1/cmdline; echo; readlink /proc/1/exe").stdout.split("\n")
    assert init[0].startswith("/usr/bin/tini -- ") and init[1] == "/usr/bin/tini", init
    assert "sleep infinity" in sh(["exec", node], "ps -o args= --ppid 1").stdout


def test_each_image_gets_one_volume_and_a_gone_images_volume_is_removed(docker_image):
    import docker
    from labsim.runtime.docker import usr_volume
    from labsim.runtime.docker.image import node_image_id

    cli = docker.from_env()
    api = cli.api
    node_id = node_image_id()
    # a second image of the node image's layers (a new ID): commit of a created container
    cid = api.create_container(node_id, ["true"], labels={"labsim.test": "usr-volume"})["Id"]
    other = api.commit(cid, repository="labsim-test-usrvol", tag="x")["Id"]
    api.remove_container(cid, force=True)
    name = usr_volume.volume_name(other)
    legacy = usr_volume.LEGACY_PREFIXES[0] + node_id.split(":", 1)[-1][:12]
    try:
        # two processes at once: one fills the volume, the other finds it filled
        code = ("import sys, docker; from labsim.runtime.docker import usr_volume; "
                f"usr_volume.ensure(docker.from_env().api, {other!r}, say=lambda m: print(m))")
        procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert sum("copying" in o for o in outs) == 1, outs
        assert len(api.volumes(filters={"name": name})["Volumes"]) == 1
        listing = sh(["run", "--rm", "--network", "none", "-v", f"{name}:/usr:ro", other], LISTING)
        assert listing.stdout == sh(["run", "--rm", "--network", "none", other], LISTING).stdout
        # a filling container a killed `ensure` left (created, never started) goes too
        left = api.create_container(other, ["true"], labels={usr_volume.LABEL_IMAGE: other})["Id"]
        api.remove_image(other, force=True)
        kept = {i.id for i in cli.images.list()}
        # a volume of the /usr/lib layout goes whatever its image (no node mounts one now)
        api.create_volume(legacy, labels={usr_volume.LABEL_IMAGE: node_id})
        gone = usr_volume.remove_stale(api, kept)
        assert name in gone and legacy in gone
        assert api.volumes(filters={"name": name})["Volumes"] in (None, [])
        assert not api.containers(all=True, filters={"id": left})
        assert usr_volume.volume_name(node_id) in {v["Name"] for v in api.volumes()["Volumes"]}
    finally:
        for c in api.containers(all=True, filters={"label": usr_volume.LABEL_IMAGE}):
            api.remove_container(c["Id"], force=True)
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(other, force=True)
        for vol in (name, legacy):
            with contextlib.suppress(docker.errors.APIError):
                api.remove_volume(vol, force=True)
        cli.close()


def test_a_moved_tag_does_not_change_the_node_image(docker_image):
    """Containers start from the node image by ID; the tag is a shortcut to it, taken only
    when the image it names carries the package hash and nothing but labsim's config. An
    image built FROM the node image (its labels inherited, an entrypoint of its own) and
    given the tag is passed over."""
    import docker
    from labsim.runtime.docker.image import node_image_id
    from labsim.runtime.docker.image_spec import image_name

    cli = docker.from_env()
    api = cli.api
    node_id = node_image_id()
    cid = api.create_container(node_id, ["true"], labels={"labsim.test": "moved-tag"})["Id"]
    other = api.commit(cid, repository="labsim-test-moved", tag="x",
                       changes=['ENTRYPOINT ["/bin/true"]'])["Id"]
    api.remove_container(cid, force=True)
    repo, tag = image_name().split(":")
    # a second name for the node image while the test moves its tag: an image that lost its
    # only tag and has a child is an intermediate layer to Docker, and the label search
    # would not see it (labsim would then build the node image again)
    api.tag(node_id, "labsim-test-keep", "x")
    try:
        api.tag(other, repo, tag, force=True)
        assert node_image_id() == node_id
    finally:
        api.tag(node_id, repo, tag, force=True)
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(other, force=True)
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image("labsim-test-keep:x")
    assert cli.images.get(image_name()).id == node_id
    cli.close()
