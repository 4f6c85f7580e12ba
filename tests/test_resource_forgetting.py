"""Forgetting platform resources forgets what it names and nothing else, and the next
fetch of what it named asks the platform: over loopback with the Elastic Path emulator,
each platform call proven by its log (and a real Redis for the replicas' copy)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.elasticpath import ElasticPathAdapter
from adapters.resources import ResourceCache, customer_tag
from adapters.shared_resources import SharedResources
from adapters.shared_state import SharedState
from tests.conftest import FAST, R
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.platform_settings import elasticpath_settings
from tests.redis_server import RedisServer, redis_server
from tests.served_bridge import Bridge, Gate, bridge_over
from tests.test_webhooks_freshness import ep_served

__all__ = ["ep_served", "redis_server"]

MARIA_PATH = f"/v2/customers/{fx.MARIA}"
NOBODY = "no-such-customer"


Platform = tuple[ElasticPathEmulator, Gate, str]


@pytest.fixture
def platform(ep_served: Platform) -> Iterator[Platform]:
    """The emulator with no request logged, behind a gate left open after the test."""
    emulator, gate, _ = ep_served
    emulator.reset()
    yield ep_served
    gate.path = None
    gate.release.set()


@asynccontextmanager
async def adapter_over(url: str, resources: ResourceCache) -> AsyncIterator[ElasticPathAdapter]:
    adapter = ElasticPathAdapter(elasticpath_settings(url), http=FAST)
    adapter.resources = resources
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


async def customer(adapter: ElasticPathAdapter, customer_id: str) -> Any:
    """The customer as the adapter reads it, kept among the resources."""
    path = f"/v2/customers/{customer_id}"
    return await adapter.get_json(path, endpoint="customers", tags=[customer_tag(customer_id)])


def calls_to(emulator: ElasticPathEmulator, path: str) -> int:
    return emulator.api_paths.count(path)


@pytest.mark.anyio
async def test_a_forget_of_another_customer_leaves_a_fetch_under_way_shared_and_kept(
    platform: Platform,
) -> None:
    emulator, gate, url = platform
    resources = ResourceCache(ttl_s=30)
    async with adapter_over(url, resources) as adapter:
        gate.arm(MARIA_PATH)
        first = asyncio.create_task(customer(adapter, fx.MARIA))
        assert await asyncio.to_thread(gate.arrived.wait, 5)
        resources.forget(customer_tag(fx.HANS))  # a request for Hans failed meanwhile
        second = asyncio.create_task(customer(adapter, fx.MARIA))
        await asyncio.sleep(0.05)  # time enough to reach the platform, were it not shared
        gate.release.set()
        assert await first == await second
        await customer(adapter, fx.MARIA)
    assert calls_to(emulator, MARIA_PATH) == 1


@pytest.fixture
def bridge(platform: Platform) -> Iterator[Bridge]:
    emulator, _, url = platform
    adapter = ElasticPathAdapter(elasticpath_settings(url), http=FAST)
    with bridge_over(adapter, lambda: len(emulator.requests)) as bridge:
        yield bridge


def test_orders_listed_while_another_customers_request_fails_are_kept(
    bridge: Bridge, platform: Platform
) -> None:
    """R3 of a listed order costs no call, even when a request for someone else failed
    (and forgot that customer's resources) while the list was on its way."""
    emulator, gate, _ = platform
    gate.arm("/v2/orders")
    with ThreadPoolExecutor(1) as pool:
        listing = pool.submit(bridge.read, f"{R}/customers/{fx.MARIA}/orders")
        assert gate.arrived.wait(5)
        assert bridge.client.get(f"{R}/customers/{NOBODY}").status_code == 404
        gate.release.set()
        assert listing.result(5) == "MISS"
    assert bridge.read(f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}") == "MISS"
    assert calls_to(emulator, f"/v2/orders/{fx.ORDER_COMPLETE}") == 0


@asynccontextmanager
async def shared_state(server: RedisServer) -> AsyncIterator[SharedState]:
    state = SharedState(server.url, namespace=f"test-{uuid.uuid4().hex}")
    try:
        yield state
    finally:
        await state.close()


@pytest.mark.anyio
async def test_after_a_forget_the_next_fetch_asks_the_platform_not_redis(
    platform: Platform, redis_server: RedisServer
) -> None:
    emulator, _, url = platform
    async with shared_state(redis_server) as state:
        resources = ResourceCache(ttl_s=30)
        resources.shared = shared = SharedResources(state, patience_s=1.0)
        async with adapter_over(url, resources) as adapter:
            await customer(adapter, fx.MARIA)  # kept here and in Redis
            resources.forget(customer_tag(fx.MARIA))  # the request that used it failed
            await customer(adapter, fx.MARIA)  # before the forget reached Redis
            assert calls_to(emulator, MARIA_PATH) == 2

            # Once the forget has landed, Redis is read again: what one fetch keeps
            # there, the next one (its local copy gone) finds.
            await shared.landed()
            resources.forget_here(customer_tag(fx.MARIA))
            await customer(adapter, fx.MARIA)
            resources.forget_here(customer_tag(fx.MARIA))
            await customer(adapter, fx.MARIA)
    assert calls_to(emulator, MARIA_PATH) == 3
