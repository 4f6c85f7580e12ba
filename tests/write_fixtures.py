"""Fixtures of the write-route tests, which the suite's conftest takes in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.write_support import RecordingWrites


@pytest.fixture
def adapter() -> RecordingWrites:
    return RecordingWrites()


@pytest.fixture
def writes(make_client: Callable[..., TestClient], adapter: RecordingWrites) -> TestClient:
    """The demo store with writes on, answering with `AUTH`."""
    return make_client(adapter, writes=True)
