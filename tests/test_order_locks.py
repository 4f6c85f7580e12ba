"""An order's turn for writes (bridge/order_locks.py): one holder at a time in the process
and, against a real redis-server, across replicas (two `OrderLocks` on one namespace)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis

from adapters.shared_state import SharedState
from bridge.order_locks import NoTurn, OrderLocks
from tests.late_replies import LateReplies
from tests.redis_server import RedisServer, redis_server, require_redis_server

__all__ = ["redis_server"]

pytestmark = pytest.mark.anyio

HOLD_S = 5.0
SHORT_S = 0.2
"""The patience of a write that is to be refused: another holds the turn throughout."""
AMPLE_S = 5.0
GIVEN_UP_S = 2.0
"""Patience that a turn given up in the background meets, and one left to expire
(`HOLD_S`) does not."""


async def _holding(locks: OrderLocks, order_id: str, until: asyncio.Event) -> None:
    async with locks.turn(order_id, patience_s=AMPLE_S):
        await until.wait()


async def _held(locks: OrderLocks, order_id: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A task holding the order's turn until the event is set."""
    done = asyncio.Event()
    task = asyncio.create_task(_holding(locks, order_id, done))
    for _ in range(200):
        await asyncio.sleep(0.005)
        if not _free_now(locks, order_id):
            break
    return task, done


def _free_now(locks: OrderLocks, order_id: str) -> bool:
    entry = locks._local.get(order_id)
    return entry is None or not entry.lock.locked()


async def _refused(locks: OrderLocks, order_id: str) -> NoTurn:
    with pytest.raises(NoTurn) as refused:
        async with locks.turn(order_id, patience_s=SHORT_S):
            pytest.fail("had the turn another holds")
    return refused.value


async def test_one_write_holds_an_order_and_the_next_waits_its_turn() -> None:
    locks = OrderLocks(None, hold_s=HOLD_S)
    holder, done = await _held(locks, "o-1")
    order: list[str] = []

    async def next_write() -> None:
        async with locks.turn("o-1", patience_s=AMPLE_S):
            order.append("next")

    waiting = asyncio.create_task(next_write())
    async with locks.turn("o-2", patience_s=SHORT_S):  # another order is not held up
        order.append("other order")
    await asyncio.sleep(0.05)
    order.append("first done")
    done.set()
    await asyncio.gather(holder, waiting)

    assert order == ["other order", "first done", "next"]
    assert len(locks) == 0  # nothing kept for orders no write holds


async def test_a_turn_not_had_within_patience_is_409_conflict() -> None:
    locks = OrderLocks(None, hold_s=HOLD_S)
    holder, done = await _held(locks, "o-1")
    refusal = await _refused(locks, "o-1")
    done.set()
    await holder

    assert (refusal.error.status, refusal.error.code) == (409, "conflict")
    assert len(locks) == 0


async def test_a_waiter_cancelled_never_holds_the_turn() -> None:
    locks = OrderLocks(None, hold_s=HOLD_S)
    holder, done = await _held(locks, "o-1")
    waiter = asyncio.create_task(_holding(locks, "o-1", asyncio.Event()))
    await asyncio.sleep(0.05)
    waiter.cancel()
    done.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter

    async with locks.turn("o-1", patience_s=SHORT_S):
        pass
    assert len(locks) == 0


async def test_a_turn_is_given_up_when_its_write_fails() -> None:
    locks = OrderLocks(None, hold_s=HOLD_S)
    with pytest.raises(RuntimeError):
        async with locks.turn("o-1", patience_s=SHORT_S):
            raise RuntimeError("the write failed")
    async with locks.turn("o-1", patience_s=SHORT_S):
        pass
    assert len(locks) == 0


@asynccontextmanager
async def _replicas(
    first_url: str, second_url: str, *, first_timeout_s: float = 0.25, first_hold_s: float = HOLD_S
) -> AsyncIterator[tuple[OrderLocks, OrderLocks]]:
    """Two replicas' turns on a namespace of their own; the first reaches Redis at
    `first_url` with its own timeout and hold (a relay, a replica that dies)."""
    namespace = f"test-order-turns-{uuid.uuid4().hex}"
    first = SharedState(first_url, namespace=namespace, timeout_s=first_timeout_s)
    second = SharedState(second_url, namespace=namespace)
    try:
        yield OrderLocks(first, hold_s=first_hold_s), OrderLocks(second, hold_s=HOLD_S)
    finally:
        await first.close()
        await second.close()


