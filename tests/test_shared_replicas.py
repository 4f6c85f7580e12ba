"""Two bridge processes sharing one Redis in front of one Elastic Path emulator: what one
replica caches the other serves, what one forgets the other forgets, concurrent misses
make one platform call, and neither a dead replica nor a lost Redis fails a read.

Every body is asked for under its own `Host`, which is part of its cache key: a test
reads what no earlier read cached, on either replica, without new platform data."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.single_flight import LOCAL_TTL_S
from tests.conftest import R
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.redis_server import RedisServer, redis_server, require_redis_server
from tests.replicas import Replica, elasticpath_env, replica, replicas
from tests.servers import serve

__all__ = ["redis_server"]

WEBHOOK_SECRET = "elastic-path-integration-secret-0123456789"
DEADLINE_S = 3.0


class Held:
    """Wraps the emulator: API calls wait `delay_s` before they are answered, or, while
    `hang` is set, are never answered in time (and never logged)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.delay_s = 0.0
        self.hang = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = scope["type"] == "http" and scope["path"].startswith("/v2/")
        if api and self.hang:
            await asyncio.sleep(10)
            await PlainTextResponse("gave up", status_code=504)(scope, receive, send)
            return
        if api and self.delay_s:
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def platform() -> Iterator[tuple[ElasticPathEmulator, Held, str]]:
    emulator = ElasticPathEmulator(fx.default_store())
    held = Held(emulator.app)
    with serve(held) as url:
        yield emulator, held, url


@pytest.fixture
def emulator(platform: tuple[ElasticPathEmulator, Held, str]) -> Iterator[ElasticPathEmulator]:
    emulator, held, _ = platform
    emulator.reset()
    yield emulator
    held.delay_s, held.hang = 0.0, False
    emulator.store = fx.default_store()


def env(platform_url: str, redis_url: str) -> dict[str, str]:
    return {
        **elasticpath_env(platform_url, redis_url),
        "ERC_BRIDGE_WRITES": "true",
        "ELASTICPATH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ERC_BRIDGE_DEADLINE_S": str(DEADLINE_S),
    }


@pytest.fixture(scope="module")
def pair(
    platform: tuple[ElasticPathEmulator, Held, str],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[Replica]]:
    directory = tmp_path_factory.mktemp("replicas")
    with replicas(directory, env(platform[2], redis_server.url)) as started:
        yield started


def order_url(order_id: str, customer_id: str = fx.MARIA) -> str:
    return f"{R}/customers/{customer_id}/orders/{order_id}"


def host() -> dict[str, str]:
    """A Host of its own: a cache key no earlier test made."""
    return {"host": f"agent-{uuid.uuid4().hex[:12]}.example"}


def calls_from_now(emulator: ElasticPathEmulator) -> None:
    """Forget the calls logged so far (`reset` would forget the replicas' tokens too)."""
    emulator.requests = []


def order_calls(emulator: ElasticPathEmulator, order_id: str) -> int:
    """Calls for the order, not counting one refused for a token the emulator's `reset`
    forgot (the replica then gets a new one and asks again)."""
    path = f"/v2/orders/{order_id}"
    return sum(1 for r in emulator.api_calls if r.path == path and r.status != 401)


def get(replica: Replica, url: str, headers: dict[str, str]) -> httpx.Response:
    with replica.client(timeout=10) as client:
        return client.get(url, headers=headers)


def cached_on_both(pair: list[Replica], url: str, headers: dict[str, str]) -> httpx.Response:
    """Read on A, then a hit on B: the body each replica now keeps."""
    first = get(pair[0], url, headers)
    assert get(pair[1], url, headers).headers["x-cache"] == "HIT"
    return first


def test_a_body_cached_by_one_replica_is_a_hit_on_the_other(
    pair: list[Replica], emulator: ElasticPathEmulator
) -> None:
    a, b = pair
    headers = host()
    first = get(a, order_url(fx.ORDER_COMPLETE), headers)
    assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
    calls_from_now(emulator)
    second = get(b, order_url(fx.ORDER_COMPLETE), headers)
    assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
    assert second.content == first.content
    assert emulator.api_calls == []


def test_an_order_shared_by_one_replica_is_never_shown_to_another_customer(
    pair: list[Replica],
) -> None:
    headers = host()
    assert get(pair[0], order_url(fx.ORDER_COMPLETE), headers).status_code == 200
    someone_else = get(pair[1], order_url(fx.ORDER_COMPLETE, fx.HANS), headers)
    assert (someone_else.status_code, someone_else.json()["code"]) == (404, "not_found")


