"""Readiness waits on events: a listener that appears later is found, a service process that
exits ends the wait at once with its log tail, and the deadline still bounds it all. The
probes here run in the host's loopback (a stand-in runtime); the netns tests run them in labs."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import threading
import time

import pytest

from labsim.errors import ReadinessError
from labsim.kinds.base import TcpProbe
from labsim.bringup.readiness import PendingProbe, wait_ready


class Loopback:
    """The two things wait_ready asks of a runtime, in the host namespace (loopback only)."""

    def socket(self, node, family, type_=socket.SOCK_DGRAM):
        return socket.socket(family, type_)

    def exec(self, node, argv, timeout=30.0, input=None):
        return subprocess.run(argv, capture_output=True, timeout=timeout)


def free_port() -> int:
    """A free port below the ephemeral range, like the ports daemons listen on."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for port in range(low - 1, 1024, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def probe(port: int, pid=None, log=None) -> PendingProbe:
    return PendingProbe("api", TcpProbe(ipaddress.ip_address("127.0.0.1"), port), pid, log)


def test_a_listener_that_comes_later_is_found():
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later():
        time.sleep(0.15)
        server.bind(("127.0.0.1", port))
        server.listen()

    t = threading.Thread(target=listen_later)
    t.start()
    try:
        waited = wait_ready(Loopback(), [probe(port)], deadline_s=10)
        assert waited >= 0.15  # it could only pass once something listened
    finally:
        t.join()
        server.close()


def test_a_service_that_exits_ends_the_wait_with_its_log(tmp_path):
    log = tmp_path / "api.log"
    log.write_text("bind: address already in use\n")
    proc = subprocess.Popen(["sleep", "0.1"])
    try:
        with pytest.raises(ReadinessError) as info:
            wait_ready(Loopback(), [probe(free_port(), proc.pid, str(log))], deadline_s=30)
    finally:
        proc.kill()
        proc.wait()
    msg = str(info.value)
    assert "(its process exited)" in msg and "address already in use" in msg
    assert info.value.deadline_s < 30  # it said so when it happened, not at the deadline


def test_the_deadline_bounds_a_probe_that_never_passes():
    with pytest.raises(ReadinessError) as info:
        wait_ready(Loopback(), [probe(free_port()), probe(free_port())], deadline_s=0.3)
    assert "not ready after 0.3s" in str(info.value) and "also pending" in str(info.value)


@pytest.mark.parametrize("bind", ["::1", "127.0.0.1"])
def test_a_probe_with_several_addresses_passes_when_any_of_them_listens(bind):
    """A program bound to one family only (here loopback of either) is found by a probe that
    lists both: readiness says it listens; which clients reach it is for the checks."""
    port = free_port()
    fam = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(fam) as server:
        if fam == socket.AF_INET6:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.bind((bind, port))
        server.listen()
        both = TcpProbe(ipaddress.ip_address("127.0.0.1"), port, (ipaddress.ip_address("::1"),))
        assert wait_ready(Loopback(), [PendingProbe("api", both, None, None)], deadline_s=5) < 5
    with pytest.raises(ReadinessError) as info:  # the same probe with nothing listening
        wait_ready(Loopback(), [PendingProbe("api", both, None, None)], deadline_s=0.2)
    assert f"TCP port {port} on any of [127.0.0.1], [::1] not ready" in str(info.value)
