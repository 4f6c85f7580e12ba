"""Platform calls per route (SPEC §9) for Elastic Path, BigCommerce and Adobe CPAPI, over
real HTTP on 127.0.0.1: which calls go out together, and which a route spares because
another one of the agent's session fetched the resource already.

Each emulator is served behind `Timed`, which can hold every API call for a fixed time
and notes when each one started and ended: overlapping spans are calls made together.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from copy import deepcopy
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from adapters.base import HTTPAdapter, OrderListRequest, ProductSearch, ShipmentListRequest
from adapters.bigcommerce import BigCommerceAdapter
from adapters.breaker import BreakerState
from adapters.deadline import within
from adapters.elasticpath import ElasticPathAdapter
from adapters.errors import NotFound, UpstreamError
from adapters.resources import ResourceCache, customer_tag
from bench.session import adobe_adapter, agent_session, elasticpath_adapter
from tests.conftest import FAST
from tests.emulators import adobe_fixtures as adobe_fx
from tests.emulators import bigcommerce_fixtures as bc_fx
from tests.emulators import elasticpath_fixtures as ep_fx
from tests.emulators.adobe_cpapi import TOKEN_PATH, CPAPIEmulator
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.emulators.elasticpath import GRANT_PATH, ElasticPathEmulator
from tests.platform_settings import adobe_settings, bigcommerce_settings, elasticpath_settings
from tests.servers import serve
from tests.test_bigcommerce_shelf import MANY as BC_MANY
from tests.test_bigcommerce_shelf import many_parcels_store as bc_many_parcels_store
from tests.test_elasticpath_shelf import MANY as EP_MANY
from tests.test_elasticpath_shelf import many_parcels_store as ep_many_parcels_store

pytestmark = pytest.mark.anyio
T = TypeVar("T")

DELAY_S = 0.2
"""What each held API call waits: long enough that two rounds cannot pass for one."""

EP_STORE = ep_fx.default_store()
BC_STORE = bc_fx.default_store()


@dataclass(frozen=True)
class Call:
    path: str
    query: str
    start: float
    end: float

    @property
    def resource(self) -> tuple[str, str]:
        return (self.path, self.query)


class Timed:
    """An emulator's app whose API calls (not token grants) wait `delay` seconds, and those
    of a path in `slower` that much longer, and are noted with when they started and ended."""

    def __init__(self, app: ASGIApp, *, token_path: str) -> None:
        self.app = app
        self.token_path = token_path
        self.delay = 0.0
        self.slower: dict[str, float] = {}
        self.calls: list[Call] = []
        self.under_way = threading.Event()
        """Set once an API call has come in (the server runs on a thread of its own)."""

    def reset(self) -> None:
        self.delay = 0.0
        self.slower = {}
        self.calls = []
        self.under_way = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == self.token_path:
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        self.under_way.set()
        delay = self.delay + self.slower.get(scope["path"], 0.0)
        if delay:
            await asyncio.sleep(delay)
        await self.app(scope, receive, send)
        query = scope["query_string"].decode("latin-1")
        self.calls.append(Call(scope["path"], query, start, time.monotonic()))

    def repeated(self) -> dict[tuple[str, str], int]:
        """The resources asked for more than once, and how often."""
        counts = Counter(call.resource for call in self.calls)
        return {resource: count for resource, count in counts.items() if count > 1}


def overlap(first: Call, second: Call) -> bool:
    return first.start < second.end and second.start < first.end


def rounds(calls: list[Call]) -> list[list[str]]:
    """The calls' paths round by round: a call that overlaps every call of the round under
    way joins it, any other begins the next round."""
    grouped: list[list[Call]] = []
    for call in sorted(calls, key=lambda call: call.start):
        if grouped and all(overlap(call, other) for other in grouped[-1]):
            grouped[-1].append(call)
        else:
            grouped.append([call])
    return [sorted(call.path.removeprefix(BC_STORE_PATH) for call in group) for group in grouped]


BC_STORE_PATH = f"/stores/{bc_fx.STORE_HASH}"
"""What every BigCommerce API path starts with: left out of `rounds`."""


@dataclass
class Served:
    emulator: Any
    timed: Timed
    url: str


@pytest.fixture(scope="module")
def ep_served() -> Iterator[Served]:
    emulator = ElasticPathEmulator(EP_STORE)
    timed = Timed(emulator.app, token_path=GRANT_PATH)
    with serve(timed) as url:
        yield Served(emulator, timed, url)


@pytest.fixture(scope="module")
def bc_served() -> Iterator[Served]:
    emulator = BigCommerceEmulator(BC_STORE)
    timed = Timed(emulator.app, token_path="")
    with serve(timed) as url:
        yield Served(emulator, timed, url)


def ep_shelf_store() -> ep_fx.Store:
    """A customer with many shipping groups, and a catalog of parent products only."""
    store = ep_many_parcels_store()
    store.shelf = ep_fx.Shelf()
    for n in range(PARENTS):
        parent = ep_fx.uid(f"product:parent-{n}")
        store.shelf.add_product(
            parent, f"Parent {n}", f"P-{n}", 1000, kind="parent", variations=(("Size", ("M",)),)
        )
        store.shelf.add_product(
            ep_fx.uid(f"product:parent-{n}-M"),
            f"Parent {n}",
            f"P-{n}-M",
            1000,
            kind="child",
            stock=1,
            choices=(("Size", "M"),),
            parent=parent,
        )
    return store


PARENTS = 6


@pytest.fixture(scope="module")
def ep_shelf_served() -> Iterator[Served]:
    emulator = ElasticPathEmulator(ep_shelf_store())
    timed = Timed(emulator.app, token_path=GRANT_PATH)
    with serve(timed) as url:
        yield Served(emulator, timed, url)


@pytest.fixture(scope="module")
def bc_shelf_served() -> Iterator[Served]:
    emulator = BigCommerceEmulator(bc_many_parcels_store())
    timed = Timed(emulator.app, token_path="")
    with serve(timed) as url:
        yield Served(emulator, timed, url)


@pytest.fixture(scope="module")
def adobe_served() -> Iterator[Served]:
    emulator = CPAPIEmulator()
    timed = Timed(emulator.app, token_path=TOKEN_PATH)
    with serve(timed) as url:
        yield Served(emulator, timed, url)


def reset(served: Served) -> Served:
    served.emulator.reset()
    served.timed.reset()
    return served


async def opened_elasticpath(served: Served) -> ElasticPathAdapter:
    adapter = elasticpath_adapter(served.url)
    await adapter.open()
    return adapter


async def opened_bigcommerce(served: Served) -> BigCommerceAdapter:
    settings = bigcommerce_settings(served.url)
    adapter = BigCommerceAdapter(settings, http=FAST)
    await adapter.open()
    return adapter


async def opened_adobe(served: Served) -> AdobeCPAPIAdapter:
    adapter = adobe_adapter(served.emulator, served.url)
    await adapter.open()
    await adapter.authenticate()  # the IMS token is not what these tests count
    return adapter


Opener = Callable[[Served], Awaitable[Any]]


@asynccontextmanager
async def adapter_on(served: Served, opened: Opener) -> AsyncIterator[tuple[Any, Timed]]:
    """An adapter opened on `served`, reset, and its timings; closed on exit."""
    adapter = await opened(reset(served))
    try:
        yield adapter, served.timed
    finally:
        await adapter.close()


@pytest.fixture
async def elasticpath(ep_served: Served) -> AsyncIterator[tuple[ElasticPathAdapter, Timed]]:
    async with adapter_on(ep_served, opened_elasticpath) as opened:
        yield opened


@pytest.fixture
async def bigcommerce(bc_served: Served) -> AsyncIterator[tuple[BigCommerceAdapter, Timed]]:
    async with adapter_on(bc_served, opened_bigcommerce) as opened:
        yield opened


@pytest.fixture
async def adobe(adobe_served: Served) -> AsyncIterator[tuple[AdobeCPAPIAdapter, Timed]]:
    async with adapter_on(adobe_served, opened_adobe) as opened:
        yield opened


@pytest.fixture
async def any_platform(
    request: pytest.FixtureRequest, ep_served: Served, bc_served: Served, adobe_served: Served
) -> AsyncIterator[tuple[HTTPAdapter, Timed]]:
    """The adapter of the platform the test is parametrized with (`request.param`)."""
    served, opened = {
        "elasticpath": (ep_served, opened_elasticpath),
        "bigcommerce": (bc_served, opened_bigcommerce),
        "adobe": (adobe_served, opened_adobe),
    }[request.param]
    async with adapter_on(served, opened) as pair:
        yield pair


def cold_cache() -> ResourceCache:
    return ResourceCache(ttl_s=30)


SESSIONS = [
    ("elasticpath", ep_fx.MARIA),
    ("bigcommerce", bc_fx.ANA),
    ("adobe", adobe_fx.LARKSPUR),
    ("adobe", adobe_fx.BUSY),
]


@pytest.mark.parametrize(("any_platform", "customer_id"), SESSIONS, indirect=["any_platform"])
async def test_an_agent_session_fetches_each_resource_once(
    any_platform: tuple[HTTPAdapter, Timed], customer_id: str
) -> None:
    adapter, timed = any_platform
    uncached = await agent_session(adapter, customer_id)
    without_cache = len(timed.calls)
    assert timed.repeated()  # without resources the routes do ask again
    timed.reset()

    adapter.resources = cold_cache()
    answers = await agent_session(adapter, customer_id)

    assert answers == uncached
    assert len(answers[2].orders) >= 2
    assert timed.repeated() == {}
    assert len(timed.calls) < without_cache


# Elastic Path: an order, its lines and its shipping groups in one round


async def test_elasticpath_order_detail_is_one_round(
    elasticpath: tuple[ElasticPathAdapter, Timed],
) -> None:
    adapter, timed = elasticpath
    await adapter.list_orders(OrderListRequest(customer_id=ep_fx.MARIA, limit=5))
    timed.reset()
    timed.delay = DELAY_S

    started = time.monotonic()
    order = await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)
    elapsed = time.monotonic() - started

    assert order.items and order.items[0].deliveries  # the shipping group was read
    path = f"/v2/orders/{ep_fx.ORDER_COMPLETE}"
    detail, groups = sorted(timed.calls, key=lambda call: call.path)
    assert (detail.path, detail.query) == (path, "include=items")
    assert groups.path == f"{path}/shipping-groups"
    assert overlap(detail, groups)
    assert elapsed < 2 * DELAY_S


async def test_elasticpath_first_order_of_a_store_learns_its_shipping_groups(
    elasticpath: tuple[ElasticPathAdapter, Timed],
) -> None:
    adapter, timed = elasticpath
    await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_CANCELLED)  # no shipping group
    await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)  # names one: a second round
    first = [call.path for call in timed.calls]
    timed.reset()
    timed.delay = DELAY_S
    await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_FULFILLED)

    cancelled, complete = (
        f"/v2/orders/{order}" for order in (ep_fx.ORDER_CANCELLED, ep_fx.ORDER_COMPLETE)
    )
    assert first == [cancelled, complete, f"{complete}/shipping-groups"]
    detail, groups = sorted(timed.calls, key=lambda call: call.path)
    assert overlap(detail, groups)


async def test_elasticpath_failing_one_round_order_detail_counts_one_breaker_failure(
    ep_served: Served,
) -> None:
    """Order and shipping groups fail together, the groups first: the breaker counts the
    order's failure only, as when the groups are asked for after it (threshold 2: two
    would open it)."""
    timed = reset(ep_served).timed
    settings = elasticpath_settings(ep_served.url)
    adapter = ElasticPathAdapter(settings, http=replace(FAST, attempts=1, breaker_threshold=2))
    await adapter.open()
    try:
        await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)  # learns the groups
        timed.reset()
        path = f"/v2/orders/{ep_fx.ORDER_COMPLETE}"
        ep_served.emulator.fail_next(500, times=2, path=f"{path}/shipping-groups")
        ep_served.emulator.fail_next(500, times=2, path=path)
        timed.delay = DELAY_S
        timed.slower = {path: DELAY_S}

        with pytest.raises(UpstreamError):
            await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)

        detail, groups = sorted(timed.calls, key=lambda call: call.path)
        assert (detail.path, groups.path) == (path, f"{path}/shipping-groups")
        assert overlap(detail, groups)
        assert breaker_state(adapter) is BreakerState.CLOSED
        with pytest.raises(UpstreamError):
            await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)
        assert breaker_state(adapter) is BreakerState.OPEN
    finally:
        await adapter.close()


async def test_an_elasticpath_order_that_cannot_be_read_is_not_kept(
    elasticpath: tuple[ElasticPathAdapter, Timed], ep_served: Served
) -> None:
    adapter, timed = elasticpath
    adapter.resources = cold_cache()
    path = f"/v2/orders/{ep_fx.ORDER_CANCELLED}"
    stored = EP_STORE.order(ep_fx.ORDER_CANCELLED)
    assert stored is not None
    broken = {"data": {**stored, "meta": {}}}
    ep_served.emulator.fail_next(200, broken, path=path, exact=True)

    with pytest.raises(UpstreamError):
        await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_CANCELLED)
    order = await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_CANCELLED)

    assert order.id == ep_fx.ORDER_CANCELLED
    assert [c.path for c in timed.calls if c.path == path] == [path, path]


async def test_elasticpath_lines_beyond_the_included_ones_are_paged(
    elasticpath: tuple[ElasticPathAdapter, Timed], ep_served: Served
) -> None:
    adapter, timed = elasticpath
    path = f"/v2/orders/{ep_fx.ORDER_BIG}"
    short: dict[str, Any] = {"data": EP_STORE.order(ep_fx.ORDER_BIG), "included": {"items": []}}
    ep_served.emulator.fail_next(200, short, path=path)

    items = await adapter.list_items(ep_fx.OLIVIA, ep_fx.ORDER_BIG)

    assert len(items) == ep_fx.BIG_ORDER_LINES
    assert [(c.path, c.query) for c in timed.calls][1:] == [
        (f"{path}/items", "page%5Blimit%5D=100&page%5Boffset%5D=0"),
        (f"{path}/items", "page%5Blimit%5D=100&page%5Boffset%5D=100"),
    ]


async def test_elasticpath_order_kept_among_the_resources_asks_for_groups_only_it_names(
    elasticpath: tuple[ElasticPathAdapter, Timed],
) -> None:
    """A kept order costs no round, so nothing is asked for alongside it: its groups are
    read after it only when its lines name one."""
    adapter, timed = elasticpath
    adapter.resources = cold_cache()
    await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)  # the store uses groups
    for customer_id in (ep_fx.MARIA, ep_fx.SOFIA):
        await adapter.list_orders(OrderListRequest(customer_id=customer_id, limit=50))
    timed.reset()

    without_group = await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_CANCELLED)
    assert timed.calls == []
    in_groups = await adapter.get_order(ep_fx.SOFIA, ep_fx.ORDER_TWO_GROUPS)
    assert [call.path for call in timed.calls] == [
        f"/v2/orders/{ep_fx.ORDER_TWO_GROUPS}/shipping-groups"
    ]
    assert not any(item.deliveries for item in without_group.items or [])
    assert all(item.deliveries for item in in_groups.items or [])


async def test_elasticpath_most_recent_order_fills_its_detail_and_lines(
    elasticpath: tuple[ElasticPathAdapter, Timed],
) -> None:
    adapter, timed = elasticpath
    adapter.resources = cold_cache()
    newest = await adapter.most_recent_order(ep_fx.MARIA)
    calls = len(timed.calls)

    assert await adapter.get_order(ep_fx.MARIA, newest.id) == newest
    assert (await adapter.list_items(ep_fx.MARIA, newest.id)) == newest.items
    assert len(timed.calls) == calls  # neither asked the platform


# BigCommerce: the order, then its lines, destinations and shipments together


async def test_bigcommerce_order_detail_is_two_rounds(
    bigcommerce: tuple[BigCommerceAdapter, Timed],
) -> None:
    adapter, timed = bigcommerce
    timed.delay = DELAY_S

    started = time.monotonic()
    order = await adapter.get_order(bc_owner(bc_fx.ORDER_SHIPPED), bc_fx.ORDER_SHIPPED)
    elapsed = time.monotonic() - started

    assert order.items
    first, *together = timed.calls
    assert first.path.endswith(f"/v2/orders/{bc_fx.ORDER_SHIPPED}")
    assert len(together) == 3  # products, shipping addresses, shipments
    assert all(overlap(a, b) for a in together for b in together if a is not b)
    assert elapsed < 3 * DELAY_S


async def test_bigcommerce_order_detail_cut_by_the_deadline_counts_one_breaker_failure(
    bc_served: Served,
) -> None:
    """The deadline cuts the order's lines, destinations and shipments, asked for
    together: the breaker counts one failure, as when they were asked for one after
    another (threshold 2: the order failing next opens it)."""
    timed = reset(bc_served).timed
    http = replace(FAST, attempts=1, breaker_threshold=2)
    adapter = BigCommerceAdapter(bigcommerce_settings(bc_served.url), http=http)
    await adapter.open()
    order_path = f"/v2/orders/{bc_fx.ORDER_SHIPPED}"
    owner = bc_owner(bc_fx.ORDER_SHIPPED)
    held_s = 3 * DELAY_S
    timed.slower = {
        f"{BC_STORE_PATH}{order_path}/{part}": held_s
        for part in ("products", "shipping_addresses", "shipments")
    }
    try:
        with pytest.raises(TimeoutError):
            async with within(DELAY_S):
                await adapter.get_order(owner, bc_fx.ORDER_SHIPPED)

        assert breaker_state(adapter) is BreakerState.CLOSED
        bc_served.emulator.fail_next(500, path=order_path)
        with pytest.raises(UpstreamError):
            await adapter.get_order(owner, bc_fx.ORDER_SHIPPED)
        assert breaker_state(adapter) is BreakerState.OPEN
    finally:
        await adapter.close()
        await asyncio.sleep(held_s)  # the held calls end before the next test resets
        # the emulator


async def test_bigcommerce_listed_orders_spare_their_detail_call(
    bigcommerce: tuple[BigCommerceAdapter, Timed],
) -> None:
    adapter, timed = bigcommerce
    adapter.resources = cold_cache()
    page = await adapter.list_orders(OrderListRequest(customer_id=bc_fx.ANA, limit=5))
    timed.reset()

    await adapter.get_order(bc_fx.ANA, page.orders[0].id)

    assert not any(call.path.endswith(f"/v2/orders/{page.orders[0].id}") for call in timed.calls)


# Adobe: an order listed in the history costs no call of its own


async def test_adobe_order_detail_after_the_history_asks_only_for_returns(
    adobe: tuple[AdobeCPAPIAdapter, Timed],
) -> None:
    adapter, timed = adobe
    adapter.resources = cold_cache()
    newest = await adapter.most_recent_order(adobe_fx.BUSY)
    timed.reset()

    await adapter.get_order(adobe_fx.BUSY, newest.id)
    await adapter.list_items(adobe_fx.BUSY, newest.id)

    assert timed.calls == []


@pytest.mark.parametrize(("any_platform", "customer_id"), SESSIONS, indirect=["any_platform"])
async def test_orders_listed_while_their_customer_is_forgotten_are_not_kept(
    any_platform: tuple[HTTPAdapter, Timed], customer_id: str
) -> None:
    """A list that was under way while the customer's resources were forgotten may show
    its orders as they were before: none of them is kept, so the detail asks again."""
    adapter, timed = any_platform
    resources = adapter.resources = cold_cache()
    await adapter.authenticate()
    timed.delay = DELAY_S
    listing = asyncio.ensure_future(
        adapter.list_orders(OrderListRequest(customer_id=customer_id, limit=5))
    )
    assert await asyncio.to_thread(timed.under_way.wait, 5.0)  # the list reached the platform
    resources.forget(customer_tag(customer_id))
    page = await listing
    timed.reset()

    order = await adapter.get_order(customer_id, page.orders[0].id)

    assert [call for call in timed.calls if call.path.endswith(f"/orders/{order.id}")]


# Isolation: ownership is checked on every resource, cached or not


def bc_owner(order_id: str) -> str:
    found = BC_STORE.order(order_id)
    assert found is not None
    return str(found["customer_id"])


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
async def test_elasticpath_order_of_another_customer_is_never_served(
    elasticpath: tuple[ElasticPathAdapter, Timed], cached: bool
) -> None:
    adapter, _ = elasticpath
    adapter.resources = cold_cache() if cached else None
    await adapter.list_orders(OrderListRequest(customer_id=ep_fx.MARIA, limit=5))  # groups learnt
    await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)

    with pytest.raises(NotFound):
        await adapter.get_order(ep_fx.OLIVIA, ep_fx.ORDER_COMPLETE)
    with pytest.raises(NotFound):
        await adapter.list_items(ep_fx.OLIVIA, ep_fx.ORDER_COMPLETE)
    # and a listed order of Maria's is no order of Olivia's either
    newest = await adapter.most_recent_order(ep_fx.MARIA)
    with pytest.raises(NotFound):
        await adapter.get_order(ep_fx.OLIVIA, newest.id)
    assert (await adapter.get_order(ep_fx.MARIA, ep_fx.ORDER_COMPLETE)).id == ep_fx.ORDER_COMPLETE


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
async def test_bigcommerce_order_of_another_customer_is_never_served(
    bigcommerce: tuple[BigCommerceAdapter, Timed], cached: bool
) -> None:
    adapter, _ = bigcommerce
    adapter.resources = cold_cache() if cached else None
    owner = bc_owner(bc_fx.ORDER_SHIPPED)
    other = next(c for c in (bc_fx.ANA, bc_fx.LUKAS) if c != owner)
    await adapter.get_order(owner, bc_fx.ORDER_SHIPPED)
    await adapter.list_orders(OrderListRequest(customer_id=owner, limit=5))

    with pytest.raises(NotFound):
        await adapter.get_order(other, bc_fx.ORDER_SHIPPED)
    with pytest.raises(NotFound):
        await adapter.list_items(other, bc_fx.ORDER_SHIPPED)


SHARED_ORDER = "5120008217"
"""Larkspur's order; the tests give Busy an order of the same id (CPAPI ids are per customer)."""


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
async def test_adobe_an_order_id_two_customers_share_answers_each_their_own(
    adobe: tuple[AdobeCPAPIAdapter, Timed], adobe_served: Served, cached: bool
) -> None:
    adapter, timed = adobe
    adapter.resources = cold_cache() if cached else None
    theirs = deepcopy(adobe_served.emulator.fixtures.order(SHARED_ORDER))
    theirs.update(customerId=adobe_fx.BUSY, externalReferenceId="PO-BUSY-1")
    adobe_served.emulator.fixtures.orders[adobe_fx.BUSY].append(theirs)

    larkspur = await adapter.get_order(adobe_fx.LARKSPUR, SHARED_ORDER)
    busy = await adapter.get_order(adobe_fx.BUSY, SHARED_ORDER)
    again = await adapter.get_order(adobe_fx.LARKSPUR, SHARED_ORDER)

    assert (larkspur.custom_fields or {})["external_reference_id"] == "PO-88413"
    assert (busy.custom_fields or {})["external_reference_id"] == "PO-BUSY-1"
    assert again == larkspur
    asked = {call.path for call in timed.calls if call.path.endswith(f"/orders/{SHARED_ORDER}")}
    assert asked == {
        f"/v3/customers/{adobe_fx.LARKSPUR}/orders/{SHARED_ORDER}",
        f"/v3/customers/{adobe_fx.BUSY}/orders/{SHARED_ORDER}",
    }


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
async def test_adobe_order_whose_body_names_another_customer_is_never_served(
    adobe: tuple[AdobeCPAPIAdapter, Timed], adobe_served: Served, cached: bool
) -> None:
    adapter, _ = adobe
    adapter.resources = cold_cache() if cached else None
    # CPAPI answers, in Busy's history, an order that names Larkspur
    adobe_served.emulator.fixtures.orders[adobe_fx.BUSY].append(
        deepcopy(adobe_served.emulator.fixtures.order(SHARED_ORDER))
    )
    await adapter.list_orders(OrderListRequest(customer_id=adobe_fx.BUSY, limit=100))

    with pytest.raises(NotFound):
        await adapter.get_order(adobe_fx.BUSY, SHARED_ORDER)
    with pytest.raises(NotFound):
        await adapter.list_items(adobe_fx.BUSY, SHARED_ORDER)


