"""The Redis tiers behind the bodies and the resources, in one process with a real Redis:
two caches stand for two replicas that share one namespace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from adapters.deadline import within
from adapters.errors import UpstreamUnavailable
from adapters.resources import ResourceCache, customer_tag, order_tag
from adapters.shared_entries import Dependency
from adapters.shared_resources import SharedResources
from adapters.shared_state import SharedState
from adapters.single_flight import LOCAL_TTL_S
from bridge.cache import CacheStatus, ResponseCache
from bridge.forgetting import CHANNEL, CacheForgetting, body_dependencies
from bridge.shared_cache import SharedBodies
from tests.redis_server import RedisServer, redis_server, require_redis_server

__all__ = ["redis_server"]

ORDER = "/customers/{customer_id}/orders/{order_id}"
ORDERS = "/customers/{customer_id}/orders"


def key(route: str, customer: str, order: str = "") -> Hashable:
    """Shaped as `ERCEndpoint.cache_key` makes them."""
    return (route, customer, order, f"/{customer}/{order}", "http://testserver", ())


@dataclass
class Produced:
    """A producer that counts its calls and may be held until released."""

    body: bytes
    calls: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event | None = None

    async def __call__(self) -> bytes:
        self.calls += 1
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        return self.body


@dataclass
class Replica:
    state: SharedState
    bodies: ResponseCache
    resources: ResourceCache

    @property
    def forgetting(self) -> CacheForgetting:
        return CacheForgetting(self.bodies, self.resources)


Replicas = Callable[..., Awaitable[Replica]]


async def told(done: Callable[[], bool], within_s: float = 2.0) -> None:
    """Wait for a message over pub/sub to have been acted on."""
    async with asyncio.timeout(within_s):
        while True:
            if done():
                return
            await asyncio.sleep(0.005)


async def subscribed(state: SharedState, count: int) -> None:
    """Wait until `count` processes listen for what to forget, so that none misses any."""
    async with asyncio.timeout(5):
        while True:
            if (await state.client.pubsub_numsub(state.key(CHANNEL)))[0][1] >= count:
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def replica(redis_server: RedisServer) -> AsyncIterator[Replicas]:
    """Makes caches sharing one fresh namespace of the session's Redis."""
    namespace = f"test-{uuid.uuid4().hex}"
    opened: list[SharedState] = []

    async def make(url: str = redis_server.url, *, stale: float = 600) -> Replica:
        state = SharedState(url, namespace=namespace, retry_after_s=0.2)
        opened.append(state)
        bodies = ResponseCache(max_entries=100, stale=stale)
        bodies.shared = SharedBodies(state, body_dependencies, deadline_s=5)
        resources = ResourceCache(ttl_s=30)
        resources.shared = SharedResources(state, patience_s=5)
        made = Replica(state, bodies, resources)
        made.forgetting.listen(state)
        await state.open()
        await subscribed(state, len(opened))
        await asyncio.sleep(0.05)  # and told so (the handler's None) before it is used
        return made

    yield make
    for state in opened:
        await state.close()