async def _keys(locks: OrderLocks) -> list[bytes]:
    assert locks.shared is not None
    return [key async for key in locks.shared.client.scan_iter(f"{locks.shared.namespace}:*")]


async def test_an_order_held_on_one_replica_waits_on_the_other(redis_server: RedisServer) -> None:
    async with _replicas(redis_server.url, redis_server.url) as (a, b):
        holder, done = await _held(a, "o-1")
        refusal = await _refused(b, "o-1")
        async with b.turn("o-2", patience_s=SHORT_S):  # another order is free
            pass
        done.set()
        await holder
        async with b.turn("o-1", patience_s=SHORT_S):
            held_by_b = await _keys(b)
        left = await _keys(a)

    assert refusal.error.status == 409
    assert len(held_by_b) == 1
    assert left == []  # each turn deleted once given up


async def test_a_dead_replicas_turn_expires_and_its_late_give_up_spares_the_next(
    redis_server: RedisServer,
) -> None:
    async with _replicas(redis_server.url, redis_server.url, first_hold_s=0.3) as (dead, live):
        hung, _ = await _held(dead, "o-1")  # never gives its turn up: as a replica that died
        async with live.turn("o-1", patience_s=AMPLE_S):  # had once the dead one's expired
            hung.cancel()  # its give-up now finds another token: the live turn is kept
            await asyncio.gather(hung, return_exceptions=True)
            await asyncio.sleep(0.05)
            assert len(await _keys(live)) == 1


@asynccontextmanager
async def _late_replies(
    redis: RedisServer, timeout_s: float
) -> AsyncIterator[tuple[LateReplies, OrderLocks, OrderLocks]]:
    """Two replicas' turns: the first reaches Redis through a relay whose replies come
    0.2 s late (with `timeout_s` for a command), the second directly. The first has two
    connections made and left idle, as a busy replica has them: a late reply is then the
    command's, not a handshake's, and a give-up after it goes out at once on the other."""

    async def held_a_moment(locks: OrderLocks, order_id: str) -> None:
        async with locks.turn(order_id, patience_s=SHORT_S):
            await asyncio.sleep(0.05)

    with LateReplies(redis) as relay:
        async with _replicas(relay.url, redis.url, first_timeout_s=timeout_s) as (relayed, direct):
            await asyncio.gather(held_a_moment(relayed, "warm-1"), held_a_moment(relayed, "warm-2"))
            relay.delay_s = 0.2
            yield relay, relayed, direct


async def test_a_turn_redis_answers_too_late_for_is_refused_and_given_up(
    redis_server: RedisServer,
) -> None:
    # Redis takes the turn; its answer comes after the timeout.
    async with _late_replies(redis_server, timeout_s=0.1) as (relay, late, direct):
        refusal = await _refused(late, "o-1")
        await asyncio.sleep(0.3)  # the give-up at once is answered late too
        relay.delay_s = 0.0
        async with direct.turn("o-1", patience_s=GIVEN_UP_S):  # given up a second later
            pass

    assert (refusal.error.status, refusal.error.code) == (503, "unavailable")
    assert len(late) == 0


async def test_a_turn_whose_answer_was_late_is_had_by_asking_again_within_patience(
    redis_server: RedisServer,
) -> None:
    """A stall shorter than the write's patience delays it: the try whose answer was late
    took the turn in Redis, and asking again under the same token finds it its own."""
    async with _late_replies(redis_server, timeout_s=0.1) as (relay, late, direct):

        async def redis_answers_again() -> None:
            await asyncio.sleep(0.3)
            relay.delay_s = 0.0

        recovering = asyncio.create_task(redis_answers_again())
        async with late.turn("o-1", patience_s=GIVEN_UP_S):
            held = await _keys(direct)
            refusal = await _refused(direct, "o-1")
        await recovering
        await asyncio.sleep(0.05)
        left = await _keys(direct)

    assert len(held) == 1  # one turn, taken once
    assert refusal.error.status == 409
    assert left == []


