"""Checks run from inside a node. Each is `run_X(spec, env) -> XResult`; none prints, none
raises for a failed operation or a broken tool (those are results: see result.py)."""

from __future__ import annotations

from labsim.checks.base import CheckEnv, CheckSpec
from labsim.checks.dns import DnsCheck, run_dns
from labsim.checks.exec import ExecCheck, run_exec
from labsim.checks.http import HttpCheck, run_http
from labsim.checks.learnt import LearntCheck, run_learnt
from labsim.checks.measure import MeasureCheck, run_measure
from labsim.checks.ping import PingCheck, run_ping
from labsim.checks.pmtu import PmtuCheck, run_pmtu
from labsim.checks.reasons import Reason
from labsim.checks.resolve import ResolveCheck, run_resolve
from labsim.checks.result import AnyResult, CheckResult
from labsim.checks.tcp import TcpCheck, run_tcp
from labsim.checks.tls import TlsCheck, run_tls
from labsim.checks.websocket import SocketCheck, run_socket

CHECKS = {
    "resolve": (ResolveCheck, run_resolve),
    "dns": (DnsCheck, run_dns),
    "http": (HttpCheck, run_http),
    "tls": (TlsCheck, run_tls),
    "tcp": (TcpCheck, run_tcp),
    "ping": (PingCheck, run_ping),
    "measure": (MeasureCheck, run_measure),
    "learnt": (LearntCheck, run_learnt),
    "exec": (ExecCheck, run_exec),
    "pmtu": (PmtuCheck, run_pmtu),
    "socket": (SocketCheck, run_socket),  # ws://, wss://, tcp:// endpoints of a review
}

__all__ = ["CHECKS", "AnyResult", "CheckEnv", "CheckResult", "CheckSpec", "Reason"]
