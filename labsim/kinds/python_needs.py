"""Python modules a kind's programs import from site-packages on the host (moto for
`cloudapi`), and the labsim pip extra that brings each: the doctor checks them, and the netns
runtime refuses to start a lab without them (exit 3 with the fix) instead of a node failing
with ModuleNotFoundError. Kinds declare them in `Kind.python_modules`."""

from __future__ import annotations


def extra_requirements(extra: str) -> list[str]:
    """The requirements of labsim's pip extra `extra` (from the installed metadata), e.g.
    ['boto3>=1.28', 'moto[server]>=5'] for `cloud`; [] when labsim's metadata is not there."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        reqs = requires("labsim") or []
    except PackageNotFoundError:
        return []
    marker = f'extra == "{extra}"'
    return [r.split(";")[0].strip() for r in reqs if marker in r.replace("'", '"')]


def missing_python(modules: dict[str, str]) -> dict[str, str]:
    """The modules of `modules` that this interpreter cannot import (module -> extra)."""
    from importlib.util import find_spec

    return {m: extra for m, extra in modules.items() if find_spec(m) is None}


def python_fix(extra: str) -> str:
    reqs = " ".join(f"'{r}'" for r in extra_requirements(extra))
    return (f"pip install 'labsim[{extra}]'" + (f" (pipx: pipx inject labsim {reqs})" if reqs else ""))
