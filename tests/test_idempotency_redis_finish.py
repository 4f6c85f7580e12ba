"""A write's answer Redis did not take at `finish` (SPEC §7, §9): kept trying until Redis
takes it, so a repeat on another replica replays it rather than writing again. Redis is
made slow with `CLIENT PAUSE ... WRITE`: the scripts wait, and the one whose client
times out meanwhile never runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from starlette.testclient import TestClient

from adapters.base import WriteResult
from adapters.shared_state import SharedState
from bridge.app import create_app
from bridge.idempotency import TTL_S, Answer, Claim, fingerprint
from bridge.idempotency_redis import RedisIdempotencyStore
from mappings.writes import CancelOrder
from tests.conftest import AUTH, settings
from tests.redis_server import RedisServer, require_redis_server
from tests.write_support import CANCEL, RecordingWrites

pytestmark = pytest.mark.anyio

FIRST = fingerprint("/cancel", "customer-1", "order-1", b"{}")
ANSWER = Answer(200, b'{"done": true}', ((b"content-type", b"application/json"),))
RUNNING_TTL_S = 1.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own: pausing it touches no other test."""
    require_redis_server()
    with RedisServer(tmp_path) as server:
        yield server


@asynccontextmanager
async def replicas(
    redis: RedisServer, *, retry_after_s: float = 0.2, **options: Any
) -> AsyncIterator[tuple[Redis, RedisIdempotencyStore, RedisIdempotencyStore]]:
    """An admin client and two replicas' stores: A, quick to give up on Redis and to try
    it again, and B, with the defaults."""
    namespace = f"test-idempotency-{uuid.uuid4().hex}"
    a = SharedState(redis.url, namespace=namespace, timeout_s=0.1, retry_after_s=retry_after_s)
    b = SharedState(redis.url, namespace=namespace)
    admin = Redis.from_url(redis.url)
    try:
        yield (
            admin,
            RedisIdempotencyStore(a, running_ttl_s=RUNNING_TTL_S, **options),
            RedisIdempotencyStore(b, running_ttl_s=RUNNING_TTL_S),
        )
    finally:
        await admin.client_unpause()
        await admin.aclose()
        await a.close()
        await b.close()


async def finish_while_paused(admin: Redis, store: RedisIdempotencyStore, pause_s: float) -> None:
    """`store` claims a key, then finishes it while Redis holds every write `pause_s`."""
    assert (await store.claim("me", "k", FIRST)).claim is Claim.NEW
    await admin.client_pause(round(pause_s * 1000), all=False)  # the writes only
    await store.finish("me", "k", ANSWER)


async def tried_again(store: RedisIdempotencyStore) -> None:
    """Once `store` has stopped storing answers again in the background."""
    if store.retrying:
        await asyncio.wait(store.retrying, timeout=10)
    assert not store.retrying


async def test_an_answer_redis_was_too_slow_to_take_is_kept_there_later(
    own_redis: RedisServer,
) -> None:
    async with replicas(own_redis) as (admin, a, b):
        with structlog.testing.capture_logs() as logs:
            await finish_while_paused(admin, a, 0.4)
        # Past the pause and past A's running record's expiry: B replays A's answer.
        await asyncio.sleep(RUNNING_TTL_S + 0.3)
        replay = await b.claim("me", "k", FIRST)
        assert (replay.claim, replay.answer) == (Claim.REPLAY, ANSWER)
        kept = await admin.pttl(a._key("me", "k"))
        assert TTL_S * 1000 - 10_000 < kept <= TTL_S * 1000
        assert not a.retrying
        assert "idempotency_answer_deferred" in [line["event"] for line in logs]


async def test_a_deferred_answer_outlives_its_expired_claim(own_redis: RedisServer) -> None:
    # A tries again only after 1.5 s: its running record expires before, and no other
    # request claims the key meanwhile.
    async with replicas(own_redis, retry_after_s=1.5) as (admin, a, b):
        await finish_while_paused(admin, a, 0.3)
        await asyncio.sleep(RUNNING_TTL_S)
        assert await admin.exists(a._key("me", "k")) == 0
        await tried_again(a)
        replay = await b.claim("me", "k", FIRST)
        assert (replay.claim, replay.answer) == (Claim.REPLAY, ANSWER)


