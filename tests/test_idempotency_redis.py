"""`Idempotency-Key` records in Redis (SPEC §7, §9) against a real redis-server: two
stores on one namespace are two replicas of one store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from starlette.testclient import TestClient

from adapters.shared_state import SharedState
from bridge.app import create_app
from bridge.idempotency import TTL_S, Answer, Claim, fingerprint
from bridge.idempotency_redis import RedisIdempotencyStore
from tests.conftest import AUTH, settings
from tests.late_replies import LateReplies
from tests.redis_server import RedisServer, redis_server, require_redis_server
from tests.write_support import CANCEL, RecordingWrites

__all__ = ["redis_server"]

pytestmark = pytest.mark.anyio

FIRST = fingerprint("/cancel", "customer-1", "order-1", b"{}")
OTHER = fingerprint("/cancel", "customer-1", "order-2", b"{}")
ANSWER = Answer(200, b'{"done": true}', ((b"content-type", b"application/json"),))


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[list[RedisIdempotencyStore]]:
    """Two replicas' stores, on a namespace of their own."""
    namespace = f"test-idempotency-{uuid.uuid4().hex}"
    shared = [SharedState(redis_server.url, namespace=namespace) for _ in range(2)]
    try:
        yield [RedisIdempotencyStore(s, running_ttl_s=0.5) for s in shared]
    finally:
        for s in shared:
            await s.close()


async def test_a_key_claimed_on_one_replica_is_running_then_replayed_on_the_other(
    pair: list[RedisIdempotencyStore],
) -> None:
    a, b = pair
    assert (await a.claim("me", "k-1", FIRST)).claim is Claim.NEW
    assert (await b.claim("me", "k-1", FIRST)).claim is Claim.RUNNING
    assert (await b.claim("me", "k-1", OTHER)).claim is Claim.REUSED
    assert (await b.claim("you", "k-1", FIRST)).claim is Claim.NEW  # another caller's key
    await a.finish("me", "k-1", ANSWER)
    replay = await b.claim("me", "k-1", FIRST)
    assert (replay.claim, replay.answer) == (Claim.REPLAY, ANSWER)
    assert (await b.claim("me", "k-1", OTHER)).claim is Claim.REUSED
    # B's refusals left nothing of theirs behind in B's own memory.
    assert len(b.memory) == 1  # only "you"


async def test_an_answer_is_kept_a_day(pair: list[RedisIdempotencyStore]) -> None:
    a, _ = pair
    await a.claim("me", "k-day", FIRST)
    record = a._key("me", "k-day")
    running = await a.shared.client.pttl(record)
    assert 0 < running <= 500
    await a.finish("me", "k-day", ANSWER)
    kept = await a.shared.client.pttl(record)
    assert TTL_S * 1000 - 5000 < kept <= TTL_S * 1000


async def test_a_released_key_is_free_everywhere(pair: list[RedisIdempotencyStore]) -> None:
    a, b = pair
    await a.claim("me", "k-5xx", FIRST)
    await b.release("me", "k-5xx")  # not B's claim: nothing happens
    assert (await b.claim("me", "k-5xx", FIRST)).claim is Claim.RUNNING
    await a.release("me", "k-5xx")
    assert (await b.claim("me", "k-5xx", FIRST)).claim is Claim.NEW


async def test_a_key_is_released_in_redis_right_after_another_command_failed(
    pair: list[RedisIdempotencyStore],
) -> None:
    """The failure (the request's order turn answered late, say) begins Redis's quiet
    period; the release goes to Redis all the same, else the key is refused everywhere
    until its record expires, though the request wrote nothing."""
    a, b = pair
    assert (await a.claim("me", "k-quiet", FIRST)).claim is Claim.NEW
    a.shared.failed(TimeoutError())
    await a.release("me", "k-quiet")
    assert (await b.claim("me", "k-quiet", FIRST)).claim is Claim.NEW


async def test_a_dead_replicas_claim_expires_and_its_late_answer_is_not_kept(
    pair: list[RedisIdempotencyStore],
) -> None:
    a, b = pair
    assert (await a.claim("me", "k-dead", FIRST)).claim is Claim.NEW
    await asyncio.sleep(0.6)  # past the running expiry: A is taken for dead
    assert (await b.claim("me", "k-dead", FIRST)).claim is Claim.NEW
    # A wakes up: neither its answer nor its release touches B's claim.
    await a.finish("me", "k-dead", Answer(422, b"late"))
    await a.release("me", "k-dead")
    fresh = RedisIdempotencyStore(b.shared, running_ttl_s=0.5)
    assert (await fresh.claim("me", "k-dead", FIRST)).claim is Claim.RUNNING
    await b.finish("me", "k-dead", ANSWER)
    assert (await fresh.claim("me", "k-dead", FIRST)).answer == ANSWER


async def test_concurrent_claims_on_two_replicas_give_one_new(
    pair: list[RedisIdempotencyStore],
) -> None:
    a, b = pair
    lookups = await asyncio.gather(
        *(store.claim("me", "k-race", FIRST) for _ in range(10) for store in (a, b))
    )
    assert [lookup.claim for lookup in lookups].count(Claim.NEW) == 1


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer(tmp_path) as server:
        yield server


