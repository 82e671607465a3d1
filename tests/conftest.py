"""Fixtures and the tier rule for every test folder (unit, netns, docker).

Tests that need root are marked `root`; outside CI they skip without it, in CI (CI=true) a
missing requirement is a failure, never a silent skip. Shared helpers live in tests/helpers.py.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from hypothesis import settings

from tests.helpers import IN_CI, LABSIM, host_snapshot

pytest_plugins = ["pytester"]

# No per-example deadline anywhere: the property tests bound their inputs' size, and on a
# loaded 2-core CI machine a first example that pays for imports or a cold cache would
# otherwise fail as DeadlineExceeded, which says nothing about the code.
# In CI (CI=true) the examples are derandomized (the same ones on every run, so a red build
# is the change's, never the draw's) and a failure prints its reproduction blob; every
# failing example found is then kept as an explicit @example on its test. Elsewhere
# hypothesis explores freely, and keeps what it finds in its local database.
# HYPOTHESIS_PROFILE picks either by name (e.g. `HYPOTHESIS_PROFILE=ci` to run CI's examples).
# Both from hypothesis's own "default" profile: hypothesis itself switches to a CI profile
# when a CI variable is merely present, which must not decide for us.
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, max_examples=100,
                          deadline=None, print_blob=True, database=None)
settings.register_profile("dev", parent=settings.get_profile("default"), derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def pytest_collection_modifyitems(config, items):
    """Outside CI, root tests skip without root; in CI they run and fail loudly instead."""
    if os.geteuid() == 0 or IN_CI:
        return
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(pytest.mark.skip(reason="needs root (network namespaces); CI=true fails instead"))


@pytest.fixture
def lab_name():
    """A unique lab name; whatever the test leaves is removed afterwards."""
    name = "t" + uuid.uuid4().hex[:8]
    yield name
    subprocess.run([LABSIM, "down", name], capture_output=True, timeout=60)


@pytest.fixture
def host_state():
    return host_snapshot
