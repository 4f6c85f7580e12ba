"""The bodies of the ERC read routes and of every error (SPEC §1, §2, §8)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import Field

from mappings.carts import Cart
from mappings.models import (
    Address,
    Customer,
    CustomFields,
    ERCModel,
    OrderItem,
    PaymentDetails,
    Timestamp,
    TrackingInfo,
)
from mappings.money import PriceSummary
from mappings.products import Product
from mappings.shipments import Shipment
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus, GenericStatus

Embedded = TypeVar("Embedded")


class Link(ERCModel):
    href: str


class Links(ERCModel):
    self_link: Link = Field(alias="self")
    next: Link | None = None


class StatusStep(ERCModel):
    generic_type: GenericStatus
    detailed_type: DetailedStatus | None = None
    status_date_time: Timestamp | None = None


class OrderExtraInfo(ERCModel):
    highlighted_item_image_url: str | None = None
    latest_status_info: StatusStep | None = None


class PageBody(ERCModel, Generic[Embedded]):
    """A page of a list route: what it holds, and its own and the next page's links."""

    embedded: Embedded = Field(alias="_embedded")
    links: Links = Field(alias="_links")


class CustomerBody(Customer):
    """R1."""

    brand: str | None = None
    links: Links = Field(alias="_links")


class OrderOpening(ERCModel):
    """The fields every order body (R2 element, R3, R5) opens with, in this order."""

    id: str
    order_number: str
    customer_id: str | None = None
    brand: str | None = None


class OrderHead(OrderOpening):
    """The fields an order's R2 element and its R3 body open with, in this order."""

    purchase_datetime: Timestamp | None = None
    delivery_type: DeliveryType | None = None


class OrderSummary(OrderHead):
    """One element of R2 (connections flavour: `shipping_addresses`)."""

    shipping_addresses: list[Address] | None = None
    items_number: int | None = None
    price_summary: PriceSummary | None = None
    order_extra_info: OrderExtraInfo | None = None
    status: str | None = None
    cancellation_status: CancellationStatus | None = None
    custom_fields: CustomFields | None = None


class OrdersEmbedded(ERCModel):
    orders: list[OrderSummary]


class OrdersPageBody(PageBody[OrdersEmbedded]):
    """R2."""


class OrderDetailBody(OrderHead):
    """R3 (seed 001)."""

    shipping_address: Address | None = None
    billing_address: Address | None = None
    items_number: int | None = None
    price_summary: PriceSummary | None = None
    payment_details: PaymentDetails | None = None
    order_extra_info: OrderExtraInfo | None = None
    cancellation_status: CancellationStatus | None = None
    custom_fields: CustomFields | None = None
    links: Links = Field(alias="_links")


class ItemsEmbedded(ERCModel):
    items: list[OrderItem]


class ItemsPageBody(PageBody[ItemsEmbedded]):
    """R4 (seed 000)."""


class MostRecentOrderBody(OrderOpening):
    """R5 (seed 002)."""

    status_info: list[StatusStep] | None = None
    status_info_current_index: int | None = None
    purchase_datetime: Timestamp | None = None
    tracking_info: TrackingInfo | None = None
    delivery_type: DeliveryType | None = None
    shipping_addresses: list[Address] | None = None
    highlighted_item: OrderItem | None = None
    custom_fields: CustomFields | None = None
    links: Links = Field(alias="_links")


class ShipmentsEmbedded(ERCModel):
    shipments: list[Shipment]


class ShipmentsPageBody(PageBody[ShipmentsEmbedded]):
    """R6 (erc-api.md C8)."""


class ProductsEmbedded(ERCModel):
    products: list[Product]


class ProductsPageBody(PageBody[ProductsEmbedded]):
    """R7 (erc-api.md C11)."""


class CartBody(Cart):
    """R8 (erc-api.md C12)."""

    links: Links = Field(alias="_links")


class ErrorField(ERCModel):
    name: str
    description: str


class ErrorBody(ERCModel):
    code: str
    message: str
    description: str | None = None
    fields: list[ErrorField] | None = None
