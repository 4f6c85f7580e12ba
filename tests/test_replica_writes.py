"""Writes on two replicas of one store sharing a real redis-server (SPEC §7, §9): the
`Idempotency-Key` record one replica keeps is the one the other replays, and a change
made through one is never shown as it was before by the other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis
from structlog.testing import capture_logs

from adapters.base import Adapter
from adapters.bigcommerce import BigCommerceAdapter
from adapters.errors import WriteNotConfirmed
from adapters.shared_entries import Dependency, SharedEntries
from bridge.app import create_app
from tests.conftest import AUTH, FAST, R, settings
from tests.emulators import bigcommerce_fixtures as fx
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.platform_settings import bigcommerce_settings
from tests.redis_server import RedisServer, redis_server
from tests.write_support import CANCEL, RecordingWrites, path

__all__ = ["redis_server"]

pytestmark = pytest.mark.anyio

DEADLINE_S = 1.0
FORGET_DELAY_S = 1.2
"""How long Redis takes to forget in the slow case: past the deadline, however quick
the write before it."""


def make_emulator() -> BigCommerceEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return BigCommerceEmulator(fx.default_store())


@pytest.fixture
def emulator(emulator: BigCommerceEmulator) -> BigCommerceEmulator:
    """The emulator, reset, with a fresh store too: writes change it."""
    emulator.store = fx.default_store()
    return emulator


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The test run's Redis, emptied: answers of the same store cached by another test
    would show its writes before they are made here."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def slow_forgetting(monkeypatch: pytest.MonkeyPatch) -> None:
    forget = SharedEntries.forget

    async def slowly(entries: SharedEntries, depends: Iterable[Dependency]) -> bool:
        await asyncio.sleep(FORGET_DELAY_S)
        return await forget(entries, depends)

    monkeypatch.setattr(SharedEntries, "forget", slowly)


@asynccontextmanager
async def replicas(
    redis_url: str, adapters: Sequence[Adapter], **overrides: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Clients of one replica per adapter, each started as `serve` starts it (Redis
    opened), with writes on."""
    async with AsyncExitStack() as stack:
        clients = []
        for adapter in adapters:
            app = create_app(
                settings(writes=True, redis_url=redis_url, **overrides), adapter=adapter
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://bridge", headers=AUTH)
            clients.append(await stack.enter_async_context(client))
        yield clients


async def test_an_unconfirmed_write_repeated_on_another_replica_is_replayed_not_sent_again(
    redis_url: str,
) -> None:
    store = RecordingWrites()  # the one platform behind both replicas
    key = {"Idempotency-Key": f"unconfirmed-{uuid.uuid4()}"}
    async with replicas(redis_url, [store, store]) as (a, b):
        store.fail_with = WriteNotConfirmed("demo did not confirm the change in time")
        first = await a.post(CANCEL, headers=key)
        store.fail_with = None  # a platform that would take the write now
        repeat = await b.post(CANCEL, headers=key)

    assert (first.status_code, first.json()["code"]) == (504, "upstream_timeout")
    assert (repeat.status_code, repeat.content) == (504, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(store.writes) == 1


async def _cancelled_as_read(client: httpx.AsyncClient, order: str) -> bool:
    """Whether the order reads as cancelled within a few seconds: another replica hears
    of a write over pub/sub, a moment after it is answered."""
    for _ in range(50):
        if (await client.get(order)).json().get("cancellation_status") == "CANCELED":
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_write_whose_forgetting_outlasts_the_deadline_is_applied_and_seen_everywhere(
    served: tuple[BigCommerceEmulator, str],
    emulator: BigCommerceEmulator,
    redis_url: str,
    slow_forgetting: None,
) -> None:
    customer, order_id = fx.ANA, fx.ORDER_AWAITING_FULFILLMENT
    order = f"{R}/customers/{customer}/orders/{order_id}"
    cancel, key = path(customer, order_id, "cancel_order"), {"Idempotency-Key": "late-forget"}
    adapters = [BigCommerceAdapter(bigcommerce_settings(served[1]), http=FAST) for _ in "ab"]
    async with replicas(redis_url, adapters, deadline_s=DEADLINE_S) as (a, b):
        before = await b.get(order)  # kept by B, in Redis too
        with capture_logs() as logs:
            first = await a.post(cancel, headers=key)
            repeat = await a.post(cancel, headers=key)
        seen_on_b = await _cancelled_as_read(b, order)

    assert "cancellation_status" not in before.json()
    assert (first.status_code, first.content) == (200, b"")
    assert (repeat.status_code, repeat.headers["idempotent-replayed"]) == (200, "true")
    outcomes = [line["outcome"] for line in logs if line["event"] == "order_write"]
    assert outcomes == ["applied", "replayed"]
    assert [(r.method, r.resource) for r in emulator.writes] == [("PUT", f"/v2/orders/{order_id}")]
    assert seen_on_b
