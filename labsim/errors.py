"""labsim's errors. Library code raises these; only the CLI turns them into exit codes.

    LabsimError
    ├── InputError            bad topology/scenario input (exit 2); carries file, line, field
    │   └── InputErrors       several at once (each on its own line)
    ├── LabExistsError        a lab of that name is already up (exit 2)
    ├── LabNotFoundError      no lab of that name (exit 2)
    ├── EnvironmentMissingError  not root, a daemon binary missing, ... (exit 3)
    ├── RuntimeOpError        a netlink/exec/mount operation failed (exit 3)
    └── ReadinessError        a node's daemon did not become ready before its deadline (exit 3)
"""

from __future__ import annotations


class LabsimError(Exception):
    """Root of every error labsim raises on purpose."""

    exit_code = 3

    def __reduce__(self):
        # `labsim run -j N` gets its workers' errors pickled: rebuild them from their args and
        # fields without calling __init__ (subclasses take other arguments than the message;
        # a ReadinessError used to arrive as a BrokenProcessPool that hid it)
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type, args: tuple, fields: dict) -> LabsimError:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(fields)
    return exc


class InputError(LabsimError):
    """Bad input: `file:line: field: message`. Nothing has been created when this is raised."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class InputErrors(InputError):
    """Several input errors of one file, reported at once (one `file:line: field: message`
    per line). Its file, line and field are the first error's."""

    def __init__(self, errors: list[InputError], more: int = 0):
        self.errors = errors
        self.more = more
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)

    def render(self) -> str:
        out = "\n".join(e.render() for e in self.errors)
        return out + (f"\n... and {self.more} more errors" if self.more else "")


class LabExistsError(LabsimError):
    exit_code = 2


class LabNotFoundError(LabsimError):
    exit_code = 2


class EnvironmentMissingError(LabsimError):
    exit_code = 3


class RuntimeOpError(LabsimError):
    """A kernel or process operation failed; the original error is chained (`from exc`)."""

    exit_code = 3


class ReadinessError(LabsimError):
    """A node did not become ready in time. Carries the node, what was probed and the log tail."""

    exit_code = 3

    def __init__(self, node: str, what: str, deadline_s: float, log_tail: str = ""):
        self.node = node
        self.what = what
        self.deadline_s = deadline_s
        self.log_tail = log_tail
        msg = f"node {node!r}: {what} not ready after {deadline_s:.1f}s"
        if log_tail:
            msg += "\n--- last log lines ---\n" + log_tail
        super().__init__(msg)
