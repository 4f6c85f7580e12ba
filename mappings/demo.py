"""The built-in demo store's own format → ERC models.

The demo store mimics a small platform: amounts are decimal strings in major units,
statuses are ERC detailed values, and shipments list how many of each item they carry.
Its catalog prices variants in one currency; a cart names variants of the catalog.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from mappings.addresses import AddressRecord, address_of, addresses_of, billing_address_of
from mappings.bounds import Short, Text, Url
from mappings.builders import items_total, tracking
from mappings.carts import Cart, CartCost, CartDiscount, CartLine
from mappings.errors import MappingError
from mappings.models import (
    Customer,
    Delivery,
    DeliveryStatusInfo,
    ItemHead,
    Order,
    OrderItem,
    PaymentDetails,
    StatusEvent,
    Timestamp,
)
from mappings.money import Money, PriceSummary, to_decimal
from mappings.products import Product, ProductImage, ProductOption, Variant
from mappings.records import Record, parse, present
from mappings.shelf import amount_text, quantity_text
from mappings.shipments import Shipment, ShipmentItem, ShipmentTracking
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
NOT_YET_SHIPPED = frozenset(
    {DetailedStatus.UNKNOWN, DetailedStatus.CONFIRMED, DetailedStatus.READY_FOR_PICKUP}
)
"""A delivery in one of these is still in the shop; any other has left it."""
CANCELLED_LINE = {"status": CancellationStatus.CANCELED.value}
"""How a cancelled product line shows in reads: the order's cancellation value, on the line."""


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


class DemoImage(Record):
    id: Short
    url: Url


class DemoVariant(Record):
    id: Short
    sku: Short | None = None
    price: Short
    options: dict[Short, Short] = Field(default_factory=dict)
    stock: int
    images: list[Short] = Field(default_factory=list)

    @property
    def available(self) -> int:
        """What can be sold: the stock, or none where it went below zero."""
        return max(self.stock, 0)


class DemoProduct(Record):
    id: Short
    title: Short
    brand: Short | None = None
    description: Text | None = None
    images: list[DemoImage] = Field(default_factory=list)
    options: dict[Short, list[Short]] = Field(default_factory=dict)
    variants: list[DemoVariant]


class DemoCatalog(Record):
    currency: Short
    products: list[DemoProduct]


class DemoDiscount(Record):
    code: Short
    name: Short | None = None
    type: Short
    amount: Short
    description: Text | None = None


class DemoCartLine(Record):
    id: Short
    variant_id: Short
    quantity: int
    discount: DemoDiscount | None = None


class DemoCart(Record):
    id: Short
    customer_id: Short | None = None
    currency: Short
    status: Short | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    lines: list[DemoCartLine]
    discounts: list[DemoDiscount] = Field(default_factory=list)
    tax: Short = "0"
    tax_included: bool = False


class DemoStore(Record):
    customers: list[DemoCustomer]
    orders: list[DemoOrder]
    catalog: DemoCatalog = Field(default_factory=lambda: DemoCatalog(currency="EUR", products=[]))
    carts: list[DemoCart] = Field(default_factory=list)


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


def left_the_shop(delivery: Delivery) -> bool:
    status = delivery.latest_status_info.type if delivery.latest_status_info else None
    return status is not None and status not in NOT_YET_SHIPPED


def is_cancelled_line(item: OrderItem) -> bool:
    return bool(item.custom_fields and item.custom_fields.get("status") == CANCELLED_LINE["status"])


