"""What forgetting an order or a customer drops from the bodies and the resources, and
what it keeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

import pytest

from adapters.resources import ResourceCache, customer_tag, order_tag
from adapters.shared_resources import ANY_ORDER
from bridge.cache import ResponseCache
from bridge.forgetting import CacheForgetting, body_dependencies
from tests.conftest import ManualClock

CUSTOMER = "/customers/{customer_id}"
ORDERS = "/customers/{customer_id}/orders"
ORDER = "/customers/{customer_id}/orders/{order_id}"
ITEMS = "/customers/{customer_id}/orders/{order_id}/items"
MOST_RECENT = "/customers/{customer_id}/most-recent-order"
SHIPMENTS = "/customers/{customer_id}/shipments"


def key(route: str, customer: str, order: str = "") -> Hashable:
    """Shaped as `ERCEndpoint.cache_key` makes them."""
    return (route, customer, order, f"/{customer}/{order}", "http://testserver", ())


BODIES = {
    "ana r1": key(CUSTOMER, "ana"),
    "ana r2": key(ORDERS, "ana"),
    "ana r3 o1": key(ORDER, "ana", "o1"),
    "ana r4 o1": key(ITEMS, "ana", "o1"),
    "ana r3 o2": key(ORDER, "ana", "o2"),
    "ana r5": key(MOST_RECENT, "ana"),
    "ana r6": key(SHIPMENTS, "ana"),
    "bob r1": key(CUSTOMER, "bob"),
    "bob r2": key(ORDERS, "bob"),
    "bob r3 o1": key(ORDER, "bob", "o1"),
    "bob r3 o3": key(ORDER, "bob", "o3"),
}


def _body(text: bytes) -> Callable[[], Awaitable[bytes]]:
    async def produce() -> bytes:
        return text

    return produce


async def filled(clock: ManualClock) -> ResponseCache:
    cache = ResponseCache(max_entries=100, stale=600, clock=clock)
    for name, body_key in BODIES.items():
        await cache.refresh(body_key, 30, _body(name.encode()), owner=name[:3])
    return cache


def held(cache: ResponseCache) -> set[str]:
    return {name for name, body_key in BODIES.items() if cache.fresh(body_key) is not None}


@pytest.mark.anyio
async def test_an_order_of_a_known_customer_drops_that_customers_bodies_only(
    clock: ManualClock,
) -> None:
    cache = await filled(clock)
    await CacheForgetting(cache, None).forget_order("o1", "ana")
    assert held(cache) == {"bob r1", "bob r2", "bob r3 o1", "bob r3 o3"}


@pytest.mark.anyio
async def test_an_order_of_an_unknown_customer_drops_its_bodies_and_every_listing(
    clock: ManualClock,
) -> None:
    cache = await filled(clock)
    await CacheForgetting(cache, None).forget_order("o1", None)
    assert held(cache) == {"ana r1", "ana r3 o2", "bob r1", "bob r3 o3"}


def test_in_redis_every_listing_of_orders_depends_on_any_order() -> None:
    """R6's key names no order either: its body may show the order an event names."""
    for route in (ORDERS, MOST_RECENT, SHIPMENTS):
        assert ANY_ORDER in body_dependencies(key(route, "ana"), "ana")
    assert ANY_ORDER not in body_dependencies(key(CUSTOMER, "ana"), "ana")


@pytest.mark.anyio
async def test_a_customer_drops_every_body_of_that_customer(clock: ManualClock) -> None:
    cache = await filled(clock)
    await CacheForgetting(cache, None).forget_customer("bob")
    assert held(cache) == {name for name in BODIES if name.startswith("ana")}


@pytest.mark.anyio
async def test_a_listing_filled_while_an_order_is_forgotten_is_not_kept(
    clock: ManualClock,
) -> None:
    cache = ResponseCache(max_entries=100, stale=600, clock=clock)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_listing() -> bytes:
        started.set()
        await release.wait()
        return b"before"

    listing = key(ORDERS, "ana")
    early = asyncio.create_task(cache.refresh(listing, 30, slow_listing, owner="ana"))
    await started.wait()
    await CacheForgetting(cache, None).forget_order("o1", None)
    release.set()
    assert (await early)[0] == b"before"
    assert cache.fresh(listing) is None


def resources_with(*entries: tuple[str, list[tuple[str, str]]]) -> ResourceCache:
    resources = ResourceCache(ttl_s=30)
    for name, tags in entries:
        resources.put(name, name.encode(), tags)
    return resources


RESOURCES = (
    ("order o1", [order_tag("o1"), customer_tag("ana")]),
    ("order o2", [order_tag("o2"), customer_tag("ana")]),
    ("ana", [customer_tag("ana")]),
    ("ana's orders", [customer_tag("ana")]),
    ("order o3", [order_tag("o3"), customer_tag("bob")]),
    ("bob", [customer_tag("bob")]),
)


def kept(resources: ResourceCache) -> set[str]:
    return {name for name, _ in RESOURCES if resources.get(name) is not None}


@pytest.mark.anyio
async def test_resources_of_an_order_of_a_known_customer(clock: ManualClock) -> None:
    resources = resources_with(*RESOURCES)
    await CacheForgetting(await filled(clock), resources).forget_order("o3", "bob")
    assert kept(resources) == {"order o1", "order o2", "ana", "ana's orders"}


@pytest.mark.anyio
async def test_resources_of_an_order_of_an_unknown_customer(clock: ManualClock) -> None:
    resources = resources_with(*RESOURCES)
    await CacheForgetting(await filled(clock), resources).forget_order("o1", None)
    # Lists are tagged with their customer only: any of them may show the order.
    assert kept(resources) == {"order o2", "order o3"}


@pytest.mark.anyio
async def test_resources_of_a_customer(clock: ManualClock) -> None:
    resources = resources_with(*RESOURCES)
    await CacheForgetting(await filled(clock), resources).forget_customer("ana")
    assert kept(resources) == {"order o3", "bob"}
