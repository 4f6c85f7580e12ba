"""One write at a time on an order across replicas (SPEC §7, §9): two replicas of one
store, each with its own adapter in front of one emulator over loopback, sharing a real
redis-server. The request log counts the writes of both."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack, ExitStack
from typing import Any

import httpx
import pytest
import redis
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from adapters.shared_state import SharedState
from bridge.app import create_app
from bridge.idempotency import Lookup
from bridge.idempotency_redis import RedisIdempotencyStore
from tests.conftest import AUTH, settings
from tests.emulators.write_faults import WriteFault, until
from tests.late_replies import LateReplies
from tests.redis_server import RedisServer, redis_server
from tests.test_platform_writes import Platform, platform, send_through, served
from tests.test_replica_writes import redis_url, replicas
from tests.write_support import CANCEL, RecordingWrites

__all__ = ["platform", "redis_server", "redis_url", "served"]

pytestmark = pytest.mark.anyio

DEADLINE_S = 3.0
HELD_S = 0.3
HELD_LONG_S = 1.0
"""Long enough for the other replica to poll, time a Redis command out and poll again;
still within its patience (half of `DEADLINE_S`)."""
SHORT_DEADLINE_S = 0.5
GIVE_UP_LATE_S = 0.6
"""How late Redis answers a turn's deletion: past the deadline of a write confirmed well
within it, and within the Redis timeout (`2 * GIVE_UP_LATE_S`)."""


async def _on_two_replicas(
    platform: Platform, redis_url: str, first: str, second: str
) -> tuple[httpx.Response, httpx.Response]:
    """`first` sent to one replica and held inside the platform (its change made after the
    hold), `second` sent meanwhile to the other: both answers."""
    adapters = [platform.module.make_adapter(platform.url) for _ in "ab"]
    faults = platform.emulator.write_faults
    async with replicas(redis_url, adapters, deadline_s=DEADLINE_S) as (a, b):
        faults.add(WriteFault(hang=HELD_S, applies="last"))
        held = asyncio.create_task(send_through(a, platform, first))
        await until(lambda: faults.arrived == 1)
        meanwhile = await send_through(b, platform, second)
        return await held, meanwhile


async def test_the_same_write_on_two_replicas_at_once_is_done_once(
    platform: Platform, redis_url: str
) -> None:
    first, second = await _on_two_replicas(platform, redis_url, "cancel_order", "cancel_order")

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(platform.writes()) == 1


async def test_an_address_change_on_one_replica_while_the_other_cancels_is_refused(
    platform: Platform, redis_url: str
) -> None:
    cancel, move = await _on_two_replicas(
        platform, redis_url, "cancel_order", "change_shipping_address"
    )

    assert cancel.status_code == 200
    assert (move.status_code, move.json()["message"]) == (422, "the order is cancelled")
    assert len(platform.writes()) == 1


def test_a_write_whose_turn_redis_answers_too_late_is_refused_unwritten(
    redis_server: RedisServer, redis_url: str
) -> None:
    """Without an `Idempotency-Key`: the turn may have been taken in Redis, so the write
    is not made; the turn is given up at once, and another replica writes."""
    store = RecordingWrites()
    with LateReplies(redis_server) as relay, ExitStack() as running:

        def replica(url: str, **overrides: Any) -> TestClient:
            app = create_app(settings(writes=True, redis_url=url, **overrides), adapter=store)
            return running.enter_context(TestClient(app, headers=AUTH))

        late, direct = replica(relay.url, redis_timeout_s=0.1), replica(redis_server.url)
        relay.delay_s = 0.3
        refused = late.post(CANCEL)
        relay.delay_s = 0.0
        assert store.writes == []
        written = direct.post(CANCEL)

    assert (refused.status_code, refused.json()["code"]) == (503, "unavailable")
    assert refused.headers["retry-after"] == "1"
    assert written.status_code == 200
    assert [name for name, _ in store.writes] == ["cancel_order"]


async def _replica(
    stack: AsyncExitStack, platform: Platform, redis_url: str, **overrides: Any
) -> tuple[httpx.AsyncClient, SharedState]:
    """A replica in front of `platform`, started as `serve` starts it: its client (with
    `headers` besides the credentials) and its Redis state."""
    headers = {**AUTH, **overrides.pop("headers", {})}
    app = create_app(
        settings(**{"writes": True, "redis_url": redis_url, "deadline_s": DEADLINE_S, **overrides}),
        adapter=platform.module.make_adapter(platform.url),
    )
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bridge", headers=headers
    )
    shared = app.state.bridge.shared
    assert shared is not None
    return await stack.enter_async_context(client), shared


async def test_a_replica_whose_unrelated_redis_command_timed_out_still_waits_its_turn(
    platform: Platform, redis_url: str
) -> None:
    """Replica B waits for A's turn; one of B's Redis commands then outlasts the timeout
    (a slow read), and B is in its quiet period: it still asks Redis for the turn."""
    faults = platform.emulator.write_faults
    with capture_logs() as logs:
        async with AsyncExitStack() as stack:
            a, _ = await _replica(stack, platform, redis_url)
            b, b_shared = await _replica(stack, platform, redis_url)
            faults.add(WriteFault(hang=HELD_LONG_S, applies="last"))
            held = asyncio.create_task(send_through(a, platform, "cancel_order"))
            await until(lambda: faults.arrived == 1)
            moving = asyncio.create_task(send_through(b, platform, "change_shipping_address"))
            await asyncio.sleep(0.1)  # B has polled Redis: the turn is A's
            await b_shared.run(
                lambda client: client.blpop(["nothing-comes"], timeout=1), otherwise=None
            )
            assert not b_shared.reachable
            cancel, move = await held, await moving

    assert cancel.status_code == 200
    assert (move.status_code, len(platform.writes())) == (422, 1)  # the cancel's write only
    assert move.json()["message"] == "the order is cancelled"
    assert "order_turn_local" not in [line["event"] for line in logs]


def _running_keys(redis_url: str) -> list[bytes]:
    """The `Idempotency-Key` records in Redis (emptied for each test by `redis_url`)."""
    with redis.Redis.from_url(redis_url) as client:
        return list(client.scan_iter("*:idempotency:*"))


async def test_a_key_whose_order_turn_redis_answered_too_late_is_free_for_the_repeat(
    platform: Platform, redis_server: RedisServer, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis takes the key's claim in time, then answers the order's turn too late: the
    write is refused 503 to be repeated, nothing written, and the repeat the 503 asks
    for is written, though the late turn began Redis's quiet period."""
    claim = RedisIdempotencyStore.claim
    with LateReplies(redis_server) as relay:

        async def then_redis_slows(store: RedisIdempotencyStore, *args: str) -> Lookup:
            lookup = await claim(store, *args)
            relay.delay_s = 0.3  # from the order's turn on, past the 0.1 s timeout
            return lookup

        monkeypatch.setattr(RedisIdempotencyStore, "claim", then_redis_slows)
        async with AsyncExitStack() as stack:
            key = {"Idempotency-Key": f"late-turn-{uuid.uuid4()}"}
            bridge, _ = await _replica(stack, platform, relay.url, redis_timeout_s=0.1, headers=key)
            refused = await send_through(bridge, platform, "cancel_order")
            monkeypatch.setattr(RedisIdempotencyStore, "claim", claim)
            relay.delay_s = 0.0
            written_before_repeat = len(platform.writes())
            await until(lambda: not _running_keys(redis_url))  # released, not expired
            repeat = await send_through(bridge, platform, "cancel_order")

    assert (refused.status_code, refused.json()["code"]) == (503, "unavailable")
    assert refused.headers["retry-after"] == "1"
    assert written_before_repeat == 0
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    assert len(platform.writes()) == 1


