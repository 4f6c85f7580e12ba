"""Walking every page of an adapter's orders, shipments or products with the resume it
returns, as the bridge does with its cursors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from adapters.base import (
    Adapter,
    OrderListRequest,
    OrderPage,
    ProductPage,
    ProductSearch,
    ShipmentListRequest,
    ShipmentPage,
)

MAX_PAGES = 100


async def all_orders(
    adapter: Adapter, customer_id: str, limit: int, **options: Any
) -> list[OrderPage]:
    """Every page of the customer's orders, `limit` a page (`options`: the sort, the search)."""
    first = OrderListRequest(customer_id=customer_id, limit=limit, **options)
    pages = [await adapter.list_orders(first)]
    while pages[-1].resume is not None:
        assert len(pages) < MAX_PAGES, "the pages never end"
        following = replace(first, resume=pages[-1].resume)
        pages.append(await adapter.list_orders(following))
    return pages


def order_ids(pages: list[OrderPage]) -> list[str]:
    """The ids of the orders on `pages`, in the order they were listed."""
    return [order.id for page in pages for order in page.orders]


async def all_shipments(adapter: Adapter, **filters: Any) -> list[ShipmentPage]:
    pages = [await adapter.list_shipments(ShipmentListRequest(**filters))]
    while pages[-1].resume is not None:
        assert len(pages) < MAX_PAGES, "the pages never end"
        request = ShipmentListRequest(**filters, resume=pages[-1].resume)
        pages.append(await adapter.list_shipments(request))
    return pages


async def all_products(adapter: Adapter, **search: Any) -> list[ProductPage]:
    pages = [await adapter.list_products(ProductSearch(**search))]
    while pages[-1].resume is not None:
        assert len(pages) < MAX_PAGES, "the pages never end"
        pages.append(await adapter.list_products(ProductSearch(**search, resume=pages[-1].resume)))
    return pages


async def shipments_with_calls(
    adapter: Adapter, calls: Callable[[], Sequence[Any]], **filters: Any
) -> list[tuple[list[str], list[Any]]]:
    """Page by page, the shipment ids and the platform calls the page cost (`calls` reads
    the emulator's request log)."""
    found: list[tuple[list[str], list[Any]]] = []
    resume = None
    while True:
        before = len(calls())
        page = await adapter.list_shipments(ShipmentListRequest(**filters, resume=resume))
        found.append(([s.id for s in page.shipments], list(calls()[before:])))
        if page.resume is None:
            return found
        assert len(found) < MAX_PAGES, "the pages never end"
        resume = page.resume
