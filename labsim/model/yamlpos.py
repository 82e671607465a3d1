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
        """Line of `loc`, or of its nearest ancestor that is in the file (missing fields)."""
        loc = tuple(loc)
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def error(self, loc: Loc, message: str) -> InputError:
        return InputError(message, file=self.file, line=self.line_of(loc),
                          field=format_loc(loc) or None)


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
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=name) from exc
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str = "<string>") -> tuple[Any, SourceMap]:
    smap = SourceMap(name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise InputError(f"invalid YAML: {problem}", file=name, line=line) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=name) from exc
    if root is None:
        raise InputError("the file is empty", file=name, line=1)
    return _build(root, (), smap), smap


_constructor = yaml.SafeLoader("")


def _build(node: yaml.Node, loc: Loc, smap: SourceMap) -> Any:
    smap.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("mapping keys must be plain values", file=smap.file,
                                 line=key_node.start_mark.line + 1, field=format_loc(loc) or None)
            key = _constructor.construct_object(key_node)
            if key in out:
                raise InputError(
                    f"duplicate key {key!r} (first defined on line {smap.lines[loc + (key,)]})",
                    file=smap.file, line=key_node.start_mark.line + 1,
                    field=format_loc(loc) or None)
            smap.lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), smap)
            # the key's own line is more useful than the value's for a nested block
            smap.lines[loc + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), smap) for i, item in enumerate(node.value)]
    return _constructor.construct_object(node)
