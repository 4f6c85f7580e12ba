"""Walking every page of a customer's orders with the resume the adapter returns, as the
bridge does with its cursors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapters.base import Adapter, OrderListRequest, OrderPage
from tests.shelf import MAX_PAGES


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
