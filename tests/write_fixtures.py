"""Fixtures of the write-route tests, which the suite's conftest takes in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.write_support import RecordingWrites


@pytest.fixture
def recording() -> RecordingWrites:
    """The demo store, keeping every write call it is given."""
    return RecordingWrites()


@pytest.fixture
def writes(make_client: Callable[..., TestClient], recording: RecordingWrites) -> TestClient:
    """`recording` with writes on, answering with `AUTH`."""
    return make_client(recording, writes=True)
