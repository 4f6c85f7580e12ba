"""Domain models → route bodies. Every rule that shapes a body lives here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from mappings.bodies import (
    CartBody,
    CustomerBody,
    ItemsEmbedded,
    ItemsPageBody,
    Links,
    MostRecentOrderBody,
    OrderDetailBody,
    OrdersPageBody,
    OrderSummary,
    ProductsEmbedded,
    ProductsPageBody,
    ShipmentsEmbedded,
    ShipmentsPageBody,
    StatusStep,
)
from mappings.carts import Cart
from mappings.models import Address, Customer, Order, OrderItem, StatusEvent, TrackingInfo
from mappings.products import Product
from mappings.records import built
from mappings.shipments import Shipment
from mappings.status import TYPICAL_DETAIL, GenericStatus, current_step_index, status_steps


def links(self_href: str, next_href: str | None = None) -> Links:
    return built(Links, _links(self_href, next_href))


def _links(self_href: str, next_href: str | None = None) -> dict[str, Any]:
    """What `links` holds, for a body that builds it along with itself."""
    return {"self": {"href": self_href}, "next": {"href": next_href} if next_href else None}


def highlighted_item(items: list[OrderItem] | None) -> OrderItem | None:
    """The item with the highest unit price; the first one on ties (unpriced items rank last)."""
    if not items:
        return None
    best = items[0]
    for item in items[1:]:
        if _unit_price(item) > _unit_price(best):
            best = item
    return best


def _unit_price(item: OrderItem) -> Decimal:
    return item.price.value if item.price is not None else Decimal("-Infinity")


def tracking_of(order: Order) -> TrackingInfo | None:
    if order.tracking_info is not None:
        return order.tracking_info
    for item in order.items or ():
        for delivery in item.deliveries or ():
            if delivery.tracking_info is not None:
                return delivery.tracking_info
    return None


def _latest_status(order: Order) -> dict[str, Any]:
    return {
        "generic_type": order.status.generic,
        "detailed_type": order.status.detailed,
        "status_date_time": order.status.at,
    }


def status_info(order: Order) -> tuple[list[StatusStep], int | None]:
    """The ordered generic steps for the delivery type, and the index of the current one."""
    steps = status_steps(order.delivery_type)
    current = current_step_index(order.delivery_type, order.status.generic)
    known: dict[GenericStatus, StatusEvent] = {}
    for event in [*order.status_history, order.status]:
        known[event.generic] = event
    info: list[StatusStep] = []
    for index, step in enumerate(steps):
        if current is None or index > current:
            info.append(StatusStep(generic_type=step))
        elif index == current and step is order.status.generic:
            info.append(built(StatusStep, {**_latest_status(order), "generic_type": step}))
        else:
            # A step reached earlier, or the one a two-step list stops at for a status it
            # has no step for (ON_ITS_WAY stops at CONFIRMED): its own status, not the order's.
            reached = known.get(step)
            info.append(
                StatusStep(
                    generic_type=step,
                    detailed_type=reached.detailed if reached else TYPICAL_DETAIL[step],
                    status_date_time=reached.at if reached else None,
                )
            )
    return info, current


def _addresses(order: Order) -> list[Address]:
    return [order.shipping_address] if order.shipping_address else []


def customer_body(customer: Customer, *, brand: str | None, self_href: str) -> CustomerBody:
    return CustomerBody(**dict(customer), brand=brand, links=links(self_href))


def _order_head(order: Order, brand: str | None) -> dict[str, Any]:
    """What an R2 element and the R3 body say alike about an order."""
    return {
        "id": order.id,
        "order_number": order.order_number,
        "customer_id": order.customer_id,
        "brand": brand,
        "purchase_datetime": order.purchase_datetime,
        "delivery_type": order.delivery_type,
        "items_number": len(order.items) if order.items is not None else None,
        "price_summary": order.price_summary,
        "cancellation_status": order.cancellation_status,
        "custom_fields": order.custom_fields or None,
    }


def order_summary(order: Order, *, brand: str | None) -> OrderSummary:
    highlighted = highlighted_item(order.items)
    image = highlighted.image_url if highlighted else None
    return built(
        OrderSummary,
        {
            **_order_head(order, brand),
            "shipping_addresses": _addresses(order) or None,
            "order_extra_info": {"highlighted_item_image_url": image} if image else None,
            "status": order.status.generic.value,
        },
    )


def orders_page(
    orders: list[Order], *, brand: str | None, self_href: str, next_href: str | None
) -> OrdersPageBody:
    return built(
        OrdersPageBody,
        {
            "_embedded": {"orders": [order_summary(o, brand=brand) for o in orders]},
            "_links": _links(self_href, next_href),
        },
    )


def order_detail(order: Order, *, brand: str | None, self_href: str) -> OrderDetailBody:
    highlighted = highlighted_item(order.items)
    return built(
        OrderDetailBody,
        {
            **_order_head(order, brand),
            "shipping_address": order.shipping_address,
            "billing_address": order.billing_address,
            "payment_details": order.payment_details,
            "order_extra_info": {
                "highlighted_item_image_url": highlighted.image_url if highlighted else None,
                "latest_status_info": _latest_status(order),
            },
            "_links": _links(self_href),
        },
    )


def items_page(items: list[OrderItem], *, self_href: str, next_href: str | None) -> ItemsPageBody:
    return ItemsPageBody(embedded=ItemsEmbedded(items=items), links=links(self_href, next_href))


def most_recent_order(order: Order, *, brand: str | None, self_href: str) -> MostRecentOrderBody:
    steps, current = status_info(order)
    return MostRecentOrderBody(
        id=order.id,
        order_number=order.order_number,
        customer_id=order.customer_id,
        brand=brand,
        status_info=steps,
        status_info_current_index=current,
        purchase_datetime=order.purchase_datetime,
        tracking_info=tracking_of(order),
        delivery_type=order.delivery_type,
        shipping_addresses=_addresses(order) or None,
        highlighted_item=highlighted_item(order.items),
        custom_fields=order.custom_fields or None,
        links=links(self_href),
    )


Branded = TypeVar("Branded", Shipment, Product)


def _branded(elements: list[Branded], brand: str | None) -> list[Branded]:
    """The configured brand wins over the one the platform gives, as on every body."""
    if brand is None:
        return elements
    return [element.model_copy(update={"brand": brand}) for element in elements]


def shipments_page(
    shipments: list[Shipment], *, brand: str | None, self_href: str, next_href: str | None
) -> ShipmentsPageBody:
    return ShipmentsPageBody(
        embedded=ShipmentsEmbedded(shipments=_branded(shipments, brand)),
        links=links(self_href, next_href),
    )


def products_page(
    products: list[Product], *, brand: str | None, self_href: str, next_href: str | None
) -> ProductsPageBody:
    return ProductsPageBody(
        embedded=ProductsEmbedded(products=_branded(products, brand)),
        links=links(self_href, next_href),
    )


def cart_body(cart: Cart, *, brand: str | None, self_href: str) -> CartBody:
    return CartBody(**{**dict(cart), "brand": brand or cart.brand}, links=links(self_href))