def test_a_write_on_one_replica_shows_on_the_other(
    pair: list[Replica], emulator: ElasticPathEmulator
) -> None:
    a, b = pair
    headers = host()
    url = order_url(fx.ORDER_PROCESSING)
    before = cached_on_both(pair, url, headers)
    with a.client(timeout=10) as client:
        written = client.post(f"{url}/cancel", json={}, headers=headers)
    assert written.status_code == 200, written.text
    calls_from_now(emulator)
    after = get(b, url, headers)
    assert (after.status_code, after.headers["x-cache"]) == (200, "MISS")
    assert after.json().get("cancellation_status") != before.json().get("cancellation_status")
    assert order_calls(emulator, fx.ORDER_PROCESSING) == 1


def test_a_webhook_on_one_replica_drops_the_order_on_the_other(
    pair: list[Replica], emulator: ElasticPathEmulator
) -> None:
    a, b = pair
    headers = host()
    url = order_url(fx.ORDER_FULFILLED)
    cached_on_both(pair, url, headers)
    delivery = {
        "id": f"delivery-{uuid.uuid4().hex}",
        "triggered_by": "order.updated",
        "attempt": 1,
        "payload": {
            "data": {
                "type": "order",
                "id": fx.ORDER_FULFILLED,
                "relationships": {"customer": {"data": {"type": "customer", "id": fx.MARIA}}},
            }
        },
    }
    received = httpx.post(
        f"{a.url}/webhooks/elasticpath",
        json=delivery,
        headers={"X-MOLTIN-SECRET-KEY": WEBHOOK_SECRET},
    )
    assert received.status_code == 204
    calls_from_now(emulator)
    after = get(b, url, headers)
    assert (after.status_code, after.headers["x-cache"]) == (200, "MISS")
    assert order_calls(emulator, fx.ORDER_FULFILLED) == 1


def test_fifty_concurrent_misses_over_two_replicas_make_one_platform_call(
    pair: list[Replica],
    emulator: ElasticPathEmulator,
    platform: tuple[ElasticPathEmulator, Held, str],
) -> None:
    calls_from_now(emulator)
    platform[1].delay_s = 0.5  # every call overlaps the others
    headers = host()
    url = order_url(fx.ORDER_PARTIAL)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda n: get(pair[n % 2], url, headers), range(50)))
    assert [r.status_code for r in answers] == [200] * 50
    assert len({r.content for r in answers}) == 1
    assert order_calls(emulator, fx.ORDER_PARTIAL) == 1
    # The other replica read the order or its body from Redis, having waited for it or not.
    tiers = ('tier="resource"', 'tier="body"')
    assert sum(counter(r, "erc_bridge_shared_cache_hits_total", t) for r in pair for t in tiers)


def test_a_replica_waiting_for_another_ones_fill_answers_within_the_deadline(
    pair: list[Replica],
    emulator: ElasticPathEmulator,
    platform: tuple[ElasticPathEmulator, Held, str],
) -> None:
    for replica_ in pair:
        get(replica_, order_url(fx.ORDER_COMPLETE), host())  # its token, before the hang
    waits = body_waits(pair)
    platform[1].hang = True
    headers, url = host(), order_url(str(uuid.uuid4()))  # nothing of it is cached
    with ThreadPoolExecutor(max_workers=2) as pool:
        filling = pool.submit(timed_get, pair[0], url, headers)
        time.sleep(0.2)  # the first has the fill's lock: the second waits for it
        waiting = pool.submit(timed_get, pair[1], url, headers)
        answers = [filling.result(), waiting.result()]
    platform[1].hang = False
    assert body_waits(pair) > waits
    # Waiting and then making the body share the request's deadline: a correctness bound,
    # with room for a loaded machine.
    for took, answer in answers:
        assert (answer.status_code, answer.json()["code"]) == (504, "upstream_timeout")
        assert took < DEADLINE_S + 1.0


def body_waits(pair: list[Replica]) -> float:
    """Bodies either replica waited for another to make."""
    return sum(counter(r, "erc_bridge_single_flight_waits_total", 'tier="body"') for r in pair)


