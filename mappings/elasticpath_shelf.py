"""Elastic Path shipping groups, catalog products and carts → ERC shipments, products and
carts (SPEC §8). Records first, as in `mappings.elasticpath`, then the mapping functions.

EP has no shipment object: a shipping group of an order (carrier text, tracking reference,
delivery estimate, destination) is the closest thing, and the order lines name the group
they ship in. EP tracks no delivery progress; a shipment's `latest_status_info` is the
order's own status as SPEC §5 maps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic

from pydantic import Field

from mappings.addresses import address_of
from mappings.bounds import Short, Text, Url
from mappings.carts import Cart, CartCost, CartDiscount, CartLine
from mappings.elasticpath import (
    EPAddress,
    EPAmount,
    EPItem,
    EPLineItem,
    EPList,
    EPOrder,
    EPPricedMeta,
    EPPriceParts,
    EPShippingGroup,
    EPToMany,
    EPToOne,
    Part,
    customer_id_of,
    is_promotion_line,
    order_status,
)
from mappings.models import Timestamp
from mappings.products import Product, ProductImage, ProductOption, Variant
from mappings.records import Record, present
from mappings.records import text as _text
from mappings.shelf import minor_text, quantity_text
from mappings.shipments import Shipment, ShipmentItem, ShipmentTracking

_EPOCH = datetime.min.replace(tzinfo=UTC)
DEFAULT_CART_NAME = "Cart"
"""The name EP gives a cart it makes by itself."""


# Shipments


class EPShipmentGroup(EPShippingGroup):
    created_at: Timestamp | None = None
    address: EPAddress | None = None


def group_lines(group: EPShipmentGroup, items: Sequence[EPItem]) -> list[EPItem]:
    """The product lines shipped in `group`."""
    return [i for i in items if i.shipping_group_id == group.id and not is_promotion_line(i)]


def shipment(order: EPOrder, group: EPShipmentGroup, lines: Sequence[EPItem]) -> Shipment:
    estimate = group.delivery_estimate
    tracking_number = _text(group.tracking_reference)
    return Shipment(
        id=group.id,
        customer_id=customer_id_of(order),
        order_id=order.id,
        delivery_quantity=quantity_text(line.quantity for line in lines),
        delivery_date_start=estimate.start if estimate else None,
        delivery_date_end=estimate.end if estimate else None,
        latest_status_info=order_status(order)[0].value,
        last_updated=group.updated_at,
        created_time=group.created_at,
        shipping_provider=_text(group.shipping_type),
        shipping_address=address_of(group.address),
        tracking_info=ShipmentTracking(tracking_number=tracking_number)
        if tracking_number
        else None,
        items=[
            ShipmentItem(
                id=line.id,
                product_id=_text(line.product_id),
                name=line.name,
                price=line.unit_price.money(),
                quantity=str(line.quantity),
                sku=_text(line.sku),
            )
            for line in lines
        ],
    )


def shipments(
    order: EPOrder, items: Sequence[EPItem], groups: Sequence[EPShipmentGroup]
) -> list[Shipment]:
    """The order's shipping groups as shipments, the most recently changed first."""
    found = [shipment(order, group, group_lines(group, items)) for group in groups]
    return sorted(
        found, key=lambda s: (s.last_updated or s.created_time or _EPOCH, s.id), reverse=True
    )


# Catalog


class EPFileLink(Record):
    href: Url


class EPMainImage(Record):
    id: Short
    link: EPFileLink | None = None


class EPCatalogPrice(Record):
    with_tax: EPAmount | None = None
    without_tax: EPAmount | None = None

    def shown(self) -> EPAmount | None:
        return self.with_tax or self.without_tax


class EPVariationOption(Record):
    id: Short
    name: Short


class EPVariation(Record):
    id: Short
    name: Short
    options: list[EPVariationOption] = Field(default_factory=list)


class EPChildVariation(Record):
    id: Short
    name: Short
    option: EPVariationOption


class EPProductMeta(Record):
    display_price: EPCatalogPrice | None = None
    variations: list[EPVariation] = Field(default_factory=list)
    child_variations: list[EPChildVariation] = Field(default_factory=list)
    product_types: list[Short] = Field(default_factory=list)


