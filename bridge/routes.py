"""The ERC read routes (SPEC §1, §8), each answered under both prefixes, and the delivery
slot routes no platform here can serve (501)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from adapters.base import (
    Capability,
    OrderListRequest,
    OrderSort,
    ProductSearch,
    ShipmentListRequest,
)
from adapters.deadline import deadline_after, remaining, request_given, within
from adapters.paging import sort_items
from adapters.resources import customer_tag, order_tag
from bridge import links
from bridge.auth import CUSTOMERS_READ, ORDERS_READ, ORDERS_WRITE, client_address
from bridge.cache import CacheStatus
from bridge.cursors import CursorError
from bridge.errors import ANSWERED, PRIVATE, ERCError, error_of, invalid_cursor, not_found
from bridge.params import (
    CART_LOOKUP,
    ITEM_LIST,
    ORDER_LIST,
    PRODUCT_LIST,
    SHIPMENT_LIST,
    SINGLE,
    Given,
    Query,
    SortField,
    parse_query,
)
from bridge.request import RESPONSE_STARTED_KEY, request_headers
from bridge.server import answer_at_once
from bridge.service import Bridge
from mappings import views
from mappings.wire import render

PREFIXES = ("/erc/ecommerce/connections", "/erc/ecommerce")
ORDER_SORT_FIELDS = ("purchase_datetime", "order_number")
ITEM_SORT_FIELDS = ("price", "name", "quantity", "sku")
DEFAULT_ORDER_SORT = SortField("purchase_datetime", descending=True)

CacheKey = tuple[str, str, str, bytes | str, str, Given]
"""Route, customer id, order id, path as sent, base URL, known parameters."""


@dataclass(slots=True)
class RouteRequest:
    """One authorized request to an ERC route, with its validated parameters."""

    scope: Scope
    bridge: Bridge
    query: Query
    base_url: str

    @property
    def customer_id(self) -> str:
        return str(self.scope["path_params"]["customer_id"])

    @property
    def owner(self) -> str | None:
        """The customer whose data the answer shows; None for the catalog, or a cart
        looked up by its id."""
        path_customer = self.scope["path_params"].get("customer_id")
        return str(path_customer) if path_customer else self.query.id_of("customer_id")

    @property
    def order_id(self) -> str:
        return str(self.scope["path_params"]["order_id"])

    @property
    def brand(self) -> str | None:
        return self.bridge.settings.brand

    @property
    def self_href(self) -> str:
        return links.self_href(self.scope, self.base_url, self.query.given)

    def as_requested(self, body: bytes) -> bytes:
        """The answer as this caller request: its own query in the self href."""
        if not self.scope["query_string"]:
            return body  # the canonical href is the path alone, as sent
        requested = links.request_href(self.scope, self.base_url)
        return links.as_requested(body, self.self_href, requested)

    def resume(self, binding: Mapping[str, str | None]) -> dict[str, Any] | None:
        if self.query.cursor is None:
            return None
        try:
            return self.bridge.cursors.decode(self.query.cursor, binding)
        except CursorError as exc:
            raise invalid_cursor(str(exc)) from None

    def page_links(
        self, binding: Mapping[str, str | None], state: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """What a list page body is built with besides its elements: brand and links."""
        return {
            "brand": self.brand,
            "self_href": self.self_href,
            "next_href": self.next_href(binding, state),
        }

    def next_href(
        self, binding: Mapping[str, str | None], state: Mapping[str, Any] | None
    ) -> str | None:
        if state is None:
            return None
        cursor = self.bridge.cursors.encode(binding, state)
        return links.next_href(self.scope, self.base_url, self.query.given, cursor)


Handler = Callable[[RouteRequest], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ERCRoute:
    """What one ERC route is: its path under each prefix, what it needs and accepts."""

    path: str
    handler: Handler
    oauth_scope: str
    capability: Capability
    accepts: Sequence[str] = SINGLE
    sort_fields: Sequence[str] = ()
    exactly_one: Sequence[str] = ()
    """Query parameters of which a request must give exactly one (R8: customer or cart)."""


class Endpoint:
    """A pure ASGI app that the front door may also call as a `Responder`
    (bridge/middleware.py), adding headers of its own and learning the status sent."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.respond(scope, receive, send)

    async def respond(
        self, scope: Scope, receive: Receive, send: Send, *extra: tuple[bytes, bytes]
    ) -> int:
        """Send the answer, with `extra` headers; its status."""
        raise NotImplementedError


