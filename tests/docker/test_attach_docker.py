"""Docker tier: `--attach` with the docker runtime, and `--attach lan=docker:NAME` (an existing
Docker network, its containers started outside labsim) on the IPv6-only lab network.

- The docker runtime: a test namespace's veth end, attached to ipv6-mostly's `lan`, gets a
  SLAAC address and reaches the IPv4-only backend by name through DNS64/NAT64; after `down`
  the veth end is back unchanged.
- A Docker network with IPv6 (`docker network create --ipv6 --internal ...`): a container on
  it (`docker run`, not labsim) gets a SLAAC address from the lab's RA and reaches the backend
  by name through DNS64/NAT64; after `down` the veth pair labsim made is gone and the network
  and container are as they were.
- A Docker network without IPv6: Docker sets disable_ipv6=1 in its containers, so the same
  container learns nothing from the RA and does not reach the backend (the seeds' "Docker
  network without IPv6" incident).

Docker's own default routes in the container (via the host's end of the Docker bridge) are
deleted before the lab is attached: with them, the container's traffic to the lab's
prefixes would go to the host; the networks are `--internal` so nothing else leaves either.
Outside CI the module skips when docker is unreachable; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import REPO, run_labsim
from tests.netns.test_attach import PORT, Rig, reach_backend, sh, slaac_address

pytestmark = pytest.mark.root

TOPO = "topologies/ipv6-mostly.yml"
LAN6 = ipaddress.ip_network("2001:db8:10::/64")
POOL4 = ipaddress.ip_network("198.18.0.0/24")
DNS64 = "2001:db8:1::3"




@pytest.fixture
def rig(docker_image):
    r = Rig()
    yield r
    r.close()


def test_docker_runtime_device_reaches_the_backend_and_the_port_comes_back(rig):
    before = rig.port()
    up = subprocess.run(rig.labsim("up", TOPO, "--name", rig.lab, "--runtime", "docker",
                                   "--attach", f"lan={PORT}", "--attach-force"),
                        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert up.returncode == 0, up.stderr
    [port] = json.loads(sh("ip", "-n", f"ls-{rig.lab}", "-j", "link", "show", "dev", "ls_att0"))
    assert port["master"] == "lan"
    addr = slaac_address(rig)
    assert addr is not None and ipaddress.ip_address(addr) in LAN6
    Path(f"/etc/netns/{rig.dev}").mkdir(parents=True, exist_ok=True)
    Path(f"/etc/netns/{rig.dev}/resolv.conf").write_text(f"nameserver {DNS64}\n")
    body = reach_backend(rig, deadline_s=30)
    assert body is not None, "the backend was not reached by name through DNS64/NAT64"
    assert ipaddress.ip_address(body["remote"]) in POOL4
    assert run_labsim("down", rig.lab, timeout=120).returncode == 0
    assert rig.port() == before


class DockerNet:
    """A Docker network and a container on it, both made here as a user would, not by labsim."""

    def __init__(self, image: str, ipv6: bool) -> None:
        tag = uuid.uuid4().hex[:6]
        self.net, self.ctr, self.lab = f"w3a-net{tag}", f"w3a-c{tag}", f"w3a{tag}"
        flags = ["--ipv6", "--subnet", f"fd00:dead:{tag[:4]}::/64"] if ipv6 else []
        sh("docker", "network", "create", "--internal", *flags, self.net, timeout=60)
        sh("docker", "run", "-d", "--name", self.ctr, "--network", self.net, "--dns", DNS64,
           image, "sleep", "600", timeout=60)
        self.pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", self.ctr).strip()
        for family in ("-4", "-6"):  # Docker's gateway routes: to the host, not the lab
            subprocess.run(["nsenter", "-t", self.pid, "-n", "ip", family, "route", "del", "default"],
                           capture_output=True, timeout=10)
        # Docker puts its embedded resolver (127.0.0.11) first on a user network, whatever
        # --dns says, and it forwards from the host, which cannot reach the lab's resolver: a
        # lookup waits out its timeout there first. The lab's resolver alone, as the README says.
        self.in_ctr("sh", "-c", f"echo 'nameserver {DNS64}' > /etc/resolv.conf")

    def in_ctr(self, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", self.ctr, *argv], capture_output=True, text=True, timeout=timeout)

    def lab_addrs(self) -> list[str]:
        out = self.in_ctr("ip", "-j", "-6", "addr", "show", "dev", "eth0", "scope", "global").stdout
        return [a["local"] for i in json.loads(out or "[]") for a in i.get("addr_info", [])
                if "local" in a and ipaddress.ip_address(a["local"]) in LAN6]

    def host_ends(self) -> list[str]:
        return [link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show"))
                if link["ifname"].startswith("lsd")]

    def close(self) -> None:
        run_labsim("down", self.lab, timeout=120)
        subprocess.run(["docker", "rm", "-f", self.ctr], capture_output=True, timeout=60)
        subprocess.run(["docker", "network", "rm", self.net], capture_output=True, timeout=60)


def image_of(docker_image) -> str:
    return str(docker_image)


@pytest.fixture
def v6net(docker_image):
    d = DockerNet(image_of(docker_image), ipv6=True)
    yield d
    d.close()


@pytest.fixture
def v4net(docker_image):
    d = DockerNet(image_of(docker_image), ipv6=False)
    yield d
    d.close()


def curl_backend(d: DockerNet, deadline_s: float = 30) -> dict | None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        res = d.in_ctr("curl", "-s", "-m", "3", "http://api.example.test/")
        if res.returncode == 0 and res.stdout:
            return json.loads(res.stdout)
        time.sleep(0.5)
    return None


def test_a_container_on_an_ipv6_docker_network_reaches_the_backend_and_only_the_veth_goes(v6net):
    links_before = v6net.in_ctr("ip", "-br", "link").stdout
    up = run_labsim("up", TOPO, "--name", v6net.lab, "--attach", f"lan=docker:{v6net.net}", timeout=120)
    assert up.returncode == 0, up.stderr
    assert len(v6net.host_ends()) >= 1
    end = time.monotonic() + 20
    while time.monotonic() < end and not v6net.lab_addrs():
        time.sleep(0.3)
    assert v6net.lab_addrs(), "no SLAAC address from the lab's RA"
    body = curl_backend(v6net)
    assert body is not None, "the backend was not reached by name through DNS64/NAT64"
    assert ipaddress.ip_address(body["remote"]) in POOL4
    [st] = json.loads(run_labsim("status", v6net.lab, "--json", check=True).stdout)
    [port] = st["attached"]
    assert port["interface"] == f"docker:{v6net.net}"
    ends = v6net.host_ends()
    down = run_labsim("down", v6net.lab, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not set(ends) & set(v6net.host_ends())  # the veth pair labsim made is gone
    assert v6net.in_ctr("ip", "-br", "link").stdout == links_before  # the container as it was
    assert sh("docker", "network", "inspect", "-f", "{{.Name}}", v6net.net).strip() == v6net.net


def test_a_container_on_a_docker_network_without_ipv6_learns_nothing(v4net):
    assert v4net.in_ctr("sysctl", "-n", "net.ipv6.conf.all.disable_ipv6").stdout.strip() == "1"
    up = run_labsim("up", TOPO, "--name", v4net.lab, "--attach", f"lan=docker:{v4net.net}", timeout=120)
    assert up.returncode == 0, up.stderr
    time.sleep(3)  # RAs every few seconds: the container would have had several
    assert v4net.lab_addrs() == []
    res = v4net.in_ctr("curl", "-s", "-m", "3", "http://api.example.test/")
    assert res.returncode != 0  # no IPv6: the DNS64 resolver is unreachable, the name unresolved
    res = v4net.in_ctr("curl", "-s", "-m", "3", "-g", "http://[2001:db8:64::c000:203]/")
    assert res.returncode == 7  # couldn't connect: no IPv6 in the container at all
    assert run_labsim("down", v4net.lab, timeout=120).returncode == 0


def test_a_docker_network_that_does_not_exist_is_exit_2_and_nothing_is_created(lab_name):
    res = run_labsim("up", TOPO, "--name", lab_name, "--attach", "lan=docker:w3a-no-such-net", timeout=60)
    assert res.returncode == 2 and "no Docker network 'w3a-no-such-net'" in res.stderr, res.stderr
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.count(f"ls-{lab_name}") == 0
