"""`exec`: run a program in a node (an argv, never a shell) and report what it did.

For clients nobody here wrote (an SDK, a database driver, a vendor CLI): the scenario names
the argv; the facts are the exit status, stdout, stderr, stdout parsed as JSON when it is
JSON, and the wall time. `{python}` as a whole argument stands for labsim's interpreter in
the node (the venv's python on netns, the image's python3 on docker).

The program runs under coreutils `timeout`, so a stalled client is killed at the check's
`timeout` and what it printed until then is kept (reason TIMEOUT). A non-zero exit is a
failed check; `reasons` maps regular expressions over stdout+stderr to reason codes, since
only the scenario knows how its program spells "no such name" or "connection refused".
Those are RE2 expressions (linear time: a pattern like `(a+)+$` cannot hang a run over a
program's output); one RE2 cannot take (backreferences, lookaround) is refused at load.

The program runs confined like a `process` node (`kinds.common.confined`): as `user`
(default nobody/nogroup, with nobody's HOME and a default PATH; `env` on top) in a mount
namespace where the host is read-only and /tmp, /var/tmp, /run are private (netns runtime).
`user: root` runs it as root on the host, and only with the command line's
`--allow-root-nodes`.
"""

from __future__ import annotations

import json
import re
import time
from functools import lru_cache
from typing import Any

import re2
from pydantic import Field, field_validator

from labsim.checks.base import CheckEnv, CheckSpec, guarded
from labsim.checks.reasons import Reason
from labsim.checks.result import ExecResult, Timings
from labsim.kinds.common import confined, refuse_root
from labsim.model.types import UserName
from labsim.runtime.records import confinement

OUTPUT_KEEP = 65536  # characters of stdout/stderr kept in the facts
TIMEOUT_EXIT = 124  # coreutils timeout: the command timed out
KILL_GRACE_S = 1  # SIGTERM first, SIGKILL this long after
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExecCheck(CheckSpec):
    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)  # added to the node's environment
    stdin: str | None = None
    # regular expression over stdout+stderr -> the reason a failure is reported with
    reasons: dict[str, Reason] = Field(default_factory=dict)
    user: UserName | None = None  # who runs it: default nobody; root only with --allow-root-nodes

    @field_validator("user")
    @classmethod
    def _root_only_when_confirmed(cls, value: str | None) -> str | None:
        return refuse_root(value)

    @field_validator("argv")
    @classmethod
    def _no_nul(cls, argv: list[str]) -> list[str]:
        if any("\0" in a for a in argv) or not argv[0]:
            raise ValueError("argv entries must be non-empty at [0] and hold no NUL byte")
        return argv

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for k, v in env.items():
            if not ENV_NAME.match(k) or "\0" in v:
                raise ValueError(f"{k!r} is not an environment variable name (or its value holds NUL)")
        return env

    @field_validator("reasons")
    @classmethod
    def _patterns_compile(cls, reasons: dict[str, Reason]) -> dict[str, Reason]:
        for pattern in reasons:
            try:
                compiled(pattern)
            except re2.error as exc:
                why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
                raise ValueError(f"reasons: {pattern!r} is not a regular expression RE2 accepts "
                                 f"(no backreferences or lookaround): {why}") from None
        return reasons


@lru_cache(maxsize=256)
def compiled(pattern: str) -> Any:
    """The RE2 program for a `reasons` pattern (compile errors not logged to stderr)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options=options)


def exec_argv(spec: ExecCheck, python: str) -> list[str]:
    """`timeout` (and `env` for added variables) in front of the program, no shell."""
    argv = [python if a == "{python}" else a for a in spec.argv]
    head = ["timeout", f"--kill-after={KILL_GRACE_S}", f"{spec.timeout:g}"]
    if spec.env:
        head += ["env", *[f"{k}={v}" for k, v in spec.env.items()]]
    return [*head, *argv]


def parse_json(text: str) -> Any:
    """stdout as JSON, or its last line as JSON (programs that log before their answer)."""
    for candidate in (text, text.strip().rpartition("\n")[2]):
        if candidate.strip().startswith(("{", "[")):
            try:
                return json.loads(candidate)
            except json.JSONDecodeError:
                continue
    return None


def interpret(spec: ExecCheck, code: int, stdout: str, stderr: str, ms: float) -> ExecResult:
    timed_out = code == TIMEOUT_EXIT or code == 128 + 9
    res = ExecResult(node=spec.node, target=" ".join(spec.argv)[:200], ok=code == 0 and not timed_out,
                     timings_ms=Timings(total=ms))
    f = res.facts
    f.argv, f.exit_status, f.timed_out = list(spec.argv), code, timed_out
    f.stdout, f.stderr, f.json = stdout[-OUTPUT_KEEP:], stderr[-OUTPUT_KEEP:], parse_json(stdout)
    if res.ok:
        return res
    tail = (stderr.strip() or stdout.strip()).splitlines()
    res.detail = f"exit status {code}" + (f": {tail[-1][:300]}" if tail else "")
    both = stdout + "\n" + stderr
    res.reason = next((r for p, r in spec.reasons.items() if compiled(p).search(both)), None)
    if res.reason is None:
        res.reason = Reason.TIMEOUT if timed_out else Reason.UNKNOWN
    return res


@guarded("exec", lambda spec: " ".join(spec.argv)[:200])
def run_exec(spec: ExecCheck, env: CheckEnv) -> ExecResult:
    # a test fake running on the host is no registered runtime: it runs the argv as is
    argv = confined(confinement(getattr(env.runtime, "name", "")), env.python, exec_argv(spec, env.python),
                    spec.user)
    t0 = time.perf_counter()
    proc = env.exec(spec.node, argv, timeout=spec.timeout + KILL_GRACE_S + 30,
                            input=spec.stdin.encode() if spec.stdin is not None else None)
    ms = (time.perf_counter() - t0) * 1000
    return interpret(spec, proc.returncode, proc.stdout.decode(errors="replace"),
                     proc.stderr.decode(errors="replace"), ms)
