"""YAML loading that remembers where every value came from.

PyYAML's composer keeps a start mark on every node; we walk that tree to build plain
Python data plus a map from the value's path (a tuple of keys and indexes) to its line.
Duplicate mapping keys, which PyYAML silently accepts, are errors here: a topology with
two nodes of the same name must not quietly lose one.

Input arrives in pull requests, so reading is bounded: only regular files, at most
MAX_BYTES; no NUL or other control characters (with their line); nesting at most MAX_DEPTH
deep (checked on the event stream before PyYAML's recursive composer runs); and aliases
expand to at most MAX_VALUES values in all, so a "billion laughs" tree or an alias that
contains itself is an input error, not a memory blow-up or a RecursionError.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labsim.errors import InputError

Loc = tuple[Any, ...]

MAX_BYTES = 1 << 20  # 1 MiB: a topology or scenario is a page or two
MAX_DEPTH = 64
MAX_VALUES = 100_000  # values built, aliases expanded
# C0 controls but tab, LF and CR; DEL; C1 controls (YAML escapes can make them too)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
    name = str(path)
    data = read_input_file(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte {exc.object[exc.start]:#x})", file=name, line=line) from exc
    return parse_yaml(text, name)


def read_input_file(path: str | Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else (a FIFO, a device
    such as /dev/zero, a directory, a bigger file) is an InputError. Opened non-blocking so
    a FIFO cannot hang the open itself."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=name) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("not a regular file", file=name)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"the file is larger than {limit} bytes", file=name)
    return data


def parse_yaml(text: str, name: str = "<string>") -> tuple[Any, SourceMap]:
    smap = SourceMap(name)
    if len(text) > MAX_BYTES:
        raise InputError(f"the text is longer than {MAX_BYTES} characters", file=name)
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise InputError(f"control character {bad.group()!r} in the text (NUL and other control "
                         "characters are not accepted)", file=name, line=line)
    _check_depth(text, name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, name) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=name) from exc
    if root is None:
        raise InputError("the file is empty", file=name, line=1)
    try:
        return _Builder(smap).build(root, ()), smap
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, name) from exc


def _check_depth(text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the parser's events (iterative), before the
    composer (recursive) could overflow the stack."""
    try:
        _count_depth(text, name, _EVENTS)
    except yaml.YAMLError:
        # libyaml scans a flow collection's tokens before it emits its events, so its own
        # nesting limit (1000) or a syntax error can come before our count reached
        # MAX_DEPTH; PyYAML's parser (iterative, no limit of its own) counts again. A
        # syntax error it meets too is the composer's to report, in PyYAML's words.
        try:
            _count_depth(text, name, yaml.SafeLoader)
        except yaml.YAMLError:
            pass


def _count_depth(text: str, name: str, loader: Any) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"nested more than {MAX_DEPTH} levels deep", file=name,
                                 line=event.start_mark.line + 1 if event.start_mark else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


# libyaml's parser when present (events only, several times faster than PyYAML's own)
_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _marked(exc: yaml.MarkedYAMLError, name: str) -> InputError:
    """PyYAML's error with its own words; the line is where the construct began when it
    says so ('while parsing a flow sequence'), since that is usually where the typo is."""
    problem = exc.problem or str(exc)
    line: int | None
    if exc.context and exc.context_mark is not None:
        line = exc.context_mark.line + 1
        problem = f"{exc.context} starting here: {problem} (line {exc.problem_mark.line + 1})" \
            if exc.problem_mark is not None else f"{exc.context}: {problem}"
    else:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
    return InputError(f"invalid YAML: {problem}", file=name, line=line)


_constructor = yaml.SafeLoader("")


class _Builder:
    """Plain data from the composed node graph, with a budget: an alias is a shared node,
    and expanding it counts every value again (billion laughs), and a node that contains
    itself is refused."""

    def __init__(self, smap: SourceMap):
        self.smap = smap
        self.left = MAX_VALUES
        self.open: set[int] = set()  # nodes being built: meeting one again is a cycle

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self.left -= 1
        if self.left < 0:
            raise InputError(f"more than {MAX_VALUES} values once aliases are expanded",
                             file=self.smap.file, line=line, field=format_loc(loc) or None)
        if len(loc) > MAX_DEPTH:
            raise InputError(f"nested more than {MAX_DEPTH} levels deep (through aliases)",
                             file=self.smap.file, line=line, field=format_loc(loc) or None)
        if id(node) in self.open:
            raise InputError("an alias refers to a value that contains it", file=self.smap.file,
                             line=line, field=format_loc(loc) or None)
        self.smap.lines[loc] = line
        if isinstance(node, yaml.ScalarNode):
            value = _constructor.construct_object(node)
            if isinstance(value, bytes):
                # no input field is binary, and pydantic would read bytes as text or a number
                raise InputError("a binary value (!!binary) is not accepted here: write it as text",
                                 file=self.smap.file, line=line, field=format_loc(loc) or None)
            return value
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        smap = self.smap
        own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        # apply `<<: *anchor` merges: merged pairs come first, the mapping's own keys override them
        _flatten(node, self.open, smap.file)
        out: dict[Any, Any] = {}
        own_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("mapping keys must be plain values", file=smap.file, line=line,
                                 field=format_loc(loc) or None)
            key = _constructor.construct_object(key_node)
            if isinstance(key, bytes):
                raise InputError("a binary key (!!binary) is not accepted: write it as text",
                                 file=smap.file, line=line, field=format_loc(loc) or None)
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
            out[key] = self.build(value_node, loc + (key,))
            # the key's own line is more useful than the value's for a nested block
            smap.lines[loc + (key,)] = line
        return out


def _flatten(node: yaml.MappingNode, open_nodes: set[int], file: str) -> None:
    """PyYAML's merge-key flattening, after refusing a merge of a mapping into itself (which
    it would follow forever) and merges that would copy more than MAX_VALUES pairs (merges
    of merges double at each step)."""
    sizes: dict[int, int] = {}

    def size(current: yaml.MappingNode, path: frozenset[int]) -> int:
        if id(current) in sizes:
            return sizes[id(current)]
        total = 0
        for key, value in current.value:
            total += 1
            if key.tag != "tag:yaml.org,2002:merge":
                continue
            for target in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                if id(target) in path or id(target) in open_nodes:
                    raise InputError("a merge ('<<') refers to a mapping that contains it",
                                     file=file, line=target.start_mark.line + 1)
                if isinstance(target, yaml.MappingNode):
                    total += size(target, path | {id(target)})
            if total > MAX_VALUES:
                raise InputError(f"merges ('<<') expand to more than {MAX_VALUES} keys",
                                 file=file, line=key.start_mark.line + 1)
        sizes[id(current)] = total
        return total

    try:
        size(node, frozenset({id(node)}))
    except RecursionError:
        raise InputError("merges ('<<') are chained too deep", file=file,
                         line=node.start_mark.line + 1) from None
    _constructor.flatten_mapping(node)
