"""BigCommerce shipments (V2), catalog products and carts (V3) → ERC shipments, products
and carts (SPEC §8). Records first, as in `mappings.bigcommerce`, then the mappings.

BigCommerce tracks no delivery progress: a shipment's `latest_status_info` is what the
order's status says of its shipments (delivered once the order is completed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from mappings.bigcommerce import ZERO, Amount, BCAddress, BCOrder, BCProduct, BCShipment, address
from mappings.bounds import Short, Text, Url
from mappings.carts import Cart, CartCost, CartDiscount, CartLine
from mappings.models import Timestamp
from mappings.money import Money, iso_currency, to_decimal
from mappings.products import Product, ProductImage, ProductOption, Variant
from mappings.records import LenientRecord, present
from mappings.records import text as _text
from mappings.shelf import amount_text, quantity_text
from mappings.shipments import Shipment, ShipmentItem, ShipmentTracking

_EPOCH = datetime.min.replace(tzinfo=UTC)


def _optional_amount(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value)


OptionalAmount = Annotated[Decimal | None, BeforeValidator(_optional_amount)]


# Shipments


class BCShipmentRecord(BCShipment):
    """A shipment with the destination it went to."""

    shipping_address: BCAddress | None = None


def shipment(order: BCOrder, raw: BCShipmentRecord, products: Sequence[BCProduct]) -> Shipment:
    lines = {product.id: product for product in products}
    currency = order.currency
    items = []
    for part in raw.items:
        line = lines.get(part.order_product_id)
        unit = line.unit_price(tax_inclusive=order.is_tax_inclusive_pricing) if line else None
        items.append(
            ShipmentItem(
                id=str(part.order_product_id),
                product_id=str(line.product_id) if line and line.product_id else None,
                name=line.name if line else None,
                price=Money(value=unit, currency=currency) if unit is not None else None,
                quantity=str(part.quantity),
                sku=_text(line.sku) if line else None,
            )
        )
    number = _text(raw.tracking_number)
    return Shipment(
        id=str(raw.id),
        customer_id=str(order.customer_id),
        order_id=str(order.id),
        delivery_quantity=quantity_text(part.quantity for part in raw.items),
        latest_status_info=order.shipped_status.value,
        created_time=raw.date_created,
        description=_text(raw.shipping_method),
        shipping_provider=_text(raw.shipping_provider) or raw.carrier,
        shipping_date=raw.date_created,
        shipping_address=address(raw.shipping_address),
        tracking_info=(
            ShipmentTracking(
                tracking_number=number,
                tracking_carrier=raw.carrier,
                external_url=raw.tracking_url,
            )
            if number
            else None
        ),
        items=items or None,
    )


def shipments(
    order: BCOrder, raws: Sequence[BCShipmentRecord], products: Sequence[BCProduct]
) -> list[Shipment]:
    """The order's shipments, the latest first."""
    newest = sorted(raws, key=lambda s: (s.date_created or _EPOCH, s.id), reverse=True)
    return [shipment(order, raw, products) for raw in newest]


# Catalog


class BCOptionValue(LenientRecord):
    option_display_name: Short | None = None
    label: Short


class BCVariant(LenientRecord):
    id: int
    sku: Short | None = None
    price: OptionalAmount = None
    calculated_price: OptionalAmount = None
    inventory_level: int | None = None
    image_url: Url | None = None
    option_values: list[BCOptionValue] = Field(default_factory=list)


class BCImage(LenientRecord):
    id: int
    url_standard: Url | None = None
    is_thumbnail: bool = False
    sort_order: int = 0


class BCOptionLabel(LenientRecord):
    label: Short


class BCOption(LenientRecord):
    display_name: Short
    option_values: list[BCOptionLabel] = Field(default_factory=list)


class BCCatalogProduct(LenientRecord):
    id: int
    name: Short
    sku: Short | None = None
    description: Text | None = None
    price: Amount
    calculated_price: OptionalAmount = None
    inventory_level: int | None = None
    inventory_tracking: Short = "none"
    base_variant_id: int | None = None
    brand_id: int | None = None
    variants: list[BCVariant] = Field(default_factory=list)
    images: list[BCImage] = Field(default_factory=list)
    options: list[BCOption] = Field(default_factory=list)


