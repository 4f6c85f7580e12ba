"""BigCommerce: customers (V3) and their orders (V2) over the store's REST API (platforms.md §5).

Every call goes through one `UpstreamClient` with the store's API account token in
`X-Auth-Token`. BigCommerce answers an empty list with 204 and no body. Platform errors are
translated by `HTTPAdapter.raise_for_status`, unreadable bodies in `adapters.http.readable`;
nothing else decides what an upstream failure means. The store's request quota, which BigCommerce
reports on every answer, is respected before each call (`RateWindow`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar, Unpack

import pycountry
import structlog
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.answers import LogFields, PlatformProblem
from adapters.base import (
    READ_CAPABILITIES,
    SHELF_CAPABILITIES,
    AheadRead,
    CallOptions,
    Capability,
    HTTPAdapter,
    OrderListRequest,
    OrderPage,
    ProductPage,
    ProductSearch,
    Resume,
    ShipmentListRequest,
    ShipmentPage,
    WriteResult,
    no_cart,
    no_customer,
    no_order,
)
from adapters.breaker import Ahead
from adapters.deadline import remaining
from adapters.errors import (
    AdapterError,
    NotAllowed,
    NotFound,
    NotSupported,
    UnservableRequest,
    UpstreamUnavailable,
    not_sent,
)
from adapters.http import HTTPConfig, path_segment, readable, retry_after_seconds
from adapters.paging import page_in_memory, resume_offset
from adapters.resources import Tag, customer_tag, order_tags
from adapters.responses import PlatformResponse, ResponseHeaders
from adapters.settings_types import OptionalLongSecret, Secret, url_rule
from adapters.shipment_paging import shipments_page
from adapters.tasks import all_of, calls_together, start_task
from adapters.webhooks import (
    WebhookEvent,
    check_standard_headers,
    check_standard_signature,
    identifier,
    json_object,
    nested,
    unreadable,
)
from adapters.write_rules import recipient, refuse_refund, shows_address
from adapters.writing import write_once
from mappings import bigcommerce as bc
from mappings import bigcommerce_shelf as shelf
from mappings.carts import Cart
from mappings.models import Customer, Order, OrderItem
from mappings.shipments import Shipment
from mappings.writes import CancelOrder, NewShippingAddress

PLATFORM = "bigcommerce"
PUBLIC_API = "https://api.bigcommerce.com"
PAGE_MAX = 250
"""BigCommerce's largest V2 page."""
QUOTA_MARGIN_S = 0.05
MAX_QUOTA_WAIT_S = 60.0
"""The longest wait a quota reset is taken to mean (its windows last 30 s)."""
SHIPMENT_ORDERS_PER_PAGE = 10
"""How many of the customer's orders one page of shipments reads: one or two `/v2/orders`
calls, then shipments and product lines (two calls) of each of them that shipped."""
CATALOG_ENDPOINT = "/v3/catalog/products"
STORE_ENDPOINT = "/v2/store"
STORE_TAGS: tuple[Tag, ...] = (("store", "settings"),)
"""What the store's settings belong to: neither an order nor a customer."""
CART_ENDPOINT = "/v3/carts/{id}"
CART_INCLUDES = "line_items.physical_items.options,line_items.digital_items.options"

# BigCommerce ids are positive integers. Anything else names nothing there, and `0` is
# the guest "customer": its orders belong to nobody.
_ID = re.compile(r"[1-9][0-9]{0,18}")
_STORE_HASH = re.compile(r"[A-Za-z0-9]+")
_CART_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")
"""BigCommerce cart ids are UUIDs: anything else names no cart."""
_SORT_FIELDS = {"purchase_datetime": "date_created", "order_number": "id"}

