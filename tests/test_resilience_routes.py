"""Faults end to end: the bridge with the Elastic Path adapter against its emulator."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.elasticpath import ElasticPathAdapter
from tests.conftest import FAST_CAPPED, R, decode
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.emulators.faults import Hang
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

ORDER = f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}"
ORDER_PATH = f"/v2/orders/{fx.ORDER_COMPLETE}"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ElasticPathEmulator, Hang, str]]:
    emulator = ElasticPathEmulator(fx.default_store())
    hang = Hang(emulator.app, 5)
    with serve(hang) as url:
        yield emulator, hang, url


@pytest.fixture
def emulator(served: tuple[ElasticPathEmulator, Hang, str]) -> Iterator[ElasticPathEmulator]:
    served[0].reset()
    served[1].on = False
    yield served[0]
    served[1].on = False


def adapter_for(url: str) -> ElasticPathAdapter:
    settings = elasticpath_settings(url)
    return ElasticPathAdapter(settings, http=FAST_CAPPED)


@pytest.fixture
def bridge(
    make_client: Callable[..., TestClient], served: tuple[Any, Hang, str], emulator: Any
) -> TestClient:
    return make_client(adapter_for(served[2]), cache_ttl_s=0, deadline_s=1.5)


def order_calls(emulator: ElasticPathEmulator) -> int:
    return sum(1 for path in emulator.api_paths if path == ORDER_PATH)


def test_a_500_then_ok_is_200_after_two_platform_calls(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(500, path=ORDER_PATH)
    response = bridge.get(ORDER)
    assert response.status_code == 200
    assert order_calls(emulator) == 2


def test_persistent_500_is_502_after_three_attempts(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(500, times=10, path=ORDER_PATH)
    response = bridge.get(ORDER)
    assert response.status_code == 502
    assert decode(response)["code"] == "upstream_error"
    assert order_calls(emulator) == 3


def test_429_is_retried_to_200(bridge: TestClient, emulator: ElasticPathEmulator) -> None:
    emulator.fail_next(429, path=ORDER_PATH)
    response = bridge.get(ORDER)
    assert response.status_code == 200
    assert order_calls(emulator) == 2


def test_hanging_platform_is_504_within_the_deadline(
    bridge: TestClient, served: tuple[Any, Hang, str], emulator: ElasticPathEmulator
) -> None:
    bridge.get(ORDER)  # a token first, so that only the order call hangs
    served[1].on = True
    started = time.monotonic()
    response = bridge.get(ORDER)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert decode(response)["code"] == "upstream_timeout"
    assert elapsed < 1.5 + 0.5


def test_malformed_body_is_502(bridge: TestClient, emulator: ElasticPathEmulator) -> None:
    emulator.send_malformed_next(path=ORDER_PATH)
    response = bridge.get(ORDER)
    assert response.status_code == 502
    assert decode(response)["code"] == "upstream_error"


def test_connection_reset_is_503(make_client: Callable[..., TestClient]) -> None:
    from tests.emulators.faults import resetting_server

    with resetting_server() as (url, accepted):
        bridge = make_client(adapter_for(url), cache_ttl_s=0)
        response = bridge.get(ORDER)
    assert response.status_code == 503
    assert decode(response)["code"] == "upstream_unavailable"
    assert len(accepted) == 3


def test_breaker_opens_and_then_answers_without_calling_the_platform(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(500, times=10, path=ORDER_PATH)
    assert bridge.get(ORDER).status_code == 502  # three failed attempts
    opened = bridge.get(ORDER)  # two more: the fifth consecutive failure opens the breaker
    assert opened.status_code == 503
    assert order_calls(emulator) == 5
    calls = len(emulator.requests)
    refused = bridge.get(ORDER)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) in (4, 5)  # the 5 s first open period, left
    assert len(emulator.requests) == calls


# The breaker recovers by itself. Open periods are short here (the default is 5 s); the
# bridge must serve again within the open period plus one probe.

OPEN_S = 0.3
SLACK_S = 3.0
"""Allowance for one probe on a loaded machine, on top of an open period."""
POLL_S = 0.05


@pytest.fixture
def guarded(
    make_client: Callable[..., TestClient], served: tuple[Any, Hang, str], emulator: Any
) -> TestClient:
    """The bridge with a short first open period, its token and connection already taken."""
    bridge = make_client(
        adapter_for(served[2]),
        cache_ttl_s=0,
        deadline_s=1.5,
        breaker_open_s=OPEN_S,
        breaker_open_max_s=8 * OPEN_S,
    )
    assert bridge.get(ORDER).status_code == 200
    return bridge


def open_with_500s(bridge: TestClient, emulator: ElasticPathEmulator) -> None:
    """The order fails five times, its shipping groups (asked alongside) with it; then
    the platform is healthy again."""
    emulator.fail_next(500, times=10, path=f"{ORDER_PATH}/shipping-groups")
    emulator.fail_next(500, times=5, path=ORDER_PATH)
    assert bridge.get(ORDER).status_code == 502  # three failed attempts
    opened = bridge.get(ORDER)  # two more: the fifth consecutive failure opens the breaker
    assert (opened.status_code, opened.json()["code"]) == (503, "upstream_unavailable")
    emulator.faults.clear()


def until_served(bridge: TestClient, within_s: float) -> tuple[float, list[Any]]:
    """Seconds until the first 200, asking every POLL_S, and the answers before it."""
    started = time.monotonic()
    refused = []
    while (response := bridge.get(ORDER)).status_code != 200:
        refused.append(response)
        assert time.monotonic() - started < within_s, f"still {response.status_code}"
        time.sleep(POLL_S)
    return time.monotonic() - started, refused


def test_a_probe_cut_by_the_deadline_then_a_healed_platform_is_served_again(
    guarded: TestClient, served: tuple[Any, Hang, str], emulator: ElasticPathEmulator
) -> None:
    open_with_500s(guarded, emulator)
    served[1].on = True
    time.sleep(OPEN_S + POLL_S)
    assert guarded.get(ORDER).status_code == 504  # the probe hung until the deadline
    served[1].on = False  # healed

    seconds, refused = until_served(guarded, 2 * OPEN_S + SLACK_S)

    assert seconds < 2 * OPEN_S + SLACK_S  # the failed probe doubled the open period
    for response in refused:
        assert response.status_code == 503
        assert response.headers["retry-after"] == str(math.ceil(2 * OPEN_S))
    assert guarded.get("/readyz").json()["breaker"] == "closed"


def test_after_a_blip_of_five_failures_the_bridge_serves_within_the_short_period(
    guarded: TestClient, emulator: ElasticPathEmulator
) -> None:
    open_with_500s(guarded, emulator)  # and the platform is healthy again at once

    seconds, refused = until_served(guarded, OPEN_S + SLACK_S)

    assert seconds < OPEN_S + SLACK_S
    assert all(response.status_code == 503 for response in refused)
    assert order_calls(emulator) == 1 + 5 + 1  # nothing while open; then one probe


def test_stale_is_served_during_an_outage(
    make_client: Callable[..., TestClient], served: tuple[Any, Hang, str], emulator: Any
) -> None:
    bridge = make_client(adapter_for(served[2]), cache_ttl_s=0.2, deadline_s=1.5)
    fresh = bridge.get(ORDER)
    assert fresh.headers["x-cache"] == "MISS"
    time.sleep(0.3)
    emulator.fail_next(503, times=10)
    stale = bridge.get(ORDER)
    assert (stale.status_code, stale.headers["x-cache"]) == (200, "STALE")
    assert stale.content == fresh.content
    emulator.reset()
    assert bridge.get(ORDER).headers["x-cache"] == "MISS"