def timed_get(replica: Replica, url: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    answer = get(replica, url, headers)
    return time.monotonic() - started, answer


def counter(replica: Replica, name: str, labels: str) -> float:
    with replica.client(timeout=10) as client:
        text = client.get("/metrics").text
    prefix = f"{name}{{{labels}}} "
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def _lock_taken(url: str) -> bool:
    with redis.Redis.from_url(url) as client:
        return any(True for _ in client.scan_iter(match="*:resource:*:lock"))


def test_a_replica_killed_while_it_fills_does_not_hold_the_other_back(
    platform: tuple[ElasticPathEmulator, Held, str],
    emulator: ElasticPathEmulator,
    tmp_path: Path,
) -> None:
    require_redis_server()
    with RedisServer(tmp_path) as own_redis:
        configured = env(platform[2], own_redis.url)
        with (
            replica(tmp_path, configured, name="a") as a,
            replica(tmp_path, configured, name="b") as b,
        ):
            platform[1].hang = True
            stuck = threading.Thread(target=_abandoned, args=(a,), daemon=True)
            stuck.start()
            deadline = time.monotonic() + 5
            while not _lock_taken(own_redis.url):
                assert time.monotonic() < deadline, "replica A never took the lock"
                time.sleep(0.02)
            a.process.kill()
            a.process.wait()
            platform[1].hang = False
            started = time.monotonic()
            answer = get(b, order_url(fx.ORDER_DIGITAL), {})
            took = time.monotonic() - started
    assert answer.status_code == 200
    assert took < DEADLINE_S
    assert order_calls(emulator, fx.ORDER_DIGITAL) == 1  # B's own call: A's never came back


def _abandoned(a: Replica) -> None:
    """A's request, whose process is killed while it waits for the platform."""
    with contextlib.suppress(httpx.HTTPError):
        get(a, order_url(fx.ORDER_DIGITAL), {})


def test_redis_stopped_mid_load_fails_no_read_and_sharing_resumes(
    platform: tuple[ElasticPathEmulator, Held, str],
    emulator: ElasticPathEmulator,
    tmp_path: Path,
) -> None:
    require_redis_server()
    own_redis = RedisServer(tmp_path)
    own_redis.start()
    try:
        with replicas(tmp_path, env(platform[2], own_redis.url)) as (a, b):
            statuses: list[int] = []
            stop = threading.Event()

            def load() -> None:
                orders = (fx.ORDER_COMPLETE, fx.ORDER_FULFILLED, fx.ORDER_PARTIAL)
                with a.client(timeout=10) as on_a, b.client(timeout=10) as on_b:
                    n = 0
                    while not stop.is_set():
                        client = (on_a, on_b)[n % 2]
                        url = order_url(orders[n % 3])
                        statuses.append(client.get(url, headers=host()).status_code)
                        n += 1

            loader = threading.Thread(target=load)
            loader.start()
            time.sleep(0.5)
            own_redis.stop()
            time.sleep(1.5)
            own_redis.start()
            time.sleep(1.5)
            stop.set()
            loader.join(timeout=15)
            assert statuses and set(statuses) == {200}, statuses
            assert _shared_again(a, b, emulator)
    finally:
        own_redis.stop()


def _shared_again(a: Replica, b: Replica, emulator: ElasticPathEmulator) -> bool:
    """A body A makes is a hit on B again, within a few seconds of Redis being back."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        headers = host()
        get(a, order_url(fx.ORDER_COMPLETE), headers)
        if get(b, order_url(fx.ORDER_COMPLETE), headers).headers["x-cache"] == "HIT":
            return True
        time.sleep(0.2)
    return False


def test_a_write_whose_forget_meets_a_redis_stall_shows_everywhere_once_redis_answers(
    platform: tuple[ElasticPathEmulator, Held, str],
    emulator: ElasticPathEmulator,
    tmp_path: Path,
) -> None:
    require_redis_server()
    with (
        RedisServer(tmp_path) as own_redis,
        replicas(tmp_path, env(platform[2], own_redis.url)) as (a, b),
    ):
        headers = host()
        url = order_url(fx.ORDER_PROCESSING)
        cached_on_both([a, b], url, headers)  # the body, and the order it is made of
        with redis.Redis.from_url(own_redis.url) as admin:
            # Longer than a Redis call may take, and the pub/sub connection stays up: no
            # resubscription tells anyone that something was missed.
            admin.execute_command("CLIENT", "PAUSE", "600", "ALL")
        with a.client(timeout=10) as client:
            assert client.post(f"{url}/cancel", json={}, headers=headers).status_code == 200
        assert cancelled(get(a, url, host()))
        time.sleep(LOCAL_TTL_S + 0.5)  # the stall is over, and B's own copies too
        for replica_ in (a, b):
            assert cancelled(get(replica_, url, headers))  # the body kept in Redis
            assert cancelled(get(replica_, url, host()))  # one made of the order kept there
        assert _shared_again(a, b, emulator)


def cancelled(answer: httpx.Response) -> bool:
    return answer.json().get("cancellation_status") is not None