class EPProductAttributes(Record):
    name: Short
    sku: Short | None = None
    slug: Short | None = None
    description: Text | None = None
    manufacturer_part_num: Short | None = None


class EPProductRelationships(Record):
    main_image: EPToOne = Field(default_factory=EPToOne)


class EPCatalogProduct(Record):
    id: Short
    attributes: EPProductAttributes
    meta: EPProductMeta = Field(default_factory=EPProductMeta)
    relationships: EPProductRelationships = Field(default_factory=EPProductRelationships)

    @property
    def is_parent(self) -> bool:
        return "parent" in self.meta.product_types

    @property
    def image_id(self) -> str | None:
        ref = self.relationships.main_image.data
        return ref.id if ref is not None else None


class EPCatalogIncluded(Record):
    main_images: list[EPMainImage] = Field(default_factory=list)


class EPCatalogList(EPList[EPCatalogProduct]):
    included: EPCatalogIncluded = Field(default_factory=EPCatalogIncluded)


class EPStock(Record):
    id: Short
    available: int | None = None


def _variant(raw: EPCatalogProduct, stock: Mapping[str, int]) -> Variant:
    price = raw.meta.display_price.shown() if raw.meta.display_price else None
    options = {choice.name: choice.option.name for choice in raw.meta.child_variations}
    return Variant(
        id=raw.id,
        sku=_text(raw.attributes.sku),
        price=price.money() if price else None,
        images_ids=[raw.image_id] if raw.image_id else None,
        options=options or None,
        available_quantity=stock.get(raw.id),
    )


def product(
    raw: EPCatalogProduct,
    *,
    children: Sequence[EPCatalogProduct],
    images: Mapping[str, EPMainImage],
    stock: Mapping[str, int],
) -> Product:
    """A catalog product; a parent's variants are its child products, any other product is
    its own only variant. Stock is what EP's inventory says is available, None when EP
    keeps none for that product."""
    variants = (
        [_variant(child, stock) for child in children] if raw.is_parent else [_variant(raw, stock)]
    )
    shown = [
        ProductImage(id=found.id, image_url=found.link.href)
        for image_id in dict.fromkeys(
            filter(None, [raw.image_id, *(child.image_id for child in children)])
        )
        if (found := images.get(image_id)) is not None and found.link is not None
    ]
    options = [
        ProductOption(name=variation.name, values=[option.name for option in variation.options])
        for variation in raw.meta.variations
    ]
    return Product(
        id=raw.id,
        title=raw.attributes.name,
        description=_text(raw.attributes.description),
        default_variant_id=variants[0].id if variants else None,
        default_image_id=raw.image_id if raw.image_id in {image.id for image in shown} else None,
        images=shown or None,
        options=options or None,
        variants=variants or None,
        custom_fields=present(
            {
                "slug": _text(raw.attributes.slug),
                "manufacturer_part_num": _text(raw.attributes.manufacturer_part_num),
            }
        ),
    )


# Carts


class EPCartPriceParts(EPPriceParts[Part], Generic[Part]):
    """A cart and its lines add the price before discounts."""

    without_discount: Part | None = None


EPCartPrice = EPCartPriceParts[EPAmount]
EPCartMeta = EPPricedMeta[EPCartPrice]


class EPCartRelationships(Record):
    items: EPToMany = Field(default_factory=EPToMany)
    customers: EPToMany = Field(default_factory=EPToMany)
    accounts: EPToMany = Field(default_factory=EPToMany)


class EPCart(Record):
    id: Short
    name: Short | None = None
    description: Text | None = None
    meta: EPCartMeta
    relationships: EPCartRelationships = Field(default_factory=EPCartRelationships)


class EPLinePair(Record):
    value: EPAmount


class EPLineMeta(Record):
    display_price: EPCartPriceParts[EPLinePair]


class EPLineDiscount(Record):
    amount: EPAmount
    code: Short | None = None
    id: Short | None = None
    promotion_source: Short | None = None


class EPImage(Record):
    href: Url | None = None


