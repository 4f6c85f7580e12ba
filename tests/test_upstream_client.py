"""Retries, deadline, in-flight cap and circuit breaker of the shared upstream client,
against a scripted platform over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from structlog.testing import capture_logs

from adapters.breaker import BreakerState, CircuitBreaker
from adapters.budget import CallBudget
from adapters.deadline import deadline_after, remaining, within
from adapters.errors import (
    CircuitOpen,
    NotFound,
    OverBudget,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.http import (
    HTTPConfig,
    PlatformLimits,
    UpstreamClient,
    encode_query,
    json_body,
    path_segment,
    retry_after_seconds,
)
from adapters.http1 import ProtocolError
from adapters.responses import PlatformResponse
from adapters.writing import write_once
from bridge.errors import error_of
from tests.conftest import ManualClock
from tests.emulators.faults import FaultPlatform, Step, resetting_server
from tests.servers import serve
from tests.test_breaker import state_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def platform() -> FaultPlatform:
    return FaultPlatform()


@pytest.fixture
def base_url(platform: FaultPlatform) -> Iterator[str]:
    with serve(platform.app()) as url:
        yield url


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(base_url: str, sleeps: Sleeps) -> AsyncIterator[UpstreamClient]:
    upstream = UpstreamClient(base_url, platform="test", sleep=sleeps)
    yield upstream
    await upstream.close()


async def test_a_500_then_ok_succeeds_after_two_calls(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(status=500))
    response = await client.send("GET", "/v2/orders/1")
    assert response.status_code == 200
    assert platform.calls == 2


async def test_each_attempt_is_logged_at_debug_with_its_outcome(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(status=500))
    with capture_logs() as logs:
        await client.send("GET", "/v2/orders/1", endpoint="/v2/orders/{id}")
    calls = [entry for entry in logs if entry["event"] == "platform_call"]
    assert [(entry["log_level"], entry["outcome"]) for entry in calls] == [
        ("debug", "500"),
        ("debug", "200"),
    ]
    assert all(
        entry.keys() >= {"platform", "method", "endpoint", "duration_ms"}
        and (entry["platform"], entry["method"], entry["endpoint"])
        == ("test", "GET", "/v2/orders/{id}")
        for entry in calls
    )
    assert platform.calls == 2


async def test_persistent_500_stops_after_three_attempts(
    client: UpstreamClient, platform: FaultPlatform, sleeps: Sleeps
) -> None:
    platform.then(*[Step(status=500)] * 5)
    response = await client.send("GET", "/v2/orders/1")
    assert response.status_code == 500
    assert platform.calls == 3
    assert len(sleeps) == 2
    assert all(0 <= delay <= client.config.backoff_cap for delay in sleeps)


@pytest.mark.parametrize("status", [502, 503, 504, 429])
async def test_gateway_and_rate_limit_statuses_are_retried(
    client: UpstreamClient, platform: FaultPlatform, status: int
) -> None:
    platform.then(Step(status=status))
    assert (await client.send("GET", "/x")).status_code == 200
    assert platform.calls == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_client_errors_are_not_retried(
    client: UpstreamClient, platform: FaultPlatform, status: int
) -> None:
    platform.then(Step(status=status))
    assert (await client.send("GET", "/x")).status_code == status
    assert platform.calls == 1


async def test_retry_after_seconds_is_honoured(
    client: UpstreamClient, platform: FaultPlatform, sleeps: Sleeps
) -> None:
    platform.then(Step(status=429, headers={"Retry-After": "1"}))
    assert (await client.send("GET", "/x")).status_code == 200
    assert sleeps == [1.0]


async def test_persistent_429_is_unavailable_with_the_platforms_retry_after(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(*[Step(status=429, headers={"Retry-After": "2"})] * 3)
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.send("GET", "/x")
    assert caught.value.retry_after == 2.0
    assert platform.calls == 3


async def test_retry_after_past_the_deadline_gives_up_at_once(
    client: UpstreamClient, platform: FaultPlatform, sleeps: Sleeps
) -> None:
    platform.then(Step(status=503, headers={"Retry-After": "30"}))
    with deadline_after(5), pytest.raises(UpstreamUnavailable):
        await client.send("GET", "/x")
    assert platform.calls == 1
    assert sleeps == []


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "1_000", "-5", "²", "9" * 5000])
def test_retry_after_that_is_no_delay_in_seconds_is_none(value: str) -> None:
    assert retry_after_seconds(value) is None


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
async def test_a_garbled_retry_after_is_unavailable_without_a_wait(
    client: UpstreamClient, platform: FaultPlatform, value: str
) -> None:
    platform.then(*[Step(status=503, headers={"Retry-After": value})] * 3)
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.send("GET", "/x")
    assert caught.value.retry_after is None
    assert error_of(caught.value).response().status_code == 503


async def test_fresh_headers_are_prepared_for_every_attempt(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(status=502), Step(status=502))
    counter = iter(range(100))
    await client.send("GET", "/x", prepare_headers=lambda: {"X-Request-Id": f"r{next(counter)}"})
    assert [r["x-request-id"] for r in platform.requests] == ["r0", "r1", "r2"]


async def test_a_hanging_platform_times_out_within_the_deadline(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(hang=5))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with deadline_after(0.5), pytest.raises(UpstreamTimeout):
        await client.send("GET", "/x")
    assert loop.time() - started < 1.0
    assert platform.calls == 1


async def test_malformed_body_is_an_upstream_error(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(body=b"<html>oops</html>"))
    response = await client.send("GET", "/x")
    with pytest.raises(UpstreamError):
        json_body(response, "test")


async def test_connection_resets_are_retried_then_unavailable(sleeps: Sleeps) -> None:
    with resetting_server() as (url, accepted):
        upstream = UpstreamClient(url, platform="test", sleep=sleeps)
        try:
            with pytest.raises(UpstreamUnavailable) as caught:
                await upstream.send("GET", "/x")
        finally:
            await upstream.close()
    assert not isinstance(caught.value, CircuitOpen)
    assert len(accepted) >= 3
    assert len(sleeps) == 2


async def test_refused_connection_is_unavailable(sleeps: Sleeps) -> None:
    upstream = UpstreamClient("http://127.0.0.1:9", platform="test", sleep=sleeps)
    try:
        with pytest.raises(UpstreamUnavailable):
            await upstream.send("GET", "/x")
    finally:
        await upstream.close()


# Whether a failed call may have reached the platform: one that cannot have is free to be
# sent again, even a write (SPEC §7, "Never twice").


async def test_a_refused_connection_was_never_sent() -> None:
    upstream = UpstreamClient("http://127.0.0.1:9", platform="test", config=HTTPConfig(attempts=1))
    try:
        with pytest.raises(UpstreamUnavailable, match="unreachable") as caught:
            await upstream.send("POST", "/v2/orders/1/cancel", retry=False)
    finally:
        await upstream.close()
    assert not caught.value.may_have_arrived


@pytest.mark.parametrize(
    "config",
    [HTTPConfig(max_in_flight=1), HTTPConfig(max_connections=1, pool_timeout=0.2)],
    ids=["call-slot", "connection"],
)
async def test_a_call_that_waited_past_its_time_for_a_turn_was_never_sent(
    base_url: str, platform: FaultPlatform, config: HTTPConfig
) -> None:
    upstream = UpstreamClient(base_url, platform="test", config=config)
    platform.then(Step(hang=HANG_S))
    holder = asyncio.create_task(upstream.send("GET", "/slow"))  # the only slot, or connection
    await until_received(platform, 1)
    try:
        with deadline_after(0.4), pytest.raises(UpstreamTimeout) as caught:
            await upstream.send("POST", "/v2/orders/1/cancel", retry=False)
    finally:
        holder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder
        await upstream.close()
    assert not caught.value.may_have_arrived
    assert platform.calls == 1


async def test_a_call_with_no_time_left_was_never_sent(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    with deadline_after(0), pytest.raises(UpstreamTimeout, match="no time left") as caught:
        await client.send("POST", "/v2/orders/1/cancel", retry=False)
    assert not caught.value.may_have_arrived
    assert platform.calls == 0


async def test_a_call_unanswered_in_time_or_cut_off_may_have_arrived(
    client: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(hang=HANG_S))
    with deadline_after(0.3), pytest.raises(UpstreamTimeout) as late:
        await client.send("POST", "/v2/orders/1/cancel", retry=False)
    with resetting_server() as (url, _):
        upstream = UpstreamClient(url, platform="test")
        try:
            with pytest.raises(UpstreamUnavailable) as reset:
                await upstream.send("POST", "/v2/orders/1/cancel", retry=False)
        finally:
            await upstream.close()
    assert late.value.may_have_arrived
    assert reset.value.may_have_arrived


def test_an_open_circuit_is_never_sent() -> None:
    assert not CircuitOpen("paused", retry_after=1).may_have_arrived
    assert not OverBudget("no turn", retry_after=1).may_have_arrived


async def test_breaker_opens_after_failures_and_closes_after_recovery(
    base_url: str, platform: FaultPlatform, sleeps: Sleeps
) -> None:
    clock = ManualClock(1000.0)
    breaker = CircuitBreaker("test", threshold=3, open_s=30, clock=clock)
    upstream = UpstreamClient(base_url, platform="test", breaker=breaker, sleep=sleeps)
    try:
        platform.then(*[Step(status=500)] * 3)
        assert (await upstream.send("GET", "/x")).status_code == 500
        assert breaker.state is BreakerState.OPEN
        calls = platform.calls
        for _ in range(5):
            with pytest.raises(CircuitOpen) as caught:
                await upstream.send("GET", "/x")
        assert platform.calls == calls
        assert caught.value.retry_after == 30
        clock.now += 30
        assert state_of(breaker) is BreakerState.HALF_OPEN
        assert (await upstream.send("GET", "/x")).status_code == 200
        assert state_of(breaker) is BreakerState.CLOSED
        assert platform.calls == calls + 1
    finally:
        await upstream.close()


# Every end of a half-open probe. The breaker opens for OPEN_S after one failure; a probe
# that fails opens it for twice that. Healed, the platform is called again at the end of
# that period, and not before.

OPEN_S = 10.0
HANG_S = 2.0
"""How long a hanging platform holds a request; calls in these tests are cut far sooner."""
DEADLINE_S = 0.3


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
async def guarded(base_url: str, clock: ManualClock) -> AsyncIterator[UpstreamClient]:
    """A client whose breaker opens on one failure, with one attempt per call."""
    breaker = CircuitBreaker("test", threshold=1, open_s=OPEN_S, open_max_s=60, clock=clock)
    config = HTTPConfig(attempts=1, max_in_flight=1, read_timeout=5.0)
    upstream = UpstreamClient(base_url, platform="test", breaker=breaker, config=config)
    yield upstream
    await upstream.close()


async def open_then_wait_out(
    upstream: UpstreamClient, platform: FaultPlatform, clock: ManualClock
) -> None:
    platform.then(Step(status=500))
    assert (await upstream.send("GET", "/x")).status_code == 500
    assert upstream.breaker.state is BreakerState.OPEN
    clock.now += OPEN_S
    assert state_of(upstream.breaker) is BreakerState.HALF_OPEN


async def serves_again_after(upstream: UpstreamClient, clock: ManualClock, period: float) -> None:
    """Paused for exactly `period` more seconds, then one call closes the breaker."""
    assert upstream.breaker.open_period == period
    with pytest.raises(CircuitOpen) as caught:
        await upstream.send("GET", "/x")
    assert caught.value.retry_after == math.ceil(period)
    clock.now += period - 0.5
    with pytest.raises(CircuitOpen):
        await upstream.send("GET", "/x")
    clock.now += 0.5
    assert (await upstream.send("GET", "/x")).status_code == 200
    assert upstream.breaker.state is BreakerState.CLOSED


async def until_received(platform: FaultPlatform, calls: int) -> None:
    async with asyncio.timeout(WAIT_S):
        while True:
            if platform.calls >= calls:
                return
            await asyncio.sleep(0.01)


WAIT_S = 5.0
"""Generous bound on waiting for the platform to see a request."""


async def test_a_probe_answered_500_reopens_it_for_twice_as_long(
    guarded: UpstreamClient, platform: FaultPlatform, clock: ManualClock
) -> None:
    await open_then_wait_out(guarded, platform, clock)
    platform.then(Step(status=500))
    assert (await guarded.send("GET", "/x")).status_code == 500
    await serves_again_after(guarded, clock, 2 * OPEN_S)


async def test_a_probe_cut_by_the_request_deadline_reopens_it(
    guarded: UpstreamClient, platform: FaultPlatform, clock: ManualClock
) -> None:
    await open_then_wait_out(guarded, platform, clock)
    platform.then(Step(hang=HANG_S))
    with pytest.raises((UpstreamTimeout, TimeoutError)):
        async with within(DEADLINE_S):
            await guarded.send("GET", "/x")
    await serves_again_after(guarded, clock, 2 * OPEN_S)


async def test_a_probe_cancelled_from_outside_reopens_it(
    guarded: UpstreamClient, platform: FaultPlatform, clock: ManualClock
) -> None:
    await open_then_wait_out(guarded, platform, clock)
    platform.then(Step(hang=HANG_S))
    probe = asyncio.create_task(guarded.send("GET", "/x"))
    await until_received(platform, 2)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    await serves_again_after(guarded, clock, 2 * OPEN_S)


async def test_a_probe_timing_out_on_its_own_reopens_it(
    base_url: str, platform: FaultPlatform, clock: ManualClock
) -> None:
    breaker = CircuitBreaker("test", threshold=1, open_s=OPEN_S, clock=clock)
    config = HTTPConfig(attempts=1, read_timeout=DEADLINE_S)
    upstream = UpstreamClient(base_url, platform="test", breaker=breaker, config=config)
    try:
        await open_then_wait_out(upstream, platform, clock)
        platform.then(Step(hang=HANG_S))
        with pytest.raises(UpstreamTimeout):
            await upstream.send("GET", "/x")
        await serves_again_after(upstream, clock, 2 * OPEN_S)
    finally:
        await upstream.close()


async def test_a_probe_that_cannot_connect_reopens_it(clock: ManualClock) -> None:
    breaker = CircuitBreaker("test", threshold=1, open_s=OPEN_S, clock=clock)
    config = HTTPConfig(attempts=1, connect_timeout=DEADLINE_S)
    upstream = UpstreamClient("http://127.0.0.1:9", platform="test", breaker=breaker, config=config)
    try:
        with pytest.raises(UpstreamUnavailable):
            await upstream.send("GET", "/x")
        clock.now += OPEN_S
        with pytest.raises(UpstreamUnavailable) as caught:
            await upstream.send("GET", "/x")
        assert not isinstance(caught.value, CircuitOpen)
        assert breaker.state is BreakerState.OPEN
        assert breaker.open_period == 2 * OPEN_S
    finally:
        await upstream.close()


async def test_a_probe_refused_for_want_of_a_slot_hands_the_probe_on(
    guarded: UpstreamClient, platform: FaultPlatform, clock: ManualClock
) -> None:
    platform.then(Step(hang=HANG_S))
    holder = asyncio.create_task(guarded.send("GET", "/slow"))  # takes the only slot
    await until_received(platform, 1)
    try:
        with guarded.breaker.call() as call:  # a failure elsewhere opens the breaker
            call.sending()
            call.failed()
        clock.now += OPEN_S
        with deadline_after(DEADLINE_S), pytest.raises(UpstreamTimeout, match="queued"):
            await guarded.send("GET", "/x")
        queued = asyncio.create_task(guarded.send("GET", "/x"))
        await asyncio.sleep(0.05)
        queued.cancel()  # its caller went away while it waited for the slot
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert guarded.breaker.state is BreakerState.HALF_OPEN
        assert platform.calls == 1
    finally:
        holder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder
    # Neither reached the platform: the very next call is the probe, without waiting.
    assert (await guarded.send("GET", "/x")).status_code == 200
    assert state_of(guarded.breaker) is BreakerState.CLOSED


async def test_a_probe_with_no_time_left_hands_the_probe_on(
    guarded: UpstreamClient, platform: FaultPlatform, clock: ManualClock
) -> None:
    await open_then_wait_out(guarded, platform, clock)
    with deadline_after(0), pytest.raises(UpstreamTimeout, match="no time left"):
        await guarded.send("GET", "/x")
    assert platform.calls == 1
    assert (await guarded.send("GET", "/x")).status_code == 200
    assert guarded.breaker.state is BreakerState.CLOSED


async def test_a_call_cut_by_the_request_deadline_is_a_failure(
    guarded: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(hang=HANG_S))
    with pytest.raises((UpstreamTimeout, TimeoutError)):
        async with within(DEADLINE_S):
            await guarded.send("GET", "/x")
    assert guarded.breaker.state is BreakerState.OPEN


async def test_a_call_whose_caller_went_away_is_not_a_failure(
    guarded: UpstreamClient, platform: FaultPlatform
) -> None:
    platform.then(Step(hang=HANG_S))
    call = asyncio.create_task(guarded.send("GET", "/x"))
    await until_received(platform, 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert guarded.breaker.state is BreakerState.CLOSED
    assert (await guarded.send("GET", "/x")).status_code == 200  # and its slot is free


async def test_calls_beyond_the_in_flight_cap_queue_within_the_deadline(
    base_url: str, platform: FaultPlatform
) -> None:
    upstream = UpstreamClient(
        base_url, platform="test", config=HTTPConfig(max_in_flight=2, attempts=1)
    )
    platform.then(Step(hang=0.3), Step(hang=0.3))
    try:
        with deadline_after(2):
            results = await asyncio.gather(*(upstream.send("GET", "/x") for _ in range(6)))
        assert [r.status_code for r in results] == [200] * 6
        platform.then(Step(hang=3), Step(hang=3))
        with deadline_after(0.5):
            outcomes = await asyncio.gather(
                *(upstream.send("GET", "/x") for _ in range(3)), return_exceptions=True
            )
        assert all(isinstance(o, UpstreamTimeout) for o in outcomes)
        assert platform.calls == 8
    finally:
        await upstream.close()


# A write waits for its turn (the call budget, a call slot), then gets only what is left
# of its share of the deadline: the share kept back to confirm it is still there.

HOLD_S = 0.75
"""How long the call ahead holds the only call slot."""
WRITE_DEADLINE_S = 1.5
"""The request's deadline: its write share (2/3) ends 0.25 s after the slot frees, the
write would end 0.25 s past the deadline had it kept the time it had before waiting."""
RATE = 1.0
"""Calls per second of the call budget: a write waits 1 s for its turn."""
BUDGET_DEADLINE_S = 2.7
"""The write share ends 0.8 s after the write's turn, the confirmation's turn 0.2 s after
that; a write keeping the time it had before waiting would end past the deadline."""


CALL_WRITE_AND_REREAD = ["/v2/orders/2", "/v2/orders/1/cancel", "/v2/orders/1"]
"""What the platform sees: the call ahead of the write, the write, the re-read; once each."""


async def write_then_confirm(upstream: UpstreamClient, deadline_s: float) -> None:
    """Cancel order 1, the request's time bounded as a route bounds it; the platform never
    answers the write, so only a re-read can confirm it."""

    async def cancel() -> None:
        await upstream.send("PUT", "/v2/orders/1/cancel", json={}, retry=False)

    async def shows_cancelled() -> bool:
        return (await upstream.send("GET", "/v2/orders/1")).status_code == 200

    async with within(deadline_s):
        await write_once(cancel, shows_cancelled, platform="test")


async def test_a_write_queued_for_a_call_slot_leaves_time_to_confirm_it(
    base_url: str, platform: FaultPlatform
) -> None:
    upstream = UpstreamClient(
        base_url, platform="test", config=HTTPConfig(max_in_flight=1, attempts=1)
    )
    platform.then(Step(hang=HOLD_S), Step(hang=HANG_S))
    try:
        ahead = asyncio.create_task(upstream.send("GET", "/v2/orders/2"))
        await until_received(platform, 1)
        await write_then_confirm(upstream, WRITE_DEADLINE_S)
        assert (await ahead).status_code == 200
    finally:
        await upstream.close()
    assert [request["path"] for request in platform.requests] == CALL_WRITE_AND_REREAD


async def test_a_write_that_waited_for_its_budget_turn_leaves_time_to_confirm_it(
    base_url: str, platform: FaultPlatform
) -> None:
    upstream = UpstreamClient(
        base_url, platform="test", config=HTTPConfig(attempts=1), budget=CallBudget(RATE)
    )
    platform.then(Step(), Step(hang=HANG_S))
    try:
        await upstream.send("GET", "/v2/orders/2")  # takes this second's turn
        await write_then_confirm(upstream, BUDGET_DEADLINE_S)
    finally:
        await upstream.close()
    assert [request["path"] for request in platform.requests] == CALL_WRITE_AND_REREAD


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_dot_segments_are_never_sent(value: str) -> None:
    with pytest.raises(NotFound):
        path_segment(value)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("a/b", "a%2Fb"),
        ("..x", "..x"),
        ("a?b#c", "a%3Fb%23c"),
        ("100%", "100%25"),
        ("a b", "a%20b"),
    ],
)
async def test_quoted_ids_stay_inside_one_segment(
    client: UpstreamClient, platform: FaultPlatform, value: str, sent: str
) -> None:
    await client.send("GET", f"/v2/orders/{path_segment(value)}/items")
    assert platform.requests[-1]["path"] == f"/v2/orders/{value}/items"


async def test_compressed_answers_reach_adapters_decoded() -> None:
    body = b'{"data": [' + b", ".join(b'{"id": "%d"}' % i for i in range(500)) + b"]}"

    async def gzipped(scope: Any, receive: Any, send: Any) -> None:
        packed = gzip.compress(body)
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-encoding", b"gzip"),
            (b"content-length", b"%d" % len(packed)),
            (b"x-trace", b"t-1"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": packed})

    response = await answer_of(gzipped)
    assert response.status_code == 200 and response.is_success
    assert response.content == body
    assert response.json()["data"][499] == {"id": "499"}
    assert response.text == body.decode()
    assert response.headers["X-Trace"] == "t-1"
    assert json_body(response, "test") == orjson.loads(body)


async def test_repeated_answer_headers_reach_adapters_in_order() -> None:
    async def platform(scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"Warning", b'199 - "first"'),
            (b"WARNING", b'199 - "second"'),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    response = await answer_of(platform)

    assert isinstance(response, PlatformResponse)
    assert response.json() == {}
    assert response.headers.get_list("warning") == ['199 - "first"', '199 - "second"']
    assert response.headers["Warning"] == '199 - "first", 199 - "second"'


async def answer_of(app: Any) -> PlatformResponse:
    """The answer of a raw ASGI `app`, served over loopback, to one GET."""
    with serve(app, lifespan="off") as url:
        upstream = UpstreamClient(url, platform="test")
        try:
            return await upstream.send("GET", "/anything")
        finally:
            await upstream.close()


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "eq(customer_id,a b&c=d/é)", "page[limit]": 20, "page[offset]": 0},
        {"ids": ["1", 2, "a+b"], "flag": True, "empty": ""},
        [("a", "1"), ("a", "2"), ("ü", "ß ?")],
        [("n", 1), ("n", True), ("n", 1.0), ("n", "1")],  # equal keys, each as it is written
    ],
)
def test_query_strings_are_encoded_as_urlencode_would(params: Any) -> None:
    assert encode_query(params) == urlencode(params, doseq=True)
    assert encode_query(params) == encode_query(params)  # and again, from what was kept


class Calls(list[tuple[str, str]]):
    """An observer noting each platform call's endpoint and outcome."""

    def platform_call_sent(self, platform: str, endpoint: str) -> None:
        pass

    def platform_call(self, platform: str, endpoint: str, outcome: str, seconds: float) -> None:
        self.append((endpoint, outcome))

    def platform_retry(self, platform: str, endpoint: str) -> None:
        pass

    def token_refreshed(self, platform: str) -> None:
        pass

    def breaker_created(self, breaker: CircuitBreaker) -> None:
        pass