# Calls made ahead of need: Adobe R3's returns beside the order, EP R1's addresses beside
# the customer. One round; the call ahead counts, and is kept, only once it is used.

UNKNOWN_CUSTOMER = "00000000-0000-4000-8000-00000000dead"


def ep_customer_paths(customer_id: str) -> tuple[str, str]:
    path = f"/v2/customers/{customer_id}"
    return path, f"{path}/addresses"


def adobe_order_paths(customer_id: str, order_id: str) -> tuple[str, str]:
    history = f"/v3/customers/{customer_id}/orders"
    return f"{history}/{order_id}", history


def breaker_state(adapter: HTTPAdapter) -> BreakerState:
    """The breaker's state read afresh: a call in between may have changed it."""
    return adapter._http.breaker.state


@asynccontextmanager
async def strict_adapter(
    served: Served, platform: str, *, threshold: int
) -> AsyncIterator[HTTPAdapter]:
    """An adapter whose breaker opens after `threshold` failures of one attempt each."""
    http = replace(FAST, attempts=1, breaker_threshold=threshold)
    reset(served)
    if platform == "elasticpath":
        settings: Any = elasticpath_settings(served.url)
        adapter: HTTPAdapter = ElasticPathAdapter(settings, http=http)
    else:
        adapter = AdobeCPAPIAdapter(adobe_settings(served.emulator, served.url), http=http)
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


