"""ERC models: the building blocks of every body the bridge serves.

`Customer` and `Order` are what adapters return; `mappings.views` turns them into the
route bodies. Optional fields default to None and are left out of the JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from mappings.money import Money, PriceSummary
from mappings.status import (
    CancellationStatus,
    DeliveryType,
    DetailedStatus,
    GenericStatus,
    generic_of,
)


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive one is taken to be UTC already.

    A moment whose UTC time falls outside years 1 to 9999 (`9999-12-31T23:59:59-01:00`)
    raises ValueError, which a record reading a platform's date reports as that field.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"date {moment.isoformat()} is out of range in UTC") from None


Timestamp = Annotated[
    datetime,
    AfterValidator(as_utc),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _without_nulls(value: Any) -> Any:
    # Most values are text: taken as they are, without a call to look into them.
    if isinstance(value, dict):
        return {
            key: item if isinstance(item, str) else _without_nulls(item)
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        return [
            item if isinstance(item, str) else _without_nulls(item)
            for item in value
            if item is not None
        ]
    return value


# Platform extras may hold nulls; ERC bodies never do. Cleaned once, when built.
CustomFields = Annotated[dict[str, Any], AfterValidator(_without_nulls)]


class ERCModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Address(ERCModel):
    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    address: str | None = None
    zip_code: str | None = None
    city: str | None = None
    region_code: str | None = None
    country_code: str | None = None
    default: bool | None = None


class TrackingInfo(ERCModel):
    tracking_number: str
    external_url: str | None = None


class DeliveryStatusInfo(ERCModel):
    type: DetailedStatus
    status_date_time: Timestamp | None = None


class Delivery(ERCModel):
    id: str
    delivery_quantity: int | None = None
    carrier: str | None = None
    delivery_type: str | None = None
    delivery_date_start: Timestamp | None = None
    delivery_date_end: Timestamp | None = None
    shipping_date: Timestamp | None = None
    service_level: str | None = None
    description: str | None = None
    latest_status_info: DeliveryStatusInfo | None = None
    tracking_info: TrackingInfo | None = None
    returnable_quantity: int | None = None
    last_update: Timestamp | None = None


class ItemHead(ERCModel):
    """The fields an order item and a shipment's item open with, in this order: ERC gives
    them one meaning in both (the line, what it is, a unit's price). The quantity that
    follows is an integer on an order and text on a shipment, so each declares its own,
    and the SKU after it."""

    id: str
    name: str | None = None
    description: str | None = None
    brand: str | None = None
    price: Money | None = None
    image_url: str | None = None


class OrderItem(ItemHead):
    name: str  # required on an order's item, optional on a shipment's
    quantity: int | None = None
    sku: str | None = None
    deliverable_quantity: int | None = None
    deliveries: list[Delivery] | None = None
    custom_fields: CustomFields | None = None


class PaymentDetails(ERCModel):
    card_brand: str | None = None
    card_brand_image_url: str | None = None
    card_number: str | None = None
    is_refunded: bool | None = None


class IntegrationInfo(ERCModel):
    external_url: str
    type: str = "UNKNOWN"


class StatusEvent(ERCModel):
    """A detailed status the order reached, and when (if the platform says)."""

    detailed: DetailedStatus = DetailedStatus.UNKNOWN
    at: Timestamp | None = None

    @property
    def generic(self) -> GenericStatus:
        return generic_of(self.detailed)


class Customer(ERCModel):
    id: str
    first_name: str | None = None
    last_name: str | None = None
    customer_since: Timestamp | None = None
    shipping_addresses: list[Address] | None = None
    integration_info: IntegrationInfo | None = None
    custom_fields: CustomFields | None = None


class Order(ERCModel):
    """One order as the bridge knows it, whatever the platform.

    `items` is None when the adapter did not load them (list views can do without).
    `status` is the current status; `status_history` holds earlier ones where known.
    """

    id: str
    order_number: str
    customer_id: str
    purchase_datetime: Timestamp | None = None
    delivery_type: DeliveryType = DeliveryType.UNKNOWN
    shipping_address: Address | None = None
    billing_address: Address | None = None
    items: list[OrderItem] | None = None
    price_summary: PriceSummary | None = None
    payment_details: PaymentDetails | None = None
    status: StatusEvent = Field(default_factory=StatusEvent)
    status_history: list[StatusEvent] = Field(default_factory=list)
    cancellation_status: CancellationStatus | None = None
    tracking_info: TrackingInfo | None = None
    custom_fields: CustomFields | None = None
