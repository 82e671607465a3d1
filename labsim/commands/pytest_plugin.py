"""pytest plugin: scenario files become test items.

Registered through the `pytest11` entry point, so any project with labsim installed can
list its scenarios in its pytest configuration:

    [tool.pytest.ini_options]
    labsim_scenarios = ["scenarios/*.yml"]

Each scenario is one item; it brings its lab up (a lab session on `--labsim-runtime`,
default netns; a scenario's own `runtime:` wins), runs its steps and tears the lab down. A
failure shows labsim's own step table. A bad file is a collection error with file:line.
Scenarios need root: without it they skip, except under CI=true where they fail.

Items are independent (each worker collects the files itself; every scenario lab is named
`<scenario>-<random>`), so pytest-xdist spreads them: `pytest -n 2` runs two scenarios at
once, each in its own lab.
"""

from __future__ import annotations

import fnmatch
import io
import os

import pytest

from labsim.errors import LabsimError
from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("labsim_scenarios", "glob patterns (relative to rootdir) of labsim scenario "
                  "files to collect as tests", type="linelist", default=[])
    group = parser.getgroup("labsim")
    group.addoption("--labsim-json", metavar="DIR", default=None,
                    help="write each scenario's result as JSON into DIR")
    group.addoption("--labsim-runtime", metavar="NAME", default=DEFAULT_RUNTIME,
                    help="where scenario nodes run: netns or docker (labsim's --runtime)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "labsim_scenario: a labsim scenario file (needs root)")
    from labsim.runtime import registry

    try:
        registry.get(config.getoption("--labsim-runtime"))
    except LabsimError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collect_file(parent: pytest.Collector, file_path):
    if file_path.suffix not in (".yml", ".yaml"):
        return None
    patterns = parent.config.getini("labsim_scenarios")
    try:
        rel = str(file_path.relative_to(parent.config.rootpath))
    except ValueError:
        return None
    if any(fnmatch.fnmatch(rel, pat) for pat in patterns):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        from labsim.scenario.load import load_scenario

        try:
            loaded = load_scenario(self.path)
        except LabsimError as exc:
            raise self.CollectError(str(exc)) from None
        item = ScenarioItem.from_parent(self, name=loaded.scenario.name, loaded=loaded)
        item.add_marker(pytest.mark.labsim_scenario)
        yield item


class ScenarioFailed(Exception):
    def __init__(self, result):
        self.result = result
        super().__init__(result.name)


class ScenarioItem(pytest.Item):
    def __init__(self, *, loaded, **kw):
        super().__init__(**kw)
        self.loaded = loaded

    def runtest(self) -> None:
        from labsim.scenario.runner import RunOptions, run_scenario

        if os.geteuid() != 0:
            msg = "labsim scenarios need root (network namespaces)"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(msg + "; CI=true makes that a failure")
            pytest.skip(msg)
        result = run_scenario(self.loaded, RunOptions(runtime=self.config.getoption("--labsim-runtime")))
        out_dir = self.config.getoption("--labsim-json")
        if out_dir:
            import json
            from pathlib import Path

            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / f"{result.name}.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
        self.user_properties.append(("labsim_steps", len(result.steps)))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            from rich.console import Console

            from labsim.report.console import render

            buf = io.StringIO()
            render([excinfo.value.result], Console(file=buf, width=150, color_system=None))
            return buf.getvalue()
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"labsim scenario: {self.name}"