async def held(timed: Timed, read: Awaitable[T]) -> tuple[T, float]:
    """`read`'s answer with every API call held `DELAY_S`, and how long it took."""
    timed.delay = DELAY_S
    started = time.monotonic()
    answer = await read
    return answer, time.monotonic() - started


def one_round(timed: Timed, first: str, ahead: str) -> tuple[Call, Call]:
    """The two calls, by path, after checking they went out together."""
    by_path = {call.path: call for call in timed.calls}
    assert sorted(by_path) == sorted([first, ahead])
    assert len(timed.calls) == 2
    assert overlap(by_path[first], by_path[ahead])
    return by_path[first], by_path[ahead]


async def test_elasticpath_customer_and_addresses_are_one_round(
    elasticpath: tuple[ElasticPathAdapter, Timed],
) -> None:
    adapter, timed = elasticpath
    customer, elapsed = await held(timed, adapter.get_customer(ep_fx.MARIA))

    assert customer.id == ep_fx.MARIA and customer.shipping_addresses
    one_round(timed, *ep_customer_paths(ep_fx.MARIA))
    assert elapsed < 2 * DELAY_S


async def test_adobe_order_and_its_returns_are_one_round(
    adobe: tuple[AdobeCPAPIAdapter, Timed],
) -> None:
    adapter, timed = adobe
    order, elapsed = await held(timed, adapter.get_order(adobe_fx.LARKSPUR, SHARED_ORDER))

    assert order.id == SHARED_ORDER
    order_path, history = adobe_order_paths(adobe_fx.LARKSPUR, SHARED_ORDER)
    _, returns = one_round(timed, order_path, history)
    assert f"reference-order-id={SHARED_ORDER}" in returns.query
    assert elapsed < 2 * DELAY_S


