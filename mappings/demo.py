"""The built-in demo store's own format → ERC models.

The demo store mimics a small platform: amounts are decimal strings in major units,
statuses are ERC detailed values, and shipments list how many of each item they carry.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mappings.addresses import AddressRecord, address_of, addresses_of
from mappings.bounds import Short, Text, Url
from mappings.builders import items_total, tracking
from mappings.errors import MappingError
from mappings.models import (
    Customer,
    Delivery,
    DeliveryStatusInfo,
    Order,
    OrderItem,
    PaymentDetails,
    StatusEvent,
    Timestamp,
)
from mappings.money import Money, PriceSummary
from mappings.records import Record, parse, present
from mappings.status import (
    CancellationStatus,
    DeliveryType,
    DetailedStatus,
    least_advanced,
    parse_enum,
)

FULFILMENT_TYPES: dict[str, DeliveryType] = {
    "shipping": DeliveryType.SHIPPING,
    "local_delivery": DeliveryType.LOCAL_DELIVERY,
    "pickup": DeliveryType.LOCAL_PICKUP,
    "digital": DeliveryType.UNKNOWN,
}


class DemoAddress(AddressRecord):
    zip_code: Short | None = Field(default=None, alias="zip")
    phone_number: Short | None = Field(default=None, alias="phone")


class DemoCustomer(Record):
    id: Short
    first_name: Short | None = None
    last_name: Short | None = None
    since: Timestamp | None = None
    loyalty_tier: Short | None = None
    addresses: list[DemoAddress] = Field(default_factory=list)


class DemoItem(Record):
    id: Short
    sku: Short | None = None
    name: Short
    description: Text | None = None
    brand: Short | None = None
    unit_price: Short
    quantity: int
    image_url: Url | None = None
    shipments: dict[Short, int] = Field(default_factory=dict)


class DemoShipment(Record):
    id: Short
    carrier: Short | None = None
    service: Short | None = None
    description: Text | None = None
    tracking: Short | None = None
    tracking_url: Url | None = None
    status: Short = "UNKNOWN"
    status_at: Timestamp | None = None
    shipped_at: Timestamp | None = None
    eta_start: Timestamp | None = None
    eta_end: Timestamp | None = None


class DemoStatus(Record):
    status: Short
    at: Timestamp | None = None


class DemoCard(Record):
    brand: Short
    last4: Short


class DemoOrder(Record):
    id: Short
    number: Short
    customer_id: Short
    placed_at: Timestamp
    currency: Short
    fulfilment: Literal["shipping", "local_delivery", "pickup", "digital"]
    items: list[DemoItem]
    shipments: list[DemoShipment] = Field(default_factory=list)
    status: Short | None = None
    status_at: Timestamp | None = None
    history: list[DemoStatus] = Field(default_factory=list)
    cancelled: bool = False
    cancel_reason: Text | None = None
    shipping_address: DemoAddress | None = None
    billing_address: DemoAddress | None = None
    card: DemoCard | None = None
    discount: Short = "0"
    shipping: Short = "0"
    tax: Short = "0"
    tax_included: bool = False
    channel: Short | None = None


class DemoStore(Record):
    customers: list[DemoCustomer]
    orders: list[DemoOrder]


def parse_store(raw: Any) -> DemoStore:
    return parse(DemoStore, raw)


def customer(raw: DemoCustomer) -> Customer:
    return Customer(
        id=raw.id,
        first_name=raw.first_name,
        last_name=raw.last_name,
        customer_since=raw.since,
        shipping_addresses=addresses_of(raw.addresses),
        custom_fields={"loyalty_tier": raw.loyalty_tier} if raw.loyalty_tier else None,
    )


def _detailed(raw: str) -> DetailedStatus:
    return parse_enum(DetailedStatus, raw, DetailedStatus.UNKNOWN)


def _delivery(shipment: DemoShipment, quantity: int) -> Delivery:
    return Delivery(
        id=shipment.id,
        delivery_quantity=quantity,
        carrier=shipment.carrier,
        service_level=shipment.service,
        description=shipment.description,
        shipping_date=shipment.shipped_at,
        delivery_date_start=shipment.eta_start,
        delivery_date_end=shipment.eta_end,
        latest_status_info=DeliveryStatusInfo(
            type=_detailed(shipment.status), status_date_time=shipment.status_at
        ),
        tracking_info=tracking(shipment.tracking, shipment.tracking_url),
        last_update=shipment.status_at,
    )


def _item(raw: DemoItem, currency: str, shipments: dict[str, DemoShipment]) -> OrderItem:
    deliveries = [_delivery(shipments[sid], qty) for sid, qty in raw.shipments.items()]
    handed_over = sum(
        d.delivery_quantity or 0
        for d in deliveries
        if d.latest_status_info
        and d.latest_status_info.type in (DetailedStatus.DELIVERED, DetailedStatus.PICKED_UP)
    )
    outstanding = raw.quantity - handed_over
    return OrderItem(
        id=raw.id,
        name=raw.name,
        description=raw.description,
        brand=raw.brand,
        price=Money.of(raw.unit_price, currency, path=f"items.{raw.id}.unit_price"),
        image_url=raw.image_url,
        quantity=raw.quantity,
        sku=raw.sku,
        deliverable_quantity=outstanding if outstanding > 0 else None,
        deliveries=deliveries or None,
    )


def _current_status(raw: DemoOrder) -> StatusEvent:
    if raw.status is not None or not raw.shipments:
        return StatusEvent(detailed=_detailed(raw.status or "UNKNOWN"), at=raw.status_at)
    behind = least_advanced(_detailed(s.status) for s in raw.shipments)
    dates = [s.status_at for s in raw.shipments if _detailed(s.status) is behind and s.status_at]
    return StatusEvent(detailed=behind, at=max(dates) if dates else None)


def order(raw: DemoOrder) -> Order:
    shipments = {s.id: s for s in raw.shipments}
    unknown = {sid for item in raw.items for sid in item.shipments} - shipments.keys()
    if unknown:
        raise MappingError(f"items name unknown shipments {sorted(unknown)}", f"orders.{raw.id}")
    items = [_item(item, raw.currency, shipments) for item in raw.items]
    summary = PriceSummary.from_original(
        original=items_total(items) or Money.zero(raw.currency),
        discounts=Money.of(raw.discount, raw.currency),
        shipping=Money.of(raw.shipping, raw.currency),
        taxes=Money.of(raw.tax, raw.currency),
        tax_inclusive=raw.tax_included,
    )
    custom: dict[str, Any] = {"channel": raw.channel, "fulfilment": raw.fulfilment}
    if raw.cancel_reason:
        custom["cancel_reason"] = raw.cancel_reason
    return Order(
        id=raw.id,
        order_number=raw.number,
        customer_id=raw.customer_id,
        purchase_datetime=raw.placed_at,
        delivery_type=FULFILMENT_TYPES[raw.fulfilment],
        shipping_address=address_of(raw.shipping_address),
        billing_address=address_of(raw.billing_address),
        items=items,
        price_summary=summary,
        payment_details=(
            PaymentDetails(
                card_brand=raw.card.brand, card_number=f"**** **** **** {raw.card.last4}"
            )
            if raw.card
            else None
        ),
        status=_current_status(raw),
        status_history=[StatusEvent(detailed=_detailed(h.status), at=h.at) for h in raw.history],
        cancellation_status=CancellationStatus.CANCELED if raw.cancelled else None,
        custom_fields=present(custom),
    )
