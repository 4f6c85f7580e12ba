"""Failed authentications are limited per client address, and only for that address."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.testclient import TestClient

from bridge.ratelimit import FailedAuthLimiter
from tests.conftest import (
    AUTH,
    CLIENT_ID,
    CLIENT_SECRET,
    ManualClock,
    R,
    RecordingDemoAdapter,
    decode,
)

CUSTOMER = f"{R}/customers/cus_ana"
WRONG = {"X-API-Key": "wrong-key"}
LIMIT = 5
WINDOW = 60


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def attacker(
    make_app_client: Any, recorder: RecordingDemoAdapter, clock: ManualClock
) -> TestClient:
    return make_app_client(
        recorder,
        clock=clock,
        address="203.0.113.7",
        headers={},
        auth_failure_limit=LIMIT,
        auth_failure_window_s=WINDOW,
    )


def neighbour(attacker: TestClient) -> TestClient:
    """Another client address on the same running bridge."""
    return TestClient(attacker.app, client=("198.51.100.9", 50000))


def fail(client: TestClient, times: int) -> None:
    for _ in range(times):
        assert client.get(CUSTOMER, headers=WRONG).status_code == 401


def test_address_is_locked_out_after_repeated_failures(
    attacker: TestClient, recorder: RecordingDemoAdapter
) -> None:
    fail(attacker, LIMIT)
    locked = attacker.get(CUSTOMER, headers=AUTH)  # even the right key waits
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == str(WINDOW)
    body = decode(locked)
    assert body["code"] == "too_many_requests"
    assert recorder.calls == []


def test_one_failure_fewer_is_not_locked_out(attacker: TestClient) -> None:
    fail(attacker, LIMIT - 1)
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 200


def test_other_addresses_are_not_affected(attacker: TestClient) -> None:
    fail(attacker, LIMIT)
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 429
    other = neighbour(attacker)
    for _ in range(3):
        assert other.get(CUSTOMER, headers=AUTH).status_code == 200
    assert other.get(CUSTOMER, headers=WRONG).status_code == 401


def test_lockout_ends_after_the_window(attacker: TestClient, clock: ManualClock) -> None:
    fail(attacker, LIMIT)
    clock.advance(WINDOW - 1)
    still = attacker.get(CUSTOMER, headers=AUTH)
    assert still.status_code == 429
    assert still.headers["retry-after"] == "1"
    clock.advance(1)
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 200


def test_failures_outside_the_window_are_forgotten(
    attacker: TestClient, clock: ManualClock
) -> None:
    fail(attacker, LIMIT - 1)
    clock.advance(WINDOW)
    fail(attacker, LIMIT - 1)
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 200


def test_missing_credentials_do_not_count(attacker: TestClient) -> None:
    for _ in range(LIMIT * 2):
        assert attacker.get(CUSTOMER).status_code == 401
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 200


def test_token_endpoint_failures_count_and_it_is_locked_too(attacker: TestClient) -> None:
    for _ in range(LIMIT):
        response = attacker.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(CLIENT_ID, "guess"),
        )
        assert response.status_code == 401
    locked = attacker.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "slow_down"
    assert locked.headers["retry-after"] == str(WINDOW)
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 429
    token = neighbour(attacker).post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    )
    assert token.status_code == 200


def test_forged_tokens_count_but_expired_ones_do_not(
    attacker: TestClient, clock: ManualClock
) -> None:
    token = attacker.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    ).json()["access_token"]
    clock.advance(600)
    for _ in range(LIMIT * 2):
        assert (
            attacker.get(CUSTOMER, headers={"Authorization": f"Bearer {token}"}).status_code == 401
        )
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 200
    for _ in range(LIMIT):
        forged = attacker.get(CUSTOMER, headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
        assert forged.status_code == 401
    assert attacker.get(CUSTOMER, headers=AUTH).status_code == 429


def test_memory_is_bounded() -> None:
    clock = ManualClock()
    limiter = FailedAuthLimiter(limit=3, window_s=60, max_clients=100, clock=clock)
    for n in range(10_000):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 100
    clock.advance(60)
    assert limiter.retry_after("10.0.39.15") is None
    assert len(limiter) == 0