def fail_both(served: Served, platform: str) -> None:
    """Both calls of the round fail with 500, in each of two reads."""
    if platform == "elasticpath":
        served.emulator.fail_next(500, times=4)
    else:
        served.emulator.fail_next(500, "1124", times=4)


@pytest.mark.parametrize("platform", ["elasticpath", "adobe"])
async def test_failing_one_round_counts_one_breaker_failure(
    ep_served: Served, adobe_served: Served, platform: str
) -> None:
    """Both calls fail, the one made ahead first: the breaker counts the failure of the
    call waited for only, as the sequential read did (threshold 2: two would open it)."""
    served = ep_served if platform == "elasticpath" else adobe_served
    async with strict_adapter(served, platform, threshold=2) as adapter:
        if platform == "elasticpath":
            first, ahead = ep_customer_paths(ep_fx.MARIA)
            read: Callable[[], Awaitable[Any]] = partial(adapter.get_customer, ep_fx.MARIA)
        else:
            await adapter.authenticate()  # the IMS token is not what this test counts
            first, ahead = adobe_order_paths(adobe_fx.LARKSPUR, SHARED_ORDER)
            read = partial(adapter.get_order, adobe_fx.LARKSPUR, SHARED_ORDER)
        fail_both(served, platform)
        served.timed.delay = DELAY_S
        served.timed.slower = {first: DELAY_S}

        with pytest.raises(UpstreamError):
            await read()

        one_round(served.timed, first, ahead)
        assert breaker_state(adapter) is BreakerState.CLOSED
        with pytest.raises(UpstreamError):
            await read()
        assert breaker_state(adapter) is BreakerState.OPEN


