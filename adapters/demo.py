"""The built-in demo store: a sample shop shipped as a data file, no credentials needed."""

from __future__ import annotations

from importlib import resources

import orjson

from adapters.base import Adapter, OrderListRequest, OrderPage
from adapters.errors import NotFound
from adapters.paging import page_in_memory
from mappings import demo as demo_mapping
from mappings.models import Customer, Order


class DemoAdapter(Adapter):
    name = "demo"

    def __init__(self, settings: None = None) -> None:
        super().__init__(settings)
        self._customers: dict[str, Customer] = {}
        self._orders: dict[str, list[Order]] = {}

    async def open(self) -> None:
        raw = orjson.loads(
            resources.files("adapters").joinpath("data/demo_store.json").read_bytes()
        )
        store = demo_mapping.parse_store(raw)
        self._customers = {c.id: demo_mapping.customer(c) for c in store.customers}
        self._orders = {customer_id: [] for customer_id in self._customers}
        for raw_order in store.orders:
            self._orders[raw_order.customer_id].append(demo_mapping.order(raw_order))

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
        for order in self._orders_of(customer_id):
            if order.id == order_id:
                return order
        raise NotFound(f"order {order_id} not found for customer {customer_id}")
