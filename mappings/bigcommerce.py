"""BigCommerce V2 orders and V3 customers → ERC models (platforms.md §5, §6.5).

Platform bodies are first validated into the small `BC*` records below, so that a body we
cannot read fails with a `MappingError` naming the field; the functions after them turn
those records into ERC models. BigCommerce writes money as strings with four decimals in
major units (`"89.9500"`), order dates as RFC 2822 (`Tue, 13 May 2025 09:19:58 +0000`)
and customer dates as ISO 8601.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from mappings.addresses import AddressRecord, addresses_of
from mappings.bounds import SHORT_MAX, Short, Text, Url, clipped
from mappings.builders import tracking
from mappings.errors import MappingError
from mappings.models import (
    Address,
    Customer,
    Delivery,
    Order,
    OrderItem,
    PaymentDetails,
    StatusEvent,
    Timestamp,
    as_utc,
)
from mappings.money import Money, PriceSummary, iso_currency, to_decimal
from mappings.records import LenientRecord, built, present, shown
from mappings.records import parse as parse
from mappings.records import parse_list as parse_list
from mappings.records import text as _text
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus

CANCELLED = 5
AWAITING_PICKUP = 8
COMPLETED = 10
REFUNDED = 4
STATUS_DETAIL: dict[int, DetailedStatus] = {
    0: DetailedStatus.UNKNOWN,  # Incomplete
    1: DetailedStatus.UNKNOWN,  # Pending
    7: DetailedStatus.UNKNOWN,  # Awaiting Payment
    11: DetailedStatus.CONFIRMED,  # Awaiting Fulfillment
    9: DetailedStatus.CONFIRMED,  # Awaiting Shipment
    12: DetailedStatus.CONFIRMED,  # Manual Verification Required
    8: DetailedStatus.READY_FOR_PICKUP,  # Awaiting Pickup
    2: DetailedStatus.IN_TRANSIT,  # Shipped
    3: DetailedStatus.IN_TRANSIT,  # Partially Shipped
    10: DetailedStatus.DELIVERED,  # Completed
    5: DetailedStatus.UNKNOWN,  # Cancelled (see `cancellation`)
    6: DetailedStatus.FAILURE,  # Declined
}
"""`status_id` → ERC detailed status. Merchants may relabel statuses, never renumber them."""

AFTER_THE_FACT = frozenset({4, 13, 14})
"""Refunded, Disputed, Partially Refunded: they say nothing about delivery; the order keeps
IN_TRANSIT when something was shipped, else UNKNOWN."""


def _rfc2822(value: object) -> datetime | None:
    """An RFC 2822 date as aware UTC; BigCommerce sends "" for a date that has not happened."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > SHORT_MAX:
        raise ValueError("expected an RFC 2822 date")
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an RFC 2822 date, got {value!r}") from None
    return as_utc(moment)


def _amount(value: object) -> Decimal:
    return to_decimal(value)


BCDate = Annotated[datetime | None, BeforeValidator(_rfc2822)]
Amount = Annotated[Decimal, BeforeValidator(_amount)]
ZERO = Decimal(0)


class BCAddress(AddressRecord, LenientRecord):
    """A V2 address: an order's billing address or one of its shipping destinations."""

    line1: Short | None = Field(default=None, alias="street_1")
    line2: Short | None = Field(default=None, alias="street_2")
    region: Short | None = Field(default=None, alias="state")
    zip_code: Short | None = Field(default=None, alias="zip")
    country_iso2: Short | None = None
    phone_number: Short | None = Field(default=None, alias="phone")