class ERCEndpoint(Endpoint):
    """One route served by one bridge, as a pure ASGI app: the rendered body with its
    `X-Cache` status, or the ERC error."""

    def __init__(self, route: ERCRoute, bridge: Bridge) -> None:
        self.route = route
        self.bridge = bridge

    async def respond(
        self, scope: Scope, receive: Receive, send: Send, *extra: tuple[bytes, bytes]
    ) -> int:
        """Send the answer, with `extra` headers; its status."""
        try:
            key, request = self.prepare(scope)
            body, status = self.bridge.cache.fresh(key), CacheStatus.HIT
            if body is None:
                settings = self.bridge.settings
                # One deadline from here: waiting for another replica's body and making it
                # here share it (`produce` gets what is left), rather than a new one each.
                with request_given(settings.deadline_s), deadline_after(settings.deadline_s):
                    body, status = await self.bridge.cache.refresh(
                        key,
                        settings.cache_ttl_s,
                        lambda: self.produce(request),
                        owner=request.owner,
                    )
            body = request.as_requested(body)
        except ANSWERED as exc:
            error = error_of(exc)
        else:
            # Safe to write as they are (`answer_at_once`): a length, three constants, and
            # the front door's request id, its own or a caller's that passed `_SAFE_REQUEST_ID`.
            headers = [
                (b"content-length", b"%d" % len(body)),
                _JSON,
                _X_CACHE[status],
                PRIVATE,
                *extra,
            ]
            scope[RESPONSE_STARTED_KEY] = 200
            if not answer_at_once(send, 200, headers, body):
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            return 200
        response = error.response()
        response.raw_headers += [_X_CACHE[CacheStatus.MISS], *extra]
        await response(scope, receive, send)
        return error.status

    def prepare(self, scope: Scope) -> tuple[CacheKey, RouteRequest]:
        """Everything settled before the platform: who calls, with what parameters, and
        the cache key of the answer (an ERCError when the request cannot be answered)."""
        route, bridge = self.route, self.bridge
        headers = authorize(bridge, scope, route.oauth_scope)
        if route.capability not in bridge.adapter.capabilities:
            raise ERCError(
                501,
                "not_supported",
                f"The {bridge.adapter.name} adapter cannot serve this route",
            )
        query = parse_query(
            query_params(scope),
            path=scope["path_params"],
            accepts=route.accepts,
            sort_fields=route.sort_fields,
            exactly_one=route.exactly_one,
        )
        check_brand(query.brand, bridge.settings.brand)
        base = links.base_url(scope, headers.get("host"), bridge.settings.public_url)
        return self.cache_key(scope, base, query), RouteRequest(scope, bridge, query, base)

    async def produce(self, request: RouteRequest) -> bytes:
        """The rendered body, fetched within what is left of the request deadline. A
        request that fails keeps none of the platform resources it read: one of them may
        be why (a body naming another customer, a field the bridge cannot read), and the
        next request must ask the platform again."""
        left = remaining()
        try:
            async with within(request.bridge.settings.deadline_s if left is None else left):
                body = await self.route.handler(request)
        except Exception:
            _forget_resources_of(request)
            raise
        return render(body)

    def cache_key(self, scope: Scope, base: str, query: Query) -> CacheKey:
        """Everything the body depends on, each part in its own place (no concatenation
        can make two requests alike): route, ids, the path and base its links repeat, and
        the known parameters in canonical form. Unknown parameters are not part of it:
        a request that adds some is answered from the entry of the one without them."""
        ids = scope["path_params"]
        return (
            self.route.path,
            ids.get("customer_id", ""),
            ids.get("order_id", ""),
            scope.get("raw_path") or scope["path"],
            base,
            query.given,
        )


