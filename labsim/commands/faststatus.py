"""`labsim status` without typer, rich or the runtime package: the same report read from the
same state files, printed the same way, for the plain forms (`status`, `status NAME`, with or
without `--json`). Standard library only (the console script's fast path).

It prints only what it can print exactly as the full CLI would: `render` returns None, and the
full CLI answers (its own messages, exit codes and rendering), whenever a lab is missing, a
state file does not read as `LabState.load` reads it, a value is not what the full CLI's code
expects, or the plain output would need rich (a terminal's colours, a table or line wider
than the console, markup or an emoji name in a value, a character of another width).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from labsim.node.learntview import learnt_of, summary  # shared with the full CLI (standard library)

# labsim.runtime.state's: where labs live, what a lab name is, the fields LabState takes
RUN_DIR = os.environ.get("LABSIM_RUN_DIR", "/run/labsim")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _NAME_START | {"-"}
STATE_FIELDS = frozenset({"lab", "runtime", "topology", "status", "owner_pid", "owner_start", "created",
                          "namespaces", "paths", "containers", "processes", "nodes", "extra", "attached"})
DEFAULTS: dict[str, Any] = {"topology": "", "status": "creating"}
HEADERS = ("node", "kind", "netns", "addresses", "routes")


class Fallback(Exception):
    """Leave this command line to the full CLI."""


def valid_lab(name: object) -> bool:
    """labsim.runtime.state.valid_lab: [a-z0-9][a-z0-9-]{0,63}."""
    return (isinstance(name, str) and 0 < len(name) <= 64 and name[0] in _NAME_START
            and all(c in _NAME_CHARS for c in name))


def all_labs() -> list[str]:
    """LabState.all_labs: lab directories (not symlinks) with a valid name, sorted."""
    if not os.path.isdir(RUN_DIR):
        return []
    with os.scandir(RUN_DIR) as it:
        return sorted(e.name for e in it if valid_lab(e.name) and e.is_dir() and not e.is_symlink())


def load(lab: str) -> dict[str, Any]:
    """LabState.load's checks (a lab name, the state file read through no symlink, a JSON object,
    the lab named by its directory), then the fields as the dataclass would hold them."""
    if not valid_lab(lab):
        raise Fallback  # the full CLI: "no lab named"
    path = os.path.join(RUN_DIR, lab, "state.json")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd) as f:
            data = json.load(f)
    except (OSError, ValueError):
        raise Fallback from None
    if not isinstance(data, dict) or not set(data) <= STATE_FIELDS or "runtime" not in data:
        raise Fallback  # LabState(**data) would refuse it: the full CLI reports it
    data["lab"] = lab
    return {**DEFAULTS, "processes": [], "nodes": {}, "extra": {}, **data}


def process_start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])


def alive(pid: object, start: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or not isinstance(start, int):
        return False
    return process_start_time(pid) == start




def report(name: str | None) -> list[dict[str, Any]]:
    """What the full CLI's `status` builds, field for field."""
    found = []
    for lab in [name] if name else all_labs():
        st = load(lab)
        if not isinstance(st["processes"], list) or not isinstance(st["extra"], dict) or st.get("attached"):
            raise Fallback  # interfaces attached from the host: the full CLI asks the lab's bridge
        procs = [{**p, "running": alive(p["pid"], p.get("start"))} for p in st["processes"]]
        found.append({"lab": st["lab"], "status": st["status"], "runtime": st["runtime"],
                      "topology": st["topology"], "ca": st["extra"].get("ca"), "nodes": st["nodes"],
                      "processes": procs,
                      "learnt": learnt_of(os.path.join(RUN_DIR, lab), st["nodes"] or {}),
                      "attached": []})  # labsim.bringup.attach.ports of a lab with none
    return found


