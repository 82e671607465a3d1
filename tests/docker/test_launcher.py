"""The docker runtime's in-container launcher (runtime/docker/launcher.py): what bring-up
runs through it behaves as through `docker exec` (exit codes, output, input, timeouts,
not-found) and gets exactly what `docker exec` gives (capabilities, seccomp,
no-new-privileges, cgroup, namespaces, environment); a daemon it starts is a child of the
container's init with the host PID the runtime records; once bring-up is done the launcher
is the container's `sleep infinity`; no other container can reach it.

The protocol tests run the launcher's loop in a forked process over a socketpair (no docker
needed); the rest start one container through DockerRuntime."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from labsim.errors import RuntimeOpError
from labsim.node import launcher
from labsim.runtime.docker.agentconn import AgentConn

SAME_AS_DOCKER_EXEC = ["sh", "-c", "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; cat /proc/self/cgroup; "
                       "for n in mnt net pid uts ipc cgroup; do readlink /proc/self/ns/$n; done; env | sort"]


@pytest.fixture
def local_launcher():
    """The launcher's request loop in a child process, this process at the host's end."""
    host, agent = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    pid = os.fork()
    if pid == 0:
        try:
            host.close()
            launcher.serve(agent)
        finally:
            os._exit(0)
    agent.close()
    conn = AgentConn(host, "n")
    yield conn
    conn.close()
    os.waitpid(pid, 0)


def test_run_semantics(local_launcher):
    conn = local_launcher
    res = conn.run(["sh", "-c", "echo out; echo err >&2; exit 7"], 10, None)
    assert (res.returncode, res.stdout, res.stderr) == (7, b"out\n", b"err\n")
    data = os.urandom(300_000)
    assert conn.run(["cat"], 10, data).stdout == data
    assert conn.run(["cat"], 10, None).stdout == b""  # stdin is /dev/null without input
    missing = conn.run(["no-such-command"], 10, None)
    assert missing.returncode == 127 and b"No such file" in missing.stderr
    assert conn.run(["/etc/hostname"], 10, None).returncode == 126  # not executable
    assert conn.run(["sh", "-c", "kill -9 $$"], 10, None).returncode == 137
    t = time.monotonic()
    with pytest.raises(RuntimeOpError, match="still running after 0.3s"):
        conn.run(["sleep", "30"], 0.3, None)
    assert time.monotonic() - t < 5
    with pytest.raises(RuntimeOpError, match="still running"):  # its output closed, it runs on
        conn.run(["sh", "-c", "exec >/dev/null 2>&1; sleep 30"], 0.3, None)
    assert time.monotonic() - t < 10
    assert conn.run(["true"], 10, None).returncode == 0  # usable after a timeout


def test_spawn_gives_the_daemons_pid_and_log(local_launcher, tmp_path):
    log = tmp_path / "svc.log"
    pid = local_launcher.spawn(["sh", "-c", "echo started; exec sleep 30"], str(log))
    try:
        end = time.monotonic() + 5
        while not open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sleep\0") and time.monotonic() < end:
            time.sleep(0.01)
        assert open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:2] == [b"sleep", b"30"]
        assert os.getsid(pid) != os.getsid(0)  # a session of its own, not the launcher's
        assert log.read_bytes() == b"started\n"
    finally:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(RuntimeOpError, match=r"exited at once \(exit 127\)"):
        local_launcher.spawn(["no-such-daemon"], str(log))


# -- in a container ---------------------------------------------------------------------------
@pytest.fixture
def one_node(docker_image, lab_name):
    """A lab of two bare nodes (a, b) started as bring-up starts them, launchers connected."""
    from labsim.bringup import lab
    from labsim.runtime.docker import DockerRuntime
    from labsim.runtime.state import LabState

    state = LabState.claim(lab_name, "docker", "/dev/null")
    rt = DockerRuntime(state)
    try:
        rt.create_hub()
        rt.create_nodes({"a": {}, "b": {}})
        rt.create_node("a", {})
        rt.create_node("b", {})
        yield rt
    finally:
        rt.close()
        lab.down(lab_name)


def launcher_running(ps: str) -> bool:
    # the init's own command line names the launcher it started (docker-init -- python3 ...)
    return any(line.startswith("python3") for line in ps.splitlines())


def dexec(rt, node: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", rt.container(node), *argv], capture_output=True, timeout=30)


@pytest.mark.root
def test_launcher_gives_what_docker_exec_gives(one_node):
    rt = one_node
    via_launcher = rt.exec("a", SAME_AS_DOCKER_EXEC)
    via_docker = dexec(rt, "a", SAME_AS_DOCKER_EXEC)
    assert via_launcher.returncode == 0 == via_docker.returncode
    assert b"CapBnd" in via_launcher.stdout and b"Seccomp" in via_launcher.stdout
    assert via_launcher.stdout.decode().splitlines() == via_docker.stdout.decode().splitlines()
    t = time.monotonic()
    with pytest.raises(RuntimeOpError, match="still running"):  # bounded inside a container too
        rt.exec("a", ["sh", "-c", "exec >/dev/null 2>&1; sleep 30"], timeout=0.5)
    assert time.monotonic() - t < 5
    # labsim's in-node programs run on the image's python3
    out = rt.exec("a", [sys.executable, "-c", "import labsim.node.agent, sys; print(sys.version_info[0])"])
    assert out.returncode == 0 and out.stdout == b"3\n", out.stderr


@pytest.mark.root
def test_daemon_is_the_inits_child_and_the_launcher_becomes_sleep(one_node):
    rt = one_node
    pid = rt.spawn("a", "svc", ["sleep", "300"])
    status = open(f"/proc/{pid}/status").read()
    assert status.startswith("Name:\tsleep\n")
    assert f"\nPPid:\t{rt.pid('a')}\n" in status  # tini reaps it, as the shim reaps a docker exec
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(rt.netns_path("a"))
    rt.close()  # bring-up done: the launcher becomes what the container ran before it
    end = time.monotonic() + 5
    while True:  # the exec follows the close at once; bounded all the same
        ps = dexec(rt, "a", ["ps", "-e", "-o", "args"]).stdout.decode()
        if not launcher_running(ps) or time.monotonic() > end:
            break
        time.sleep(0.05)
    assert "sleep infinity" in ps.splitlines() and not launcher_running(ps), ps
    # and the runtime falls back to docker exec
    assert rt.exec("a", ["sh", "-c", "exit 3"]).returncode == 3


@pytest.mark.root
def test_no_other_container_reaches_a_launcher(one_node):
    rt = one_node
    probe = ["python3", "-c", "import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); "
             f"s.connect({launcher.NAME!r})"]
    res = dexec(rt, "b", probe)
    assert res.returncode != 0 and b"ConnectionRefusedError" in res.stderr, res
    assert rt.exec("a", ["true"]).returncode == 0  # a's launcher still serves the host


def test_a_peer_inside_the_launchers_pid_namespace_is_refused():
    """A socketpair's peer is a process this PID namespace sees (a daemon of the container,
    say): not the host, so the launcher would not serve it."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        assert not launcher.from_outside(a)
    finally:
        a.close()
        b.close()


@pytest.mark.root
def test_root_outside_the_launchers_pid_namespace_is_served(tmp_path):
    """The host's side: a listener in a new PID namespace (as in a container) sees this
    process, outside it, as PID 0, root, and accepts it."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a PID namespace)")
    name = f"labsim-test-{os.getpid()}"  # abstract: a NUL in front (added on both sides)
    script = ("import socket, sys; sys.path.insert(0, sys.argv[1]); "
              "from labsim.node import launcher; "
              "l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); l.bind(chr(0) + sys.argv[2]); l.listen(1); "
              "print('listening', flush=True); l.settimeout(20); c, _ = l.accept(); "
              "print(launcher.from_outside(c), flush=True)")
    repo = str(__import__("pathlib").Path(launcher.__file__).resolve().parents[2])
    child = subprocess.Popen(["unshare", "--pid", "--fork", sys.executable, "-c", script, repo, name],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "listening"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect("\0" + name)
        assert child.stdout.readline().strip() == "True"
        s.close()
    finally:
        child.kill()
        child.wait(timeout=10)