def authorize(bridge: Bridge, scope: Scope, oauth_scope: str) -> Mapping[str, str]:
    """The request's headers, once its credentials are known to grant `oauth_scope`."""
    headers = request_headers(scope)
    principal = bridge.auth.authenticate(headers, client=client_address(scope))
    bridge.auth.require(principal, oauth_scope)
    return headers


class UnservedEndpoint(Endpoint):
    """A route of the ERC family no platform here can serve (SPEC §8: delivery slots):
    501 `not_supported` to a caller whose credentials grant its scope."""

    def __init__(self, bridge: Bridge, oauth_scope: str, method: str) -> None:
        self.bridge = bridge
        self.oauth_scope = oauth_scope
        self.method = method

    async def respond(
        self, scope: Scope, receive: Receive, send: Send, *extra: tuple[bytes, bytes]
    ) -> int:
        try:
            if scope["method"] not in (self.method, "HEAD" if self.method == "GET" else ""):
                # The front door hands every GET of an ERC path here, the POST route's too.
                raise ERCError(
                    405,
                    "method_not_allowed",
                    "Method not allowed on this route",
                    headers={"Allow": self.method},
                )
            authorize(self.bridge, scope, self.oauth_scope)
            check_brand(parse_query(query_params(scope)).brand, self.bridge.settings.brand)
            raise ERCError(
                501,
                "not_supported",
                f"The {self.bridge.adapter.name} adapter has no delivery slots",
            )
        except ANSWERED as exc:
            error = error_of(exc)
        response = error.response()
        response.raw_headers += extra
        await response(scope, receive, send)
        return error.status


_NO_PARAMS = QueryParams()
_X_CACHE = {status: (b"x-cache", status.value.encode()) for status in CacheStatus}
_JSON = (b"content-type", b"application/json")


def query_params(scope: Scope) -> QueryParams:
    """The request's query parameters, parsed only when there are some."""
    query_string: bytes = scope["query_string"]
    return QueryParams(query_string) if query_string else _NO_PARAMS


def check_brand(requested: str | None, configured: str | None) -> None:
    """SPEC §1: every route, read or write, is 404 to a request naming a brand this
    store is not; any spelling of its own brand, or none, is served."""
    if requested and configured and requested.casefold() != configured.casefold():
        raise not_found(f"Brand {requested!r} is not served here")


async def get_customer(request: RouteRequest) -> BaseModel:
    customer = await request.bridge.adapter.get_customer(request.customer_id)
    return views.customer_body(customer, brand=request.brand, self_href=request.self_href)


async def list_orders(request: RouteRequest) -> BaseModel:
    sort = request.query.order_by or DEFAULT_ORDER_SORT
    binding = {
        "route": "orders",
        "customer": request.customer_id,
        "order_by": sort.text,
        "search": request.query.search,
    }
    page = await request.bridge.adapter.list_orders(
        OrderListRequest(
            customer_id=request.customer_id,
            limit=request.query.limit,
            sort=OrderSort(
                field="order_number" if sort.field == "order_number" else "purchase_datetime",
                descending=sort.descending,
            ),
            search=request.query.search,
            resume=request.resume(binding),
        )
    )
    return views.orders_page(list(page.orders), **request.page_links(binding, page.resume))


async def get_order(request: RouteRequest) -> BaseModel:
    order = await request.bridge.adapter.get_order(request.customer_id, request.order_id)
    return views.order_detail(order, brand=request.brand, self_href=request.self_href)


async def list_items(request: RouteRequest) -> BaseModel:
    sort = request.query.order_by
    binding = {
        "route": "items",
        "customer": request.customer_id,
        "order": request.order_id,
        "order_by": sort.text if sort else None,
    }
    state = request.resume(binding) or {}
    offset = state.get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise invalid_cursor("malformed cursor")
    items = await request.bridge.adapter.list_items(request.customer_id, request.order_id)
    ordered = sort_items(items, sort.field if sort else None, sort.descending if sort else False)
    end = offset + request.query.limit
    return views.items_page(
        ordered[offset:end],
        self_href=request.self_href,
        next_href=request.next_href(binding, {"offset": end} if end < len(ordered) else None),
    )