class BCOrder(LenientRecord):
    id: int
    customer_id: int
    date_created: BCDate
    date_shipped: BCDate = None
    status_id: int
    status: Short | None = None
    subtotal_ex_tax: Amount
    subtotal_inc_tax: Amount
    shipping_cost_ex_tax: Amount = ZERO
    shipping_cost_inc_tax: Amount = ZERO
    handling_cost_ex_tax: Amount = ZERO
    handling_cost_inc_tax: Amount = ZERO
    wrapping_cost_ex_tax: Amount = ZERO
    wrapping_cost_inc_tax: Amount = ZERO
    total_inc_tax: Amount
    total_tax: Amount = ZERO
    items_shipped: int = 0
    payment_method: Short | None = None
    payment_status: Short | None = None
    currency_code: Short | None = None
    default_currency_code: Short | None = None
    is_tax_inclusive_pricing: bool = False
    shipping_address_count: int = 0
    order_source: Short | None = None
    external_id: Short | None = None
    billing_address: BCAddress | None = None

    @property
    def currency(self) -> str:
        """The transactional currency the amounts are in (platforms.md §5.3)."""
        currency = (self.default_currency_code or self.currency_code or "").strip()
        if not currency:
            raise MappingError("the order names no currency", "default_currency_code")
        try:
            return iso_currency(currency)
        except MappingError as exc:
            raise MappingError(exc.reason, "default_currency_code") from None

    @property
    def shipped_status(self) -> DetailedStatus:
        """What the order's status says of its shipments: BigCommerce tracks no carrier
        progress, so they are delivered once the order is completed, else in transit."""
        if self.status_id == COMPLETED:
            return DetailedStatus.DELIVERED
        return DetailedStatus.IN_TRANSIT


class BCProductOption(LenientRecord):
    display_name: Short | None = None
    display_value: Text | None = None


class BCProduct(LenientRecord):
    """One line of `/v2/orders/{id}/products`."""

    id: int
    order_id: int | None = None
    product_id: int | None = None
    variant_id: int | None = None
    name: Short
    sku: Short | None = None
    type: Short | None = None
    quantity: int
    quantity_refunded: int = 0
    price_ex_tax: Amount
    price_inc_tax: Amount
    product_options: list[BCProductOption] = Field(default_factory=list)

    def unit_price(self, *, tax_inclusive: bool) -> Decimal:
        """The line's unit price as the order's totals count it."""
        return self.price_inc_tax if tax_inclusive else self.price_ex_tax


class BCShipmentItem(LenientRecord):
    order_product_id: int
    quantity: int


class BCShipment(LenientRecord):
    id: int
    date_created: BCDate = None
    tracking_number: Short | None = None
    shipping_method: Short | None = None
    shipping_provider: Short | None = None
    tracking_carrier: Short | None = None
    tracking_link: Url | None = None
    generated_tracking_link: Url | None = None
    items: list[BCShipmentItem] = Field(default_factory=list)

    @property
    def carrier(self) -> str | None:
        return _text(self.tracking_carrier) or _text(self.shipping_provider)

    @property
    def tracking_url(self) -> str | None:
        return _text(self.tracking_link) or _text(self.generated_tracking_link)


class BCCustomerAddress(AddressRecord, LenientRecord):
    """A V3 customer address (`include=addresses`)."""

    line1: Short | None = Field(default=None, alias="address1")
    line2: Short | None = Field(default=None, alias="address2")
    region: Short | None = Field(default=None, alias="state_or_province")
    zip_code: Short | None = Field(default=None, alias="postal_code")
    country: Short | None = Field(default=None, alias="country_code")
    phone_number: Short | None = Field(default=None, alias="phone")


class BCCustomer(LenientRecord):
    id: int
    first_name: Short | None = None
    last_name: Short | None = None
    email: Short | None = None
    company: Short | None = None
    date_created: Timestamp | None = None
    addresses: list[BCCustomerAddress] = Field(default_factory=list)


class BCCustomerList(LenientRecord):
    data: list[BCCustomer]


class BCProblem(LenientRecord):
    """What an error body says, for the log: V2 sends a list, V3 one object."""

    status: int | None = None
    message: Text | None = None


def problem(raw: object) -> BCProblem:
    """The first error of an error body (V2 `[{status, message}]`, V3 `{status, title}`)."""
    first = raw[0] if isinstance(raw, list) and raw else raw
    if not isinstance(first, dict):
        return BCProblem()
    status = first.get("status")
    message = first.get("message") or first.get("title")
    return BCProblem(
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        message=clipped(message) if isinstance(message, str) else None,
    )