async def test_a_write_cancelled_while_redis_takes_its_turn_gives_it_up(
    redis_server: RedisServer,
) -> None:
    async with _late_replies(redis_server, timeout_s=2.0) as (_, slow, direct):
        taking = asyncio.create_task(_holding(slow, "o-1", asyncio.Event()))
        await asyncio.sleep(0.1)  # the SET has reached Redis, its answer has not come
        taking.cancel()
        await asyncio.gather(taking, return_exceptions=True)
        async with direct.turn("o-1", patience_s=GIVEN_UP_S):  # given up meanwhile
            pass

    assert len(slow) == 0


async def test_without_redis_the_turn_is_the_processs() -> None:
    refusing = SharedState("redis://127.0.0.1:1/0", namespace="test-refused", timeout_s=1.0)
    locks = OrderLocks(refusing, hold_s=HOLD_S)
    try:
        holder, done = await _held(locks, "o-1")
        refusal = await _refused(locks, "o-1")  # still one write at a time here
        done.set()
        await holder
        async with locks.turn("o-1", patience_s=SHORT_S):
            pass
    finally:
        await refusing.close()

    assert refusal.error.status == 409


async def _timed_out(shared: SharedState) -> None:
    """One Redis command of the replica's that outlasts its timeout (a slow read, say):
    the replica's quiet period after a failure begins."""
    await shared.run(lambda client: client.blpop(["nothing-comes"], timeout=1), otherwise=None)
    assert not shared.reachable


async def test_a_turn_held_on_another_replica_is_waited_for_after_an_unrelated_timeout(
    redis_server: RedisServer,
) -> None:
    async with _replicas(redis_server.url, redis_server.url) as (a, b):
        holder, done = await _held(a, "o-1")
        assert b.shared is not None
        await _timed_out(b.shared)
        refusal = await _refused(b, "o-1")  # asked Redis all the same: a holds it
        done.set()
        await holder

    assert (refusal.error.status, refusal.error.code) == (409, "conflict")


async def _taken_and_left(locks: OrderLocks, order_id: str) -> None:
    async with locks.turn(order_id, patience_s=AMPLE_S):
        pass


async def test_a_write_that_saw_the_turn_held_is_refused_when_redis_goes_away(
    tmp_path: Path,
) -> None:
    """Redis refusing connections leaves a turn to the process, but not to a write that
    saw another replica's turn: that write may be under way."""
    require_redis_server()
    with RedisServer(tmp_path) as server:
        async with _replicas(server.url, server.url) as (a, b):
            holder, done = await _held(a, "o-1")
            waiting = asyncio.create_task(_taken_and_left(b, "o-1"))
            await asyncio.sleep(0.1)  # b has polled: the turn is a's
            server.stop()
            assert b.shared is not None  # its next SET connects afresh, and is refused
            await b.shared.client.connection_pool.disconnect()
            with pytest.raises(NoTurn) as refused:
                await waiting
            done.set()
            await holder

    assert (refused.value.error.status, refused.value.error.code) == (503, "unavailable")


async def test_a_redis_answering_errors_is_no_reason_to_take_the_turn_alone(
    redis_server: RedisServer,
) -> None:
    """Out of memory under `noeviction` (or a failed save, or read-only after a failover),
    Redis still holds the other replica's turn: the write is refused, not let through."""
    async with _replicas(redis_server.url, redis_server.url) as (a, b):
        holder, done = await _held(b, "o-1")
        admin = redis.Redis.from_url(redis_server.url)
        policy = str(admin.config_get("maxmemory-policy")["maxmemory-policy"])
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            refusal = await _refused(a, "o-1")
        finally:
            admin.config_set("maxmemory", 0)
            admin.config_set("maxmemory-policy", policy)
            admin.close()
            done.set()
            await holder

    assert (refusal.error.status, refusal.error.code) == (503, "unavailable")
