"""Fixtures of the deploy tests: the compose file, read once per module."""

from typing import Any

import pytest

from tests.deploy.compose_file import interpolated


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolated()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found