@pytest.mark.parametrize("platform", ["elasticpath", "adobe"])
async def test_unknown_customer_or_order_drops_the_call_made_ahead(
    ep_served: Served, adobe_served: Served, platform: str
) -> None:
    """The call made ahead fails, and has ended before the read it was to follow is a 404:
    its failure does not count (threshold 1: it would open the breaker), nothing of it is
    kept, and the answer is the 404 of the read alone."""
    served = ep_served if platform == "elasticpath" else adobe_served
    async with strict_adapter(served, platform, threshold=1) as adapter:
        adapter.resources = cold_cache()
        if platform == "elasticpath":
            first, ahead = ep_customer_paths(UNKNOWN_CUSTOMER)
            served.emulator.fail_next(500, path=ahead)
            read: Callable[[], Awaitable[Any]] = partial(adapter.get_customer, UNKNOWN_CUSTOMER)
        else:
            await adapter.authenticate()
            # Larkspur's order, asked as Busy's: CPAPI does not know it for Busy
            first, ahead = adobe_order_paths(adobe_fx.BUSY, SHARED_ORDER)
            served.emulator.fail_next(500, "1124", path=ahead)
            read = partial(adapter.get_order, adobe_fx.BUSY, SHARED_ORDER)
        served.timed.delay = DELAY_S
        served.timed.slower = {first: DELAY_S}

        with pytest.raises(NotFound):
            await read()

        _, made_ahead = one_round(served.timed, first, ahead)
        assert made_ahead.end < time.monotonic() - DELAY_S / 2  # it ended well before the 404
        assert breaker_state(adapter) is BreakerState.CLOSED
        assert adapter.resources is not None and len(adapter.resources) == 0