async def test_a_write_confirmed_in_time_is_answered_so_however_late_its_turn_is_given_up(
    platform: Platform, redis_server: RedisServer, redis_url: str
) -> None:
    """The platform confirms the change well within the deadline; Redis then answers the
    deletion of the order's turn only past it. Giving the turn up does not make the
    write a timeout: it is answered and audited as made."""
    faults = platform.emulator.write_faults
    with LateReplies(redis_server) as relay, capture_logs() as logs:
        async with AsyncExitStack() as stack:
            bridge, _ = await _replica(
                stack,
                platform,
                relay.url,
                deadline_s=SHORT_DEADLINE_S,
                redis_timeout_s=2 * GIVE_UP_LATE_S,
                headers={"Idempotency-Key": f"given-up-late-{uuid.uuid4()}"},
            )
            faults.add(WriteFault(hang=0.1, applies="last"))
            writing = asyncio.create_task(send_through(bridge, platform, "cancel_order"))
            await until(lambda: faults.arrived == 1)
            relay.delay_s = GIVE_UP_LATE_S  # from the change on: its turn's deletion too
            cancel = await writing
            relay.delay_s = 0.0
            repeat = await send_through(bridge, platform, "cancel_order")

    assert cancel.status_code == 200
    assert len(platform.writes()) == 1
    audited = [line["outcome"] for line in logs if line["event"] == "order_write"]
    assert audited == ["applied", "replayed"]
    assert (repeat.status_code, repeat.headers["idempotent-replayed"]) == (200, "true")
