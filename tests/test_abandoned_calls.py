"""Platform calls the bridge gives up on in flight (a read made ahead of need that the
request did not use, a caller gone) are counted like every other: once, as `abandoned`,
in the request's calls too, exactly as often as the platform saw them; one given up
before it was sent is no call. Over loopback, against the Elastic Path emulator and
scripted platforms."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from functools import partial

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.breaker import BreakerState, CircuitBreaker
from adapters.elasticpath import ElasticPathAdapter
from adapters.http import HTTPConfig, NoObserver, UpstreamClient
from adapters.http1 import NotConnected
from bridge.app import create_app
from tests.conftest import AUTH, FAST, R, settings
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.emulators.faults import FaultPlatform, Step
from tests.emulators.write_faults import until
from tests.platform_settings import elasticpath_settings
from tests.servers import serve
from tests.test_http1 import DROP, OK, get, pool_for, scripted

STRICT = replace(FAST, breaker_threshold=1)
"""One failure counted against the platform opens its breaker."""
HELD_S = 10.0
"""The longest an answer is held back when nobody releases it."""
HANG_S = 2.0
"""How long the faulty platform holds an answer; the calls here are given up sooner."""
CUSTOMER_ROUTE = f"{R}/customers/{{customer_id}}"
ADDRESSES = "/v2/customers/{id}/addresses"
PER_REQUEST = "erc_bridge_platform_calls_per_request"


class HeldAnswers:
    """Wraps an emulator's app: after `hold()`, the answers to paths ending in `suffix`
    leave only on `release()` (or after `HELD_S`). The emulator has seen and logged such a
    request by the time `arrived` is set."""

    def __init__(self, app: ASGIApp, suffix: str) -> None:
        self.app = app
        self.suffix = suffix
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._released.set()

    def hold(self) -> None:
        self.arrived.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(self.suffix):
            await self.app(scope, receive, send)
            return

        async def held(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.arrived.set()
                await asyncio.to_thread(self._released.wait, HELD_S)
            await send(message)

        await self.app(scope, receive, held)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(bridge: httpx.Client) -> Samples:
    response = bridge.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def made(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much the samples of `name` (those with `labels`, when given) grew."""

    def summed(samples: Samples) -> float:
        wanted = labels.items()
        return sum(
            value
            for (sample, found), value in samples.items()
            if sample == name and wanted <= dict(found).items()
        )

    return summed(after) - summed(before)


@pytest.fixture
def platform() -> Iterator[tuple[ElasticPathEmulator, HeldAnswers, str]]:
    emulator = ElasticPathEmulator(fx.default_store())
    held = HeldAnswers(emulator.app, "/addresses")
    with serve(held) as url:
        try:
            yield emulator, held, url
        finally:
            held.release()


@pytest.fixture
def bridge(platform: tuple[ElasticPathEmulator, HeldAnswers, str]) -> Iterator[httpx.Client]:
    """A bridge in front of the platform, with a token and idle connections already (a
    read made ahead of need leaves at once, before any answer can end its request); the
    platform's answers to addresses are held from then on."""
    adapter = ElasticPathAdapter(elasticpath_settings(platform[2]), http=STRICT)
    app = create_app(settings(cache_ttl_s=0), adapter=adapter)
    with serve(app) as url, httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        assert client.get(f"{R}/customers/{fx.MARIA}").status_code == 200
        platform[1].hold()
        yield client


def assert_counted_as_seen(before: Samples, after: Samples, seen: int) -> None:
    """The calls the platform saw, each counted once: among the calls, their durations
    and the calls of the one customer request."""
    assert made(before, after, "erc_bridge_platform_calls_total") == seen
    assert made(before, after, "erc_bridge_platform_call_duration_seconds_count") == seen
    assert made(before, after, f"{PER_REQUEST}_count", route=CUSTOMER_ROUTE) == 1
    assert made(before, after, f"{PER_REQUEST}_sum", route=CUSTOMER_ROUTE) == seen


def test_a_read_ahead_dropped_in_flight_is_counted_as_the_platform_saw_it(
    platform: tuple[ElasticPathEmulator, HeldAnswers, str], bridge: httpx.Client
) -> None:
    emulator, held, _ = platform
    before, seen_before = scrape(bridge), len(emulator.requests)

    # An unknown customer: its addresses, asked for ahead, are never used.
    assert bridge.get(f"{R}/customers/no-such-customer").status_code == 404
    assert held.arrived.wait(HELD_S)
    after, seen = scrape(bridge), len(emulator.requests) - seen_before

    assert seen == 2  # the customer and its addresses
    assert_counted_as_seen(before, after, seen)
    abandoned = {"endpoint": ADDRESSES, "outcome": "abandoned"}
    assert made(before, after, "erc_bridge_platform_calls_total", **abandoned) == 1
    closed = frozenset({"platform": "elasticpath", "state": "closed"}.items())
    assert after[("erc_bridge_breaker_state", closed)] == 1  # no failure counted