SMALL_LIMITS = PlatformLimits(max_answer_bytes=64 * 1024)
PACKED = gzip.compress(bytes(100_000))
INVALID_ANSWERS = {
    "garbage-chunks": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "switching-protocols": b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    "too-large": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000,
    "decodes-too-large": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
    % len(PACKED)
    + PACKED,
}


@pytest.mark.parametrize("answer", INVALID_ANSWERS.values(), ids=INVALID_ANSWERS.keys())
async def test_an_invalid_answer_is_an_upstream_error_and_a_breaker_failure(
    answer: bytes, sleeps: Sleeps
) -> None:
    requests: list[bytes] = []

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            await writer.drain()
            await reader.read()
        writer.close()

    listening = await asyncio.start_server(reply, "127.0.0.1", 0)
    calls = Calls()
    breaker = CircuitBreaker("test", threshold=1, open_s=30)
    upstream = UpstreamClient(
        f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}",
        platform="test",
        sleep=sleeps,
        observer=calls,
        breaker=breaker,
        limits=SMALL_LIMITS,
    )
    try:
        with pytest.raises(UpstreamError) as caught:
            await upstream.send("GET", "/x", endpoint="/x")
    finally:
        await upstream.close()
        listening.close()
    assert isinstance(caught.value.__cause__, ProtocolError)
    assert calls == [("/x", "invalid_answer")]
    assert len(requests) == 1 and sleeps == []  # not retried
    assert breaker.state is BreakerState.OPEN


# The request deadline (`within`), as asyncio.timeout behaves


async def test_a_deadline_cuts_its_block_and_leaves_the_task_uncancelled() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError) as cut:
        async with within(0.05):
            await asyncio.sleep(5)
    assert 0.04 <= loop.time() - started < 1
    assert isinstance(cut.value.__cause__, asyncio.CancelledError)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    entered = asyncio.Event()

    async def request() -> None:
        async with within(5):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(request())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_from_outside_as_the_deadline_passes_stays_a_cancellation() -> None:
    async def request() -> None:
        async with within(0.02):
            await asyncio.sleep(5)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.02)  # the deadline's timer and this cancel in the same turn, or near
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_inner_deadline_cuts_only_its_own_block() -> None:
    async with within(5):
        with pytest.raises(TimeoutError):
            async with within(0.02):
                await asyncio.sleep(5)
        await asyncio.sleep(0.01)  # the outer block goes on, uncancelled
        left = remaining()
        assert left is not None and left > 4


async def test_a_block_that_ends_in_time_is_never_cancelled_later() -> None:
    async with within(0.02):
        pass
    await asyncio.sleep(0.05)  # the timer was cancelled with the block
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
