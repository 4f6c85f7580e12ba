"""Failed authentications are limited per client address, and only for that address.

The lockout answers a locked-out address's wrong credentials 429; a valid credential from
the same address is always served, so that no one who shares an address with Talkdesk (a
NAT, a load balancer) can lock it out.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from bridge.ratelimit import FailedAuthLimiter
from tests.conftest import AUTH as APP_AUTH
from tests.conftest import BOTH_SCOPES, ManualClock, R, RecordingDemoAdapter, decode

CUSTOMER = f"{R}/customers/cus_ana"
API_KEY = "rate-limit-test-key-5b0f3c9e1a7d24f8"
AUTH = {"X-API-Key": API_KEY}
WRONG = {"X-API-Key": "rate-limit-wrong-key-00000000000000"}
USER, PASSWORD = "agent", "rate-limit-basic-password-8e2a9c41"
CLIENT_ID, CLIENT_SECRET = "talkdesk", "rate-limit-client-secret-4d6b1f07e3"
METRICS_KEY = "rate-limit-metrics-key-9c3e7a5d1b2f"
LIMIT = 5
WINDOW = 60


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def attacker(
    make_app_client: Callable[..., TestClient], recorder: RecordingDemoAdapter, clock: ManualClock
) -> TestClient:
    return make_app_client(
        recorder,
        clock=clock,
        address="203.0.113.7",
        headers={},
        api_keys=API_KEY,
        basic_users=f"{USER}:{PASSWORD}",
        oauth_clients=f"{CLIENT_ID}:{CLIENT_SECRET}:{BOTH_SCOPES}",
        metrics_key=METRICS_KEY,
        auth_failure_limit=LIMIT,
        auth_failure_window_s=WINDOW,
    )


def neighbour(attacker: TestClient) -> TestClient:
    """Another client address on the same running bridge."""
    return TestClient(attacker.app, client=("198.51.100.9", 50000))


def limiter(client: TestClient) -> FailedAuthLimiter:
    limiter: FailedAuthLimiter = client.app.state.bridge.auth.limiter  # type: ignore[attr-defined]
    return limiter


def fail(client: TestClient, times: int) -> None:
    for _ in range(times):
        assert client.get(CUSTOMER, headers=WRONG).status_code == 401


def token_of(client: TestClient, secret: str = CLIENT_SECRET) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(CLIENT_ID, secret),
    )


def assert_locked(response: Any, retry_after: int = WINDOW) -> None:
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(retry_after)
    assert decode(response)["code"] == "too_many_requests"


def test_wrong_credentials_are_answered_429_after_the_limit(
    attacker: TestClient, recorder: RecordingDemoAdapter
) -> None:
    fail(attacker, LIMIT)
    assert_locked(attacker.get(CUSTOMER, headers=WRONG))
    assert_locked(attacker.get(CUSTOMER, headers=basic(USER, "wrong-password")))
    assert recorder.calls == []


def test_a_valid_credential_is_never_locked_out(
    attacker: TestClient, recorder: RecordingDemoAdapter
) -> None:
    fail(attacker, LIMIT)
    assert_locked(attacker.get(CUSTOMER, headers=WRONG))
    for headers in (AUTH, basic(USER, PASSWORD)):
        served = attacker.get(CUSTOMER, headers=headers)
        assert served.status_code == 200
        assert decode(served)["id"] == "cus_ana"
    assert recorder.calls == [("get_customer", ("cus_ana",))]  # then from the cache
    # A success does not lift the lockout of the wrong guesses.
    assert_locked(attacker.get(CUSTOMER, headers=WRONG))


def test_a_valid_credential_does_not_touch_the_limiter(attacker: TestClient) -> None:
    for _ in range(LIMIT * 2):
        assert attacker.get(CUSTOMER, headers=AUTH).status_code == 200
    assert len(limiter(attacker)) == 0


def test_attempts_while_locked_out_do_not_prolong_it(
    attacker: TestClient, clock: ManualClock
) -> None:
    fail(attacker, LIMIT)
    clock.advance(WINDOW - 1)
    assert_locked(attacker.get(CUSTOMER, headers=WRONG), retry_after=1)
    clock.advance(1)
    assert attacker.get(CUSTOMER, headers=WRONG).status_code == 401


def test_one_failure_fewer_is_not_locked_out(attacker: TestClient) -> None:
    fail(attacker, LIMIT - 1)
    assert attacker.get(CUSTOMER, headers=WRONG).status_code == 401


def test_other_addresses_are_not_affected(attacker: TestClient) -> None:
    fail(attacker, LIMIT)
    assert_locked(attacker.get(CUSTOMER, headers=WRONG))
    other = neighbour(attacker)
    for _ in range(3):
        assert other.get(CUSTOMER, headers=AUTH).status_code == 200
    assert other.get(CUSTOMER, headers=WRONG).status_code == 401


def test_failures_outside_the_window_are_forgotten(
    attacker: TestClient, clock: ManualClock
) -> None:
    fail(attacker, LIMIT - 1)
    clock.advance(WINDOW)
    fail(attacker, LIMIT - 1)
    assert attacker.get(CUSTOMER, headers=WRONG).status_code == 401


def test_missing_credentials_neither_count_nor_are_locked(
    attacker: TestClient, recorder: RecordingDemoAdapter
) -> None:
    for _ in range(LIMIT * 2):
        assert attacker.get(CUSTOMER).status_code == 401
    assert attacker.get(CUSTOMER, headers=WRONG).status_code == 401
    fail(attacker, LIMIT - 1)
    missing = attacker.get(CUSTOMER)
    assert missing.status_code == 401  # the challenge, so that an honest client can answer it
    assert "www-authenticate" in missing.headers
    assert recorder.calls == []


def test_token_endpoint_wrong_secrets_count_and_a_valid_secret_is_served(
    attacker: TestClient, recorder: RecordingDemoAdapter
) -> None:
    for _ in range(LIMIT):
        refused = token_of(attacker, "rate-limit-guessed-secret-000000000")
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
    locked = token_of(attacker, "rate-limit-guessed-secret-000000000")
    assert locked.status_code == 429
    assert locked.json()["error"] == "slow_down"
    assert locked.headers["retry-after"] == str(WINDOW)
    assert "access_token" not in locked.json()
    assert_locked(attacker.get(CUSTOMER, headers=WRONG))  # one count for every route
    issued = token_of(attacker)
    assert issued.status_code == 200
    served = attacker.get(CUSTOMER, headers=bearer(issued.json()["access_token"]))
    assert served.status_code == 200
    assert recorder.calls == [("get_customer", ("cus_ana",))]
    assert token_of(neighbour(attacker), "rate-limit-guessed-secret-000000000").status_code == 401


def test_forged_tokens_count_but_expired_ones_do_not(
    attacker: TestClient, clock: ManualClock
) -> None:
    token = token_of(attacker).json()["access_token"]
    clock.advance(600)
    for _ in range(LIMIT * 2):
        assert attacker.get(CUSTOMER, headers=bearer(token)).status_code == 401
    assert attacker.get(CUSTOMER, headers=WRONG).status_code == 401
    for _ in range(LIMIT - 1):
        assert attacker.get(CUSTOMER, headers=bearer(f"{token[:-4]}AAAA")).status_code == 401
    assert_locked(attacker.get(CUSTOMER, headers=bearer(f"{token[:-4]}AAAA")))


def test_behind_a_shared_address_talkdesk_renews_its_token_while_locked_out(
    attacker: TestClient, clock: ManualClock
) -> None:
    token = token_of(attacker).json()["access_token"]
    clock.advance(599)
    fail(attacker, LIMIT)
    clock.advance(1)
    assert_locked(attacker.get(CUSTOMER, headers=WRONG), retry_after=WINDOW - 1)
    expired = attacker.get(CUSTOMER, headers=bearer(token))
    assert expired.status_code == 401  # says the token expired, not "come back later"
    assert "expired" in expired.headers["www-authenticate"]
    renewed = token_of(attacker)
    assert renewed.status_code == 200
    assert attacker.get(CUSTOMER, headers=bearer(renewed.json()["access_token"])).status_code == 200


def test_wrong_metrics_keys_count_and_the_right_one_is_served(attacker: TestClient) -> None:
    for _ in range(LIMIT):
        refused = attacker.get("/metrics", headers=bearer("rate-limit-wrong-metrics-key-000000"))
        assert refused.status_code == 401
    assert_locked(attacker.get("/metrics", headers={"X-API-Key": "another-wrong-metrics-key"}))
    assert_locked(attacker.get(CUSTOMER, headers=WRONG))
    assert attacker.get("/metrics").status_code == 401  # no key: not a guess
    scraped = attacker.get("/metrics", headers=bearer(METRICS_KEY))
    assert scraped.status_code == 200
    assert "erc_bridge_requests_total" in scraped.text


def test_a_missing_metrics_key_does_not_count(attacker: TestClient) -> None:
    for _ in range(LIMIT * 2):
        assert attacker.get("/metrics").status_code == 401
    assert len(limiter(attacker)) == 0


def test_memory_is_bounded() -> None:
    clock = ManualClock()
    limiter = FailedAuthLimiter(limit=3, window_s=60, max_clients=100, clock=clock)
    for n in range(10_000):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 100
    clock.advance(60)
    assert limiter.retry_after("10.0.39.15") is None
    assert len(limiter) == 0


def test_failed_says_how_long_a_locked_out_address_waits() -> None:
    clock = ManualClock()
    limiter = FailedAuthLimiter(limit=2, window_s=60, clock=clock)
    assert limiter.failed("10.0.0.1") is None
    assert limiter.failed("10.0.0.1") is None  # the failure that locks is still a 401
    clock.advance(20)
    assert limiter.failed("10.0.0.1") == 40
    clock.advance(40)
    assert limiter.failed("10.0.0.1") is None  # free again: a new count
    assert limiter.retry_after("10.0.0.1") is None


# The limiter on its own clock, and in an app built by `make_app_client`.


def test_nobody_blocked_means_no_retry_after(clock: ManualClock) -> None:
    limiter = FailedAuthLimiter(limit=3, window_s=60, clock=clock)
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is None
    assert limiter.retry_after("10.0.0.2") is None


def test_limit_failures_block_that_address_only(clock: ManualClock) -> None:
    limiter = FailedAuthLimiter(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.2")
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") is None
    assert limiter.retry_after("10.0.0.3") is None
    clock.advance(59.5)
    assert limiter.retry_after("10.0.0.1") == 1


def test_a_block_ends_after_the_window(clock: ManualClock) -> None:
    limiter = FailedAuthLimiter(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        limiter.failed("10.0.0.1")
    clock.advance(60)
    assert limiter.retry_after("10.0.0.1") is None
    # Free again: one new failure does not block, a full new run does.
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60


def test_failures_spread_beyond_the_window_do_not_block(clock: ManualClock) -> None:
    limiter = FailedAuthLimiter(limit=3, window_s=60, clock=clock)
    limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.1")
    clock.advance(61)
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is None


def test_blocks_end_each_at_their_own_time(clock: ManualClock) -> None:
    limiter = FailedAuthLimiter(limit=2, window_s=60, clock=clock)
    limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.1")
    clock.advance(30)
    limiter.failed("10.0.0.2")
    limiter.failed("10.0.0.2")
    assert limiter.retry_after("10.0.0.1") == 30
    assert limiter.retry_after("10.0.0.2") == 60
    assert limiter.retry_after("10.0.0.3") is None
    clock.advance(30)
    assert limiter.retry_after("10.0.0.1") is None
    assert limiter.retry_after("10.0.0.2") == 30
    # A third address blocked now outlasts the second one.
    limiter.failed("10.0.0.3")
    limiter.failed("10.0.0.3")
    clock.advance(30)
    assert limiter.retry_after("10.0.0.2") is None
    assert limiter.retry_after("10.0.0.3") == 30
    assert limiter.retry_after("10.0.0.1") is None
    clock.advance(30)
    assert [limiter.retry_after(f"10.0.0.{n}") for n in (1, 2, 3)] == [None, None, None]


def test_the_app_locks_out_one_address_and_lets_it_back(
    make_app_client: Callable[..., TestClient], clock: ManualClock
) -> None:
    adapter = RecordingDemoAdapter()
    guesser = make_app_client(
        adapter, clock=clock, address="203.0.113.7", auth_failure_limit=3, auth_failure_window_s=60
    )
    honest = TestClient(guesser.app, headers=APP_AUTH, client=("198.51.100.9", 50000))
    for _ in range(3):
        assert guesser.get(CUSTOMER, headers={"X-API-Key": "guess"}).status_code == 401
    locked = guesser.get(CUSTOMER, headers={"X-API-Key": "guess", "X-Request-Id": "locked-1"})
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "60"
    assert locked.headers["x-request-id"] == "locked-1"
    assert decode(locked)["code"] == "too_many_requests"
    assert guesser.get(CUSTOMER).status_code == 200  # the valid key is never locked out
    assert honest.get(CUSTOMER).status_code == 200
    clock.advance(60)
    assert guesser.get(CUSTOMER, headers={"X-API-Key": "guess"}).status_code == 401
