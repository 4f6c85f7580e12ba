"""The built-in demo store: a sample shop shipped as a data file, no credentials needed.

It also takes the three writes (SPEC §7), kept in memory by this process: a restart
brings the store back as shipped. Its rules are a small shop's: nothing is cancelled or
redirected once it has left the warehouse.

Besides orders it has a small catalog (R7), the parcels of its orders (R6, built from the
orders as they are now, so a write shows in them) and carts (R8), by id or by customer.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources

import orjson

from adapters.base import (
    READ_CAPABILITIES,
    SHELF_CAPABILITIES,
    WRITE_CAPABILITIES,
    Adapter,
    OrderListRequest,
    OrderPage,
    ProductPage,
    ProductSearch,
    ShipmentListRequest,
    ShipmentPage,
    WriteResult,
)
from adapters.errors import NotAllowed, NotFound
from adapters.paging import EARLIEST, page_in_memory, page_of
from adapters.write_rules import as_read, asks_for_refund, shows_address
from mappings import demo as demo_mapping
from mappings.carts import Cart
from mappings.demo import NOT_YET_SHIPPED, cancelled_line, is_cancelled_line, left_the_shop
from mappings.models import Customer, Order, OrderItem, StatusEvent
from mappings.shelf import tracked_as
from mappings.shipments import Shipment
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus
from mappings.writes import CancelItems, CancelOrder, NewShippingAddress

CANCEL_OPTIONS_IGNORED = ("restock", "notify_customer", "staff_note", "custom_fields")
"""The demo store keeps no stock, sends no mail and has no notes or custom order data."""


def _shipped_lines(order: Order) -> list[OrderItem]:
    return [item for item in order.items or [] if any(map(left_the_shop, item.deliveries or []))]


def _why_not_changeable(order: Order) -> str | None:
    """The sentence an agent reads out when the order can no longer change, else None."""
    if order.status.detailed is DetailedStatus.PICKED_UP:
        return "the order has been picked up"
    if order.status.detailed is DetailedStatus.DELIVERED:
        return "the order has been delivered"
    if _shipped_lines(order) or order.status.detailed not in NOT_YET_SHIPPED:
        return "the order has shipped"
    return None


def _newest_first(shipment: Shipment, order: Order) -> tuple[datetime, str]:
    """A parcel not sent yet ranks by its order's date."""
    return (shipment.shipping_date or order.purchase_datetime or EARLIEST, shipment.id)


def _as_cancelled(order: Order, items: list[OrderItem]) -> dict[str, object]:
    """What cancelling changes in how the order reads, as the store's cancelled orders read
    (`ord_1003`, `ord_us_008`): every line cancelled, so nothing is left to deliver; its
    status is UNKNOWN (SPEC's tables map a cancelled order so), with no time since the store
    keeps none; the status it had becomes history."""
    reached = order.status.detailed is not DetailedStatus.UNKNOWN
    return {
        "items": [line if is_cancelled_line(line) else cancelled_line(line) for line in items],
        "cancellation_status": CancellationStatus.CANCELED,
        "status": StatusEvent(detailed=DetailedStatus.UNKNOWN),
        "status_history": [*order.status_history, order.status]
        if reached
        else order.status_history,
    }