async def most_recent_order(request: RouteRequest) -> BaseModel:
    order = await request.bridge.adapter.most_recent_order(request.customer_id)
    return views.most_recent_order(order, brand=request.brand, self_href=request.self_href)


async def list_shipments(request: RouteRequest) -> BaseModel:
    order_id = request.query.id_of("order_id")
    tracking_number = request.query.tracking_number
    binding = {
        "route": "shipments",
        "customer": request.customer_id,
        "order_id": order_id,
        "tracking_number": tracking_number,
    }
    page = await request.bridge.adapter.list_shipments(
        ShipmentListRequest(
            customer_id=request.customer_id,
            limit=request.query.limit,
            order_id=order_id,
            tracking_number=tracking_number,
            resume=request.resume(binding),
        )
    )
    return views.shipments_page(list(page.shipments), **request.page_links(binding, page.resume))


async def list_products(request: RouteRequest) -> BaseModel:
    binding = {"route": "products", "search": request.query.search}
    page = await request.bridge.adapter.list_products(
        ProductSearch(
            limit=request.query.limit,
            search=request.query.search,
            resume=request.resume(binding),
        )
    )
    return views.products_page(list(page.products), **request.page_links(binding, page.resume))


async def get_cart(request: RouteRequest) -> BaseModel:
    cart = await request.bridge.adapter.get_cart(
        cart_id=request.query.id_of("cart_id"), customer_id=request.query.id_of("customer_id")
    )
    return views.cart_body(cart, brand=request.brand, self_href=request.self_href)


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
    ERCRoute(
        "/customers/{customer_id}/shipments",
        list_shipments,
        ORDERS_READ,
        Capability.SHIPMENTS,
        accepts=SHIPMENT_LIST,
    ),
    ERCRoute("/products", list_products, CUSTOMERS_READ, Capability.PRODUCTS, accepts=PRODUCT_LIST),
    ERCRoute(
        "/customers/cart",
        get_cart,
        CUSTOMERS_READ,
        Capability.CART,
        accepts=CART_LOOKUP,
        exactly_one=("customer_id", "cart_id"),
    ),
)
SLOT_ROUTES = (
    ("POST", "/customers/{customer_id}/shipments/schedule", ORDERS_WRITE),
    ("GET", "/customers/shipments/available-slots", ORDERS_READ),
)
"""Method, path and scope of the delivery slot routes: 501 on every adapter (SPEC §8)."""


def _matching_order(path: str) -> tuple[bool, ...]:
    """Literal segments before parameters: `/customers/cart` is R8, not the customer
    `cart` of R1."""
    return tuple(segment.startswith("{") for segment in path.split("/"))


def erc_routes(bridge: Bridge) -> list[Route]:
    """Every route of this module, each under both prefixes, in matching order."""
    reads: list[tuple[str, list[str], ERCEndpoint | UnservedEndpoint]] = [
        (route.path, ["GET"], ERCEndpoint(route, bridge)) for route in ERC_ROUTES
    ]
    slots = [
        (path, [method], UnservedEndpoint(bridge, scope, method))
        for method, path, scope in SLOT_ROUTES
    ]
    ordered = sorted([*reads, *slots], key=lambda entry: _matching_order(entry[0]))
    return [
        Route(prefix + path, endpoint, methods=methods)
        for prefix in PREFIXES
        for path, methods, endpoint in ordered
    ]


def _forget_resources_of(request: RouteRequest) -> None:
    resources = request.bridge.adapter.resources
    if resources is None:
        return
    ids = request.scope["path_params"]
    if "customer_id" in ids:
        resources.forget(customer_tag(str(ids["customer_id"])))
    if "order_id" in ids:
        resources.forget(order_tag(str(ids["order_id"])))
