"""labsim's in-node standard-library programs run without site, as `-m` would run them."""

from __future__ import annotations

import json
import subprocess
import sys

from labsim.node.nodeprog import BOOT, SRC, split_program, stdlib_program

PROBE = """import json, sys
print(json.dumps({"name": __name__, "argv": sys.argv[1:], "site": "site" in sys.modules,
                  "first_path": sys.path[0]}))
"""


def test_a_program_runs_as_main_with_only_its_arguments_and_no_site(tmp_path):
    (tmp_path / "probe_mod.py").write_text(PROBE)
    argv = ["-S", "-c", BOOT, str(tmp_path), "probe_mod", "--listen", "::", "-c", "x"]
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=30, check=True)
    seen = json.loads(out.stdout)
    assert seen == {"name": "__main__", "argv": ["--listen", "::", "-c", "x"], "site": False,
                    "first_path": str(tmp_path)}


def test_labsim_programs_start_from_the_source_root_without_site_packages():
    argv = stdlib_program(sys.executable, "labsim.node.agent", "--help")
    assert split_program(argv) == ("labsim.node.agent", ["--help"]) and SRC in argv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("usage: labsim.node.agent"), out.stderr


def test_split_program_reads_both_forms_and_nothing_else():
    assert split_program(["python3", "-m", "labsim.kinds.cloudserve", "--port", "443"]) == \
        ("labsim.kinds.cloudserve", ["--port", "443"])
    assert split_program(["python3", "-S", "-c", "print(1)", SRC, "labsim.node.agent"]) is None
    assert split_program(["curl", "-s"]) is None


def test_node_programs_start_from_any_directory(tmp_path):
    """SRC is the directory holding the labsim package: an in-node program finds labsim from
    any working directory (the layout move had left SRC one level too deep, hidden by tests
    that ran from the checkout)."""
    import subprocess
    import sys
    from pathlib import Path

    import labsim
    from labsim.node.nodeprog import SRC, stdlib_program

    assert Path(SRC) == Path(labsim.__file__).resolve().parent.parent
    res = subprocess.run(stdlib_program(sys.executable, "labsim.node.agent", "--help"), cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "usage" in res.stdout.lower(), res.stderr


TIMED_LOOKUP = """import json, sys
from labsim.node import agent
before = set(sys.modules)
out = agent.resolve(sys.argv[1])
print(json.dumps({"imported": sorted(set(sys.modules) - before), "addresses": out["addresses"]}))
"""


def test_no_import_happens_inside_a_timed_lookup():
    """The agent's first lookup in a fresh interpreter (as a check runs it) times libc only:
    Python imports the idna codec (stringprep, unicodedata) on the first getaddrinfo of a
    str host, ~4 ms that a check reported as resolution time; the agent imports it first."""
    argv = [sys.executable, "-S", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); exec(sys.argv.pop(1))",
            SRC, TIMED_LOOKUP, "localhost"]
    seen = json.loads(subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout)
    assert seen["imported"] == [] and seen["addresses"], seen