KEPT_ONCE_USED = [
    ("elasticpath", "get_customer", (ep_fx.MARIA,)),
    ("adobe", "get_order", (adobe_fx.LARKSPUR, SHARED_ORDER)),
]


@pytest.mark.parametrize(
    ("any_platform", "route", "ids"), KEPT_ONCE_USED, indirect=["any_platform"]
)
async def test_a_call_made_ahead_is_kept_once_used(
    any_platform: tuple[HTTPAdapter, Timed], route: str, ids: tuple[str, ...]
) -> None:
    adapter, timed = any_platform
    adapter.resources = cold_cache()
    read = getattr(adapter, route)
    answer = await read(*ids)
    timed.reset()

    assert await read(*ids) == answer
    assert timed.calls == []


# Shipments and products: what does not depend on another call goes out with it


async def test_elasticpath_products_read_every_parents_children_in_one_round(
    ep_shelf_served: Served,
) -> None:
    async with adapter_on(ep_shelf_served, opened_elasticpath) as (adapter, timed):
        await adapter.authenticate()  # the token is not what this test counts
        timed.delay = DELAY_S
        page = await adapter.list_products(ProductSearch(limit=PARENTS))

    assert [len(product.variants) for product in page.products] == [1] * PARENTS
    catalog, children, stock = rounds(timed.calls)
    assert catalog == ["/catalog/products"]
    assert len(children) == PARENTS
    assert all(path.endswith("/relationships/children") for path in children)
    assert stock == ["/inventories/multiple"]