@pytest.mark.anyio
async def test_a_body_made_by_one_replica_is_a_hit_on_the_other(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    made, again = Produced(b"ana's order"), Produced(b"made twice")
    assert await a.bodies.refresh(key(ORDER, "ana", "o1"), 30, made, owner="ana") == (
        b"ana's order",
        CacheStatus.MISS,
    )
    found = await b.bodies.refresh(key(ORDER, "ana", "o1"), 30, again, owner="ana")
    assert found == (b"ana's order", CacheStatus.HIT)
    assert again.calls == 0
    assert b.bodies.fresh(key(ORDER, "ana", "o1")) == b"ana's order"  # now kept locally too


@pytest.mark.anyio
async def test_a_body_of_one_customer_is_never_served_to_another(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    await a.bodies.refresh(key(ORDER, "ana", "o1"), 30, Produced(b"ana's"), owner="ana")
    bobs = Produced(b"bob's")
    found = await b.bodies.refresh(key(ORDER, "bob", "o1"), 30, bobs, owner="bob")
    assert found == (b"bob's", CacheStatus.MISS)
    assert bobs.calls == 1


@pytest.mark.anyio
async def test_forgetting_on_one_replica_drops_the_body_in_redis(replica: Replicas) -> None:
    a, b, c = await replica(), await replica(), await replica()
    await a.bodies.refresh(key(ORDER, "ana", "o1"), 30, Produced(b"before"), owner="ana")
    await b.forgetting.forget_order("o1", "ana")
    after = Produced(b"after")
    assert await c.bodies.refresh(key(ORDER, "ana", "o1"), 30, after, owner="ana") == (
        b"after",
        CacheStatus.MISS,
    )


@pytest.mark.anyio
async def test_an_order_of_an_unknown_customer_drops_every_listing_in_redis(
    replica: Replicas,
) -> None:
    a, b = await replica(), await replica()
    await a.bodies.refresh(key(ORDERS, "ana"), 30, Produced(b"ana's list"), owner="ana")
    await a.bodies.refresh(key(ORDER, "bob", "o3"), 30, Produced(b"bob's o3"), owner="bob")
    await a.forgetting.forget_order("o1", None)
    listing, other = Produced(b"new list"), Produced(b"unused")
    assert (await b.bodies.refresh(key(ORDERS, "ana"), 30, listing, owner="ana"))[0] == b"new list"
    assert (await b.bodies.refresh(key(ORDER, "bob", "o3"), 30, other, owner="bob")) == (
        b"bob's o3",
        CacheStatus.HIT,
    )


@pytest.mark.anyio
async def test_a_fill_under_way_while_its_customer_is_forgotten_is_not_kept_in_redis(
    replica: Replicas,
) -> None:
    a, b, c = await replica(), await replica(), await replica()
    slow = Produced(b"from before the write", release=asyncio.Event())
    filling = asyncio.create_task(a.bodies.refresh(key(ORDER, "ana", "o1"), 30, slow, owner="ana"))
    await slow.started.wait()
    await b.forgetting.forget_customer("ana")
    assert slow.release is not None
    slow.release.set()
    assert (await filling)[0] == b"from before the write"  # answered, not kept
    later = Produced(b"after the write")
    found = await c.bodies.refresh(key(ORDER, "ana", "o1"), 30, later, owner="ana")
    assert found == (b"after the write", CacheStatus.MISS)


@pytest.mark.anyio
async def test_what_a_read_brings_from_redis_while_this_replica_forgets_is_not_kept(
    replica: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await replica(), await replica()
    order, tags = key(ORDER, "ana", "o1"), (order_tag("o1"), customer_tag("ana"))
    await b.bodies.refresh(order, 30, Produced(b"body before"), owner="ana")
    await b.resources.fetch("/v2/orders/o1", Produced(b"resource before"), tags)
    assert a.bodies.shared is not None
    entries = a.bodies.shared.entries
    reached, answered = asyncio.Event(), asyncio.Event()
    forget_in_redis = entries.forget

    async def slow_redis(depends: Iterable[Dependency]) -> bool:
        reached.set()
        await answered.wait()
        return await forget_in_redis(depends)

    monkeypatch.setattr(entries, "forget", slow_redis)
    forgetting = asyncio.create_task(a.forgetting.forget_order("o1", "ana"))
    await reached.wait()
    # The write has not returned yet: the old copies in Redis may still be read.
    meanwhile = await a.bodies.refresh(order, 30, Produced(b"unused"), owner="ana")
    assert meanwhile == (b"body before", CacheStatus.HIT)
    assert await a.resources.fetch("/v2/orders/o1", Produced(b"unused"), tags) == (
        b"resource before"
    )
    answered.set()
    await forgetting
    assert a.bodies.fresh(order) is None
    assert "/v2/orders/o1" not in a.resources
    after = Produced(b"body after")
    assert await a.bodies.refresh(order, 30, after, owner="ana") == (
        b"body after",
        CacheStatus.MISS,
    )


@pytest.mark.anyio
async def test_bodies_expire_in_redis_and_a_stale_one_answers_a_failing_platform(
    replica: Replicas,
) -> None:
    a, b = await replica(stale=30), await replica(stale=30)
    await a.bodies.refresh(key(ORDER, "ana", "o1"), 0.2, Produced(b"short lived"), owner="ana")
    await asyncio.sleep(0.3)
    again = Produced(b"made again")
    assert await b.bodies.refresh(key(ORDER, "ana", "o1"), 0.2, again, owner="ana") == (
        b"made again",
        CacheStatus.MISS,
    )

    async def failing() -> bytes:
        raise UpstreamUnavailable("down")

    c = await replica(stale=30)
    await asyncio.sleep(0.3)
    stale = await c.bodies.refresh(key(ORDER, "ana", "o1"), 0.2, failing, owner="ana")
    assert stale == (b"made again", CacheStatus.STALE)


@pytest.mark.anyio
async def test_the_shared_copy_is_kept_locally_for_a_short_while(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    await a.bodies.refresh(key(ORDER, "ana", "o1"), 300, Produced(b"body"), owner="ana")
    await b.bodies.refresh(key(ORDER, "ana", "o1"), 300, Produced(b"unused"), owner="ana")
    entry = b.bodies._held(key(ORDER, "ana", "o1"))
    assert entry is not None
    assert entry.fresh_until - asyncio.get_running_loop().time() <= LOCAL_TTL_S + 0.5


# Platform resources


@pytest.mark.anyio
async def test_a_resource_fetched_by_one_replica_is_read_by_the_other(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o1"), customer_tag("ana"))
    fetched, again = Produced(b'{"order":"o1"}'), Produced(b"unused")
    assert await a.resources.fetch("/v2/orders/o1", fetched, tags) == b'{"order":"o1"}'
    assert await b.resources.fetch("/v2/orders/o1", again, tags) == b'{"order":"o1"}'
    assert (fetched.calls, again.calls) == (1, 0)


@pytest.mark.anyio
async def test_a_forgotten_resource_is_fetched_again_by_every_replica(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o1"), customer_tag("ana"))
    await a.resources.fetch("/v2/orders/o1", Produced(b"before"), tags)
    await a.resources.fetch("/v2/customers/ana", Produced(b"ana"), (customer_tag("ana"),))
    await b.forgetting.forget_order("o1", None)
    await told(lambda: a.resources.get("/v2/orders/o1") is None)
    after = Produced(b"after")
    assert await a.resources.fetch("/v2/orders/o1", after, tags) == b"after"
    # Without its customer, every resource with no order tag may show the order.
    customer = Produced(b"ana again")
    assert await a.resources.fetch("/v2/customers/ana", customer, (customer_tag("ana"),)) == (
        b"ana again"
    )


@pytest.mark.anyio
async def test_concurrent_misses_on_two_replicas_fetch_once(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o1"),)
    slow = Produced(b"once", release=asyncio.Event())
    other = Produced(b"twice")
    first = [asyncio.create_task(a.resources.fetch("/v2/orders/o1", slow, tags)) for _ in range(5)]
    await slow.started.wait()
    second = [
        asyncio.create_task(b.resources.fetch("/v2/orders/o1", other, tags)) for _ in range(5)
    ]
    await asyncio.sleep(0.1)
    assert slow.release is not None
    slow.release.set()
    assert set(await asyncio.gather(*first, *second)) == {b"once"}
    assert (slow.calls, other.calls) == (1, 0)
    assert b.resources.shared is not None and b.resources.shared.stats.waits == 1


@pytest.mark.anyio
async def test_a_fetch_forgotten_while_another_replica_waits_for_it_is_not_shared(
    replica: Replicas,
) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o1"),)
    slow = Produced(b"before", release=asyncio.Event())
    first = asyncio.create_task(a.resources.fetch("/v2/orders/o1", slow, tags))
    await slow.started.wait()
    await b.forgetting.forget_order("o1", "ana")
    assert slow.release is not None
    slow.release.set()
    assert await first == b"before"
    after = Produced(b"after")
    assert await b.resources.fetch("/v2/orders/o1", after, tags) == b"after"


# Redis unreachable


@pytest.mark.anyio
async def test_without_redis_both_tiers_answer_as_one_process(
    replica: Replicas, tmp_path: Path
) -> None:
    require_redis_server()
    server = RedisServer(tmp_path)
    server.start()
    a = await replica(server.url)
    server.stop()
    made = Produced(b"made here")
    assert await a.bodies.refresh(key(ORDER, "ana", "o1"), 30, made, owner="ana") == (
        b"made here",
        CacheStatus.MISS,
    )
    assert await a.resources.fetch("/v2/orders/o1", Produced(b"fetched"), [order_tag("o1")]) == (
        b"fetched"
    )
    await a.forgetting.forget_customer("ana")  # nothing to tell anyone: no error either
    assert a.state.unheard.any
    assert not a.state.reachable


@pytest.mark.anyio
async def test_when_the_fetching_replica_fails_a_waiting_one_fetches(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o1"),)
    started, release = asyncio.Event(), asyncio.Event()

    async def failing() -> bytes:
        started.set()
        await release.wait()
        raise UpstreamUnavailable("down")

    first = asyncio.create_task(a.resources.fetch("/v2/orders/o1", failing, tags))
    await started.wait()
    fetched = Produced(b"fetched by b")
    second = asyncio.create_task(b.resources.fetch("/v2/orders/o1", fetched, tags))
    await asyncio.sleep(0.1)
    assert fetched.calls == 0  # waiting for a
    release.set()
    with pytest.raises(UpstreamUnavailable):
        await first
    assert await second == b"fetched by b"
    assert b.resources.shared is not None
    assert (b.resources.shared.stats.waits, b.resources.shared.stats.fallbacks) == (1, 0)


@pytest.mark.anyio
async def test_a_waiting_replica_gives_up_on_a_hung_one_within_its_deadline(
    replica: Replicas,
) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o1"),)
    hung = Produced(b"never", release=asyncio.Event())
    stuck = asyncio.create_task(a.resources.fetch("/v2/orders/o1", hung, tags))
    await hung.started.wait()
    fetched = Produced(b"fetched by b")
    started = asyncio.get_running_loop().time()
    async with within(1.0):
        assert await b.resources.fetch("/v2/orders/o1", fetched, tags) == b"fetched by b"
    assert asyncio.get_running_loop().time() - started < 0.8  # half the deadline, then b's call
    assert b.resources.shared is not None and b.resources.shared.stats.fallbacks == 1
    assert hung.release is not None
    hung.release.set()
    assert await stuck == b"never"


@pytest.mark.anyio
async def test_a_replica_that_forgot_what_redis_missed_reads_nothing_from_redis(
    replica: Replicas,
) -> None:
    a, b = await replica(), await replica()
    tags = (order_tag("o3"), customer_tag("bob"))
    await a.bodies.refresh(key(ORDER, "bob", "o3"), 30, Produced(b"bob's"), owner="bob")
    await a.resources.fetch("/v2/orders/o3", Produced(b"o3"), tags)
    b.state.unheard.miss()  # as after forgetting "ana" while Redis stalled
    made = Produced(b"bob's made here")
    found = await b.bodies.refresh(key(ORDER, "bob", "o3"), 30, made, owner="bob")
    assert found == (b"bob's made here", CacheStatus.MISS)
    assert await b.resources.fetch("/v2/orders/o3", Produced(b"o3 here"), tags) == b"o3 here"


@pytest.mark.anyio
async def test_a_forget_redis_missed_makes_everything_old_everywhere_once_it_answers(
    replica: Replicas, tmp_path: Path
) -> None:
    require_redis_server()
    with RedisServer(tmp_path) as server:
        a, b = await replica(server.url), await replica(server.url)
        bobs = key(ORDER, "bob", "o3")
        await a.bodies.refresh(bobs, 30, Produced(b"bob's"), owner="bob")
        with redis.Redis.from_url(server.url) as admin:
            admin.execute_command("CLIENT", "PAUSE", "500", "ALL")
        await b.forgetting.forget_customer("ana")  # the pub/sub connections stay up
        assert b.state.unheard.any
        await told(lambda: not b.state.unheard.any, within_s=5)
        await told(lambda: a.bodies.fresh(bobs) is None)  # told to drop everything
        made = Produced(b"bob's again")
        assert await a.bodies.refresh(bobs, 30, made, owner="bob") == (
            b"bob's again",
            CacheStatus.MISS,
        )
        unused = Produced(b"unused")
        assert await b.bodies.refresh(bobs, 30, unused, owner="bob") == (
            b"bob's again",
            CacheStatus.HIT,
        )
