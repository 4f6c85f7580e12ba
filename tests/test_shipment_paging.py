"""A customer's shipments, paged order by order, across the calls an adapter makes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from adapters.base import Resume, ShipmentListRequest
from adapters.errors import NotFound
from adapters.shipment_paging import shipments_page
from mappings.shipments import Shipment, ShipmentTracking

pytestmark = pytest.mark.anyio


class Store:
    """Orders (newest first) as their shipments' ids; logs each call a page makes."""

    def __init__(self, *orders: Sequence[str], known: bool = True) -> None:
        self.orders = [list(shipments) for shipments in orders]
        self.known = known
        self.calls: list[tuple[str, object]] = []
        self.reading = 0
        self.most_read_at_once = 0

    async def order(self, order_id: str) -> int:
        self.calls.append(("order", order_id))
        return int(order_id)

    async def slice(self, start: int, count: int) -> tuple[list[int], bool]:
        self.calls.append(("orders", (start, count)))
        numbers = list(range(len(self.orders)))
        return numbers[start : start + count], start + count < len(numbers)

    async def shipments_of(self, number: int) -> list[Shipment]:
        self.calls.append(("shipments", number))
        self.reading += 1
        self.most_read_at_once = max(self.most_read_at_once, self.reading)
        await asyncio.sleep(0.001)  # a platform call
        self.reading -= 1
        return [
            Shipment(id=name, tracking_info=ShipmentTracking(tracking_number=f"T-{name}"))
            for name in self.orders[number]
        ]

    async def customer(self) -> None:
        self.calls.append(("customer", None))
        if not self.known:
            raise NotFound("no such customer")

    async def page(
        self, limit: int, resume: Resume | None = None, **filters: str
    ) -> tuple[list[str], Resume | None]:
        page = await shipments_page(
            ShipmentListRequest("c1", limit, resume=resume, **filters),
            order=self.order,
            orders=self.slice,
            shipments_of=self.shipments_of,
            customer=self.customer,
            orders_per_page=2,
        )
        return [shipment.id for shipment in page.shipments], page.resume

    async def walk(self, limit: int, **filters: str) -> list[list[str]]:
        pages = []
        resume: Resume | None = None
        while True:
            ids, resume = await self.page(limit, resume, **filters)
            pages.append(ids)
            if resume is None:
                return pages


ORDERS: tuple[list[str], ...] = (["a1", "a2", "a3"], [], ["c1"], ["d1", "d2"], ["e1"])


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
async def test_pages_hold_every_shipment_once_in_order(limit: int) -> None:
    store = Store(*ORDERS)
    pages = await store.walk(limit)
    assert [name for page in pages for name in page] == [n for o in ORDERS for n in o]
    assert all(len(page) <= limit for page in pages)


async def test_a_page_reads_no_more_orders_than_it_may() -> None:
    store = Store(*ORDERS)
    assert await store.page(10) == (["a1", "a2", "a3"], {"order": 2, "skip": 0})
    assert store.calls == [("orders", (0, 2)), ("shipments", 0), ("shipments", 1)]


async def test_the_orders_of_a_page_are_read_together() -> None:
    store = Store(*ORDERS)
    assert await store.page(10) == (["a1", "a2", "a3"], {"order": 2, "skip": 0})
    assert store.most_read_at_once == 2


async def test_no_more_orders_are_read_together_than_the_page_has_room_for() -> None:
    """Room for one shipment: the first order is read alone, and fills the page."""
    store = Store(*ORDERS)
    assert await store.page(1) == (["a1"], {"order": 0, "skip": 1})
    assert store.calls == [("orders", (0, 2)), ("shipments", 0)]


async def test_an_order_bigger_than_a_page_resumes_inside_it() -> None:
    """The rest of that order and of the orders read with it: a page is allowed two."""
    store = Store(*ORDERS)
    assert await store.page(2) == (["a1", "a2"], {"order": 0, "skip": 2})
    assert await store.page(2, {"order": 0, "skip": 2}) == (["a3"], {"order": 2, "skip": 0})


async def test_one_order_is_read_by_its_id_alone() -> None:
    store = Store(*ORDERS)
    assert await store.walk(2, order_id="3") == [["d1", "d2"]]
    assert store.calls == [("order", "3"), ("shipments", 3)]


async def test_the_tracking_number_filters_before_the_limit() -> None:
    store = Store(*ORDERS)
    pages = await store.walk(1, tracking_number=" t-D2 ")
    assert [name for page in pages for name in page] == ["d2"]


async def test_a_customer_without_orders_is_checked_once_on_the_first_page() -> None:
    store = Store()
    assert await store.page(5) == ([], None)
    assert store.calls == [("orders", (0, 2)), ("customer", None)]
    with pytest.raises(NotFound):
        await Store(known=False).page(5)


async def test_a_later_page_or_one_order_never_checks_the_customer() -> None:
    store = Store(*ORDERS, known=False)
    await store.page(5, {"order": 9, "skip": 0})
    await store.page(5, order_id="1")
    assert ("customer", None) not in store.calls