ORDER_ENDPOINT = "/v2/orders/{id}"
DESTINATION_ENDPOINT = "/v2/orders/{id}/shipping_addresses/{address_id}"
TOO_LATE = {
    0: "the order was never completed at checkout",
    2: "the order has shipped",
    3: "part of the order has shipped",
    4: "the order has been refunded",
    5: "the order is cancelled",
    6: "the order's payment was declined",
    10: "the order is completed",
    13: "the order's payment is disputed",
    14: "part of the order has been refunded",
}
"""Why an order in a status past `bc.BEFORE_SHIPPING` can no longer be changed."""

log = structlog.get_logger("erc_bridge.bigcommerce")

M = TypeVar("M", bound=BaseModel)


class BigCommerceSettings(BaseSettings):
    """`BIGCOMMERCE_*`: the store and an API account token with read-only scopes."""

    model_config = SettingsConfigDict(
        env_prefix="BIGCOMMERCE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    store_hash: str = Field(
        description="the store hash, as in `https://api.bigcommerce.com/stores/{store_hash}/v3/`"
    )
    access_token: Secret = Field(
        description="the access token of a store-level API account; sent as `X-Auth-Token`, "
        "never logged"
    )
    base_url: Annotated[str, url_rule(example=PUBLIC_API)] = Field(
        default=PUBLIC_API, description="the API host, e.g. a gateway in front of it"
    )
    webhook_secret: OptionalLongSecret = Field(
        default=None,
        description="the client secret of the app that registered the webhooks, which signs "
        "each delivery; unset, `POST /webhooks/bigcommerce` answers 404",
    )

    @field_validator("store_hash")
    @classmethod
    def _store_hash(cls, value: str) -> str:
        value = value.strip()
        if not _STORE_HASH.fullmatch(value):
            raise ValueError("must be the store hash from the API path, e.g. abc123")
        return value

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/stores/{self.store_hash}"