# Addresses and customers


def address(raw: BCAddress | None) -> Address | None:
    """V2 names the country twice: by its ISO code where it has one, else by its name."""
    if raw is None:
        return None
    iso2 = _text(raw.country_iso2)
    return (raw.model_copy(update={"country": iso2}) if iso2 else raw).normalized()


def customer(raw: BCCustomer) -> Customer:
    custom = {"email": shown(raw.email), "company": shown(raw.company)}
    return Customer(
        id=str(raw.id),
        first_name=shown(raw.first_name),
        last_name=shown(raw.last_name),
        customer_since=raw.date_created,
        shipping_addresses=addresses_of(raw.addresses),
        custom_fields=present(custom),
    )


# Orders


def cancellation(raw: BCOrder) -> CancellationStatus | None:
    return CancellationStatus.CANCELED if raw.status_id == CANCELLED else None


def detailed_status(raw: BCOrder) -> DetailedStatus:
    """platforms.md §6.5 on `status_id`; unknown ids are UNKNOWN."""
    if raw.status_id in AFTER_THE_FACT:
        shipped = raw.items_shipped > 0 or raw.date_shipped is not None
        return DetailedStatus.IN_TRANSIT if shipped else DetailedStatus.UNKNOWN
    return STATUS_DETAIL.get(raw.status_id, DetailedStatus.UNKNOWN)


def delivery_type(raw: BCOrder) -> DeliveryType:
    """Pickup while awaiting pickup; shipping when the order has a destination; else unknown."""
    if raw.status_id == AWAITING_PICKUP:
        return DeliveryType.LOCAL_PICKUP
    if raw.shipping_address_count > 0:
        return DeliveryType.SHIPPING
    return DeliveryType.UNKNOWN


def status_events(raw: BCOrder) -> tuple[StatusEvent, list[StatusEvent]]:
    """The current status and the earlier one BigCommerce dates: when the order shipped."""
    detailed = detailed_status(raw)
    if detailed is DetailedStatus.IN_TRANSIT:
        return StatusEvent(detailed=detailed, at=raw.date_shipped), []
    if detailed is DetailedStatus.DELIVERED and raw.date_shipped is not None:
        shipped = StatusEvent(detailed=DetailedStatus.IN_TRANSIT, at=raw.date_shipped)
        return StatusEvent(detailed=detailed), [shipped]
    return StatusEvent(detailed=detailed), []


def price_summary(raw: BCOrder) -> PriceSummary:
    """Subtotal, shipping (with handling and gift wrapping), tax and total as BigCommerce
    reports them; the discounts are what the total takes off the rest.

    Deriving the discounts keeps the summary adding up whichever of `discount_amount` and
    `coupon_discount` a store's totals include. A total above the sum (a charge ERC has no
    field for) leaves the discounts at 0 and the original total at what was charged.
    """
    currency = raw.currency
    inclusive = raw.is_tax_inclusive_pricing
    if inclusive:
        original = raw.subtotal_inc_tax
        shipping = raw.shipping_cost_inc_tax + raw.handling_cost_inc_tax + raw.wrapping_cost_inc_tax
    else:
        original = raw.subtotal_ex_tax
        shipping = raw.shipping_cost_ex_tax + raw.handling_cost_ex_tax + raw.wrapping_cost_ex_tax
    added_taxes = ZERO if inclusive else raw.total_tax
    discounts = max(original + shipping + added_taxes - raw.total_inc_tax, ZERO)
    return PriceSummary.from_final(
        final=Money(value=raw.total_inc_tax, currency=currency),
        discounts=Money(value=discounts, currency=currency),
        shipping=Money(value=shipping, currency=currency),
        taxes=Money(value=raw.total_tax, currency=currency),
        tax_inclusive=inclusive,
    )


def payment_details(raw: BCOrder) -> PaymentDetails:
    refunded = raw.status_id == REFUNDED or (raw.payment_status or "").strip() == "refunded"
    return PaymentDetails(is_refunded=refunded)