class Plain:
    """What rich's Console prints off a terminal, for the text that needs none of rich."""

    def __init__(self, width: int, emoji: frozenset[str]):
        self.width, self.emoji = width, emoji
        self.lines: list[str] = []

    def check(self, text: str, markup: bool = True) -> str:
        """`text` as rich prints it on one line, or Fallback where rich would change it."""
        if any(not " " <= c <= "~" for c in text) or (markup and "[" in text):
            raise Fallback  # colour/markup, a control or wide character, a tab
        start = text.find(":")
        while start != -1:  # rich replaces :name: by the emoji of that name
            end = text.find(":", start + 1)
            if end == -1:
                break
            name = text[start + 1:end]
            if " " in name:  # not a :name: (rich's pattern takes no space): the next one may start here
                start = end
                continue
            if name.lower() in self.emoji or name.rsplit("-", 1)[0].lower() in self.emoji:
                raise Fallback
            start = text.find(":", end + 1)  # rich's pattern consumed both colons
        return text

    def print(self, text: str, markup: bool = True) -> None:
        if len(self.check(text, markup)) > self.width:
            raise Fallback  # rich would wrap it
        self.lines.append(text)

    def table(self, title: str, rows: list[tuple[Any, ...]]) -> None:
        """rich's default Table (heavy head, left title, cells padded by one space), when every
        cell fits on its line."""
        # a cell's lines one by one (rich's :name: takes no line break)
        cells = [[[self.check(line) for line in c.split("\n")] if isinstance(c, str) else _fail() for c in row]
                 for row in rows]
        widths = [max([len(h)] + [len(line) for row in cells for line in row[i]]) for i, h in enumerate(HEADERS)]
        total = sum(widths) + 3 * len(widths) + 1
        if total > self.width or len(self.check(title)) > total:
            raise Fallback  # rich would shrink the columns and wrap the cells
        bar = ["━" * (w + 2) for w in widths]
        self.lines.append(title.ljust(total))
        self.lines.append("┏" + "┳".join(bar) + "┓")
        self.lines.append("┃" + "┃".join(f" {h.ljust(w)} " for h, w in zip(HEADERS, widths, strict=True)) + "┃")
        self.lines.append("┡" + "╇".join(bar) + "┩")
        for row in cells:
            for k in range(max(len(c) for c in row)):
                self.lines.append("│" + "│".join(f" {(c[k] if k < len(c) else '').ljust(w)} "
                                                 for c, w in zip(row, widths, strict=True)) + "│")
        self.lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")


def _fail() -> list[str]:
    raise Fallback  # a cell that is not a string: rich renders it its own way


def node_rows(nodes: dict[str, Any]) -> list[tuple[Any, ...]]:
    """cli._print_nodes's cells (what is not a string is left to rich: Plain.table)."""
    rows: list[tuple[Any, ...]] = []
    for name, n in nodes.items():
        addrs = "\n".join(f"{i['name']} {a}" for i in n["interfaces"] for a in (i["ipv6"], i["ipv4"]) if a)
        routes = "\n".join(f"{r['to']} via {r['via']}" for r in n["routes"])
        rows.append((name, n["kind"], n["netns"], addrs, routes))
    return rows


def plain_text(found: list[dict[str, Any]], width: int, emoji: frozenset[str]) -> str:
    """cli.status's output through rich off a terminal at `width` columns."""
    out = Plain(width, emoji)
    if not found:
        out.print("no labs")
    for r in found:
        dead = [f"{p['node']}/{p['service']}" for p in r["processes"] if not p["running"]]
        # the full CLI wraps the lab in [bold] and the stopped list in [red]: no colour off a terminal
        head = f"{r['lab']} {r['status']} ({r['runtime']}, {r['topology']})"
        out.print(head + (f" stopped: {', '.join(dead)}" if dead else ""))
        if r["nodes"]:
            if not isinstance(r["nodes"], dict):
                raise Fallback
            out.table(f"lab {r['lab']}", node_rows(r["nodes"]))
        for node, learnt in r["learnt"].items():
            out.print(f"  {node} learnt: {summary(learnt)}", markup=False)
    return "".join(line + "\n" for line in out.lines)


def parse(args: list[str]) -> tuple[str | None, bool] | None:
    """(NAME, --json) of the plain forms, or None for anything the full CLI should parse."""
    as_json = "--json" in args
    rest = [a for a in args if a != "--json"]
    if args.count("--json") > 1 or len(rest) > 1 or any(a.startswith("-") or not a for a in rest):
        return None
    return (rest[0] if rest else None), as_json


def console_width() -> int | None:
    """cli.out's width off a terminal (COLUMNS, else 150), or None when rich decides more:
    on a terminal, colour forced, an encoding without the table's box characters."""
    from labsim.commands.terminal import RENDER_ENV

    if sys.stdout.isatty() or any(v in os.environ for v in RENDER_ENV):
        return None
    if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        return None
    columns = os.environ.get("COLUMNS", "150")
    return int(columns) if columns.isdigit() and columns == str(int(columns)) else None


def render(args: list[str]) -> str | None:
    """The full CLI's stdout for `labsim status ARGS` (exit 0), or None to leave it to the full CLI."""
    parsed = parse(args)
    if parsed is None:
        return None
    name, as_json = parsed
    try:
        found = report(name)
        if as_json:
            return json.dumps(found, indent=1) + "\n"
        width = console_width()
        if width is None:
            return None
        from labsim.commands.helptext import EMOJI

        return plain_text(found, width, frozenset(EMOJI.split("\n")))
    except (Fallback, KeyError, TypeError, AttributeError, ValueError, OSError, RecursionError):
        return None  # what the full CLI would fail on or render otherwise: it says so itself
