"""Paging over an in-memory list of orders, for adapters that must see them all."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from adapters.base import OrderListRequest, OrderPage, OrderSort, Resume
from mappings.models import Order, OrderItem

EARLIEST = datetime.min.replace(tzinfo=UTC)
"""Sorts what has no date before everything that has one."""
T = TypeVar("T")
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[Any, ...]:
    """`#A9` before `#A10`: digit runs compare as numbers. The split puts them at the odd
    places; `isdigit` would also take a superscript or circled digit, which `int` refuses."""
    return tuple(
        int(part) if place % 2 else part.casefold()
        for place, part in enumerate(_DIGITS.split(text))
    )


def matches_search(order: Order, search: str | None) -> bool:
    return not search or search.casefold() in order.order_number.casefold()


def sort_orders(orders: Iterable[Order], sort: OrderSort) -> list[Order]:
    if sort.field == "order_number":
        return sorted(
            orders, key=lambda o: (natural_key(o.order_number), o.id), reverse=sort.descending
        )
    return sorted(
        orders, key=lambda o: (o.purchase_datetime or EARLIEST, o.id), reverse=sort.descending
    )


def resume_offset(resume: Resume | None) -> int:
    """Where a page starts: the cursor's `offset`; 0 for a first page."""
    offset = (resume or {}).get("offset", 0)
    return offset if isinstance(offset, int) and offset >= 0 else 0


def page_of(
    selected: Sequence[T], limit: int, resume: Resume | None
) -> tuple[list[T], Resume | None]:
    """The page of `selected` that starts at the resume offset, and where the next starts."""
    start = resume_offset(resume)
    end = start + limit
    return list(selected[start:end]), {"offset": end} if end < len(selected) else None


def page_in_memory(orders: Sequence[Order], request: OrderListRequest) -> OrderPage:
    """Filter by `search`, sort, and cut the page that starts at the resume offset."""
    selected = sort_orders((o for o in orders if matches_search(o, request.search)), request.sort)
    page, resume = page_of(selected, request.limit, request.resume)
    return OrderPage(orders=page, resume=resume)


def sort_items(
    items: Sequence[OrderItem], sort_field: str | None, descending: bool
) -> list[OrderItem]:
    """ERC `order_by` over items; items missing the field keep their order, after the rest."""
    if sort_field is None:
        return list(items)
    keys: dict[str, Callable[[OrderItem], Any]] = {
        "price": lambda i: i.price.value if i.price else None,
        "name": lambda i: i.name.casefold(),
        "quantity": lambda i: i.quantity,
        "sku": lambda i: natural_key(i.sku) if i.sku else None,
    }
    key = keys[sort_field]
    present = [item for item in items if key(item) is not None]
    missing = [item for item in items if key(item) is None]
    return sorted(present, key=key, reverse=descending) + missing
