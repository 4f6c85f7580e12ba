"""The ERC parts every platform's mapping builds alike."""

from __future__ import annotations

from mappings.builders import items_total, tracking
from mappings.models import OrderItem, TrackingInfo
from mappings.money import Money


def _item(price: str | None, quantity: int | None, currency: str = "EUR") -> OrderItem:
    return OrderItem(
        id=f"{price}x{quantity}",
        name="Mug",
        price=Money.of(price, currency) if price is not None else None,
        quantity=quantity,
    )


def test_tracking_needs_a_number() -> None:
    assert tracking("1Z999", "https://track.example/1Z999") == TrackingInfo(
        tracking_number="1Z999", external_url="https://track.example/1Z999"
    )
    assert tracking("1Z999") == TrackingInfo(tracking_number="1Z999")
    assert tracking(None, "https://track.example/") is None
    assert tracking("", "https://track.example/") is None


def test_items_total_adds_unit_price_times_quantity() -> None:
    total = items_total([_item("12.50", 2), _item("0.99", 3), _item("5.00", None)])
    assert total == Money.of("27.97", "EUR")


def test_items_total_is_unknown_unless_every_item_is_priced_in_one_currency() -> None:
    assert items_total([]) is None
    assert items_total([_item("12.50", 1), _item(None, 1)]) is None
    assert items_total([_item("12.50", 1), _item("3.00", 1, currency="USD")]) is None
