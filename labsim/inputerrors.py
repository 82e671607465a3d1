"""Input errors collected across one file, so a user sees them all at once (in file order,
up to a cap) rather than fixing them one run at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from labsim.errors import InputError, InputErrors
from labsim.loader import _all_from_pydantic
from labsim.model.yamlpos import Loc, SourceMap

T = TypeVar("T")
MAX_ERRORS = 20  # a file with more is reported with its first 20 and a count


class Errors:
    """Input errors of one file, collected so the user sees them all at once."""

    def __init__(self) -> None:
        self.items: list[InputError] = []

    def add(self, exc: InputError) -> None:
        self.items.extend(exc.errors if isinstance(exc, InputErrors) else [exc])

    def raise_any(self) -> None:
        self.items.sort(key=lambda e: e.line or 0)  # in file order; stable for one line
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            raise InputErrors(self.items[:MAX_ERRORS], more=max(len(self.items) - MAX_ERRORS, 0))

    def run(self, fn: Callable[..., T], *args: Any) -> T | None:
        """fn(*args), or None with its InputError collected."""
        try:
            return fn(*args)
        except InputError as exc:
            self.add(exc)
            return None


def all_from_pydantic(exc: ValidationError, prefix: Loc, smap: SourceMap, model: type[BaseModel]) -> list[InputError]:
    """Every pydantic error of `exc` as file:line: field: message (unknown fields first).
    Each error is turned into a message as it is: rebuilding a ValidationError from one
    (from_exception_data) knows only pydantic-core's own error types, not 'ip_v4_network'."""
    return _all_from_pydantic(exc, prefix, smap, model)
