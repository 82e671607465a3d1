"""What every docker-tier test shares: the node image."""

from __future__ import annotations

import pytest

from tests.helpers import IN_CI


@pytest.fixture(scope="module")
def docker_image():
    """The node image (built when missing); skip outside CI without docker, fail in CI."""
    from labsim.errors import EnvironmentMissingError
    from labsim.runtime.docker.image import ensure_image

    try:
        return ensure_image()
    except EnvironmentMissingError as exc:
        if IN_CI:
            pytest.fail(f"CI=true and docker is not usable: {exc}")
        pytest.skip(f"docker is not usable: {exc}")