class DemoAdapter(Adapter):
    name = "demo"
    capabilities = READ_CAPABILITIES | SHELF_CAPABILITIES | WRITE_CAPABILITIES

    def __init__(self, settings: None = None) -> None:
        super().__init__(settings)
        self._customers: dict[str, Customer] = {}
        self._orders: dict[str, list[Order]] = {}
        self._catalog = demo_mapping.DemoCatalog(currency="EUR", products=[])
        self._carts: dict[str, Cart] = {}

    async def open(self) -> None:
        raw = orjson.loads(
            resources.files("adapters").joinpath("data/demo_store.json").read_bytes()
        )
        store = demo_mapping.parse_store(raw)
        self._customers = {c.id: demo_mapping.customer(c) for c in store.customers}
        self._orders = {customer_id: [] for customer_id in self._customers}
        for raw_order in store.orders:
            self._orders[raw_order.customer_id].append(demo_mapping.order(raw_order))
        self._catalog = store.catalog
        self._carts = {c.id: demo_mapping.cart(c, store.catalog) for c in store.carts}

    def _orders_of(self, customer_id: str) -> list[Order]:
        if customer_id not in self._customers:
            raise NotFound(f"customer {customer_id} not found")
        return self._orders[customer_id]

    async def get_customer(self, customer_id: str) -> Customer:
        self._orders_of(customer_id)
        return self._customers[customer_id]

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        return page_in_memory(self._orders_of(request.customer_id), request)

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        return self._order_of(customer_id, order_id)

    def _order_of(self, customer_id: str, order_id: str) -> Order:
        """The customer's order; another customer's is answered exactly like a missing one."""
        for order in self._orders_of(customer_id):
            if order.id == order_id:
                return order
        raise NotFound(f"order {order_id} not found for customer {customer_id}")

    async def list_shipments(self, request: ShipmentListRequest) -> ShipmentPage:
        orders = (
            self._orders_of(request.customer_id)
            if request.order_id is None
            else [self._order_of(request.customer_id, request.order_id)]
        )
        ranked = sorted(
            (
                (_newest_first(shipment, order), shipment)
                for order in orders
                for shipment in demo_mapping.shipments(order)
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        selected = [
            shipment for _, shipment in ranked if tracked_as(shipment, request.tracking_number)
        ]
        shown, resume = page_of(selected, request.limit, request.resume)
        return ShipmentPage(shipments=shown, resume=resume)

    async def list_products(self, request: ProductSearch) -> ProductPage:
        currency = self._catalog.currency
        selected = [
            raw
            for raw in self._catalog.products
            if demo_mapping.matches_search(raw, request.search)
        ]
        shown, resume = page_of(selected, request.limit, request.resume)
        return ProductPage(
            products=[demo_mapping.product(raw, currency) for raw in shown], resume=resume
        )

    async def get_cart(self, *, cart_id: str | None = None, customer_id: str | None = None) -> Cart:
        if cart_id is not None:
            if cart_id not in self._carts:
                raise NotFound(f"cart {cart_id} not found")
            return self._carts[cart_id]
        self._orders_of(customer_id or "")  # an unknown customer is 404
        for found in self._carts.values():
            if found.customer_id == customer_id:
                return found
        raise NotFound(f"customer {customer_id} has no cart")

    def _replace(self, order: Order, **changes: object) -> None:
        orders = self._orders[order.customer_id]
        orders[orders.index(order)] = order.model_copy(update=changes)

    # Writes

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        order = await self.get_order(customer_id, order_id)
        # A refund is refused whatever the order's state, as on every platform: the same
        # body gets the same answer on an open order and on one cancelled already.
        if asks_for_refund(body):
            raise NotAllowed("the demo store takes no payments to refund", field="refund_method")
        if order.cancellation_status is CancellationStatus.CANCELED:
            return WriteResult("already_done", ignored=self._ignored(body))
        reason = _why_not_changeable(order)
        if reason is not None:
            raise NotAllowed(reason)
        custom = dict(order.custom_fields or {})
        if body.cancel_reason:
            custom["cancel_reason"] = body.cancel_reason
        self._replace(
            order, **_as_cancelled(order, order.items or []), custom_fields=custom or None
        )
        return WriteResult("applied", ignored=self._ignored(body))

    @staticmethod
    def _ignored(body: CancelOrder) -> tuple[str, ...]:
        return tuple(name for name in body.given() if name in CANCEL_OPTIONS_IGNORED)

    async def change_shipping_address(
        self, customer_id: str, order_id: str, address: NewShippingAddress
    ) -> WriteResult:
        order = await self.get_order(customer_id, order_id)
        current = order.shipping_address
        if shows_address(current, address):
            return WriteResult("already_done")
        if order.cancellation_status is CancellationStatus.CANCELED:
            raise NotAllowed("the order is cancelled")
        if order.delivery_type not in (DeliveryType.SHIPPING, DeliveryType.LOCAL_DELIVERY):
            raise NotAllowed("the order is not delivered to an address")
        reason = _why_not_changeable(order)
        if reason is not None:
            raise NotAllowed(reason)
        self._replace(order, shipping_address=as_read(address, current))
        return WriteResult("applied")

    async def cancel_items(self, customer_id: str, order_id: str, body: CancelItems) -> WriteResult:
        order = await self.get_order(customer_id, order_id)
        lines = {item.id: item for item in order.items or []}
        wanted = [lines[line_id] for line_id in body.ids if line_id in lines]
        if len(wanted) != len(body.ids):
            raise NotFound(f"order {order_id} has no such product line")
        # A cancelled order's lines are all cancelled: asking again is already done.
        if all(map(is_cancelled_line, wanted)):
            return WriteResult("already_done")
        shipped = {item.id for item in _shipped_lines(order)}
        for index, line_id in enumerate(body.ids):
            if line_id in shipped:
                raise NotAllowed(f"the product line {line_id} has shipped", field=f"ids[{index}]")
        cancelled = {item.id for item in wanted}
        items = [
            cancelled_line(item) if item.id in cancelled else item for item in order.items or []
        ]
        if all(map(is_cancelled_line, items)):
            self._replace(order, **_as_cancelled(order, items))
        else:
            self._replace(order, items=items)
        return WriteResult("applied")
