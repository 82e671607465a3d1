"""One report from many shards: `labsim run --json` lists concatenated, JUnit testsuites
gathered under one <testsuites> whose counters are the sums."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from labsim.errors import InputError
from labsim.scaleout.shard import results_of

__all__ = ["merge_json", "merge_junit", "junit_counts", "results_of"]

SUMMED = ("tests", "failures", "errors", "skipped")


def merge_json(paths: list[Path]) -> list | dict:
    """The same shape as one report: a list of results (or, if the reports are objects, the
    first one's fields with every report's results)."""
    merged: list = []
    first = None
    seen: dict[tuple[str, str], Path] = {}
    for p in _distinct(paths):
        try:
            data = json.loads(p.read_text())
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", file=str(p)) from exc
        except ValueError as exc:
            raise InputError(f"not JSON: {exc}", file=str(p)) from exc
        rows = results_of(data)
        if rows is None:
            raise InputError("not a labsim run report (a list of scenario results)", file=str(p))
        for row in rows:
            # a scenario's result is one run's when its lab is the same: every run gives its
            # lab a name of its own, so the same (scenario, lab) twice is one report counted twice
            key = (str(row.get("name")), str(row.get("lab"))) if isinstance(row, dict) else ("", "")
            if key in seen and key != ("", ""):
                raise InputError(f"scenario {key[0]!r} of lab {key[1]!r} is also in {seen[key]}: the same "
                                 "result twice would be counted twice (give each shard's report once)", file=str(p))
            seen[key] = p
        first = data if first is None else first
        merged += rows
    if isinstance(first, dict):
        field = "results" if isinstance(first.get("results"), list) else "scenarios"
        return {**first, field: merged}
    return merged


def _distinct(paths: list[Path]) -> list[Path]:
    """`paths`, refusing one file given twice (by its resolved path, or the same bytes under
    another name): merging it twice would double its counts."""
    by_path: dict[Path, Path] = {}
    by_bytes: dict[bytes, Path] = {}
    for p in paths:
        real = p.resolve()
        if real in by_path:
            raise InputError(f"given twice (also as {by_path[real]}): its counts would be doubled", file=str(p))
        by_path[real] = p
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", file=str(p)) from exc
        if data in by_bytes:
            raise InputError(f"the same report as {by_bytes[data]}: its counts would be doubled", file=str(p))
        by_bytes[data] = p
    return paths


def merge_junit(paths: list[Path]) -> str:
    root: ET.Element | None = None
    for p in _distinct(paths):
        try:
            tree = ET.parse(p)
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", file=str(p)) from exc
        except ET.ParseError as exc:
            raise InputError(f"not XML: {exc}", file=str(p)) from exc
        top = tree.getroot()
        suites = [top] if top.tag == "testsuite" else top.findall("testsuite")
        if top.tag not in ("testsuite", "testsuites"):
            raise InputError(f"not JUnit XML (root <{top.tag}>)", file=str(p))
        if root is None:
            root = ET.Element("testsuites", {k: v for k, v in top.attrib.items()
                                             if top.tag == "testsuites"})
        root.extend(suites)
    if root is None:
        raise InputError("no JUnit files to merge")
    suites = root.findall("testsuite")
    for attr in SUMMED:
        if any(attr in s.attrib for s in suites):
            root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    if "time" in root.attrib:
        root.set("time", f"{sum(float(s.get('time', '0')) for s in suites):.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def junit_counts(text: str) -> dict[str, int]:
    suites = ET.fromstring(text).iter("testsuite")
    totals = dict.fromkeys(SUMMED, 0)
    for s in suites:
        for attr in SUMMED:
            totals[attr] += int(s.get(attr, "0"))
    return totals