async def test_a_deferred_answer_never_overwrites_another_claim(own_redis: RedisServer) -> None:
    # A tries again only after 1.5 s: its running record expires before.
    async with replicas(own_redis, retry_after_s=1.5) as (admin, a, b):
        await finish_while_paused(admin, a, 0.3)
        await asyncio.sleep(RUNNING_TTL_S)
        assert (await b.claim("me", "k", FIRST)).claim is Claim.NEW  # A's claim expired
        with structlog.testing.capture_logs() as logs:
            await tried_again(a)  # A finds B's claim and gives up
        said = [line["event"] for line in logs if line["event"].startswith("idempotency_")]
        assert said == ["idempotency_answer_superseded"]
        fresh = RedisIdempotencyStore(b.shared, running_ttl_s=RUNNING_TTL_S)
        assert (await fresh.claim("me", "k", FIRST)).claim is Claim.RUNNING
        await b.finish("me", "k", Answer(422, b"b's"))
        assert (await fresh.claim("me", "k", FIRST)).answer == Answer(422, b"b's")


async def test_nothing_is_tried_once_closed(own_redis: RedisServer) -> None:
    async with replicas(own_redis) as (admin, a, _):
        await finish_while_paused(admin, a, 30)
        assert len(a.retrying) == 1
        with structlog.testing.capture_logs() as logs:
            await a.shared.close()
        assert not a.retrying
        assert "idempotency_answer_not_kept" in [line["event"] for line in logs]
        await admin.client_unpause()
        await asyncio.sleep(0.5)  # more than A's wait before trying again
        assert await admin.hget(a._key("me", "k"), "status") is None


async def test_answers_past_the_bound_are_not_retried(own_redis: RedisServer) -> None:
    async with replicas(own_redis, max_retrying=1) as (admin, a, _):
        assert (await a.claim("me", "k2", FIRST)).claim is Claim.NEW
        await finish_while_paused(admin, a, 30)  # "k": the one answer waiting
        with structlog.testing.capture_logs() as logs:
            await a.finish("me", "k2", ANSWER)
        assert [line["reason"] for line in logs] == ["too many answers wait for Redis"]
        assert len(a.retrying) == 1
        assert (await a.claim("me", "k2", FIRST)).answer == ANSWER  # A itself still replays


class PausingWrites(RecordingWrites):
    """The demo store, pausing Redis's writes while it cancels: the write's answer meets
    a Redis that does not answer in time."""

    def __init__(self, redis_url: str) -> None:
        super().__init__()
        self.redis_url = redis_url

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        with SyncRedis.from_url(self.redis_url) as admin:
            admin.execute_command("CLIENT", "PAUSE", 500, "WRITE")
        return await super().cancel_order(customer_id, order_id, body)


def test_a_write_whose_answer_redis_took_late_is_replayed_on_another_replica(
    own_redis: RedisServer,
) -> None:
    platform = PausingWrites(own_redis.url)  # one store behind two replicas
    key = {"Idempotency-Key": f"slow-{uuid.uuid4().hex}"}
    with ExitStack() as opened:

        def replica(**overrides: Any) -> TestClient:
            app = create_app(
                settings(writes=True, redis_url=own_redis.url, **overrides), adapter=platform
            )
            return opened.enter_context(TestClient(app, headers=AUTH))

        a, b = replica(redis_timeout_s=0.1), replica()
        first = a.post(CANCEL, headers=key)
        assert first.status_code == 200
        time.sleep(0.5)  # the pause is over
        # B answers 409 while A's answer is on its way to Redis, then replays it; before,
        # the record stayed running until it expired (the deadline and 30 s) and then the
        # repeat wrote a second time.
        again = b.post(CANCEL, headers=key)
        for _ in range(50):
            if again.status_code != 409:
                break
            time.sleep(0.1)
            again = b.post(CANCEL, headers=key)
        assert (again.status_code, again.headers.get("idempotent-replayed")) == (200, "true")
        assert again.content == first.content
        assert [name for name, _ in platform.writes] == ["cancel_order"]