def test_a_client_gone_mid_call_leaves_its_calls_counted_as_the_platform_saw_them(
    platform: tuple[ElasticPathEmulator, HeldAnswers, str], bridge: httpx.Client
) -> None:
    emulator, held, _ = platform
    before, seen_before = scrape(bridge), len(emulator.requests)

    url = f"{bridge.base_url}{R}/customers/{fx.HANS}"
    with pytest.raises(httpx.TimeoutException):
        httpx.get(url, headers=AUTH, timeout=httpx.Timeout(HELD_S, read=0.2))
    assert held.arrived.wait(HELD_S)
    held.release()
    after = scrape(bridge)
    for _ in range(int(HELD_S / 0.01)):  # until the bridge is done with the request
        if made(before, after, f"{PER_REQUEST}_count", route=CUSTOMER_ROUTE) == 1:
            break
        time.sleep(0.01)
        after = scrape(bridge)
    seen = len(emulator.requests) - seen_before

    assert seen == 2  # the customer and its addresses
    assert_counted_as_seen(before, after, seen)


class Noted(NoObserver):
    """Each platform call's endpoint and outcome as it ends, and how many were sent."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, str]] = []
        self.sent = 0

    def platform_call_sent(self, platform: str, endpoint: str) -> None:
        self.sent += 1

    def platform_call(self, platform: str, endpoint: str, outcome: str, seconds: float) -> None:
        self.ended.append((endpoint, outcome))


@pytest.fixture(scope="module")
def served_faulty() -> Iterator[tuple[FaultPlatform, str]]:
    """Served once: stopping it waits for the answers still held."""
    script = FaultPlatform()
    with serve(script.app()) as url:
        yield script, url


@pytest.fixture
def faulty(served_faulty: tuple[FaultPlatform, str]) -> tuple[FaultPlatform, str]:
    script = served_faulty[0]
    script.requests.clear()
    script.script.clear()
    return served_faulty


@pytest.fixture
def noted() -> Noted:
    return Noted()


@pytest.fixture
async def upstream(
    faulty: tuple[FaultPlatform, str], noted: Noted
) -> AsyncIterator[UpstreamClient]:
    """One connection, one attempt per call, and a breaker that one failure opens."""
    config = HTTPConfig(attempts=1, max_connections=1, read_timeout=5.0)
    breaker = CircuitBreaker("test", threshold=1)
    client = UpstreamClient(
        faulty[1], platform="test", config=config, breaker=breaker, observer=noted
    )
    yield client
    await client.close()


async def cancelled(task: asyncio.Task[object]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def slow_call(script: FaultPlatform, upstream: UpstreamClient) -> asyncio.Task[object]:
    """A call to `/slow`, in flight: the platform has it and holds its answer."""
    script.then(Step(hang=HANG_S))
    call: asyncio.Task[object] = asyncio.create_task(
        upstream.send("GET", "/slow", endpoint="/slow")
    )
    await until(lambda: script.calls == 1)
    return call


@pytest.mark.anyio
async def test_a_call_whose_caller_went_away_is_counted_once_as_abandoned(
    faulty: tuple[FaultPlatform, str], upstream: UpstreamClient, noted: Noted
) -> None:
    await cancelled(await slow_call(faulty[0], upstream))
    assert noted.ended == [("/slow", "abandoned")]
    assert noted.sent == faulty[0].calls == 1
    assert upstream.breaker.state is BreakerState.CLOSED  # going away is no failure


@pytest.mark.anyio
async def test_a_call_cancelled_before_it_was_sent_is_not_counted(
    faulty: tuple[FaultPlatform, str], upstream: UpstreamClient, noted: Noted
) -> None:
    holder = await slow_call(faulty[0], upstream)
    # The one connection is taken: this call waits for it, unsent, and its caller leaves.
    queued = asyncio.create_task(upstream.send("GET", "/queued", endpoint="/queued"))
    await asyncio.sleep(0.05)
    await cancelled(queued)
    await cancelled(holder)
    assert noted.ended == [("/slow", "abandoned")]
    assert noted.sent == faulty[0].calls == 1
    assert upstream.breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_the_pool_tells_each_write_of_a_request_and_none_before() -> None:
    writes: list[str] = []
    # The platform drops a kept-alive connection as the second request arrives: it goes
    # out again, on a new one.
    async with scripted(OK, DROP, OK) as (server, origin):
        pool = pool_for(origin)
        for path in ("/first", "/second"):
            await pool.exchange(
                get(path), within_s=2, idempotent=True, written=partial(writes.append, path)
            )
        await pool.close()
    assert writes == ["/first", "/second", "/second"]
    assert len(server.requests) == 3
    with pytest.raises(NotConnected):  # the port is free again: nothing is written
        await pool_for(origin).exchange(
            get(), within_s=2, idempotent=True, written=partial(writes.append, "/refused")
        )
    assert writes == ["/first", "/second", "/second"]


@pytest.mark.anyio
async def test_a_call_sent_again_on_a_new_connection_is_one_call(noted: Noted) -> None:
    async with scripted(OK, DROP, OK) as (_, origin):
        upstream = UpstreamClient(
            f"http://127.0.0.1:{origin.port}", platform="test", observer=noted
        )
        for path in ("/first", "/second"):
            assert (await upstream.send("GET", path, endpoint=path)).status_code == 200
        await upstream.close()
    assert noted.ended == [("/first", "200"), ("/second", "200")]
    assert noted.sent == 2