class RateWindow:
    """The store's request quota as BigCommerce last reported it.

    All apps on a store share one quota per time window (`X-Rate-Limit-*` on every answer).
    Once it is used up, a call before the window resets only earns a 429.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._blocked_until = 0.0

    def observe(self, headers: ResponseHeaders) -> None:
        left = _header_int(headers, "x-rate-limit-requests-left")
        reset_ms = _header_int(headers, "x-rate-limit-time-reset-ms")
        if left is None or reset_ms is None:
            return
        self._blocked_until = self._clock() + _quota_wait(reset_ms) if left <= 0 else 0.0

    def wait(self) -> float:
        """Seconds until the quota allows another call; 0 when it does now."""
        return max(self._blocked_until - self._clock(), 0.0)


class BigCommerceAdapter(HTTPAdapter):
    name = "bigcommerce"
    capabilities = (
        READ_CAPABILITIES
        | SHELF_CAPABILITIES
        | {Capability.CANCEL_ORDER, Capability.CHANGE_SHIPPING_ADDRESS}
    )
    settings_class = BigCommerceSettings
    settings: BigCommerceSettings
    title = "BigCommerce"
    credentials = (
        "BIGCOMMERCE_ACCESS_TOKEN and its Orders and Customers scopes "
        "(Orders: modify for the write routes)"
    )

    def __init__(
        self,
        settings: BigCommerceSettings | None = None,
        *,
        http: HTTPConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(settings, http=http)
        self._sleep = sleep
        self.quota = RateWindow(clock)

    async def open(self) -> None:
        self._upstream = self.connect(
            self.settings.api_root,
            headers={
                "Accept": "application/json",
                "X-Auth-Token": self.settings.access_token.get_secret_value(),
            },
            sleep=self._sleep,
            retry_after=_quota_reset,
        )

    async def probe(self) -> None:
        """The smallest read of the resource the bridge needs most (204 for a new store)."""
        await self.get_json("/v2/orders", endpoint="/v2/orders", params={"limit": 1})

    def check_webhook_headers(self, headers: Mapping[str, str], *, now: float) -> None:
        self._webhook_key()
        check_standard_headers(headers, now=now)

    def read_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float) -> WebhookEvent:
        """A Standard Webhooks delivery signed with the app's client secret; its body is
        thin (`{scope, data: {type, id}}`) and never names the order's customer."""
        delivery_id = check_standard_signature(headers, body, self._webhook_key(), now=now)
        return _webhook_event(delivery_id, json_object(body))

    def _webhook_key(self) -> bytes:
        secret = self.settings.webhook_secret
        if secret is None:
            raise NotSupported("BIGCOMMERCE_WEBHOOK_SECRET is not set")
        return secret.get_secret_value().encode()

    # Routes

    async def get_customer(self, customer_id: str) -> Customer:
        found = await self._customer(customer_id)
        with readable(PLATFORM, "/v3/customers"):
            return bc.customer(found)

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        customer = _number(request.customer_id, missing=no_customer(request.customer_id))
        if request.search:
            # BigCommerce cannot search inside order numbers: page over all of them.
            every = await self._every_order(customer)
            if not every:
                await self._customer(request.customer_id)
            return page_in_memory(self._orders(every), request)
        field = _SORT_FIELDS[request.sort.field]
        sort = f"{field}:{'desc' if request.sort.descending else 'asc'}"
        limit = min(max(request.limit, 1), PAGE_MAX)
        offset = resume_offset(request.resume)
        page = await self._orders_slice(customer, sort, start=offset, count=limit)
        if not page and offset == 0:
            await self._customer(request.customer_id)
        # A next page is promised only when an order is known to be on it.
        more = len(page) == limit and bool(
            await self._orders_slice(customer, sort, start=offset + limit, count=1)
        )
        return OrderPage(
            orders=self._orders(page),
            resume={"offset": offset + limit} if more else None,
        )

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        tags = order_tags(order_id, customer_id)
        raw = await self._owned_order(customer_id, order_id, tags)
        return await self._complete(raw, tags)

    async def list_items(self, customer_id: str, order_id: str) -> list[OrderItem]:
        tags = order_tags(order_id, customer_id)
        raw = await self._owned_order(customer_id, order_id, tags)
        return list((await self._complete(raw, tags, with_addresses=False)).items or [])

    async def most_recent_order(self, customer_id: str) -> Order:
        customer = _number(customer_id, missing=no_customer(customer_id))
        newest = await self._orders_page(customer, "date_created:desc", page=1, limit=1)
        if not newest:
            await self._customer(customer_id)
            raise NotFound(f"Customer {customer_id} has no orders")
        return await self._complete(newest[0], order_tags(str(newest[0].id), customer_id))

    # Shipments, products and the cart (SPEC §8)

    async def list_shipments(self, request: ShipmentListRequest) -> ShipmentPage:
        """Shipments of the customer's orders, newest order first, at most
        `SHIPMENT_ORDERS_PER_PAGE` orders a page; with `order_id` that order only."""
        customer = _number(request.customer_id, missing=no_customer(request.customer_id))

        async def customer_orders(start: int, count: int) -> tuple[list[bc.BCOrder], bool]:
            # One order more than the page reads says whether another page follows.
            batch = await self._orders_slice(
                customer, "date_created:desc", start=start, count=count + 1
            )
            return batch[:count], len(batch) > count

        return await shipments_page(
            request,
            order=lambda order_id: self._owned_order(request.customer_id, order_id),
            orders=customer_orders,
            shipments_of=self._shipments_of,
            customer=lambda: self._customer(request.customer_id),
            orders_per_page=SHIPMENT_ORDERS_PER_PAGE,
        )

    async def list_products(self, request: ProductSearch) -> ProductPage:
        """Visible catalog products; `search` is BigCommerce's `keyword` (name, SKU,
        description, brand). The cursor holds where the next page starts, so each request's
        own `limit` is honoured (`_slice`). One round a page while the limit stays the same:
        the catalog call and, alongside it, the store's currency unless it is kept
        (`_store_currency`)."""
        limit = min(max(request.limit, 1), PAGE_MAX)
        offset = _catalog_offset(request.resume)
        params: dict[str, str | int] = {"include": "variants,images,options", "is_visible": "true"}
        if request.search:
            params["keyword"] = request.search

        async def catalog_page(page: int, size: int) -> tuple[list[shelf.BCCatalogProduct], bool]:
            raw = await self.get_json(
                "/v3/catalog/products",
                endpoint=CATALOG_ENDPOINT,
                params={**params, "page": page, "limit": size},
            )
            with readable(PLATFORM, CATALOG_ENDPOINT):
                found = bc.parse(shelf.BCCatalogPage, _or_empty(raw, {"data": []}))
            return found.data, found.has_more

        store = (
            None
            if self.holds(STORE_ENDPOINT, {})
            else Ahead(lambda: self.read_ahead(STORE_ENDPOINT, endpoint=STORE_ENDPOINT, params={}))
        )
        try:
            found, more = await _slice(catalog_page, start=offset, count=limit)
            if not found:
                return ProductPage(products=[])
            currency = await self._store_currency(store)
        finally:
            if store is not None:
                store.settle()
        with readable(PLATFORM, CATALOG_ENDPOINT):
            products = [shelf.product(product, currency=currency) for product in found]
        return ProductPage(products=products, resume={"offset": offset + limit} if more else None)

    async def get_cart(self, *, cart_id: str | None = None, customer_id: str | None = None) -> Cart:
        """By id only: BigCommerce's API has no lookup of a customer's cart."""
        if cart_id is None:
            raise UnservableRequest(
                "BigCommerce finds carts only by their id; look the cart up by cart_id",
                field="customer_id",
            )
        missing = no_cart(cart_id)
        if not _CART_ID.fullmatch(cart_id):
            raise NotFound(missing)
        raw = await self.get_json(
            f"/v3/carts/{path_segment(cart_id)}",
            endpoint=CART_ENDPOINT,
            params={"include": CART_INCLUDES},
            missing=missing,
        )
        with readable(PLATFORM, CART_ENDPOINT):
            return shelf.cart(bc.parse(shelf.BCCartDocument, raw))

    async def _shipments_of(self, raw: bc.BCOrder) -> list[Shipment]:
        """No call for an order that shipped nothing."""
        if raw.items_shipped <= 0:
            return []
        path = _order_path(str(raw.id))
        missing = no_order(str(raw.id))
        with calls_together() as group:
            sent = start_task(
                self._every(f"{path}/shipments", shelf.BCShipmentRecord, missing=missing)
            )
            lines = start_task(self._every(f"{path}/products", bc.BCProduct, missing=missing))
        await all_of(sent, lines, group=group)
        with readable(PLATFORM, "/v2/orders/{id}/shipments"):
            return shelf.shipments(raw, sent.result(), lines.result())

    async def _store_currency(self, ahead: Ahead[AheadRead] | None) -> str:
        """The store's default currency, as `ahead` read it (None: it is kept, so nothing
        was asked for alongside), kept among the resources for the cache lifetime: a store
        all but never changes it, and R7 needs it every page."""
        read = (
            None if ahead is None else await self.used_ahead(ahead, STORE_ENDPOINT, {}, STORE_TAGS)
        )
        raw = (
            read.raw
            if read is not None
            else await self.get_json(STORE_ENDPOINT, endpoint=STORE_ENDPOINT, tags=STORE_TAGS)
        )
        with readable(PLATFORM, STORE_ENDPOINT):
            return bc.parse(shelf.BCStoreInfo, raw).currency

    # Writes (SPEC §7): BigCommerce has no idempotency keys and enforces no status
    # transitions, so the rules are checked here and each write is sent at most once.

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        raw, notes = await self._owned_order_with_notes(customer_id, order_id)
        refuse_refund(body, platform=self.title)
        if raw.status_id == bc.CANCELLED:
            return WriteResult("already_done")
        _check_before_shipping(raw)
        changes: dict[str, Any] = {"status_id": bc.CANCELLED}
        staff_notes = _staff_notes(notes.staff_notes, body)
        if staff_notes is not None:
            changes["staff_notes"] = staff_notes

        async def cancelled() -> bool:
            fresh = await self._owned_order(customer_id, order_id)
            return fresh.status_id == bc.CANCELLED

        path = _order_path(str(raw.id))
        await self._put_once(path, changes, ORDER_ENDPOINT, order_id, shows_change=cancelled)
        return WriteResult("applied", ignored=_ignored_cancel_options(body))

    async def change_shipping_address(
        self, customer_id: str, order_id: str, address: NewShippingAddress
    ) -> WriteResult:
        raw = await self._owned_order(customer_id, order_id)
        _check_before_shipping(raw)
        order_path = _order_path(str(raw.id))

        async def destinations() -> list[bc.BCAddress]:
            return await self._every(
                f"{order_path}/shipping_addresses", bc.BCAddress, missing=no_order(order_id)
            )

        found = await destinations() if raw.shipping_address_count > 0 else []
        if len(found) != 1:
            raise NotAllowed(
                "the order ships to more than one address"
                if found
                else "the order has no shipping address"
            )
        current = found[0]

        def ships_there(destination: bc.BCAddress) -> bool:
            with readable(PLATFORM, "/v2/orders/{id}/shipping_addresses"):
                return shows_address(bc.address(destination), address)

        if ships_there(current):
            return WriteResult("already_done")

        async def moved() -> bool:
            fresh = await destinations()
            return any(d.id == current.id and ships_there(d) for d in fresh)

        await self._put_once(
            f"{order_path}/shipping_addresses/{path_segment(current.id or '')}",
            _new_destination(address, current),
            DESTINATION_ENDPOINT,
            order_id,
            shows_change=moved,
        )
        return WriteResult("applied")

    async def _put_once(
        self,
        path: str,
        body: Mapping[str, Any],
        endpoint: str,
        order_id: str,
        *,
        shows_change: Callable[[], Awaitable[bool]],
    ) -> None:
        """One PUT within the store's quota; after a timeout, `shows_change` decides."""

        async def send() -> None:
            response = await self.request("PUT", path, json=body, endpoint=endpoint, retry=False)
            self.raise_for_status(response, endpoint, missing=no_order(order_id))

        await write_once(send, shows_change, platform=self.title)

    # Platform resources

    async def _customer(self, customer_id: str) -> bc.BCCustomer:
        """The V3 customer with its addresses; NotFound when the store has no such customer."""
        number = _number(customer_id, missing=no_customer(customer_id))
        raw = await self.get_json(
            "/v3/customers",
            endpoint="/v3/customers",
            params={"id:in": number, "include": "addresses"},
            tags=(customer_tag(customer_id),),
        )
        with readable(PLATFORM, "/v3/customers"):
            found = bc.parse(bc.BCCustomerList, _or_empty(raw, {"data": []})).data
        for candidate in found:
            if candidate.id == int(number):
                return candidate
        raise NotFound(no_customer(customer_id))

    async def _owned_order(
        self, customer_id: str, order_id: str, tags: tuple[Tag, ...] = ()
    ) -> bc.BCOrder:
        """The order, when it belongs to the customer; someone else's is answered as missing.

        Read from the resources when `tags` are given (a read), else as it is now (a write).
        """
        return (await self._owned_order_with_notes(customer_id, order_id, tags))[0]

    async def _owned_order_with_notes(
        self, customer_id: str, order_id: str, tags: tuple[Tag, ...] = ()
    ) -> tuple[bc.BCOrder, bc.BCOrderNotes]:
        order_number = _number(order_id, missing=no_order(order_id))
        customer = _number(customer_id, missing=no_order(order_id))
        raw = await self.get_json(
            _order_path(order_number),
            endpoint="/v2/orders/{id}",
            missing=no_order(order_id),
            tags=tags,
        )
        with readable(PLATFORM, "/v2/orders/{id}"):
            found = bc.parse(bc.BCOrder, raw)
            notes = bc.parse(bc.BCOrderNotes, raw)
        if found.customer_id != int(customer):
            raise NotFound(no_order(order_id))
        return found, notes

    async def _orders_slice(
        self, customer: str, sort: str, *, start: int, count: int
    ) -> list[bc.BCOrder]:
        """Orders `start` to `start + count` of the customer's list."""

        async def orders_page(page: int, size: int) -> tuple[list[bc.BCOrder], bool]:
            batch = await self._orders_page(customer, sort, page=page, limit=size)
            # A V2 list does not say whether another page follows; a short one is the last.
            return batch, len(batch) == size

        return (await _slice(orders_page, start=start, count=count))[0]

    async def _every_order(self, customer: str) -> list[bc.BCOrder]:
        return await _every_page(
            lambda page: self._orders_page(customer, "id:desc", page=page, limit=PAGE_MAX)
        )

    async def _orders_page(
        self, customer: str, sort: str, *, page: int, limit: int
    ) -> list[bc.BCOrder]:
        since = self.generation()
        raw = await self.get_json(
            "/v2/orders",
            endpoint="/v2/orders",
            params={"customer_id": customer, "sort": sort, "page": page, "limit": limit},
            tags=(customer_tag(customer),),
        )
        with readable(PLATFORM, "/v2/orders"):
            orders = bc.parse_list(bc.BCOrder, _or_empty(raw, []))
        for order in orders:
            if order.customer_id != int(customer):
                raise self.filter_ignored("/v2/orders")
        if since is not None:  # else nothing is kept
            # A listed order is the body `GET /v2/orders/{id}` answers: R3 of it costs no call.
            for listed in _or_empty(raw, []):
                order_id = str(listed["id"])
                tags = order_tags(order_id, customer)
                self.keep(_order_path(order_id), None, listed, tags, since=since)
        return orders

    def _orders(self, raw: list[bc.BCOrder]) -> list[Order]:
        with readable(PLATFORM, "/v2/orders"):
            return [bc.order(order) for order in raw]

    async def _complete(
        self, raw: bc.BCOrder, tags: tuple[Tag, ...], *, with_addresses: bool = True
    ) -> Order:
        """The order with its product lines, shipping destinations and shipments.

        Destinations and shipments are asked for only when the order says it has some.
        """
        path = _order_path(str(raw.id))
        missing = no_order(str(raw.id))

        async def nothing() -> list[Any]:
            return []

        with calls_together() as group:
            products = start_task(
                self._every(f"{path}/products", bc.BCProduct, missing=missing, tags=tags)
            )
            addresses = start_task(
                self._every(f"{path}/shipping_addresses", bc.BCAddress, missing=missing, tags=tags)
                if with_addresses and raw.shipping_address_count > 0
                else nothing()
            )
            shipments = start_task(
                self._every(f"{path}/shipments", bc.BCShipment, missing=missing, tags=tags)
                if raw.items_shipped > 0
                else nothing()
            )
        await all_of(products, addresses, shipments, group=group)
        with readable(PLATFORM, "/v2/orders/{id}"):
            return bc.order(
                raw,
                products=products.result(),
                shipping_addresses=addresses.result(),
                shipments=shipments.result(),
            )

    async def _every(
        self, path: str, model: type[M], *, missing: str, tags: tuple[Tag, ...] = ()
    ) -> list[M]:
        """Every record of an order's sub-resource list, `PAGE_MAX` at a time."""
        endpoint = "/v2/orders/{id}/" + path.rsplit("/", 1)[-1]

        async def read(page: int) -> list[M]:
            raw = await self.get_json(
                path,
                endpoint=endpoint,
                params={"page": page, "limit": PAGE_MAX},
                missing=missing,
                tags=tags,
            )
            with readable(PLATFORM, endpoint):
                return bc.parse_list(model, _or_empty(raw, []))

        return await _every_page(read)

    # HTTP

    async def request(
        self, method: str, path: str, *, endpoint: str, **options: Unpack[CallOptions]
    ) -> PlatformResponse:
        """Within the store's request quota, which every answer reports."""
        await self._respect_quota(endpoint)
        response = await super().request(method, path, endpoint=endpoint, **options)
        self.quota.observe(response.headers)
        return response

    def parse_error(self, body: Any) -> PlatformProblem:
        said = bc.problem(body)
        return PlatformProblem(platform_status=said.status, detail=said.message)

    def other_error(self, status: int, problem: PlatformProblem, fields: LogFields) -> AdapterError:
        if status == 404:
            # A collection cannot be missing: the store hash (or the API base URL) is wrong.
            log.error("platform_store_not_found", **fields)
            return UpstreamUnavailable(
                "BigCommerce does not know this store (check BIGCOMMERCE_STORE_HASH "
                "and BIGCOMMERCE_BASE_URL)",
                credentials_rejected=True,
            )
        return super().other_error(status, problem, fields)

    async def _respect_quota(self, endpoint: str) -> None:
        """Wait for the quota window to reset when it fits the request's deadline."""
        wait = self.quota.wait()
        if wait <= 0:
            return
        left = remaining()
        if left is not None and wait >= left - QUOTA_MARGIN_S:
            log.warning("platform_quota_exhausted", platform=PLATFORM, endpoint=endpoint)
            used_up = UpstreamUnavailable(
                "BigCommerce's request quota for this store is used up", retry_after=wait
            )
            raise not_sent(used_up)
        log.info("platform_quota_wait", platform=PLATFORM, wait_ms=round(wait * 1000))
        await self._sleep(wait)


