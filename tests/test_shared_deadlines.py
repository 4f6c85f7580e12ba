"""Work that several requests wait on (the token grant, a platform resource's fetch) runs on
a deadline of its own: the request that happens to start it with little time left stops
waiting, and the others get their answer from that one call, nothing counted against the
platform. Nor is it made ahead of need for the request that starts it: its calls count for
every request that waits on them. Against the Elastic Path emulator over loopback, its
answers held back at will."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.breaker import BreakerState, CircuitBreaker
from adapters.deadline import within
from adapters.elasticpath import ElasticPathAdapter
from adapters.errors import CircuitOpen, NotFound
from adapters.http import NoObserver
from adapters.resources import ResourceCache, customer_tag
from tests.conftest import FAST, ManualClock
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import GRANT_PATH, ElasticPathEmulator
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

pytestmark = pytest.mark.anyio

T = TypeVar("T")

REQUEST_S = 30.0
"""What every request here is given in all."""
LEFT_S = 0.05
"""What is left of it to the request that starts the shared work."""
HELD_BACK_S = 10.0
"""The longest the platform holds an answer back when nobody releases it."""

STRICT = replace(FAST, breaker_threshold=1)
"""One failure counted against the platform opens its breaker."""

CUSTOMER_PATH = f"/v2/customers/{fx.MARIA}"
GROUPS_PATH = f"/v2/orders/{fx.ORDER_COMPLETE}/shipping-groups"


class HeldBack:
    """Wraps an emulator's app: requests to the `hold`'s path wait until `release()` (or
    `HELD_BACK_S`), like a platform slow to answer them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.path: str | None = None
        self._released = threading.Event()

    def hold(self, path: str) -> None:
        self.path = path
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            for _ in range(int(HELD_BACK_S / 0.01)):
                if self._released.is_set():
                    break
                await asyncio.sleep(0.01)
        await self.app(scope, receive, send)


class Breakers(NoObserver):
    def __init__(self) -> None:
        self.created: list[CircuitBreaker] = []

    def breaker_created(self, breaker: CircuitBreaker) -> None:
        self.created.append(breaker)

    @property
    def states(self) -> list[BreakerState]:
        return [breaker.state for breaker in self.created]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ElasticPathEmulator, HeldBack, str]]:
    emulator = ElasticPathEmulator(fx.default_store())
    held = HeldBack(emulator.app)
    with serve(held) as url:
        yield emulator, held, url


@pytest.fixture
def emulator(served: tuple[ElasticPathEmulator, HeldBack, str]) -> ElasticPathEmulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def held(served: tuple[ElasticPathEmulator, HeldBack, str]) -> Iterator[HeldBack]:
    yield served[1]
    served[1].release()


@pytest.fixture
def breakers() -> Breakers:
    return Breakers()


@pytest.fixture
async def adapter(
    served: tuple[ElasticPathEmulator, HeldBack, str],
    emulator: ElasticPathEmulator,
    breakers: Breakers,
) -> AsyncIterator[ElasticPathAdapter]:
    adapter = ElasticPathAdapter(
        elasticpath_settings(served[2]), http=STRICT, clock=ManualClock(0.0)
    )
    adapter.observer = breakers
    await adapter.open()
    yield adapter
    await adapter.close()


async def with_little_time_left(work: Callable[[], Awaitable[T]]) -> T:
    """`work()` late in a request: only `LEFT_S` of its `REQUEST_S` are left."""
    async with within(REQUEST_S), within(LEFT_S):
        return await work()


async def with_time_to_spare(work: Callable[[], Awaitable[T]]) -> T:
    async with within(REQUEST_S):
        return await work()


async def first_leaves_and_second_gets(held: HeldBack, work: Callable[[], Awaitable[T]]) -> T:
    """What the second request gets of the `work` it shares with a first that started it
    with little time left, the platform answering only once the first stopped waiting."""
    first = asyncio.create_task(with_little_time_left(work))
    await asyncio.sleep(0)  # the first has started the shared work
    second = asyncio.create_task(with_time_to_spare(work))
    with pytest.raises(TimeoutError):
        await first
    held.release()
    return await second


async def test_a_request_with_time_to_spare_gets_the_token_another_started_with_too_little(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    held: HeldBack,
    breakers: Breakers,
) -> None:
    held.hold(GRANT_PATH)
    token = await first_leaves_and_second_gets(held, adapter.token.get)
    assert await adapter.token.get() == token  # and kept for the next
    assert emulator.sequence == [(GRANT_PATH, 200)]
    assert breakers.states == [BreakerState.CLOSED]


async def test_a_request_with_time_to_spare_gets_the_resource_another_began_to_fetch_late(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    held: HeldBack,
    breakers: Breakers,
) -> None:
    adapter.resources = ResourceCache(ttl_s=30)
    await adapter.authenticate()
    held.hold(CUSTOMER_PATH)

    def customer() -> Awaitable[Any]:
        tags = (customer_tag(fx.MARIA),)
        return adapter.get_json(CUSTOMER_PATH, endpoint="/v2/customers/{id}", tags=tags)

    found = await first_leaves_and_second_gets(held, customer)
    assert found["data"]["id"] == fx.MARIA
    assert emulator.sequence == [(GRANT_PATH, 200), (CUSTOMER_PATH, 200)]
    assert breakers.states == [BreakerState.CLOSED]
    assert len(adapter.resources) == 1  # and kept for the next


async def test_a_shared_read_begun_ahead_of_need_counts_for_the_request_that_needed_it(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    held: HeldBack,
    breakers: Breakers,
) -> None:
    """An order's shipping groups are asked for ahead of need, and count towards the
    breaker only if the request uses them. Another request that needs the same groups
    shares their fetch; it fails on those calls, and they count, however the request that
    began the fetch ends."""
    adapter.resources = ResourceCache(ttl_s=30)
    await adapter.most_recent_order(fx.MARIA)  # the store is now known to use shipping groups
    emulator.fail_next(500, path=GROUPS_PATH)
    held.hold(GROUPS_PATH)
    not_theirs = asyncio.create_task(
        with_time_to_spare(lambda: adapter.get_order(fx.NOAH, fx.ORDER_COMPLETE))
    )
    owners = asyncio.create_task(
        with_time_to_spare(lambda: adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE))
    )
    with pytest.raises(NotFound):
        await not_theirs  # someone else's order: the groups it asked for go unused
    held.release()
    with pytest.raises(CircuitOpen):  # the failure counted: its retry is not let through
        await owners
    groups_calls = [status for path, status in emulator.sequence if path == GROUPS_PATH]
    assert groups_calls == [500]  # one call, for both requests
    assert breakers.states == [BreakerState.OPEN]
