"""The two order writes BigCommerce and Elastic Path take (SPEC §7 W1 cancel, W2 change the
shipping address), by the names tests parametrize them with, and how a read of the order
shows each one made. Each platform's writes module names the order that allows both
(`CUSTOMER`, `ORDER`) and the address it moves to (`NEW_ADDRESS`)."""

from __future__ import annotations

from adapters.base import HTTPAdapter, WriteResult
from mappings.models import Order
from mappings.status import CancellationStatus
from mappings.writes import CancelOrder, NewShippingAddress

WRITES = ("cancel_order", "change_shipping_address")


async def send(
    adapter: HTTPAdapter,
    write: str,
    customer_id: str,
    order_id: str,
    address: NewShippingAddress,
) -> WriteResult:
    """`write` of the order: cancelled without options, or moved to `address`."""
    if write == "cancel_order":
        return await adapter.cancel_order(customer_id, order_id, CancelOrder())
    return await adapter.change_shipping_address(customer_id, order_id, address)


def cancelled(order: Order) -> bool:
    return order.cancellation_status is CancellationStatus.CANCELED


def ships_to(order: Order, address: NewShippingAddress) -> bool:
    """Whether the order ships to `address`, told by the street: each platform's
    `NEW_ADDRESS` is on a street its `ORDER` does not ship to before the change."""
    shown = order.shipping_address
    return shown is not None and shown.address == address.address


def shows(order: Order, write: str, address: NewShippingAddress) -> bool:
    """Whether the order, as read, has `write` made (the one `send` makes with `address`)."""
    return cancelled(order) if write == "cancel_order" else ships_to(order, address)
