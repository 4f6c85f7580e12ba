"""Walking every page of an adapter's shipments or products with the resume it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from adapters.base import Adapter, ProductPage, ProductSearch, ShipmentListRequest, ShipmentPage

MAX_PAGES = 100


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
