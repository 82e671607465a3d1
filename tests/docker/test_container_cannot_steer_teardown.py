"""A `kind: container` node cannot steer `labsim down` (issue 24). Its command rewrites every
file it can write under its mounts - anything that looks like labsim's state first, naming a
host sentinel directory, a foreign process and a foreign namespace - and plants symlinks to
the sentinel. After `down`: the sentinel, the process and the namespace are all still there,
and the lab's own state file was never reachable from the container.

Outside CI the module skips when docker is unreachable; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

# runs inside the user's container (python3 of the node image): rewrite what it can reach
HOSTILE = r'''
import json, os, sys
sentinel, foreign_pid, foreign_start, foreign_ns = sys.argv[1:5]
seen = []
for top in ("/run/labsim", "/etc"):
    for d, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            seen.append(p)
            try:
                if f.endswith(".json") or "state" in f:
                    with open(p, "w") as out:
                        json.dump({"lab": "../..", "runtime": "netns", "status": "creating", "owner_pid": 1,
                                   "paths": [sentinel, sentinel + "/victim", "/run/labsim/../../" + sentinel],
                                   "namespaces": [foreign_ns],
                                   "processes": [{"node": "x", "service": "x", "pid": int(foreign_pid),
                                                  "start": int(foreign_start)}],
                                   "containers": []}, out)
                else:
                    with open(p, "a") as out:
                        out.write("\n# rewritten by the node\n")
            except OSError:
                pass
        for name in ("state.json", "planted", "state.tmp"):
            try:
                os.symlink(sentinel, os.path.join(d, name))
            except OSError:
                pass
with open("/run/labsim/seen.txt" if os.access("/run/labsim", os.W_OK) else "/tmp/seen.txt", "w") as f:
    f.write("\n".join(seen))
import time
time.sleep(3600)
'''

TOPO = """
name: {name}
networks:
  lan: {{ipv6: "2001:db8:24::/64"}}
nodes:
  r: {{kind: router, links: [lan]}}
  evil:
    kind: container
    image: {image}
    command: [python3, -c, "import base64,sys; exec(base64.b64decode(sys.argv[1]))", {script}, {args}]
    links: [lan]
"""


@pytest.fixture
def bystanders(tmp_path):
    """What labsim did not create: a host directory, a process, a namespace."""
    from labsim.runtime import nsutil
    from labsim.runtime.state import process_start_time

    sentinel = tmp_path / "sentinel"
    (sentinel / "victim").mkdir(parents=True)
    (sentinel / "victim" / "keep").write_text("keep\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ns = f"h3foreign{os.getpid()}"
    nsutil.create_netns(ns)
    try:
        yield {"sentinel": sentinel, "proc": proc, "start": process_start_time(proc.pid), "ns": ns}
    finally:
        proc.kill()
        proc.wait(timeout=10)
        nsutil.remove_netns(ns)


def test_container_rewriting_its_mounts_cannot_steer_down(docker_image, bystanders, lab_name):
    from labsim.bringup import lab
    from labsim.loader import load_lab_text
    from labsim.runtime.docker import docker_client, remove_containers
    from labsim.runtime.state import LabState

    b = bystanders
    args = [str(b["sentinel"]), str(b["proc"].pid), str(b["start"]), b["ns"]]
    script = base64.b64encode(HOSTILE.encode()).decode()
    loaded = load_lab_text(TOPO.format(name=lab_name, image=docker_image, script=json.dumps(script),
                                       args=", ".join(json.dumps(a) for a in args)), name=lab_name)
    state_file = LabState(lab=lab_name, runtime="docker").file
    res = lab.up(loaded, runtime="docker")
    try:
        cli = docker_client()
        try:
            c = cli.containers.get(f"ls-{lab_name}_evil")
            deadline = time.monotonic() + 20  # until the node has walked its mounts
            while time.monotonic() < deadline:
                out = c.exec_run(["sh", "-c", "cat /tmp/seen.txt /run/labsim/seen.txt 2>/dev/null"]).output
                if out:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the node's command never finished rewriting its mounts")
            seen = out.decode().split()
            mounts = [m["Destination"] for m in c.attrs["Mounts"]]
        finally:
            cli.close()
        # the container sees its own parts of the lab only, never the state file or CA key
        assert str(state_file) not in seen and not any(p.endswith("ca-key.pem") for p in seen), seen
        assert str(res.state.dir) not in mounts, mounts
        st = json.loads(state_file.read_text())  # labsim's state: as labsim wrote it
        assert st["lab"] == lab_name and str(b["sentinel"]) not in json.dumps(st)
        assert (res.state.dir / "nodes" / "evil").is_dir()
    finally:
        lab.down(lab_name)
        remove_containers(lab_name)
    assert (b["sentinel"] / "victim" / "keep").read_text() == "keep\n"
    assert b["proc"].poll() is None, "a process labsim did not start was killed"
    assert os.path.exists(f"/run/netns/{b['ns']}"), "a namespace labsim did not create was removed"
    assert not Path(f"/run/labsim/{lab_name}").exists()
