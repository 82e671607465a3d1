"""What labsim ships besides code: built-in topologies, example scenarios, comparison files
and the node image's build files (`docker/`).

In a wheel they live in `labsim/_data/<dir>/` (copied there at build time by setup.py, from
the repository's top-level directories, which stay where README commands expect them). In a
checkout (an editable install) `labsim/_data/` does not exist and the repository's own
directories are used, so a file added there is seen at once.

A topology is named either by a path or by a built-in's name (`apple-review`): a path that
exists wins; otherwise a bare name is looked up among the built-ins.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIRS = ("topologies", "scenarios", "compare", "docker", "docs")
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_TOPOLOGY = "apple-review"


def data_dir(kind: str) -> Path:
    """The directory holding the shipped `kind` files (one of DATA_DIRS)."""
    if kind not in DATA_DIRS:
        raise ValueError(f"unknown data directory {kind!r}")
    packaged = PACKAGE_DIR / "_data" / kind
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / kind


def topologies() -> dict[str, Path]:
    """Built-in topologies by name (the file's stem), sorted."""
    d = data_dir("topologies")
    return {p.stem: p for p in sorted(d.glob("*.yml"))} if d.is_dir() else {}


def scenarios() -> dict[str, Path]:
    """Built-in scenarios by name (the file's stem), sorted."""
    d = data_dir("scenarios")
    return {p.stem: p for p in sorted(d.glob("*.yml"))} if d.is_dir() else {}


def scenario_path(ref: str | Path) -> Path:
    """A scenario argument as a file or directory: an existing path as it is; else a built-in
    scenario when `ref` is a bare name (`apple-review-nat64`, with or without `.yml`), and the
    built-in scenarios directory for `scenarios` / `scenarios/` (so `labsim run scenarios/`
    works after a pip install, from any directory); anything else unchanged (the loader then
    says it cannot read it)."""
    p = Path(ref)
    if p.exists():
        return p
    if str(ref).rstrip("/") == "scenarios":
        return data_dir("scenarios")
    if len(p.parts) != 1 and p.parent.name != "scenarios":
        return p
    stem = p.stem if p.suffix in (".yml", ".yaml") else p.name
    return scenarios().get(stem, p)


def topology_path(ref: str | Path) -> Path:
    """A topology argument as a file: an existing path as it is, else a built-in's file when
    `ref` is a bare name (`apple-review` or `apple-review.yml`) or `.../topologies/NAME.yml`;
    anything else unchanged (the loader then says it cannot read it)."""
    p = Path(ref)
    # `../topologies/NAME.yml` (how the shipped scenarios name theirs) also finds a built-in
    # when the scenario was copied elsewhere (a CI checkout of scenarios only, a ConfigMap)
    if p.exists() or not (len(p.parts) == 1 or p.parent.name == "topologies"):
        return p
    stem = p.stem if p.suffix in (".yml", ".yaml") else p.name
    return topologies().get(stem, p)