def _quota_reset(response: PlatformResponse | None) -> float | None:
    """After a 429, BigCommerce says when its quota window resets; else honour Retry-After."""
    if response is None:
        return None
    reset_ms = _header_int(response.headers, "x-rate-limit-time-reset-ms")
    if response.status_code == 429 and reset_ms is not None:
        return _quota_wait(reset_ms)
    return retry_after_seconds(response.headers.get("retry-after"))


async def _slice(
    read: Callable[[int, int], Awaitable[tuple[list[M], bool]]], *, start: int, count: int
) -> tuple[list[M], bool]:
    """Records `start` to `start + count` of a list BigCommerce pages, and whether more follow
    a full window. `read(page, size)` gives one of BigCommerce's pages and whether another
    may follow it. Pages of `count` records are read: the one the window starts in, and the
    next when the window runs on into it (only when `start` is not a multiple of `count`)."""
    first_page, skip = divmod(start, count)
    found: list[M] = []
    more = True
    for page in (first_page + 1, first_page + 2):
        if not more or len(found) >= skip + count:
            break
        batch, more = await read(page, count)
        found.extend(batch)
    window = found[skip : skip + count]
    return window, len(window) == count and (more or len(found) > skip + count)


def _catalog_offset(resume: Resume | None) -> int:
    """Where a page of products starts. A cursor holding BigCommerce's page and page size
    instead, as R7 cursors once did (valid for the cursor lifetime), starts after the pages
    before that page."""
    page, size = (resume or {}).get("page"), (resume or {}).get("limit")
    if isinstance(page, int) and isinstance(size, int) and page >= 1 and size >= 1:
        return (page - 1) * size
    return resume_offset(resume)