def cancelled_line(item: OrderItem) -> OrderItem:
    """The line once cancelled: marked so, with nothing left to deliver, and without the
    parcels that had not left the shop. Those will not go out, and ERC's delivery statuses
    have no cancelled one: listed, any status would still say they are coming. A parcel
    that has left the shop stays, as what happened."""
    gone = [delivery for delivery in item.deliveries or [] if left_the_shop(delivery)]
    return item.model_copy(
        update={
            "custom_fields": {**(item.custom_fields or {}), **CANCELLED_LINE},
            "deliverable_quantity": None,
            "deliveries": gone or None,
        }
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
    if raw.cancelled:
        items = [cancelled_line(item) for item in items]
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
    shipping_address = address_of(raw.shipping_address)
    return Order(
        id=raw.id,
        order_number=raw.number,
        customer_id=raw.customer_id,
        purchase_datetime=raw.placed_at,
        delivery_type=FULFILMENT_TYPES[raw.fulfilment],
        shipping_address=shipping_address,
        billing_address=billing_address_of(
            raw.billing_address, raw.shipping_address, shipping_address
        ),
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


def shipments(order: Order) -> list[Shipment]:
    """The order's parcels as R6 lists them, from its items' deliveries: what the order
    shows now (a changed address included)."""
    parcels: dict[str, tuple[Delivery, list[ShipmentItem]]] = {}
    for item in order.items or []:
        for delivery in item.deliveries or []:
            _, carried = parcels.setdefault(delivery.id, (delivery, []))
            carried.append(_shipped_item(item, delivery.delivery_quantity))
    return [_shipment(order, delivery, carried) for delivery, carried in parcels.values()]


def _shipped_item(item: OrderItem, quantity: int | None) -> ShipmentItem:
    """The parcel's share of an order line: shown as the line is, with the parcel's quantity."""
    return ShipmentItem(
        **{name: getattr(item, name) for name in ItemHead.model_fields},
        quantity=str(quantity) if quantity is not None else None,
        sku=item.sku,
    )


def _shipment(order: Order, delivery: Delivery, items: list[ShipmentItem]) -> Shipment:
    status = delivery.latest_status_info
    quantities = [int(item.quantity) for item in items if item.quantity is not None]
    tracked = delivery.tracking_info
    return Shipment(
        id=delivery.id,
        customer_id=order.customer_id,
        order_id=order.id,
        delivery_quantity=quantity_text(quantities) if quantities else None,
        delivery_date_start=delivery.delivery_date_start,
        delivery_date_end=delivery.delivery_date_end,
        latest_status_info=status.type.value if status else None,
        last_updated=delivery.last_update,
        description=delivery.description,
        shipping_provider=delivery.carrier,
        shipping_date=delivery.shipping_date,
        shipping_address=order.shipping_address,
        tracking_info=ShipmentTracking(
            tracking_number=tracked.tracking_number,
            tracking_carrier=delivery.carrier,
            external_url=tracked.external_url,
        )
        if tracked
        else None,
        items=items,
    )


def product(raw: DemoProduct, currency: str) -> Product:
    first_image = raw.images[0].id if raw.images else None
    return Product(
        id=raw.id,
        title=raw.title,
        brand=raw.brand,
        description=raw.description,
        default_variant_id=raw.variants[0].id if raw.variants else None,
        default_image_id=first_image,
        images=[ProductImage(id=image.id, image_url=image.url) for image in raw.images],
        options=[ProductOption(name=name, values=values) for name, values in raw.options.items()]
        or None,
        variants=[
            Variant(
                id=variant.id,
                sku=variant.sku,
                price=Money.of(variant.price, currency, path=f"catalog.{variant.id}.price"),
                images_ids=variant.images or None,
                options=variant.options or None,
                available_quantity=variant.available,
            )
            for variant in raw.variants
        ],
    )


def matches_search(raw: DemoProduct, search: str | None) -> bool:
    """Case-insensitive: a part of the title, the description or a variant's SKU."""
    if not search:
        return True
    wanted = search.casefold()
    texts = [raw.title, raw.description or "", *(v.sku or "" for v in raw.variants)]
    return any(wanted in text.casefold() for text in texts)


def _discount(raw: DemoDiscount, currency: str, path: str) -> tuple[Decimal, CartDiscount]:
    amount = to_decimal(raw.amount, path)
    return amount, CartDiscount(
        discounted_amount=amount_text(amount, currency),
        type=raw.type,
        discount_code=raw.code,
        discount_name=raw.name,
        discount_description=raw.description,
    )


def cart(raw: DemoCart, catalog: DemoCatalog) -> Cart:
    """The cart with its costs worked out from the catalog's prices (tax as the cart says)."""
    currency = raw.currency
    variants = {v.id: (p, v) for p in catalog.products for v in p.variants}
    lines: list[CartLine] = []
    base = line_discounts = Decimal(0)
    for line in raw.lines:
        path = f"carts.{raw.id}.lines.{line.id}"
        if line.variant_id not in variants:
            raise MappingError(f"unknown variant {line.variant_id}", path)
        owner, variant = variants[line.variant_id]
        cost = to_decimal(variant.price, path) * line.quantity
        discounts = [_discount(line.discount, currency, path)] if line.discount else []
        taken = sum((amount for amount, _ in discounts), Decimal(0))
        base, line_discounts = base + cost, line_discounts + taken
        lines.append(
            CartLine(
                line_id=line.id,
                variant_id=variant.id,
                variant_title=" / ".join(variant.options.values()) or owner.title,
                product_id=owner.id,
                sku=variant.sku or variant.id,
                default_image=_image_url(owner, variant),
                quantity=str(line.quantity),
                quantity_available=str(variant.available),
                cost=_cost(currency, cost, taken, cost - taken),
                cart_lines_discounts=[discount for _, discount in discounts] or None,
            )
        )
    order_discounts = [
        _discount(d, currency, f"carts.{raw.id}.discounts.{d.code}") for d in raw.discounts
    ]
    discounts_total = line_discounts + sum((amount for amount, _ in order_discounts), Decimal(0))
    tax = to_decimal(raw.tax, f"carts.{raw.id}.tax")
    final = base - discounts_total + (0 if raw.tax_included else tax)
    return Cart(
        cart_id=raw.id,
        customer_id=raw.customer_id,
        total_quantity=quantity_text(line.quantity for line in raw.lines),
        currency=currency,
        cart_status=raw.status,
        created_time=raw.created_at,
        updated_time=raw.updated_at,
        cost=_cost(currency, base, discounts_total, final, tax),
        cart_discounts=[discount for _, discount in order_discounts] or None,
        cart_lines=lines or None,
    )


def _cost(
    currency: str, base: Decimal, discounts: Decimal, final: Decimal, taxes: Decimal | None = None
) -> CartCost:
    """A line's or the cart's cost, each amount as ERC's cart writes it."""
    return CartCost(
        base_amount=amount_text(base, currency),
        discounts_amount=amount_text(discounts, currency),
        final_amount=amount_text(final, currency),
        taxes_amount=amount_text(taxes, currency) if taxes is not None else None,
    )


def _image_url(owner: DemoProduct, variant: DemoVariant) -> str:
    """The variant's first image, else the product's (a cart line must show one)."""
    urls = {image.id: image.url for image in owner.images}
    for image_id in [*variant.images, *urls]:
        if image_id in urls:
            return urls[image_id]
    raise MappingError("a product in a cart needs an image", f"catalog.{owner.id}")
