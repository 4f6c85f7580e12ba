"""One page of a customer's shipments, read order by order with a bounded number of calls.

No platform here lists shipments across orders: they hang off each order. A page reads at
most `orders_per_page` orders (newest first) and the shipments of those; the resume says
which order comes next and how many of its shipments were already served, so a page never
repeats or skips one, and a customer with thousands of orders costs no more per page. The
shipments of the orders a page reads are asked for together, not one order after another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.base import Resume, ShipmentListRequest, ShipmentPage
from adapters.tasks import together
from mappings.shelf import tracked_as
from mappings.shipments import Shipment

OrderT = TypeVar("OrderT")

OrdersFrom = Callable[[int, int], Awaitable[tuple[Sequence[OrderT], bool]]]
"""(start, count) → that slice of the customer's orders, newest first, and whether more follow."""


@dataclass(frozen=True)
class ShipmentCursor:
    order: int = 0
    """How many of the customer's orders, newest first, earlier pages finished."""
    skip: int = 0
    """How many shipments of the next order earlier pages served."""

    @classmethod
    def of(cls, resume: Resume | None) -> ShipmentCursor:
        def count(name: str) -> int:
            value = (resume or {}).get(name, 0)
            return value if isinstance(value, int) and value >= 0 else 0

        return cls(order=count("order"), skip=count("skip"))

    def resume(self) -> Resume:
        return {"order": self.order, "skip": self.skip}


async def shipments_page(
    request: ShipmentListRequest,
    *,
    order: Callable[[str], Awaitable[OrderT]],
    orders: OrdersFrom[OrderT],
    shipments_of: Callable[[OrderT], Coroutine[Any, Any, Sequence[Shipment]]],
    customer: Callable[[], Awaitable[object]],
    orders_per_page: int,
) -> ShipmentPage:
    """The page: of the order `request.order_id` names (`order(order_id)`), else of the
    customer's orders. A first page without any order awaits `customer()`, which raises
    NotFound for a customer the platform does not know. A page may hold fewer than `limit`
    shipments, even none, and still resume: the orders it was allowed to read had no more."""
    cursor = ShipmentCursor.of(request.resume)
    limit = max(request.limit, 1)
    if request.order_id is None:
        batch, more = await orders(cursor.order, orders_per_page)
        if not batch and request.resume is None:
            await customer()
    else:
        batch, more = ([await order(request.order_id)] if cursor.order == 0 else []), False
    found: list[Shipment] = []
    index = 0
    while index < len(batch):
        # The orders still to read whose shipments could all be shown go out together: as
        # many as the page has room for shipments (an order that shipped has at least one).
        wave = batch[index : index + limit - len(found)]
        for each_shipments in await together(shipments_of(each) for each in wave):
            shipments = [s for s in each_shipments if tracked_as(s, request.tracking_number)]
            start = cursor.skip if index == 0 else 0
            taken = shipments[start : start + limit - len(found)]
            found.extend(taken)
            at = cursor.order + index
            if start + len(taken) < len(shipments):
                return ShipmentPage(found, ShipmentCursor(at, start + len(taken)).resume())
            index += 1
            if len(found) >= limit:
                follows = index < len(batch) or more
                return ShipmentPage(found, ShipmentCursor(at + 1).resume() if follows else None)
    after = ShipmentCursor(cursor.order + len(batch))
    return ShipmentPage(found, after.resume() if more and batch else None)