class BCPagination(LenientRecord):
    current_page: int = 1
    total_pages: int = 1


class BCCatalogMeta(LenientRecord):
    pagination: BCPagination = Field(default_factory=BCPagination)


class BCCatalogPage(LenientRecord):
    data: list[BCCatalogProduct]
    meta: BCCatalogMeta = Field(default_factory=BCCatalogMeta)

    @property
    def has_more(self) -> bool:
        return (
            bool(self.data) and self.meta.pagination.current_page < self.meta.pagination.total_pages
        )


class BCStoreInfo(LenientRecord):
    currency: Short


def _stock(raw: BCCatalogProduct, variant: BCVariant) -> int | None:
    """Stock as the product tracks it: per variant, for the whole product, or not at all."""
    tracking = raw.inventory_tracking.strip().lower()
    if tracking == "variant":
        return variant.inventory_level
    if tracking == "product":
        return raw.inventory_level
    return None


def product(raw: BCCatalogProduct, *, currency: str) -> Product:
    """A catalog product in the store's default currency; a variant's price is what a
    shopper pays for it (`calculated_price`, sales included)."""
    currency = iso_currency(currency)
    images = sorted(raw.images, key=lambda image: (image.sort_order, image.id))
    shown = [
        ProductImage(id=str(image.id), image_url=image.url_standard)
        for image in images
        if image.url_standard
    ]
    by_url = {image.image_url: image.id for image in shown}
    thumbnail = next((image for image in images if image.is_thumbnail and image.url_standard), None)

    def variant(found: BCVariant) -> Variant:
        paid = found.calculated_price if found.calculated_price is not None else found.price
        if paid is None:
            paid = raw.calculated_price if raw.calculated_price is not None else raw.price
        image_id = by_url.get(found.image_url or "")
        options = {
            value.option_display_name: value.label
            for value in found.option_values
            if value.option_display_name
        }
        return Variant(
            id=str(found.id),
            sku=_text(found.sku),
            price=Money(value=paid, currency=currency),
            images_ids=[image_id] if image_id else None,
            options=options or None,
            available_quantity=_stock(raw, found),
        )

    variants = [variant(found) for found in raw.variants]
    default = next((v.id for v in variants if v.id == str(raw.base_variant_id)), None)
    return Product(
        id=str(raw.id),
        title=raw.name,
        description=_text(raw.description),
        default_variant_id=default or (variants[0].id if variants else None),
        default_image_id=str(thumbnail.id) if thumbnail else (shown[0].id if shown else None),
        images=shown or None,
        options=[
            ProductOption(
                name=option.display_name, values=[value.label for value in option.option_values]
            )
            for option in raw.options
        ]
        or None,
        variants=variants or None,
        custom_fields=present({"sku": _text(raw.sku), "brand_id": raw.brand_id or None}),
    )


# Carts


class BCCartDiscount(LenientRecord):
    id: Short | None = None
    discounted_amount: Amount


class BCCartCoupon(LenientRecord):
    id: Short | None = None
    code: Short
    display_name: Short | None = None
    coupon_type: Short | None = None
    discounted_amount: Amount


class BCCartOption(LenientRecord):
    name: Short
    value: Short | None = None


class BCCartItem(LenientRecord):
    id: Short
    variant_id: int | None = None
    product_id: int | None = None
    sku: Short | None = None
    name: Short
    url: Url | None = None
    quantity: int
    image_url: Url | None = None
    discount_amount: Amount = ZERO
    coupon_amount: Amount = ZERO
    extended_sale_price: Amount
    discounts: list[BCCartDiscount] = Field(default_factory=list)
    options: list[BCCartOption] = Field(default_factory=list)


class BCLineItems(LenientRecord):
    physical_items: list[BCCartItem] = Field(default_factory=list)
    digital_items: list[BCCartItem] = Field(default_factory=list)


class BCCurrency(LenientRecord):
    code: Short


