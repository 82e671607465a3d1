"""labsim/node/ holds what runs INSIDE lab nodes, started with `python -S` (no site-packages):
every module there may import only the standard library and labsim.node itself, at any depth
(a function-level import runs in the node too)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import labsim.node

NODE_DIR = Path(labsim.node.__file__).parent


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(n, ast.Import):
            out += [(n.lineno, a.name) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:  # relative: resolve against labsim.node
                out.append((n.lineno, "labsim.node" + ("." + n.module if n.module else "")))
            elif n.module:
                out.append((n.lineno, n.module))
    return sorted(out)


def test_node_modules_import_only_the_standard_library_and_labsim_node():
    std = set(sys.stdlib_module_names)
    bad = [f"{p.name}:{line}: {mod}" for p in sorted(NODE_DIR.rglob("*.py")) for line, mod in _imports(p)
           if mod.split(".")[0] not in std and mod != "labsim.node" and not mod.startswith("labsim.node.")]
    assert not bad, "in-node programs import beyond the standard library: " + "; ".join(bad)


def test_the_boundary_check_sees_function_level_and_relative_imports(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("import os\ndef f():\n    from cryptography import x509\nfrom . import ndopts\n")
    assert _imports(p) == [(1, "os"), (3, "cryptography"), (4, "labsim.node")]


def test_every_node_program_is_a_module_under_labsim_node():
    from labsim.node.nodeprog import NODE_PROGRAMS

    for mod in NODE_PROGRAMS:
        assert mod.startswith("labsim.node."), mod
        assert (NODE_DIR / (mod.rsplit(".", 1)[1] + ".py")).is_file(), mod
