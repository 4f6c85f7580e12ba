"""The platform call budget (`ERC_BRIDGE_PLATFORM_RATE`, SPEC §9): a bucket per process,
one in Redis for the fleet (a real redis-server), and a refused call answered 503 with
`Retry-After` without reaching the platform (the Elastic Path emulator over loopback)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from starlette.testclient import TestClient

from adapters.budget import CallBudget, LocalBucket
from adapters.elasticpath import ElasticPathAdapter
from adapters.errors import OverBudget
from adapters.shared_state import SharedState
from tests.conftest import FAST, ManualClock, R, decode
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.platform_settings import elasticpath_settings
from tests.redis_server import RedisServer, redis_server, require_redis_server

__all__ = ["redis_server"]


def make_emulator() -> ElasticPathEmulator:
    return ElasticPathEmulator(fx.default_store())


def test_a_local_bucket_spaces_calls_and_refuses_a_turn_past_the_limit(
    clock: ManualClock,
) -> None:
    bucket = LocalBucket(4.0, clock=clock)

    def wait(max_wait_s: float) -> float | None:
        reserved = bucket.reserve(max_wait_s)
        return None if reserved is None else reserved.wait

    assert wait(-1) == 0.0
    assert wait(-1) == pytest.approx(0.25)
    assert wait(0.3) is None  # due in 0.5 s: refused, and nothing taken
    assert wait(0.5) == pytest.approx(0.5)
    clock.advance(10)
    assert wait(0.0) == 0.0  # an idle bucket holds one call, not ten seconds' worth
    assert bucket.reserve(0.0) is None
    assert bucket.wait_for_turn() == pytest.approx(0.25)


async def _starts(budget: CallBudget, calls: int) -> list[float]:
    started: list[float] = []

    async def call() -> None:
        await budget.take(None)
        started.append(time.monotonic())

    await asyncio.gather(*(call() for _ in range(calls)))
    return started


@pytest.mark.anyio
async def test_two_replicas_share_one_budget_in_redis(redis_server: RedisServer) -> None:
    namespace = f"test-budget-{uuid.uuid4().hex}"
    shared = [SharedState(redis_server.url, namespace=namespace) for _ in range(2)]
    try:
        a, b = (CallBudget(50.0, shared=s) for s in shared)
        began = time.monotonic()
        starts = sorted(
            [t for ts in await asyncio.gather(_starts(a, 10), _starts(b, 10)) for t in ts]
        )
        # 20 calls at 50/s: the last one goes out 19/50 s after the first, whichever replica,
        # and no more than five turns fit in the first tenth of a second (one of slack).
        assert starts[-1] - began >= 19 / 50 - 0.02
        assert sum(1 for moment in starts if moment - began < 0.1) <= 6
        assert all(s.reachable for s in shared)
    finally:
        for s in shared:
            await s.close()


@pytest.mark.anyio
async def test_a_turn_past_the_deadline_is_refused_with_its_wait(
    redis_server: RedisServer,
) -> None:
    shared = SharedState(redis_server.url, namespace=f"test-budget-{uuid.uuid4().hex}")
    try:
        budget = CallBudget(0.5, shared=shared)
        await budget.take(1.0)
        with pytest.raises(OverBudget) as refused:
            await budget.take(1.0)
        assert refused.value.retry_after == 2
        other = CallBudget(0.5, shared=shared)  # another replica: the same empty bucket
        with pytest.raises(OverBudget):
            await other.take(1.5)
    finally:
        await shared.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer(tmp_path) as server:
        yield server


@pytest.mark.anyio
async def test_without_redis_each_process_keeps_the_rate(own_redis: RedisServer) -> None:
    shared = SharedState(own_redis.url, namespace="t", retry_after_s=0.2)
    budget = CallBudget(50.0, shared=shared)
    try:
        own_redis.stop()
        with structlog.testing.capture_logs() as logs:
            began = time.monotonic()
            starts = await _starts(budget, 6)
        assert max(starts) - began >= 5 / 50 - 0.02
        assert [line["event"] for line in logs if "budget" in line["event"]] == [
            "platform_budget_local"
        ]
        own_redis.start()
        await asyncio.sleep(0.25)
        with structlog.testing.capture_logs() as logs:
            await budget.take(None)
        assert [line["event"] for line in logs] == ["redis_reachable", "platform_budget_shared"]
    finally:
        await shared.close()


@pytest.fixture
def budgeted(
    make_client: Callable[..., TestClient], served: tuple[ElasticPathEmulator, str]
) -> TestClient:
    """One call every two seconds and a one-second deadline: after the token grant, the
    next call's turn comes too late."""
    store = elasticpath_settings(served[1])
    adapter = ElasticPathAdapter(store, http=FAST)
    return make_client(adapter, cache_ttl_s=0, platform_rate=0.5, deadline_s=1.0)


def test_a_call_refused_for_the_budget_is_503_and_never_sent(
    emulator: ElasticPathEmulator, budgeted: TestClient
) -> None:
    response = budgeted.get(f"{R}/customers/{fx.MARIA}/orders")  # one platform call
    assert response.status_code == 503
    assert decode(response)["code"] == "upstream_unavailable"
    assert 1 <= int(response.headers["retry-after"]) <= 2
    assert emulator.api_calls == []  # the orders were never asked for
    assert emulator.grants <= 1
    metrics = budgeted.get("/metrics").text
    assert "erc_bridge_platform_budget_refusals_total 1.0" in metrics
    assert "erc_bridge_redis_up" not in metrics  # no Redis configured
