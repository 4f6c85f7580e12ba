"""ERC parts that every platform's mapping builds the same way, whatever its payload."""

from __future__ import annotations

from collections.abc import Sequence

from mappings.models import OrderItem, TrackingInfo
from mappings.money import Money


def tracking(number: str | None, link: str | None = None) -> TrackingInfo | None:
    """How a parcel is tracked; None without a number (a link alone tracks nothing)."""
    return TrackingInfo(tracking_number=number, external_url=link) if number else None


def items_total(items: Sequence[OrderItem]) -> Money | None:
    """What the items cost together (unit price times quantity); None unless there are items,
    every one has a price, and all prices are in one currency."""
    prices = [item.price for item in items]
    currencies = {price.currency for price in prices if price is not None}
    if not prices or None in prices or len(currencies) != 1:
        return None
    total = Money.zero(currencies.pop())
    for item in items:
        assert item.price is not None
        total = total + item.price * (item.quantity or 0)
    return total
