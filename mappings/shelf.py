"""What the shipments, products and cart mappings of every platform share."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from mappings.money import currency_exponent
from mappings.shipments import Shipment


def amount_text(value: Decimal, currency: str) -> str:
    """An amount as ERC's cart writes it: decimal text with the currency's minor digits."""
    return f"{value:.{currency_exponent(currency)}f}"


def minor_text(amount: int, currency: str) -> str:
    """Integer minor units as decimal text (`1250` USD → `"12.50"`)."""
    return amount_text(Decimal(amount).scaleb(-currency_exponent(currency)), currency)


def quantity_text(quantities: Iterable[int]) -> str:
    return str(sum(quantities))


def tracked_as(shipment: Shipment, tracking_number: str | None) -> bool:
    """Whether the shipment carries `tracking_number` (any shipment when None); the
    comparison ignores case and surrounding spaces, as carriers print numbers both ways."""
    if tracking_number is None:
        return True
    found = shipment.tracking_info.tracking_number if shipment.tracking_info else None
    return found is not None and found.strip().casefold() == tracking_number.strip().casefold()
