"""Ship the repository's top-level data directories inside the wheel as labsim/_data/.

They stay at the top of the repository (README commands and tests use those paths); this
build step copies them into the built package, where labsim/builtin.py finds them.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_DIRS = ("topologies", "scenarios", "compare", "docker", "docs")  # as labsim/builtin.py


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # a checkout uses the top-level directories directly
            return
        target = Path(self.build_lib) / "labsim" / "_data"
        for name in DATA_DIRS:
            src = HERE / name
            if not src.is_dir():
                continue
            dst = target / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
