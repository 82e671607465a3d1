"""YAML loading that remembers where every value came from.

PyYAML's composer keeps a start mark on every node; we walk that tree to build plain
Python data plus a map from the value's path (a tuple of keys and indexes) to its line.
Duplicate mapping keys, which PyYAML silently accepts, are errors here: a topology with
two nodes of the same name must not quietly lose one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError

Loc = tuple[Any, ...]


@dataclass
class SourceMap:
    """Where each value of a loaded document stands: file name and line per path."""

    file: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of `loc`, or of its nearest ancestor that is in the file (missing fields).
        Keys match as DNS names do too (case, trailing dot), since zone names are normalized."""
        loc = tuple(loc)
        folded = {tuple(map(_fold, k)): v for k, v in self.lines.items()}
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if tuple(map(_fold, loc)) in folded:
                return folded[tuple(map(_fold, loc))]
            if not loc:
                return None
            loc = loc[:-1]

    def error(self, loc: Loc, message: str) -> InputError:
        return InputError(message, file=self.file, line=self.line_of(loc),
                          field=format_loc(loc) or None)


def _fold(part: Any) -> Any:
    return part.rstrip(".").lower() if isinstance(part, str) else part


def format_loc(loc: Loc) -> str:
    """('nodes', 'nat64', 'pool4') -> 'nodes.nat64.pool4'; list indexes as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_yaml(path: str | Path) -> tuple[Any, SourceMap]:
    """Read a YAML file into plain data and its source map. Raises InputError."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=name) from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte {exc.object[exc.start]:#x})", file=name, line=line) from exc
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str = "<string>") -> tuple[Any, SourceMap]:
    smap = SourceMap(name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, name) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=name) from exc
    if root is None:
        raise InputError("the file is empty", file=name, line=1)
    try:
        return _build(root, (), smap), smap
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, name) from exc


def _marked(exc: yaml.MarkedYAMLError, name: str) -> InputError:
    """PyYAML's error with its own words; the line is where the construct began when it
    says so ('while parsing a flow sequence'), since that is usually where the typo is."""
    problem = exc.problem or str(exc)
    if exc.context and exc.context_mark is not None:
        line = exc.context_mark.line + 1
        problem = f"{exc.context} starting here: {problem} (line {exc.problem_mark.line + 1})" \
            if exc.problem_mark is not None else f"{exc.context}: {problem}"
    else:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
    return InputError(f"invalid YAML: {problem}", file=name, line=line)


_constructor = yaml.SafeLoader("")


def _build(node: yaml.Node, loc: Loc, smap: SourceMap) -> Any:
    smap.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, loc, smap)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), smap) for i, item in enumerate(node.value)]
    return _constructor.construct_object(node)


def _build_mapping(node: yaml.MappingNode, loc: Loc, smap: SourceMap) -> dict:
    own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    # apply `<<: *anchor` merges: merged pairs come first, the mapping's own keys override them
    _constructor.flatten_mapping(node)
    out: dict[Any, Any] = {}
    own_lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise InputError("mapping keys must be plain values", file=smap.file, line=line,
                             field=format_loc(loc) or None)
        key = _constructor.construct_object(key_node)
        if isinstance(key, bool):
            raise InputError(f"the key {key_node.value!r} is read by YAML as the boolean {key}: quote it",
                             file=smap.file, line=line, field=format_loc(loc) or None)
        if id(key_node) in own:
            if key in own_lines:
                raise InputError(f"duplicate key {key!r} (first defined on line {own_lines[key]})",
                                 file=smap.file, line=line, field=format_loc(loc) or None)
            own_lines[key] = line
        elif key in out:
            continue
        out[key] = _build(value_node, loc + (key,), smap)
        # the key's own line is more useful than the value's for a nested block
        smap.lines[loc + (key,)] = line
    return out