class EPCartItem(EPLineItem):
    description: Text | None = None
    value: EPAmount
    image: EPImage | None = None
    discounts: list[EPLineDiscount] = Field(default_factory=list)
    meta: EPLineMeta


class EPCartIncluded(Record):
    items: list[EPCartItem] = Field(default_factory=list)


class EPCartDocument(Record):
    data: EPCart
    included: EPCartIncluded = Field(default_factory=EPCartIncluded)


def made_by_reading(document: EPCartDocument) -> bool:
    """Whether the cart is exactly what EP makes when an unknown id is read: no lines, no
    owner, EP's default name and no change since it was made. Such a cart holds nothing a
    shopper put there, so the bridge answers it as missing."""
    cart = document.data
    stamps = cart.meta.timestamps
    return (
        not document.included.items
        and not cart.relationships.items.data
        and not cart.relationships.customers.data
        and not cart.relationships.accounts.data
        and (cart.name or DEFAULT_CART_NAME) == DEFAULT_CART_NAME
        and not _text(cart.description)
        and stamps.created_at is not None
        and stamps.created_at == stamps.updated_at
    )


def _minor(raw: EPAmount | None, currency: str) -> str | None:
    return minor_text(abs(raw.amount), currency) if raw is not None else None


def _line_discount(raw: EPLineDiscount) -> CartDiscount:
    return CartDiscount(
        discounted_amount=minor_text(abs(raw.amount.amount), raw.amount.currency),
        type=_text(raw.promotion_source) or "promotion",
        discount_code=_text(raw.code) or _text(raw.id) or "",
    )


def cart_line(raw: EPCartItem) -> CartLine:
    prices = raw.meta.display_price
    currency = prices.with_tax.value.currency
    product_id = _text(raw.product_id) or raw.id
    return CartLine(
        line_id=raw.id,
        variant_id=product_id,
        variant_title=raw.name,
        product_id=product_id,
        sku=_text(raw.sku) or "",
        default_image=raw.image.href if raw.image and raw.image.href else None,
        quantity=str(raw.quantity),
        cost=CartCost(
            base_amount=_minor(
                prices.without_discount.value if prices.without_discount else None, currency
            ),
            discounts_amount=_minor(prices.discount.value if prices.discount else None, currency),
            final_amount=minor_text(prices.with_tax.value.amount, currency),
            taxes_amount=_minor(prices.tax.value if prices.tax else None, currency),
        ),
        cart_lines_discounts=[_line_discount(found) for found in raw.discounts] or None,
    )


def _cart_promotion(raw: EPCartItem) -> CartDiscount:
    """A cart-wide promotion, which EP lists as a line of negative value."""
    return CartDiscount(
        discounted_amount=minor_text(abs(raw.value.amount), raw.value.currency),
        type="promotion",
        discount_code=_text(raw.sku) or raw.id,
        discount_name=raw.name,
        discount_description=_text(raw.description),
    )


def cart(document: EPCartDocument) -> Cart:
    raw = document.data
    prices = raw.meta.display_price
    currency = prices.with_tax.currency
    lines = [item for item in document.included.items if not is_promotion_line(item)]
    promotions = [item for item in document.included.items if is_promotion_line(item)]
    owners = raw.relationships.customers.data
    custom: dict[str, Any] = {"name": _text(raw.name), "description": _text(raw.description)}
    return Cart(
        cart_id=raw.id,
        customer_id=owners[0].id if owners else None,
        total_quantity=quantity_text(line.quantity for line in lines),
        currency=currency,
        created_time=raw.meta.timestamps.created_at,
        updated_time=raw.meta.timestamps.updated_at,
        cost=CartCost(
            base_amount=_minor(prices.without_discount, currency),
            discounts_amount=_minor(prices.discount, currency),
            final_amount=minor_text(prices.with_tax.amount, currency),
            taxes_amount=_minor(prices.tax, currency),
        ),
        cart_discounts=[_cart_promotion(found) for found in promotions] or None,
        cart_lines=[cart_line(line) for line in lines] or None,
        custom_fields=present(custom),
    )
