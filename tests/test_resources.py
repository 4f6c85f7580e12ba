"""The platform-resource cache: kept for a lifetime, bounded, shared, forgotten by tag."""

from __future__ import annotations

import asyncio

import pytest

from adapters.deadline import remaining, request_given, within
from adapters.resources import ResourceCache, customer_tag, order_tag
from tests.conftest import ManualClock


class Loader:
    """A platform stand-in that counts its calls; `gate` holds them until set."""

    def __init__(self, body: bytes = b'{"data": {}}') -> None:
        self.body = body
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> bytes:
        self.calls += 1
        await self.gate.wait()
        return self.body


def cache(clock: ManualClock | None = None, **bounds: int) -> ResourceCache:
    return ResourceCache(ttl_s=30.0, clock=clock or ManualClock(0.0), **bounds)


@pytest.mark.anyio
async def test_a_resource_is_fetched_once_within_its_lifetime_then_again() -> None:
    clock = ManualClock(0.0)
    resources, load = cache(clock), Loader()
    assert await resources.fetch("/v2/orders/1", load) == load.body
    assert await resources.fetch("/v2/orders/1", load) == load.body
    assert load.calls == 1
    clock.advance(30.0)
    await resources.fetch("/v2/orders/1", load)
    assert load.calls == 2
    assert (resources.stats.hits, resources.stats.misses) == (1, 2)


