"""Checks run from inside a node. Each is `run_X(spec, env) -> XResult`; none prints, none
raises for a failed operation or a broken tool (those are results: see result.py)."""

from __future__ import annotations

from .base import CheckEnv, CheckSpec
from .dns import DnsCheck, run_dns
from .exec import ExecCheck, run_exec
from .http import HttpCheck, run_http
from .learnt import LearntCheck, run_learnt
from .measure import MeasureCheck, run_measure
from .ping import PingCheck, run_ping
from .pmtu import PmtuCheck, run_pmtu
from .reasons import Reason
from .resolve import ResolveCheck, run_resolve
from .result import AnyResult, CheckResult
from .tcp import TcpCheck, run_tcp
from .tls import TlsCheck, run_tls
from .websocket import SocketCheck, run_socket

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