async def test_elasticpath_shipments_read_the_orders_shipping_groups_in_one_round(
    ep_shelf_served: Served,
) -> None:
    async with adapter_on(ep_shelf_served, opened_elasticpath) as (adapter, timed):
        await adapter.authenticate()
        timed.delay = DELAY_S
        page = await adapter.list_shipments(ShipmentListRequest(customer_id=EP_MANY, limit=10))

    assert len(page.shipments) == 10
    orders, groups = rounds(timed.calls)
    assert orders == ["/v2/orders"]
    assert len(groups) == 10
    assert all(path.endswith("/shipping-groups") for path in groups)


@pytest.mark.parametrize("limit", [10, 2])
async def test_bigcommerce_shipments_read_every_orders_shipments_and_lines_in_one_round(
    bc_shelf_served: Served, limit: int
) -> None:
    """Every order of this customer shipped a parcel: a page reads as many orders as it has
    room for shipments (at most 10), all of them together."""
    async with adapter_on(bc_shelf_served, opened_bigcommerce) as (adapter, timed):
        timed.delay = DELAY_S
        request = ShipmentListRequest(customer_id=BC_MANY, limit=limit)
        page = await adapter.list_shipments(request)

    assert len(page.shipments) == limit
    orders, per_order = rounds(timed.calls)
    assert orders == ["/v2/orders"]
    assert Counter(path.rsplit("/", 1)[1] for path in per_order) == {
        "products": limit,
        "shipments": limit,
    }


async def test_bigcommerce_products_ask_for_the_store_currency_alongside_and_keep_it(
    bigcommerce: tuple[BigCommerceAdapter, Timed],
) -> None:
    adapter, timed = bigcommerce
    adapter.resources = cold_cache()
    timed.delay = DELAY_S
    first = await adapter.list_products(ProductSearch(limit=2))
    assert first.products and first.resume is not None
    assert rounds(timed.calls) == [["/v2/store", "/v3/catalog/products"]]
    timed.reset()

    await adapter.list_products(ProductSearch(limit=2, resume=first.resume))

    assert rounds(timed.calls) == [["/v3/catalog/products"]]