async def _every_page(read: Callable[[int], Awaitable[list[M]]]) -> list[M]:
    """Pages 1, 2, … of `PAGE_MAX` records each, until one comes back short."""
    found: list[M] = []
    page = 1
    while True:
        batch = await read(page)
        found.extend(batch)
        if len(batch) < PAGE_MAX:
            return found
        page += 1


def _or_empty(raw: Any, empty: object) -> Any:
    """`empty` for a 204 (`get_json` gives None): BigCommerce's empty list. Any body, even a
    falsy one (`{}`, `false`, `0`), is validated as it came, and a wrong shape is a 502."""
    return empty if raw is None else raw


def _check_before_shipping(raw: bc.BCOrder) -> None:
    """BigCommerce accepts any status change: changing an order after it left the store
    (or was cancelled, refunded, declined) is refused here."""
    if raw.status_id not in bc.BEFORE_SHIPPING:
        raise NotAllowed(
            TOO_LATE.get(raw.status_id, "the order can no longer be changed in its status")
        )
    if raw.items_shipped > 0:
        raise NotAllowed(TOO_LATE[3])


def _staff_notes(current: str | None, body: CancelOrder) -> str | None:
    """The order's staff notes with the reason and the note of the cancellation added
    below them; None when there is nothing to add."""
    reason = f"Cancellation reason: {body.cancel_reason}" if body.cancel_reason else None
    added = [text for text in (reason, body.staff_note) if text]
    if not added:
        return None
    return "\n".join([current, *added] if current else added)


