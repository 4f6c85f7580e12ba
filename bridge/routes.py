"""The five ERC read routes (SPEC §1), each answered under both prefixes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.base import Capability, OrderListRequest, OrderSort
from adapters.deadline import within
from adapters.errors import AdapterError
from adapters.paging import sort_items
from bridge import links
from bridge.auth import CUSTOMERS_READ, ORDERS_READ, client_address
from bridge.cache import CacheStatus
from bridge.cursors import CursorError
from bridge.errors import ERCError, from_adapter_error, invalid_cursor, not_found
from bridge.params import ITEM_LIST, ORDER_LIST, SINGLE, Query, SortField, parse_query
from bridge.service import Bridge
from mappings import views
from mappings.wire import render

PREFIXES = ("/erc/ecommerce/connections", "/erc/ecommerce")
ORDER_SORT_FIELDS = ("purchase_datetime", "order_number")
ITEM_SORT_FIELDS = ("price", "name", "quantity", "sku")
DEFAULT_ORDER_SORT = SortField("purchase_datetime", descending=True)
CUSTOMER_TTL_S = 300.0  # customer profiles change rarely; orders and their status do


@dataclass(frozen=True)
class Call:
    """One authorized request to an ERC route, with its validated parameters."""

    request: Request
    bridge: Bridge
    query: Query

    @property
    def customer_id(self) -> str:
        return str(self.request.path_params["customer_id"])

    @property
    def order_id(self) -> str:
        return str(self.request.path_params["order_id"])

    @property
    def brand(self) -> str | None:
        return self.bridge.settings.brand

    @property
    def self_href(self) -> str:
        return links.self_href(self.request, self.bridge.settings.public_url)

    def resume(self, binding: Mapping[str, str | None]) -> dict[str, Any] | None:
        if self.query.cursor is None:
            return None
        try:
            return self.bridge.cursors.decode(self.query.cursor, binding)
        except CursorError as exc:
            raise invalid_cursor(str(exc)) from None

    def next_href(
        self, binding: Mapping[str, str | None], state: Mapping[str, Any] | None
    ) -> str | None:
        if state is None:
            return None
        cursor = self.bridge.cursors.encode(binding, state)
        return links.next_href(self.request, self.bridge.settings.public_url, cursor)


Handler = Callable[[Call], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ERCRoute:
    path: str
    handler: Handler
    scope: str
    capability: Capability
    accepts: Sequence[str] = SINGLE
    sort_fields: Sequence[str] = ()

    async def endpoint(self, request: Request) -> Response:
        bridge: Bridge = request.app.state.bridge
        try:
            principal = bridge.auth.authenticate(
                request.headers, client=client_address(request.scope)
            )
            bridge.auth.require(principal, self.scope)
            if self.capability not in bridge.adapter.capabilities:
                raise ERCError(
                    501,
                    "not_supported",
                    f"The {bridge.adapter.name} adapter cannot serve this route",
                )
            query = parse_query(
                request.query_params,
                path=request.path_params,
                accepts=self.accepts,
                sort_fields=self.sort_fields,
            )
            _check_brand(query.brand, bridge.settings.brand)
            call = Call(request, bridge, query)
            body, status = await bridge.cache.fetch(
                self.cache_key(call), self.cache_ttl(bridge), lambda: self.produce(call)
            )
        except AdapterError as exc:
            return _uncached(from_adapter_error(exc).response())
        except TimeoutError:
            timeout = ERCError(504, "upstream_timeout", "The platform did not answer in time")
            return _uncached(timeout.response())
        except ERCError as exc:
            return _uncached(exc.response())
        return Response(body, media_type="application/json", headers={"X-Cache": status})

    async def produce(self, call: Call) -> bytes:
        """The rendered body, fetched within the request deadline."""
        seconds = call.bridge.settings.deadline_s
        async with within(seconds):
            body = await self.handler(call)
        return render(body)

    def cache_key(self, call: Call) -> tuple[str, ...]:
        """Everything the body depends on: adapter, route, ids and the request as sent."""
        params = call.request.path_params
        return (
            call.bridge.adapter.name,
            self.path,
            str(params.get("customer_id", "")),
            str(params.get("order_id", "")),
            call.self_href,
        )

    def cache_ttl(self, bridge: Bridge) -> float:
        settings = bridge.settings
        if self.capability is Capability.CUSTOMER and settings.cache_ttl_s > 0:
            return CUSTOMER_TTL_S
        return settings.cache_ttl_s


def _uncached(response: Response) -> Response:
    response.headers["X-Cache"] = CacheStatus.MISS
    return response


def _check_brand(requested: str | None, configured: str | None) -> None:
    if requested and configured and requested.casefold() != configured.casefold():
        raise not_found(f"Brand {requested!r} is not served here")


async def get_customer(call: Call) -> BaseModel:
    customer = await call.bridge.adapter.get_customer(call.customer_id)
    return views.customer_body(customer, brand=call.brand, self_href=call.self_href)


async def list_orders(call: Call) -> BaseModel:
    sort = call.query.order_by or DEFAULT_ORDER_SORT
    binding = {
        "route": "orders",
        "customer": call.customer_id,
        "order_by": sort.text,
        "search": call.query.search,
    }
    page = await call.bridge.adapter.list_orders(
        OrderListRequest(
            customer_id=call.customer_id,
            limit=call.query.limit,
            sort=OrderSort(
                field="order_number" if sort.field == "order_number" else "purchase_datetime",
                descending=sort.descending,
            ),
            search=call.query.search,
            resume=call.resume(binding),
        )
    )
    return views.orders_page(
        list(page.orders),
        brand=call.brand,
        self_href=call.self_href,
        next_href=call.next_href(binding, page.resume),
    )


async def get_order(call: Call) -> BaseModel:
    order = await call.bridge.adapter.get_order(call.customer_id, call.order_id)
    return views.order_detail(order, brand=call.brand, self_href=call.self_href)


async def list_items(call: Call) -> BaseModel:
    sort = call.query.order_by
    binding = {
        "route": "items",
        "customer": call.customer_id,
        "order": call.order_id,
        "order_by": sort.text if sort else None,
    }
    state = call.resume(binding) or {}
    offset = state.get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise invalid_cursor("malformed cursor")
    items = await call.bridge.adapter.list_items(call.customer_id, call.order_id)
    ordered = sort_items(items, sort.field if sort else None, sort.descending if sort else False)
    end = offset + call.query.limit
    return views.items_page(
        ordered[offset:end],
        self_href=call.self_href,
        next_href=call.next_href(binding, {"offset": end} if end < len(ordered) else None),
    )


async def most_recent_order(call: Call) -> BaseModel:
    order = await call.bridge.adapter.most_recent_order(call.customer_id)
    return views.most_recent_order(order, brand=call.brand, self_href=call.self_href)


ERC_ROUTES = (
    ERCRoute("/customers/{customer_id}", get_customer, CUSTOMERS_READ, Capability.CUSTOMER),
    ERCRoute(
        "/customers/{customer_id}/orders",
        list_orders,
        ORDERS_READ,
        Capability.ORDERS,
        accepts=ORDER_LIST,
        sort_fields=ORDER_SORT_FIELDS,
    ),
    ERCRoute(
        "/customers/{customer_id}/orders/{order_id}", get_order, ORDERS_READ, Capability.ORDER
    ),
    ERCRoute(
        "/customers/{customer_id}/orders/{order_id}/items",
        list_items,
        ORDERS_READ,
        Capability.ITEMS,
        accepts=ITEM_LIST,
        sort_fields=ITEM_SORT_FIELDS,
    ),
    ERCRoute(
        "/customers/{customer_id}/most-recent-order",
        most_recent_order,
        ORDERS_READ,
        Capability.MOST_RECENT_ORDER,
    ),
)


def erc_routes() -> list[Route]:
    return [
        Route(prefix + route.path, route.endpoint, methods=["GET"])
        for prefix in PREFIXES
        for route in ERC_ROUTES
    ]
