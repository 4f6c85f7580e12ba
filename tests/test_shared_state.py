"""The Redis client the replicas share: answers, goes on without Redis, finds it back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from adapters.shared_state import SharedState, Unheard, redacted_url, store_namespace
from tests.redis_server import RedisServer, redis_server, require_redis_server

__all__ = ["redis_server"]

PASSWORD = "redis-password-for-tests-4f8c2a9e7b1d"


class StoreSettings(BaseSettings):
    base_url: str
    client_secret: SecretStr


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis this test may stop and start."""
    require_redis_server()
    with RedisServer(tmp_path, password=PASSWORD) as server:
        yield server


def test_url_in_logs_has_no_password() -> None:
    assert redacted_url(f"redis://:{PASSWORD}@10.0.0.5:6380/2") == "redis://:***@10.0.0.5:6380/2"
    assert redacted_url("rediss://bridge:pw-1234@cache/0") == "rediss://bridge:***@cache/0"
    assert redacted_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_namespace_tells_stores_apart_but_not_their_secrets() -> None:
    one = store_namespace("elasticpath", StoreSettings(base_url="https://a", client_secret="x"))
    same = store_namespace("elasticpath", StoreSettings(base_url="https://a", client_secret="y"))
    other = store_namespace("elasticpath", StoreSettings(base_url="https://b", client_secret="x"))
    assert one == same != other
    assert one.startswith("erc-bridge:elasticpath:")
    assert store_namespace("demo", None) != store_namespace("other", None)


@pytest.mark.anyio
async def test_commands_go_to_redis(redis_server: RedisServer) -> None:
    shared = SharedState(redis_server.url, namespace="test-commands")
    try:
        key = shared.key("body", "1")
        assert key == "test-commands:body:1"
        stored: bool | str | bytes | None = await shared.run(
            lambda c: c.set(key, b"kept"), otherwise=False
        )
        assert stored
        assert await shared.run(lambda c: c.get(key), otherwise=None) == b"kept"
        assert shared.reachable
    finally:
        await shared.close()


@pytest.mark.anyio
async def test_without_redis_answers_otherwise_then_finds_it_back(
    own_redis: RedisServer,
) -> None:
    seen: list[bool] = []
    shared = SharedState(own_redis.url, namespace="t", retry_after_s=0.2, observe=seen.append)
    try:
        with structlog.testing.capture_logs() as logs:
            assert await shared.run(lambda c: c.ping(), otherwise=False)
            own_redis.stop()
            answer: bool | str = await shared.run(lambda c: c.ping(), otherwise="fallback")
            assert answer == "fallback"
            assert not shared.reachable and not shared.available
            # While it is left alone, nothing is sent: no wait for a timeout on each call.
            answer = await shared.run(lambda c: c.ping(), otherwise="quiet")
            assert answer == "quiet"
            own_redis.start()
            await asyncio.sleep(0.25)
            assert shared.available
            assert await shared.run(lambda c: c.ping(), otherwise=False) is True
        assert shared.reachable
        assert seen == [False, True]
        events = [line["event"] for line in logs]
        assert events == ["redis_unreachable", "redis_reachable"]
        assert all(PASSWORD not in str(line) for line in logs)
        assert logs[0]["url"] == f"redis://:***@127.0.0.1:{own_redis.port}/0"
    finally:
        await shared.close()


@pytest.mark.anyio
async def test_a_hanging_redis_costs_one_timeout(own_redis: RedisServer) -> None:
    shared = SharedState(own_redis.url, namespace="t", timeout_s=0.1, retry_after_s=5)
    try:
        assert await shared.run(lambda c: c.ping(), otherwise=False)
        blocked = asyncio.get_running_loop().time()
        result: object = await shared.run(lambda c: c.blpop(["never"], timeout=2), otherwise="late")
        assert result == "late"
        assert asyncio.get_running_loop().time() - blocked < 1.0
        assert not shared.reachable
    finally:
        await shared.close()


@pytest.mark.anyio
async def test_messages_reach_every_subscriber_and_a_cut_is_told(own_redis: RedisServer) -> None:
    heard_a: list[bytes | None] = []
    heard_b: list[bytes | None] = []
    a = SharedState(own_redis.url, namespace="t", retry_after_s=0.2)
    b = SharedState(own_redis.url, namespace="t", retry_after_s=0.2)
    a.subscribe("forget", heard_a.append)
    b.subscribe("forget", heard_b.append)
    await a.open()
    await b.open()
    try:
        await _until(lambda: heard_a == [None] and heard_b == [None])
        assert await a.publish("forget", b"customer:42")
        await _until(lambda: heard_b == [None, b"customer:42"])
        assert heard_a == [None, b"customer:42"]
        own_redis.stop()
        own_redis.start()
        # Subscribed again, each is told it may have missed messages.
        await _until(lambda: heard_b[-1:] == [None] and len(heard_b) == 3, seconds=5)
        assert await a.publish("forget", b"order:7")
        await _until(lambda: heard_b[-1:] == [b"order:7"])
    finally:
        await a.close()
        await b.close()


async def _until(condition: object, seconds: float = 2.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_change_redis_missed_is_covered_only_by_a_step_begun_after_it() -> None:
    unheard = Unheard()
    unheard.miss()
    first = unheard.missed  # a step that covers it begins
    unheard.miss()  # and another change is missed while it runs
    unheard.cover(first)
    assert unheard.any
    unheard.cover(unheard.missed)
    assert not unheard.any
    unheard.cover(first)  # a step that began earlier ends late
    assert not unheard.any


@pytest.mark.anyio
async def test_work_asked_for_after_close_does_not_run(redis_server: RedisServer) -> None:
    shared = SharedState(redis_server.url, namespace="test-closed")
    await shared.close()
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = shared.until_closed(work())
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 2)
    assert task.cancelled()
    assert not started.is_set()
