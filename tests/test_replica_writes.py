"""Writes on two replicas of one store sharing a real redis-server (SPEC §7, §9): the
`Idempotency-Key` record one replica keeps is the one the other replays."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
import redis

from adapters.errors import WriteNotConfirmed
from bridge.app import create_app
from tests.conftest import AUTH, settings
from tests.redis_server import RedisServer, redis_server
from tests.write_support import CANCEL, RecordingWrites

__all__ = ["redis_server"]

pytestmark = pytest.mark.anyio


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The test run's Redis, emptied: the demo store's answers cached by another test
    would show its writes before they are made here."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def store() -> RecordingWrites:
    """The one platform behind both replicas."""
    return RecordingWrites()


@pytest.fixture
async def replicas(
    redis_url: str, store: RecordingWrites
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Clients of two replicas, each started as `serve` starts it (Redis opened)."""
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(settings(writes=True, redis_url=redis_url), adapter=store)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://bridge", headers=AUTH)
            clients.append(await stack.enter_async_context(client))
        yield clients


async def test_an_unconfirmed_write_repeated_on_another_replica_is_replayed_not_sent_again(
    replicas: list[httpx.AsyncClient], store: RecordingWrites
) -> None:
    a, b = replicas
    key = {"Idempotency-Key": f"unconfirmed-{uuid.uuid4()}"}
    store.fail_with = WriteNotConfirmed("demo did not confirm the change in time")
    first = await a.post(CANCEL, headers=key)
    store.fail_with = None  # a platform that would take the write now

    repeat = await b.post(CANCEL, headers=key)

    assert (first.status_code, first.json()["code"]) == (504, "upstream_timeout")
    assert (repeat.status_code, repeat.content) == (504, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(store.writes) == 1
