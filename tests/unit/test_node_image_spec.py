"""The node image's identity: its package list, its pinned pip list and its Dockerfile.
A change to any of them is a new hash (a rebuild); comments and order in packages.txt are not."""

from __future__ import annotations

import shutil

from labsim.builtin import data_dir
from labsim.runtime.docker import image_spec


def _copy(tmp_path, monkeypatch):
    d = tmp_path / "docker"
    shutil.copytree(data_dir("docker"), d)
    monkeypatch.setenv("LABSIM_DOCKER_DIR", str(d))
    return d


def test_shipped_pip_list_is_pinned_and_has_the_cloud_client_and_server():
    reqs = image_spec.python_requirements()
    names = {r.split("==")[0].split("[")[0] for r in reqs}
    assert {"boto3", "botocore", "moto", "flask"} <= names
    assert all("==" in r for r in reqs), reqs  # pinned: the hash says what is inside


def test_pip_list_change_rebuilds_and_comments_do_not(tmp_path, monkeypatch):
    d = _copy(tmp_path, monkeypatch)
    before = image_spec.packages_hash()
    reqs = d / image_spec.NODE_PYTHON_REQS
    reqs.write_text("# a comment only\n\n" + reqs.read_text() + "   # trailing\n")
    assert image_spec.packages_hash() == before
    reqs.write_text(reqs.read_text().replace("boto3==1.44.8", "boto3==1.44.9"))
    assert image_spec.packages_hash() != before


def test_package_list_and_dockerfile_change_rebuild(tmp_path, monkeypatch):
    d = _copy(tmp_path, monkeypatch)
    before = image_spec.packages_hash()
    pkgs = d / "packages.txt"
    pkgs.write_text("\n".join(reversed(pkgs.read_text().splitlines())) + "\n# reordered\n")
    assert image_spec.packages_hash() == before
    pkgs.write_text(pkgs.read_text() + "tcpdump\n")
    changed = image_spec.packages_hash()
    assert changed != before
    (d / "Dockerfile").write_text((d / "Dockerfile").read_text() + "RUN true\n")
    assert image_spec.packages_hash() != changed


def test_the_usr_volume_is_named_by_its_image_and_only_labsims_own_are_taken():
    from labsim.runtime.docker import usr_volume

    image = "sha256:" + "ab12" * 16
    assert usr_volume.volume_name(image) == "labsim-node-usr-ab12ab12ab12"
    assert usr_volume.volume_name("ab12" * 16) == "labsim-node-usr-ab12ab12ab12"
    vols = [{"Name": "labsim-node-usr-ab12ab12ab12", "Labels": {usr_volume.LABEL_IMAGE: image}},
            {"Name": "labsim-node-usr-user", "Labels": None},  # a user's volume of that name
            {"Name": "pgdata", "Labels": {usr_volume.LABEL_IMAGE: image}},
            # the earlier /usr/lib layout's: labsim's too, for a build to remove
            {"Name": "labsim-node-lib-ab12ab12ab12", "Labels": {usr_volume.LABEL_IMAGE: image}}]
    assert [v["Name"] for v in usr_volume.ours(vols)] == ["labsim-node-usr-ab12ab12ab12",
                                                          "labsim-node-lib-ab12ab12ab12"]