def delivery(shipment: BCShipment, *, quantity: int, status: DetailedStatus) -> Delivery:
    """One shipment of (part of) one order line. BigCommerce tracks no carrier progress."""
    return built(
        Delivery,
        {
            "id": str(shipment.id),
            "delivery_quantity": quantity,
            "carrier": shipment.carrier,
            "shipping_date": shipment.date_created,
            "service_level": _text(shipment.shipping_method),
            "latest_status_info": {"type": status},
            "tracking_info": tracking(_text(shipment.tracking_number), shipment.tracking_url),
        },
    )


def order_item(
    raw: BCProduct,
    *,
    currency: str,
    tax_inclusive: bool,
    shipments: Sequence[BCShipment] = (),
    shipped_status: DetailedStatus = DetailedStatus.IN_TRANSIT,
) -> OrderItem:
    """One product line; its deliveries are the shipments that carry some of it."""
    deliveries = [
        delivery(shipment, quantity=part.quantity, status=shipped_status)
        for shipment in shipments
        for part in shipment.items
        if part.order_product_id == raw.id
    ]
    options = {
        option.display_name.strip(): (option.display_value or "").strip()
        for option in raw.product_options
        if option.display_name and option.display_name.strip()
    }
    custom: dict[str, Any] = {
        "product_id": raw.product_id,
        "variant_id": raw.variant_id,
        "type": _text(raw.type),
        "options": options or None,
        "quantity_refunded": raw.quantity_refunded or None,
    }
    return built(
        OrderItem,
        {
            "id": str(raw.id),
            "name": raw.name,
            "price": {"value": raw.unit_price(tax_inclusive=tax_inclusive), "currency": currency},
            "quantity": raw.quantity,
            "sku": _text(raw.sku),
            "deliveries": deliveries or None,
            "custom_fields": present(custom),
        },
    )


def custom_fields(raw: BCOrder) -> dict[str, Any] | None:
    """BigCommerce's own order values that ERC has no field for (empty ones left out)."""
    values: dict[str, Any] = {
        "status_id": raw.status_id,
        "status": _text(raw.status),
        "payment_method": _text(raw.payment_method),
        "payment_status": _text(raw.payment_status),
        "order_source": _text(raw.order_source),
        "external_id": _text(raw.external_id),
    }
    return present(values)


def order(
    raw: BCOrder,
    *,
    products: Sequence[BCProduct] | None = None,
    shipping_addresses: Sequence[BCAddress] = (),
    shipments: Sequence[BCShipment] = (),
) -> Order:
    """A BigCommerce order as an ERC order; `products` None when the caller did not load them."""
    currency = raw.currency
    current, history = status_events(raw)
    items = (
        [
            order_item(
                product,
                currency=currency,
                tax_inclusive=raw.is_tax_inclusive_pricing,
                shipments=shipments,
                shipped_status=raw.shipped_status,
            )
            for product in products
        ]
        if products is not None
        else None
    )
    destination = next(
        (found for found in map(address, shipping_addresses) if found is not None), None
    )
    return built(
        Order,
        {
            "id": str(raw.id),
            "order_number": str(raw.id),
            "customer_id": str(raw.customer_id),
            "purchase_datetime": raw.date_created,
            "delivery_type": delivery_type(raw),
            "shipping_address": destination,
            "billing_address": address(raw.billing_address),
            "items": items,
            "price_summary": price_summary(raw),
            "payment_details": payment_details(raw),
            "status": current,
            "status_history": history,
            "cancellation_status": cancellation(raw),
            "custom_fields": custom_fields(raw),
        },
    )


BEFORE_SHIPPING = frozenset({1, 7, 8, 9, 11, 12})
"""Pending, Awaiting Payment, Awaiting Pickup, Awaiting Shipment, Awaiting Fulfillment and
Manual Verification Required: nothing has left the store and no money has come back."""


class BCOrderNotes(LenientRecord):
    """The merchant's notes on an order (never shown to the customer)."""

    staff_notes: str | None = None
