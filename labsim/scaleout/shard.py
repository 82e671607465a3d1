"""Which scenario files a shard runs: deterministic on every machine, every file in exactly
one shard. Without durations: files sorted by name, dealt round-robin. With durations from a
previous run's JSON: longest first, each to the shard with the least total so far (ties to
the lowest shard), so shards finish close together; files the JSON does not know count as
the median of those it does.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path

from labsim.builtin import scenario_path
from labsim.errors import InputError

MAX_SHARDS = 1000


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N), 1 <= K <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise InputError(f"--shard {text!r}: write K/N, e.g. 1/4")
    k, n = int(m.group(1)), int(m.group(2))
    if not (1 <= n <= MAX_SHARDS and 1 <= k <= n):
        raise InputError(f"--shard {text!r}: K and N with 1 <= K <= N <= {MAX_SHARDS}")
    return k, n


def expand(paths: list[Path], resolve: Callable[[Path], Path] = scenario_path,
           what: str = "scenario") -> list[Path]:
    """Files as given; a directory stands for its *.yml / *.yaml files (sorted); a built-in
    scenario's name (or `scenarios/` where no such directory is here) stands for the shipped
    file(s) (`builtin.scenario_path`, or the `resolve` given). Each file once."""
    out: list[Path] = []
    for p in map(resolve, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yml"), *p.glob("*.yaml")])
            if not found:
                raise InputError(f"{p}: no {what} files (*.yml) in this directory")
            out += found
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def key(path: str | Path) -> str:
    """How a scenario file is known across machines and checkouts: its file name."""
    return Path(path).name


def load_durations(path: Path) -> dict[str, float]:
    """File name -> seconds, from a `labsim run --json` (or `labsim merge --json`) report."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=str(path)) from exc
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", file=str(path)) from exc
    rows = results_of(data)
    if rows is None:
        raise InputError("not a labsim run report (a list of scenario results)", file=str(path))
    out: dict[str, float] = {}
    for r in rows:
        if isinstance(r, dict) and isinstance(r.get("file"), str) and isinstance(r.get("duration_s"), (int, float)):
            out[key(r["file"])] = out.get(key(r["file"]), 0.0) + float(r["duration_s"])
    return out


def results_of(data) -> list | None:
    """The scenario results in a run report: the report itself when it is a list, else its
    `results` (or `scenarios`) list."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for k in ("results", "scenarios"):
            if isinstance(data.get(k), list):
                return data[k]
    return None


def assign(names: list[str], n: int, durations: dict[str, float] | None = None) -> list[list[str]]:
    """Split `names` into n shards (each a list, in the input's sorted order)."""
    names = sorted(set(names))
    shards: list[list[str]] = [[] for _ in range(n)]
    if not durations:
        for i, name in enumerate(names):
            shards[i % n].append(name)
        return shards
    known = [durations[k] for k in names if k in durations]
    default = statistics.median(known) if known else 1.0
    cost = {name: durations.get(name, default) for name in names}
    load = [0.0] * n
    for name in sorted(names, key=lambda x: (-cost[x], x)):
        i = min(range(n), key=lambda j: (load[j], j))
        shards[i].append(name)
        load[i] += cost[name]
    return [sorted(s) for s in shards]


def select(files: list[Path], k: int, n: int, durations: dict[str, float] | None = None) -> list[Path]:
    """The files shard k of n runs, in the order given."""
    by_key: dict[str, list[Path]] = {}
    for f in files:
        by_key.setdefault(key(f), []).append(f)
    mine = set(assign(list(by_key), n, durations)[k - 1])
    return [f for f in files if key(f) in mine]