def _ignored_cancel_options(body: CancelOrder) -> tuple[str, ...]:
    """Restocking and customer mail follow store-wide settings, not the request, and V2
    orders have no custom fields; reason and note go into the staff notes. A
    `refund_method` that asks for no refund (the others are refused) is honoured."""
    honoured = {"cancel_reason", "staff_note", "refund_method"}
    return tuple(name for name in body.given() if name not in honoured)


def _new_destination(new: NewShippingAddress, current: bc.BCAddress) -> dict[str, str]:
    """The shipping address's writable fields: the place replaced as a whole (one street
    line), the recipient kept unless given. BigCommerce names the state and the country."""
    country = pycountry.countries.get(alpha_2=new.country_code)
    region = (
        pycountry.subdivisions.get(code=new.region_code)  # type: ignore[no-untyped-call]
        if new.region_code
        else None
    )
    who = recipient(new, current)
    return {
        "first_name": who["first_name"],
        "last_name": who["last_name"],
        "phone": who["phone_number"],
        "street_1": new.address,
        "street_2": "",
        "city": new.city,
        "state": str(region.name) if region is not None else "",
        "zip": new.zip_code or "",
        "country": str(country.name) if country is not None else new.country_code,
        "country_iso2": new.country_code,
    }


def _number(value: str, *, missing: str) -> str:
    if not _ID.fullmatch(value):
        raise NotFound(missing)
    return value