@pytest.mark.anyio
async def test_concurrent_fetches_of_one_resource_make_one_call() -> None:
    resources, load = cache(), Loader()
    load.gate.clear()
    waiting = [asyncio.create_task(resources.fetch("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    load.gate.set()
    assert await asyncio.gather(*waiting) == [load.body] * 5
    assert load.calls == 1


@pytest.mark.anyio
async def test_a_caller_going_away_does_not_cancel_the_shared_fetch() -> None:
    resources, load = cache(), Loader()
    load.gate.clear()
    first = asyncio.create_task(resources.fetch("k", load))
    second = asyncio.create_task(resources.fetch("k", load))
    await asyncio.sleep(0)
    first.cancel()
    load.gate.set()
    assert await second == load.body
    assert first.cancelled() and load.calls == 1
    assert resources.get("k") == load.body


@pytest.mark.anyio
async def test_a_failed_fetch_reaches_every_caller_and_keeps_nothing() -> None:
    resources = cache()
    calls = 0

    async def failing() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise TimeoutError

    results = await asyncio.gather(
        resources.fetch("k", failing), resources.fetch("k", failing), return_exceptions=True
    )
    assert all(isinstance(result, TimeoutError) for result in results)
    assert calls == 1 and len(resources) == 0


@pytest.mark.anyio
async def test_forgetting_a_tag_drops_every_resource_it_names_and_no_other() -> None:
    resources, load = cache(), Loader()
    await resources.fetch("/orders/1", load, [order_tag("1"), customer_tag("ana")])
    await resources.fetch("/orders/1/items", load, [order_tag("1"), customer_tag("ana")])
    await resources.fetch("/orders/2", load, [order_tag("2"), customer_tag("ana")])
    await resources.fetch("/orders/3", load, [order_tag("3"), customer_tag("bo")])
    assert resources.forget(order_tag("1")) == 2
    assert resources.get("/orders/1") is None and resources.get("/orders/1/items") is None
    assert resources.get("/orders/2") is not None
    assert resources.forget(customer_tag("ana")) == 1
    assert resources.get("/orders/3") is not None and len(resources) == 1


@pytest.mark.anyio
async def test_a_fetch_under_way_while_its_order_is_forgotten_is_answered_but_not_kept() -> None:
    resources, load = cache(), Loader()
    load.gate.clear()
    fetching = asyncio.create_task(resources.fetch("/orders/1", load, [order_tag("1")]))
    await asyncio.sleep(0)
    resources.forget(order_tag("1"))  # a write or a webhook, while the old body is on its way
    load.gate.set()
    assert await fetching == load.body
    assert resources.get("/orders/1") is None


@pytest.mark.anyio
async def test_a_fetch_from_before_a_forget_is_not_shared_with_later_callers() -> None:
    """A read made after a write must not get the body fetched before it."""
    resources = cache()
    before, after = Loader(b'{"status": "open"}'), Loader(b'{"status": "cancelled"}')
    before.gate.clear()
    fetching = asyncio.create_task(resources.fetch("/orders/1", before, [order_tag("1")]))
    await asyncio.sleep(0)
    resources.forget(order_tag("1"))
    later = asyncio.create_task(resources.fetch("/orders/1", after, [order_tag("1")]))
    await asyncio.sleep(0)
    assert after.calls == 1  # not waiting on the fetch from before the write
    assert await later == after.body
    before.gate.set()
    assert await fetching == before.body
    assert (before.calls, after.calls) == (1, 1)
    assert resources.get("/orders/1") == after.body


@pytest.mark.anyio
async def test_callers_naming_other_tags_share_one_fetch_that_a_forget_of_any_drops() -> None:
    """Another customer's request for the same order shares the owner's fetch; forgetting
    the tag only the later caller named still keeps the fetch from being shared on."""
    resources = cache()
    before, after = Loader(b'{"status": "open"}'), Loader(b'{"status": "cancelled"}')
    before.gate.clear()
    owners = asyncio.create_task(resources.fetch("/orders/1", before, [customer_tag("ana")]))
    await asyncio.sleep(0)
    others = asyncio.create_task(resources.fetch("/orders/1", before, [customer_tag("bo")]))
    await asyncio.sleep(0)
    assert before.calls == 1
    resources.forget(customer_tag("bo"))
    later = await resources.fetch("/orders/1", after, [customer_tag("ana")])
    before.gate.set()
    assert list(await asyncio.gather(owners, others)) == [before.body] * 2
    assert (before.calls, after.calls, later) == (1, 1, after.body)
    assert resources.get("/orders/1") == after.body
    assert len(resources._fetch_tags) == 0  # nothing left of the fetches once they ended


@pytest.mark.anyio
async def test_entries_and_bytes_are_bounded_least_recently_used_first() -> None:
    resources = cache(max_entries=2)
    for key in ("a", "b"):
        await resources.fetch(key, Loader())
    resources.get("a")
    await resources.fetch("c", Loader())
    assert resources.get("b") is None and resources.get("a") is not None
    assert resources.stats.evictions == 1

    small = cache(max_bytes=3000)
    for key in ("a", "b", "c"):
        await small.fetch(key, Loader(b"x" * 1000))
    assert small.held_bytes <= 3000 and len(small) < 3
    small.put("huge", b"x" * 5000)
    assert small.get("huge") is None


@pytest.mark.anyio
async def test_a_lifetime_of_zero_keeps_nothing() -> None:
    resources = ResourceCache(ttl_s=0.0, clock=ManualClock(0.0))
    load = Loader()
    await resources.fetch("k", load)
    await resources.fetch("k", load)
    assert load.calls == 2 and len(resources) == 0


def test_forgetting_everything_empties_the_cache_and_its_weight() -> None:
    resources = cache()
    resources.put("a", b"x", [order_tag("1")])
    resources.forget_all()
    assert len(resources) == 0 and resources.held_bytes == 0
    assert resources.forget(order_tag("1")) == 0


def test_a_resource_put_from_an_answer_fetched_before_a_forget_is_not_kept() -> None:
    resources = cache()
    since = resources.generation  # a list is fetched from here on
    resources.forget(order_tag("1"))  # a write or a webhook while the list was on its way
    resources.put("/orders/1", b"{}", [order_tag("1")], since=since)
    assert resources.get("/orders/1") is None
    resources.put("/orders/1", b"{}", [order_tag("1")], since=resources.generation)
    assert resources.get("/orders/1") == b"{}"


@pytest.mark.anyio
async def test_forgetting_other_customers_leaves_a_fetch_under_way_shared_and_kept() -> None:
    """A failed request forgets its own customer's resources; another customer's fetch
    goes on as one load, shared by every caller, and is kept."""
    resources, load = cache(), Loader()
    load.gate.clear()
    callers = []
    for other in range(5):
        key, tags = "/customers/ana", [customer_tag("ana")]
        callers.append(asyncio.create_task(resources.fetch(key, load, tags)))
        await asyncio.sleep(0)
        resources.forget(customer_tag(f"missing-{other}"))
        resources.forget(order_tag(f"missing-{other}"))
    load.gate.set()
    assert await asyncio.gather(*callers) == [load.body] * 5
    assert load.calls == 1
    assert resources.get("/customers/ana") == load.body


def test_a_resource_put_from_an_answer_is_kept_when_only_something_else_was_forgotten() -> None:
    resources = cache()
    since = resources.generation  # a list of ana's orders is fetched from here on
    resources.forget(customer_tag("bo"))  # a request for another customer failed
    resources.forget(order_tag("2"))
    resources.put("/orders/1", b"{}", [order_tag("1"), customer_tag("ana")], since=since)
    assert resources.get("/orders/1") == b"{}"


def test_forgetting_everything_or_what_an_order_lacks_refuses_every_put_from_before() -> None:
    resources = cache()
    since = resources.generation
    resources.forget_untagged("order")
    resources.put("/orders/1", b"{}", [order_tag("1")], since=since)
    assert resources.get("/orders/1") is None
    since = resources.generation
    resources.forget_all()
    resources.put("/orders/1", b"{}", [order_tag("1")], since=since)
    assert resources.get("/orders/1") is None


def test_past_the_forgets_it_remembers_a_put_from_before_them_is_refused() -> None:
    """Tags forgotten come from requests (ids): only the most recent are remembered one
    by one, and a put older than the ones given up is refused, never kept stale."""
    resources = ResourceCache(ttl_s=30.0, clock=ManualClock(0.0), forgets_remembered=2)
    since = resources.generation
    resources.forget(customer_tag("bo"))
    resources.forget(customer_tag("cy"))
    resources.put("/customers/ana", b"{}", [customer_tag("ana")], since=since)
    assert resources.get("/customers/ana") == b"{}"
    resources.forget(customer_tag("di"))  # "bo" is no longer told apart from "ana"
    resources.put("/customers/ana/addresses", b"[]", [customer_tag("ana")], since=since)
    assert resources.get("/customers/ana/addresses") is None
    since = resources.generation
    resources.put("/customers/ana/addresses", b"[]", [customer_tag("ana")], since=since)
    assert resources.get("/customers/ana/addresses") == b"[]"


@pytest.mark.anyio
async def test_a_forget_drops_a_late_callers_fresh_fetch_from_sharing() -> None:
    """The first fetch hangs until its deadline; a caller that joined it late starts a
    fresh one (SharedTasks.run). A forget meanwhile must keep a later reader off it."""
    resources = cache()
    version = 1
    loads: list[int] = []

    async def load() -> bytes:
        loads.append(version)
        if len(loads) == 1:  # the platform hangs: the fetch's own deadline cuts it
            await asyncio.sleep(remaining() or 0.0)
            raise TimeoutError
        seen = version
        await asyncio.sleep(0.3)
        return b"v%d" % seen

    async def request(seconds: float) -> bytes | None:
        with request_given(seconds):
            try:
                async with within(seconds):
                    return await resources.fetch("/orders/1", load, [order_tag("1")])
            except TimeoutError:
                return None

    first = asyncio.create_task(request(0.5))
    await asyncio.sleep(0.2)
    late = asyncio.create_task(request(0.5))  # outlasts the first fetch: a fresh one
    await asyncio.sleep(0.35)
    assert len(loads) == 2
    version = 2  # a write changed the order, and forgot it
    resources.forget(order_tag("1"))
    after = await request(1.0)
    await asyncio.gather(first, late)
    await asyncio.sleep(0.35)  # the fresh fetch ends too

    assert after == b"v2"
    assert len(resources._fetch_tags) == 0