class BCCart(LenientRecord):
    id: Short
    customer_id: int = 0
    currency: BCCurrency
    tax_included: bool = False
    base_amount: Amount
    discount_amount: Amount = ZERO
    cart_amount: Amount
    coupons: list[BCCartCoupon] = Field(default_factory=list)
    discounts: list[BCCartDiscount] = Field(default_factory=list)
    line_items: BCLineItems = Field(default_factory=BCLineItems)
    created_time: Timestamp | None = None
    updated_time: Timestamp | None = None


class BCCartDocument(LenientRecord):
    data: BCCart


def _variant_title(raw: BCCartItem) -> str:
    chosen = [f"{option.name}: {option.value}" for option in raw.options if _text(option.value)]
    return " / ".join(chosen) or raw.name


def _promotion(raw: BCCartDiscount, currency: str) -> CartDiscount:
    """An automatic promotion of the cart or of one line: it has no code of its own."""
    return CartDiscount(
        discounted_amount=amount_text(raw.discounted_amount, currency),
        type="promotion",
        discount_code=raw.id or "",
    )


def _cart_line(raw: BCCartItem, currency: str) -> CartLine:
    off = raw.discount_amount + raw.coupon_amount
    return CartLine(
        line_id=raw.id,
        variant_id=str(raw.variant_id or ""),
        variant_title=_variant_title(raw),
        product_id=str(raw.product_id or ""),
        sku=_text(raw.sku) or "",
        default_image=_text(raw.image_url),
        quantity=str(raw.quantity),
        url=_text(raw.url),
        cost=CartCost(
            base_amount=amount_text(raw.extended_sale_price, currency),
            discounts_amount=amount_text(off, currency),
            final_amount=amount_text(raw.extended_sale_price - off, currency),
        ),
        cart_lines_discounts=[_promotion(found, currency) for found in raw.discounts] or None,
    )


def cart_charges(raw: BCCart, lines: list[BCCartItem]) -> tuple[Decimal, Decimal | None]:
    """The cart's discounts and, when they show, its taxes.

    `cart_amount` is `base_amount` less the cart's discounts and coupons, plus the taxes
    unless the prices include them. The discounts are the coupons' amounts and the lines'
    other discounts (a line's `discount_amount` leaves its coupons out), or what the total
    takes off the base when that is more; what the total adds beyond is the taxes.
    """
    listed = sum((coupon.discounted_amount for coupon in raw.coupons), ZERO) + sum(
        (line.discount_amount for line in lines), ZERO
    )
    discounts = max(listed, raw.base_amount - raw.cart_amount)
    added = raw.cart_amount - (raw.base_amount - discounts)
    return discounts, added if added > 0 and not raw.tax_included else None


def cart(document: BCCartDocument) -> Cart:
    """The cart in its own currency, its discounts and taxes as `cart_charges` tells them."""
    raw = document.data
    currency = iso_currency(raw.currency.code)
    lines = [*raw.line_items.physical_items, *raw.line_items.digital_items]
    discounts_amount, taxes_amount = cart_charges(raw, lines)
    discounts = [
        CartDiscount(
            discounted_amount=amount_text(coupon.discounted_amount, currency),
            type=_text(coupon.coupon_type) or "coupon",
            discount_code=coupon.code,
            discount_name=_text(coupon.display_name),
        )
        for coupon in raw.coupons
    ] + [_promotion(found, currency) for found in raw.discounts]
    custom: dict[str, Any] = {"tax_included": raw.tax_included}
    return Cart(
        cart_id=raw.id,
        customer_id=str(raw.customer_id) if raw.customer_id > 0 else None,
        total_quantity=quantity_text(line.quantity for line in lines),
        currency=currency,
        created_time=raw.created_time,
        updated_time=raw.updated_time,
        cost=CartCost(
            base_amount=amount_text(raw.base_amount, currency),
            discounts_amount=amount_text(discounts_amount, currency),
            final_amount=amount_text(raw.cart_amount, currency),
            taxes_amount=amount_text(taxes_amount, currency) if taxes_amount is not None else None,
        ),
        cart_discounts=discounts or None,
        cart_lines=[_cart_line(line, currency) for line in lines] or None,
        custom_fields=custom,
    )
