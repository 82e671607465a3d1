"""What each kind asks of its services so they do not keep root (the argv and the setup
that makes their writable directories), and how labsim.kinds.cloudserve decides whether moto can
drop. That the processes then run as those users is tests/netns/test_privdrop.py (root)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from labsim.kinds.cloudserve import unreadable_dir
from labsim.kinds import registry
from labsim.kinds.base import NodeContext
from labsim.loader import load_lab, load_lab_text
from labsim.node.nodeprog import split_program
from labsim.node.privdrop import drop_root
from tests.helpers import REPO

DROP = ["--user", "nobody", "--group", "nogroup"]


def services(loaded, node: str) -> dict[str, list[str]]:
    c = NodeContext(loaded.plan, loaded.plan.nodes[node], loaded.topology.nodes[node], dir="/n")
    kind = registry.get(loaded.topology.nodes[node].kind)
    return {s.name: s.argv for s in kind.services(c)} | {"setup": kind.setup(c)}


def test_tayga_chroots_and_drops_to_nobody_in_a_data_dir_it_owns():
    svc = services(load_lab(REPO / "topologies" / "apple-review.yml"), "nat64")
    assert svc["tayga"] == ["tayga", "-c", "/n/tayga.conf", "--nodetach", *DROP, "--chroot"]
    assert svc["setup"][0] == ["install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0750", "/n/tayga"]


def test_python_servers_are_told_whom_to_become():
    apple = load_lab(REPO / "topologies" / "apple-review.yml")
    echo = services(apple, "api")["echo"]
    module, args = split_program(echo)
    assert module == "labsim.node.echo_server" and args[2:6] == DROP
    mostly = load_lab(REPO / "topologies" / "ipv6-mostly.yml")
    assert services(mostly, "gw")["pref64"][-4:] == DROP
    cloud = services(load_lab(REPO / "topologies" / "cloud-endpoints.yml"), "cloud")["moto"]
    assert split_program(cloud)[0] == "labsim.kinds.cloudserve" and cloud[-4:] == DROP


def test_the_delay_relay_drops_after_binding_53():
    text = (REPO / "topologies" / "apple-review.yml").read_text().replace(
        "    kind: authdns\n", "    kind: authdns\n    impair: {dns_delay_ms: 20}\n")
    relay = services(load_lab_text(text), "ns")["relay"]
    assert split_program(relay)[0] == "labsim.node.relay" and relay[relay.index("--user"):][:4] == DROP


def test_kea_runs_as_its_user_with_two_capabilities_and_its_own_directory():
    svc = services(load_lab(REPO / "topologies" / "ipv6-mostly.yml"), "dhcp")
    drop = ["setpriv", "--reuid=_kea", "--regid=_kea", "--init-groups",
            "--inh-caps=+net_raw,+net_bind_service", "--ambient-caps=+net_raw,+net_bind_service",
            "--no-new-privs", "--"]
    assert svc["kea"][:len(drop)] == drop and svc["kea"][-2:] == ["-c", "/n/kea-dhcp4.json"]
    run_dir, check = svc["setup"]
    assert run_dir == ["install", "-d", "-o", "_kea", "-g", "_kea", "-m", "0750", "/n/kea"]
    assert check[:len(drop)] == drop and check[-2] == "-t"  # its lock file is then _kea's


def test_without_root_or_without_a_user_there_is_nothing_to_drop():
    ids = os.getresuid()
    drop_root(None)
    if os.geteuid() != 0:
        drop_root("nobody", "nogroup")
    assert os.getresuid() == ids


def test_a_directory_closed_to_others_keeps_moto_root():
    # under /tmp itself (open to all): pytest's own tmp_path lies in a directory of mode 0700
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        base = Path(top)
        pkg = base / "outer" / "site" / "moto"
        pkg.mkdir(parents=True)
        for d in (base, base / "outer", base / "outer" / "site", pkg):
            d.chmod(0o755)
        assert unreadable_dir(str(pkg)) is None
        (base / "outer").chmod(0o700)  # like /root
        assert unreadable_dir(str(pkg)) == str(base / "outer")
        (base / "outer").chmod(0o755)
        pkg.chmod(0o711)  # enterable, not listable: imports from it fail
        assert unreadable_dir(str(pkg)) == str(pkg)