def _order_path(order_id: str) -> str:
    return f"/v2/orders/{path_segment(order_id)}"


def _header_int(headers: ResponseHeaders, name: str) -> int | None:
    """A count in ASCII digits; `isdigit` alone also takes a superscript, which `int`
    refuses, and a number of thousands of digits is no count."""
    value = headers.get(name, "").strip()
    if len(value) > 18 or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def _quota_wait(reset_ms: int) -> float:
    """Seconds until the quota resets, at most `MAX_QUOTA_WAIT_S`: its windows last 30 s, so
    a longer reset is a garbled header, which must not stop every call for longer."""
    return min(reset_ms / 1000, MAX_QUOTA_WAIT_S)


def _webhook_event(delivery_id: str, delivery: dict[str, Any]) -> WebhookEvent:
    """`store/order/updated`, `store/customer/deleted`, …: the second word is the kind."""
    topic = delivery.get("scope")
    if not isinstance(topic, str):
        raise unreadable("the delivery has no scope")
    kind = topic.removeprefix("store/").partition("/")[0]
    if kind not in ("order", "customer") or nested(delivery, "data", "type") not in (kind, None):
        return WebhookEvent(delivery_id, topic, None, None)
    resource_id = identifier(nested(delivery, "data", "id"), "data.id")
    return WebhookEvent(delivery_id, topic, "order" if kind == "order" else "customer", resource_id)
