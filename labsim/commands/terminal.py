"""When rich would print exactly what labsim's stored texts hold (standard library only: the
fast paths of `labsim --help` and `labsim status` ask before they answer)."""

from __future__ import annotations

# environment that makes typer or rich render otherwise (width, colour, plain click help):
# gen_help renders without them, and no stored text is used while any is set
RENDER_ENV = ("TERMINAL_WIDTH", "_TYPER_FORCE_DISABLE_TERMINAL", "GITHUB_ACTIONS", "FORCE_COLOR",
              "PY_COLORS", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TYPER_USE_RICH", "JUPYTER_COLUMNS",
              "JUPYTER_LINES", "DATABRICKS_RUNTIME_VERSION", "NO_COLOR")


def utf8(stream: object) -> bool:
    return (getattr(stream, "encoding", "") or "").lower().replace("-", "") == "utf8"