async def test_without_redis_the_key_is_the_processs(own_redis: RedisServer) -> None:
    shared = SharedState(own_redis.url, namespace="t", retry_after_s=0.2)
    store = RedisIdempotencyStore(shared, running_ttl_s=5)
    try:
        own_redis.stop()
        with structlog.testing.capture_logs() as logs:
            assert (await store.claim("me", "k", FIRST)).claim is Claim.NEW
            assert (await store.claim("me", "k", FIRST)).claim is Claim.RUNNING
            await store.finish("me", "k", ANSWER)
            assert (await store.claim("me", "k", FIRST)).answer == ANSWER
        assert "idempotency_local" in [line["event"] for line in logs]
        own_redis.start()
        await asyncio.sleep(0.25)
        # Redis back: the record kept in memory still answers, and new keys are shared.
        assert (await store.claim("me", "k", FIRST)).answer == ANSWER
        assert (await store.claim("me", "k2", FIRST)).claim is Claim.NEW
        assert shared.reachable
        other = RedisIdempotencyStore(shared, running_ttl_s=5)
        assert (await other.claim("me", "k2", FIRST)).claim is Claim.RUNNING
    finally:
        await shared.close()


@asynccontextmanager
async def relayed_and_direct(
    redis: RedisServer, timeout_s: float
) -> AsyncIterator[tuple[LateReplies, RedisIdempotencyStore, RedisIdempotencyStore]]:
    """Two replicas' stores on a namespace of their own: the first reaches Redis through
    the reply relay, with `timeout_s` for a command, the second directly."""
    namespace = f"test-idempotency-{uuid.uuid4().hex}"
    with LateReplies(redis) as relay:
        relayed = SharedState(relay.url, namespace=namespace, timeout_s=timeout_s)
        direct = SharedState(redis.url, namespace=namespace)
        try:
            yield (
                relay,
                RedisIdempotencyStore(relayed, running_ttl_s=5),
                RedisIdempotencyStore(direct, running_ttl_s=5),
            )
        finally:
            await relayed.close()
            await direct.close()


async def test_a_claim_redis_answers_too_late_is_refused_and_its_key_freed(
    redis_server: RedisServer,
) -> None:
    async with relayed_and_direct(redis_server, timeout_s=0.1) as (relay, a, b):
        relay.delay_s = 0.3  # Redis runs the claim; its answer comes after the timeout
        with structlog.testing.capture_logs() as logs:
            assert (await a.claim("me", "k-late", FIRST)).claim is Claim.UNCONFIRMED
        assert "idempotency_unconfirmed" in [line["event"] for line in logs]
        assert len(a.memory) == 0
        relay.delay_s = 0.0
        # Not written on A, so the repeat on B is the first write, and its answer is
        # what every later repeat gets.
        assert (await b.claim("me", "k-late", FIRST)).claim is Claim.NEW
        await b.finish("me", "k-late", ANSWER)
        fresh = RedisIdempotencyStore(b.shared, running_ttl_s=5)
        assert (await fresh.claim("me", "k-late", FIRST)).answer == ANSWER


async def test_a_claim_whose_reply_is_lost_with_its_connection_is_refused_and_its_key_freed(
    redis_server: RedisServer,
) -> None:
    # A timeout the lost reply cannot reach: only the lost connection refuses the claim.
    async with relayed_and_direct(redis_server, timeout_s=2.0) as (relay, a, b):
        relay.lose_replies = True  # Redis runs the claim; the connection drops instead
        assert (await a.claim("me", "k-lost", FIRST)).claim is Claim.UNCONFIRMED
        assert len(a.memory) == 0
        # Its release reached Redis although no reply came back: the key is free.
        assert (await b.claim("me", "k-lost", FIRST)).claim is Claim.NEW


async def test_a_claim_redis_refuses_to_connect_for_is_this_processs() -> None:
    refusing = SharedState("redis://127.0.0.1:1/0", namespace="test-refused", timeout_s=1.0)
    try:
        store = RedisIdempotencyStore(refusing, running_ttl_s=5)
        assert (await store.claim("me", "k-refused", FIRST)).claim is Claim.NEW
    finally:
        await refusing.close()


def test_a_write_whose_claim_redis_answers_too_late_is_made_once(
    redis_server: RedisServer,
) -> None:
    platform = RecordingWrites()  # one store behind three replicas
    key = {"Idempotency-Key": f"late-{uuid.uuid4().hex}"}
    with LateReplies(redis_server) as relay, ExitStack() as replicas:

        def replica(redis_url: str, **overrides: Any) -> TestClient:
            app = create_app(
                settings(writes=True, redis_url=redis_url, **overrides), adapter=platform
            )
            return replicas.enter_context(TestClient(app, headers=AUTH))

        a = replica(relay.url, redis_timeout_s=0.1)
        b, c = replica(redis_server.url), replica(redis_server.url)
        relay.delay_s = 0.3
        refused = a.post(CANCEL, headers=key)
        assert refused.status_code == 503, "written although Redis may hold the key"
        assert (refused.json()["code"], refused.headers["retry-after"]) == ("unavailable", "1")
        assert platform.writes == []
        relay.delay_s = 0.0
        first = b.post(CANCEL, headers=key)
        assert first.status_code == 200
        again = c.post(CANCEL, headers=key)
        assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
        assert again.content == first.content
        assert [name for name, _ in platform.writes] == ["cancel_order"]
