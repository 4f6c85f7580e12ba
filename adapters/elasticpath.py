"""Elastic Path Composable Commerce: customers and their orders over the REST API (SPEC §5).

Every call goes through one `UpstreamClient` with a `client_credentials` token shared by
all requests. Platform errors are translated by `HTTPAdapter.raise_for_status`, unreadable
bodies in `adapters.http.readable`; nothing else decides what an upstream failure means.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, TypeVar, Unpack

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.answers import PlatformProblem
from adapters.base import (
    READ_CAPABILITIES,
    SHELF_CAPABILITIES,
    CallOptions,
    Capability,
    HTTPAdapter,
    OrderListRequest,
    OrderPage,
    ProductPage,
    ProductSearch,
    ShipmentListRequest,
    ShipmentPage,
    WriteResult,
    no_cart,
    no_customer,
    no_order,
)
from adapters.breaker import Ahead
from adapters.errors import (
    AdapterError,
    CircuitOpen,
    NotAllowed,
    NotFound,
    NotSupported,
    UnservableRequest,
)
from adapters.http import HTTPConfig, json_body, path_segment, readable
from adapters.paging import page_in_memory, resume_offset
from adapters.resources import Tag, customer_tag, order_tags
from adapters.responses import PlatformResponse
from adapters.settings_types import OptionalLongSecret, Secret, url_rule
from adapters.shipment_paging import shipments_page
from adapters.tasks import together
from adapters.tokens import CachedToken
from adapters.webhooks import (
    WebhookEvent,
    check_shared_secret,
    identifier,
    json_object,
    nested,
    unreadable,
)
from adapters.write_rules import recipient, refuse_refund, shows_address
from adapters.writing import write_once
from mappings import elasticpath as ep
from mappings import elasticpath_shelf as shelf
from mappings.addresses import address_of
from mappings.carts import Cart
from mappings.models import Customer, Order
from mappings.products import Product
from mappings.shipments import Shipment
from mappings.writes import CancelOrder, NewShippingAddress

PLATFORM = "elasticpath"
PAGE_LIMIT = 100
"""EP's largest page."""
MAX_OFFSET = 10_000
"""EP refuses a `page[offset]` beyond this on `/v2/orders`."""
GRANT_PATH = "/oauth/access_token"
ORDER_ENDPOINT = "/v2/orders/{id}"
ADDRESSES_ENDPOINT = "/v2/customers/{id}/addresses"
WITH_ITEMS = {"include": "items"}
"""An order with its lines in one call (`included.items`)."""
CHANGE_REFUSED = frozenset({400, 409, 422})
"""How EP may refuse an order change it does not allow (its status is not documented)."""
EXAMPLE_HOST = "https://useast.api.elasticpath.com"
HTTP = HTTPConfig(max_connections=256, max_in_flight=256)
"""An order detail makes two calls at once: room for 100 agents' details, and more."""

# No EP id is empty or a dot segment, and some HTTP stacks resolve `.`/`..` even when
# percent-encoded: such ids are answered as unknown without calling the platform.
_NOT_AN_ID = frozenset({"", ".", ".."})

# Customer ids go into `filter=eq(customer_id,…)`, whose syntax has no escaping: anything
# beyond these characters could change the filter. EP's own ids are UUIDs.
_FILTER_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~@+-]*")

SHIPMENT_ORDERS_PER_PAGE = 10
"""How many of the customer's orders one page of shipments reads: one `/v2/orders` call
(lines included) and a shipping-groups call for each of them whose lines name a group."""
CATALOG_ENDPOINT = "/catalog/products"
CHILDREN_ENDPOINT = "/catalog/products/{id}/relationships/children"
STOCK_ENDPOINT = "/inventories/multiple"
CART_ENDPOINT = "/v2/carts/{id}"
TOP_LEVEL_PRODUCTS = "in(product_types,standard,parent)"
SEARCHED_FIELDS = ("sku", "name")
"""EP's catalog filters only by exact value (`eq`/`in`): `search` is an exact SKU (a variant's
too), else the exact name of a top-level product."""

log = structlog.get_logger("erc_bridge.elasticpath")

P = TypeVar("P", bound=ep.EPList[Any])

# Parametrized once: `EPList[...]` finds its class again on every use (about 2 us).
CUSTOMER_DOCUMENT = ep.EPDocument[ep.EPCustomer]
ORDER_DOCUMENT = ep.EPDocument[ep.EPOrder]
ADDRESS_LIST = ep.EPList[ep.EPAddress]
ITEM_LIST = ep.EPList[ep.EPItem]
SHIPPING_GROUP_LIST = ep.EPList[ep.EPShippingGroup]


class ElasticPathSettings(BaseSettings):
    """`ELASTICPATH_*`: the store's API host and an application key (client_credentials)."""

    model_config = SettingsConfigDict(
        env_prefix="ELASTICPATH_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    base_url: Annotated[str, url_rule(example=EXAMPLE_HOST, path=False)] = Field(
        description="the API host of the store's region, without a path (one with a path "
        "stops startup)"
    )
    client_id: str = Field(min_length=1, description="client id of the store's application key")
    client_secret: Secret = Field(
        description="client secret of the same key; never logged, never echoed in errors"
    )
    webhook_secret: OptionalLongSecret = Field(
        default=None,
        description="the secret key of the store's webhook integration, echoed in "
        "`X-MOLTIN-SECRET-KEY`; unset, `POST /webhooks/elasticpath` answers 404",
    )


class ElasticPathAdapter(HTTPAdapter):
    name = "elasticpath"
    capabilities = (
        READ_CAPABILITIES
        | SHELF_CAPABILITIES
        | {Capability.CANCEL_ORDER, Capability.CHANGE_SHIPPING_ADDRESS}
    )
    settings_class = ElasticPathSettings
    settings: ElasticPathSettings
    token: CachedToken
    title = "Elastic Path"
    credentials = "ELASTICPATH_CLIENT_ID and ELASTICPATH_CLIENT_SECRET"

    def __init__(
        self,
        settings: ElasticPathSettings | None = None,
        *,
        http: HTTPConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, http=http or HTTP)
        self.token = self.bearer_token(self._fetch_token, clock=clock)
        self.speculate_shipping_groups = True
        """Ask for an order's shipping groups alongside the order (R3 in one round). The
        breaker counts the groups call only when its answer is used, so a failing R3
        counts as many failures as when the groups are asked for after the order."""
        self._store_ships_in_groups = False
        """Set once an order named a shipping group: from then on an order's groups are
        asked for alongside the order instead of after it."""

    async def open(self) -> None:
        self._upstream = self.connect(
            self.settings.base_url, headers={"Accept": "application/json"}
        )

    async def probe(self) -> None:
        """A token, then the smallest read of the resource the bridge needs most."""
        await self.get_json("/v2/orders", endpoint="/v2/orders", params={"page[limit]": 1})

    def check_webhook_headers(self, headers: Mapping[str, str], *, now: float) -> None:
        secret = self.settings.webhook_secret
        if secret is None:
            raise NotSupported("ELASTICPATH_WEBHOOK_SECRET is not set")
        check_shared_secret(headers.get("x-moltin-secret-key"), secret.get_secret_value())

    def read_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float) -> WebhookEvent:
        """An integration delivery: `{id, triggered_by, payload: {data}}`, trusted when
        `X-MOLTIN-SECRET-KEY` echoes the integration's secret (EP signs nothing)."""
        self.check_webhook_headers(headers, now=now)
        return _integration_event(json_object(body))

    # Routes

    async def get_customer(self, customer_id: str) -> Customer:
        """One round: the customer and the first page of its addresses go out together.
        The addresses are asked for ahead of need (`Ahead`): they count towards the
        circuit breaker, and are kept among the resources, only once the customer is
        known; an id no customer has forgets them."""
        path = f"{_customer_path(customer_id)}/addresses"
        tags = (customer_tag(customer_id),)
        missing = no_customer(customer_id)
        first_page = {"page[limit]": PAGE_LIMIT, "page[offset]": 0}
        addresses = Ahead(
            lambda: self.read_ahead(
                path, endpoint=ADDRESSES_ENDPOINT, params=first_page, missing=missing
            )
        )
        try:
            found = await self._customer(customer_id)
            first = await self.used_ahead(addresses, path, first_page, tags)
            pages = await self._all_pages(
                path,
                endpoint=ADDRESSES_ENDPOINT,
                parse=lambda raw: ep.parse(ADDRESS_LIST, raw),
                missing=missing,
                tags=tags,
                first=None if first is None else first.raw,
            )
        finally:
            addresses.settle()
        with readable(PLATFORM, "/v2/customers/{id}"):
            return ep.customer(found, [address for page in pages for address in page.data])

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        customer_filter = await self._customer_filter(request.customer_id)
        if request.search or request.sort.field == "order_number":
            # EP can neither sort by order number nor search inside it: page over all of them.
            every = await self._every_order(request.customer_id, customer_filter, request)
            return page_in_memory(every, request)
        offset = resume_offset(request.resume)
        _check_offset(offset, "orders")
        limit = min(max(request.limit, 1), PAGE_LIMIT)
        page = await self._orders_page(
            request.customer_id,
            customer_filter,
            limit=limit,
            offset=offset,
            newest_first=request.sort.descending,
        )
        if not page.data and offset == 0:
            await self._customer(request.customer_id)
        orders = self._listed_orders(page, request.customer_id)
        after = offset + len(page.data)
        return OrderPage(
            orders=orders,
            resume={"offset": after} if _follows(page, after, limit, "orders") else None,
        )

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        """One round: the order with its lines and, in a store that uses shipping groups,
        the order's groups alongside (asked before the order is known to be the
        customer's, and never used when it is not). The groups call's outcome counts
        towards the circuit breaker only when its answer is used (`Ahead`). An order kept
        among the resources costs no round, so its groups are asked for only if its lines
        name one."""
        order_path = _order_path(order_id)
        tags = order_tags(order_id, customer_id)
        groups = (
            Ahead(lambda: self._shipping_groups(order_path, tags))
            if self.speculate_shipping_groups
            and self._store_ships_in_groups
            and not self.holds(order_path, WITH_ITEMS)
            else None
        )
        try:
            document = await self._order_document(order_id, tags)
            if ep.customer_id_of(document.data) != customer_id:
                # Someone else's order is answered exactly like a missing one.
                raise NotFound(no_order(order_id))
            return await self._complete(document.data, document.items(), tags, groups)
        finally:
            if groups is not None:
                groups.settle()

    async def most_recent_order(self, customer_id: str) -> Order:
        customer_filter = await self._customer_filter(customer_id)
        page = await self._orders_page(
            customer_id, customer_filter, limit=1, offset=0, newest_first=True
        )
        if not page.data:
            await self._customer(customer_id)
            raise NotFound(f"Customer {customer_id} has no orders")
        newest, items = self._owned_orders(page, customer_id)[0]
        return await self._complete(newest, items, order_tags(newest.id, customer_id))

    # Shipments, products and the cart (SPEC §8)

    async def list_shipments(self, request: ShipmentListRequest) -> ShipmentPage:
        """Shipping groups of the customer's orders, newest order first, at most
        `SHIPMENT_ORDERS_PER_PAGE` orders a page; with `order_id` that order only."""
        Listed = tuple[ep.EPOrder, list[ep.EPItem] | None]

        async def one_order(order_id: str) -> Listed:
            return await self._owned_order(request.customer_id, order_id), None

        async def customer_orders(start: int, count: int) -> tuple[list[Listed], bool]:
            _check_offset(start, "orders")
            # No order past the last one EP pages to: every cursor the page gives, which
            # may point at any order it read or the one after, can then be followed.
            count = min(count, MAX_OFFSET + 1 - start)
            page = await self._orders_page(
                request.customer_id,
                await self._customer_filter(request.customer_id),
                limit=count,
                offset=start,
                newest_first=True,
            )
            listed = self._owned_orders(page, request.customer_id)
            return listed, _follows(page, start + len(page.data), count, "orders")

        return await shipments_page(
            request,
            order=one_order,
            orders=customer_orders,
            shipments_of=lambda listed: self._shipments_of(*listed),
            customer=lambda: self._customer(request.customer_id),
            orders_per_page=SHIPMENT_ORDERS_PER_PAGE,
        )

    async def list_products(self, request: ProductSearch) -> ProductPage:
        """Top-level catalog products; with `search`, the products whose SKU is exactly
        that, else those whose name is (EP's catalog has no free-text search)."""
        limit = min(max(request.limit, 1), PAGE_LIMIT)
        offset = resume_offset(request.resume)
        search = (request.search or "").strip()
        if not search:
            page = await self._catalog_page(TOP_LEVEL_PRODUCTS, limit=limit, offset=offset)
            field = None
        else:
            if not _FILTER_VALUE.fullmatch(search.replace(" ", "_")):
                raise UnservableRequest(
                    "Elastic Path's catalog filter cannot hold this text", field="search"
                )
            resumed = (request.resume or {}).get("field")
            for field in [resumed] if resumed in SEARCHED_FIELDS else SEARCHED_FIELDS:
                wanted = f'eq({field},"{search}")'
                if field == "name":
                    # A child product shares its parent's name: the parent stands for it.
                    wanted = f"{wanted}:{TOP_LEVEL_PRODUCTS}"
                page = await self._catalog_page(wanted, limit=limit, offset=offset)
                if page.data or offset > 0:
                    break
        products = await self._products(page)
        after = offset + len(page.data)
        more = _follows(page, after, limit, "products")
        return ProductPage(
            products=products, resume={"field": field, "offset": after} if more else None
        )

    async def get_cart(self, *, cart_id: str | None = None, customer_id: str | None = None) -> Cart:
        """By id only. EP answers an id it does not know with a cart it makes on the spot:
        that one (empty, unowned, untouched) is answered as missing and deleted again, so
        that the lookup leaves nothing behind."""
        if cart_id is None:
            raise UnservableRequest(
                "Elastic Path shows a customer's carts only to that customer's own token; "
                "look the cart up by cart_id",
                field="customer_id",
            )
        missing = no_cart(cart_id)
        path = _id_path("/v2/carts", cart_id, missing=missing)
        raw = await self.get_json(
            path, endpoint=CART_ENDPOINT, params={"include": "items"}, missing=missing
        )
        with readable(PLATFORM, CART_ENDPOINT):
            document = ep.parse(shelf.EPCartDocument, raw)
            if not shelf.made_by_reading(document):
                return shelf.cart(document)
        await self._delete_cart(path)
        raise NotFound(missing)

    async def _shipments_of(self, raw: ep.EPOrder, items: list[ep.EPItem] | None) -> list[Shipment]:
        """The order's shipping groups as shipments; no call when no line names a group."""
        order_path = _order_path(raw.id)
        if items is None:
            items = await self._items_of(order_path, raw.id)
        if not any(item.shipping_group_id for item in items):
            return []
        endpoint = "/v2/orders/{id}/shipping-groups"
        body = await self.get_json(f"{order_path}/shipping-groups", endpoint=endpoint)
        with readable(PLATFORM, endpoint):
            groups = ep.parse(ep.EPList[shelf.EPShipmentGroup], body).data
            return shelf.shipments(raw, items, groups)

    async def _items_of(
        self, order_path: str, order_id: str, tags: Iterable[Tag] = ()
    ) -> list[ep.EPItem]:
        """Every line of the order, 100 a call (kept among the resources with `tags`)."""
        pages = await self._all_pages(
            f"{order_path}/items",
            endpoint="/v2/orders/{id}/items",
            parse=lambda body: ep.parse(ITEM_LIST, body),
            missing=no_order(order_id),
            tags=tags,
        )
        return [item for page in pages for item in page.data]

    async def _catalog_page(
        self, product_filter: str, *, limit: int, offset: int
    ) -> shelf.EPCatalogList:
        _check_offset(offset, "products")
        raw = await self.get_json(
            "/catalog/products",
            endpoint=CATALOG_ENDPOINT,
            params={
                "filter": product_filter,
                "include": "main_image",
                "page[limit]": limit,
                "page[offset]": offset,
            },
        )
        with readable(PLATFORM, CATALOG_ENDPOINT):
            return ep.parse(shelf.EPCatalogList, raw)

    async def _products(self, page: shelf.EPCatalogList) -> list[Product]:
        """The page's products with their variants (a parent's child products, one call
        per parent, all parents together) and stock (one call for the whole page)."""
        images = {image.id: image for image in page.included.main_images}
        parents = [raw.id for raw in page.data if raw.is_parent]
        children: dict[str, list[shelf.EPCatalogProduct]] = {}
        pages = await together(map(self._children, parents))
        for parent, found in zip(parents, pages, strict=True):
            children[parent] = [child for part in found for child in part.data]
            images.update(
                (image.id, image) for part in found for image in part.included.main_images
            )
        sellable = [raw.id for raw in page.data if not raw.is_parent] + [
            child.id for found in children.values() for child in found
        ]
        stock = await self._stock(sellable)
        with readable(PLATFORM, CATALOG_ENDPOINT):
            return [
                shelf.product(raw, children=children.get(raw.id, []), images=images, stock=stock)
                for raw in page.data
            ]

    async def _children(self, parent_id: str) -> list[shelf.EPCatalogList]:
        """Every page of a parent product's child products."""
        return await self._all_pages(
            f"/catalog/products/{path_segment(parent_id)}/relationships/children",
            endpoint=CHILDREN_ENDPOINT,
            params={"include": "main_image"},
            parse=lambda body: ep.parse(shelf.EPCatalogList, body),
        )

    async def _stock(self, product_ids: list[str]) -> dict[str, int]:
        """What EP's inventory says is available, for the products it keeps stock of."""
        if not product_ids:
            return {}
        response = await self.request(
            "POST",
            STOCK_ENDPOINT,
            endpoint=STOCK_ENDPOINT,
            json={"data": [{"id": product_id} for product_id in product_ids]},
        )
        self.raise_for_status(response, STOCK_ENDPOINT)
        with readable(PLATFORM, STOCK_ENDPOINT):
            found = ep.parse(ep.EPList[shelf.EPStock], json_body(response, PLATFORM)).data
        return {level.id: level.available for level in found if level.available is not None}

    async def _delete_cart(self, path: str) -> None:
        """Remove the cart EP made for an unknown id; a failure is logged, not answered."""
        try:
            response = await self.request("DELETE", path, endpoint=CART_ENDPOINT, retry=False)
            self.raise_for_status(response, CART_ENDPOINT, missing="The cart is gone")
        except NotFound:
            return
        except AdapterError as exc:
            log.warning("platform_cart_left_behind", platform=PLATFORM, error=type(exc).__name__)

    # Writes (SPEC §7): EP has no idempotency keys, so each is sent at most once.

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        raw = await self._owned_order(customer_id, order_id)
        refuse_refund(body, platform=self.title)
        if ep.is_cancelled(raw):  # shipped too, it reads as cancelled (SPEC §5)
            return WriteResult("already_done")
        if ep.is_fulfilled(raw):
            raise NotAllowed("the order has shipped")
        await self._update_order(raw.id, {"status": "cancelled"}, shows_change=ep.is_cancelled)
        return WriteResult("applied", ignored=_ignored_cancel_options(body))

    async def change_shipping_address(
        self, customer_id: str, order_id: str, address: NewShippingAddress
    ) -> WriteResult:
        raw = await self._owned_order(customer_id, order_id)
        if ep.is_fulfilled(raw):
            raise NotAllowed("the order has shipped")
        if ep.is_cancelled(raw):
            raise NotAllowed("the order is cancelled")
        if len(await self._shipping_groups(_order_path(raw.id))) > 1:
            raise NotAllowed("the order ships in several shipping groups, each to its own address")

        def ships_there(order: ep.EPOrder) -> bool:
            with readable(PLATFORM, ORDER_ENDPOINT):
                return shows_address(address_of(order.shipping_address), address)

        if ships_there(raw):
            return WriteResult("already_done")
        await self._update_order(
            raw.id,
            {"shipping_address": _new_shipping_address(address, raw.shipping_address)},
            shows_change=ships_there,
        )
        return WriteResult("applied")

    async def _update_order(
        self,
        order_id: str,
        changes: Mapping[str, Any],
        *,
        shows_change: Callable[[ep.EPOrder], bool],
    ) -> None:
        """`PUT /v2/orders/{id}` once; after a timeout the order, read afresh, decides."""
        path = _order_path(order_id)
        body = {"data": {"type": "order", **changes}}

        async def send() -> None:
            response = await self.request(
                "PUT", path, endpoint=ORDER_ENDPOINT, json=body, retry=False
            )
            if response.status_code in CHANGE_REFUSED and ep.is_fulfilled(
                await self._order(order_id)
            ):
                # Fulfilled since it was read: EP refused, and the agent is told why.
                raise NotAllowed("the order has shipped")
            self.raise_for_status(response, ORDER_ENDPOINT, missing=no_order(order_id))

        async def confirmed() -> bool:
            return shows_change(await self._order(order_id))

        await write_once(send, confirmed, platform=self.title)

    # Platform resources

    async def _owned_order(self, customer_id: str, order_id: str) -> ep.EPOrder:
        raw = await self._order(order_id)
        if ep.customer_id_of(raw) != customer_id:
            # Someone else's order is answered exactly like a missing one.
            raise NotFound(no_order(order_id))
        return raw

    async def _customer(self, customer_id: str) -> ep.EPCustomer:
        raw = await self.get_json(
            _customer_path(customer_id),
            endpoint="/v2/customers/{id}",
            missing=no_customer(customer_id),
            tags=(customer_tag(customer_id),),
        )
        with readable(PLATFORM, "/v2/customers/{id}"):
            found = ep.parse(CUSTOMER_DOCUMENT, raw).data
        if found.id != customer_id:
            # Whatever EP meant by it, another customer is never shown in this one's place.
            log.warning("platform_answered_another_customer", platform=PLATFORM)
            raise NotFound(no_customer(customer_id))
        return found

    async def _order_document(self, order_id: str, tags: Iterable[Tag]) -> ep.EPOrderDocument:
        """The order with its lines, read from the resources while they live."""
        with readable(PLATFORM, ORDER_ENDPOINT):
            return await self.get_record(
                ep.EPOrderDocument,
                _order_path(order_id),
                endpoint=ORDER_ENDPOINT,
                params=WITH_ITEMS,
                missing=no_order(order_id),
                tags=tags,
            )

    async def _order(self, order_id: str) -> ep.EPOrder:
        """The order as it is now, for a write (never from the resources)."""
        raw = await self.get_json(
            _order_path(order_id),
            endpoint="/v2/orders/{id}",
            missing=no_order(order_id),
        )
        with readable(PLATFORM, "/v2/orders/{id}"):
            return ep.parse(ORDER_DOCUMENT, raw).data

    async def _customer_filter(self, customer_id: str) -> str:
        if _FILTER_VALUE.fullmatch(customer_id):
            return f"eq(customer_id,{customer_id})"
        # No EP customer has such an id, so the lookup answers 404; should one exist,
        # its orders still cannot be asked for safely.
        await self._customer(customer_id)
        raise UnservableRequest(
            "This customer id cannot be used in an Elastic Path filter", field="customer_id"
        )

    async def _orders_page(
        self,
        customer_id: str,
        customer_filter: str,
        *,
        limit: int,
        offset: int,
        newest_first: bool,
    ) -> ep.EPOrderList:
        """One page of the customer's orders with their lines; each order whose lines are
        all there is kept as R3 would have fetched it. With nothing kept, the page is
        validated straight from its bytes, which costs less than decoding it first."""
        query = _orders_query(customer_filter, newest_first=newest_first)
        params: dict[str, str | int] = {**query, "page[limit]": limit, "page[offset]": offset}
        since = self.generation()
        with readable(PLATFORM, "/v2/orders"):
            if since is None:
                page = await self.get_record(
                    ep.EPOrderList, "/v2/orders", endpoint="/v2/orders", params=params
                )
            else:
                raw = await self.get_json(
                    "/v2/orders",
                    endpoint="/v2/orders",
                    params=params,
                    tags=(customer_tag(customer_id),),
                )
                page = ep.parse(ep.EPOrderList, raw)
                for order_id, document in ep.order_documents(raw):
                    tags = order_tags(order_id, customer_id)
                    self.keep(_order_path(order_id), WITH_ITEMS, document, tags, since=since)
        if any(item.shipping_group_id for item in page.included.items):
            self._store_ships_in_groups = True
        return page

    async def _every_order(
        self, customer_id: str, customer_filter: str, request: OrderListRequest
    ) -> list[Order]:
        pages = await self._all_pages(
            "/v2/orders",
            endpoint="/v2/orders",
            params=_orders_query(customer_filter, newest_first=True),
            parse=lambda raw: ep.parse(ep.EPOrderList, raw),
            tags=(customer_tag(customer_id),),
            too_many=UnservableRequest(
                f"This customer has more orders than Elastic Path can page through "
                f"({MAX_OFFSET + PAGE_LIMIT:,}); list them by purchase_datetime without a search",
                field="search" if request.search else "order_by",
            ),
        )
        if not pages[0].data:
            await self._customer(customer_id)
        return [order for page in pages for order in self._listed_orders(page, customer_id)]

    def _listed_orders(self, page: ep.EPOrderList, customer_id: str) -> list[Order]:
        owned = self._owned_orders(page, customer_id)
        with readable(PLATFORM, "/v2/orders"):
            return [
                # With all its lines, the order says of tax from them itself.
                ep.order(
                    raw,
                    items=items,
                    includes_tax=None if items is not None else page.prices_include_tax(raw),
                )
                for raw, items in owned
            ]

    def _owned_orders(
        self, page: ep.EPOrderList, customer_id: str
    ) -> list[tuple[ep.EPOrder, list[ep.EPItem] | None]]:
        """The page's orders with their lines (`EPOrderList.with_items`). A listed order of
        anyone else means EP ignored our filter: nothing of the page is shown."""
        for raw in page.data:
            if ep.customer_id_of(raw) != customer_id:
                raise self.filter_ignored("/v2/orders")
        return page.with_items()

    async def _complete(
        self,
        raw: ep.EPOrder,
        items: list[ep.EPItem] | None,
        tags: tuple[Tag, ...],
        groups: Ahead[list[ep.EPShippingGroup]] | None = None,
    ) -> Order:
        """The order with every product line (read page by page unless `items` has them
        all) and, when a line names one, its shipping groups (`groups` when they were
        already asked for)."""
        order_path = _order_path(raw.id)
        if items is None:
            items = await self._items_of(order_path, raw.id, tags)
        shipping_groups: list[ep.EPShippingGroup] = []
        if any(item.shipping_group_id for item in items):
            self._store_ships_in_groups = True
            shipping_groups = await self._groups_of(order_path, tags, groups)
        with readable(PLATFORM, ORDER_ENDPOINT):
            return ep.order(raw, items=items, shipping_groups=shipping_groups)

    async def _groups_of(
        self,
        order_path: str,
        tags: Iterable[Tag],
        ahead: Ahead[list[ep.EPShippingGroup]] | None,
    ) -> list[ep.EPShippingGroup]:
        if ahead is not None:
            with contextlib.suppress(CircuitOpen):  # the breaker was not closed: ask now
                return await ahead.result()
        return await self._shipping_groups(order_path, tags)

    async def _shipping_groups(
        self, order_path: str, tags: Iterable[Tag] = ()
    ) -> list[ep.EPShippingGroup]:
        """The order's shipping groups; none where the store does not use that EP feature."""
        try:
            with readable(PLATFORM, "/v2/orders/{id}/shipping-groups"):
                groups = await self.get_record(
                    SHIPPING_GROUP_LIST,
                    f"{order_path}/shipping-groups",
                    endpoint="/v2/orders/{id}/shipping-groups",
                    missing="The order has no shipping groups",
                    tags=tags,
                )
        except NotFound:
            return []
        return groups.data

    # HTTP

    async def _all_pages(
        self,
        path: str,
        *,
        endpoint: str,
        parse: Callable[[Any], P],
        params: Mapping[str, str | int] | None = None,
        missing: str | None = None,
        too_many: UnservableRequest | None = None,
        tags: Iterable[Tag] = (),
        first: Any = None,
    ) -> list[P]:
        """Every page of an EP list, `PAGE_LIMIT` records at a time (at least one page);
        `first` is the first page when it was read already."""
        pages: list[P] = []
        offset = 0
        while True:
            raw = (
                first
                if offset == 0 and first is not None
                else await self.get_json(
                    path,
                    endpoint=endpoint,
                    missing=missing,
                    params={**(params or {}), "page[limit]": PAGE_LIMIT, "page[offset]": offset},
                    tags=tags,
                )
            )
            with readable(PLATFORM, endpoint):
                page = parse(raw)
            pages.append(page)
            offset += len(page.data)
            if not _has_more(page, after=offset, limit=PAGE_LIMIT):
                return pages
            if offset > MAX_OFFSET or (page.total or 0) > MAX_OFFSET + PAGE_LIMIT:
                raise too_many or UnservableRequest(
                    f"Elastic Path cannot page past {MAX_OFFSET:,} records"
                )

    async def request(
        self, method: str, path: str, *, endpoint: str, **options: Unpack[CallOptions]
    ) -> PlatformResponse:
        """With the shared token, renewed once when EP refuses it (`CachedToken.authorized`)."""
        return await self.token.authorized(
            lambda token: self._http.send(
                method,
                path,
                headers={"Authorization": f"Bearer {token}"},
                endpoint=endpoint,
                **options,
            )
        )

    def parse_error(self, body: Any) -> PlatformProblem:
        said = ep.problem(body)
        return PlatformProblem(platform_status=said.status, title=said.title, detail=said.detail)

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self._http.send(
            "POST",
            GRANT_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret.get_secret_value(),
            },
            endpoint=GRANT_PATH,
        )
        self.raise_for_status(response, GRANT_PATH, authenticating=True)
        with readable(PLATFORM, GRANT_PATH):
            grant = ep.parse_token_grant(json_body(response, PLATFORM))
            return grant.access_token, grant.lifetime(now=time.time())


def _ignored_cancel_options(body: CancelOrder) -> tuple[str, ...]:
    """EP has no place for a reason, a note, a notification or custom fields, and releases
    reserved stock on every cancellation: only `restock: true` is honoured as asked. A
    `refund_method` that asks for no refund (the others are refused) is honoured."""
    honoured = {"refund_method", *(("restock",) if body.restock else ())}
    return tuple(name for name in body.given() if name not in honoured)


def _new_shipping_address(new: NewShippingAddress, current: ep.EPAddress | None) -> dict[str, str]:
    """The order's `shipping_address`: the place replaced as a whole (one street line, no
    county or instructions of the old place), the recipient kept unless given. `region` is
    the subdivision part of the ISO 3166-2 code (`OR` of `US-OR`), as EP stores expect."""
    return {
        **recipient(new, current),
        "line_1": new.address,
        "line_2": "",
        "city": new.city,
        "county": "",
        "region": new.region_code.partition("-")[2] if new.region_code else "",
        "postcode": new.zip_code or "",
        "country": new.country_code,
        "instructions": "",
    }


def _customer_path(customer_id: str) -> str:
    return _id_path("/v2/customers", customer_id, missing=no_customer(customer_id))


def _order_path(order_id: str) -> str:
    return _id_path("/v2/orders", order_id, missing=no_order(order_id))


def _id_path(collection: str, resource_id: str, *, missing: str) -> str:
    """The path of one resource, its id quoted so that it stays exactly one segment."""
    if resource_id in _NOT_AN_ID:
        raise NotFound(missing)
    return f"{collection}/{path_segment(resource_id)}"


def _orders_query(customer_filter: str, *, newest_first: bool) -> dict[str, str]:
    """One customer's orders by purchase time; `include=items` spares a call per order."""
    sort = "-created_at" if newest_first else "created_at"
    return {"filter": customer_filter, "sort": sort, **WITH_ITEMS}


def _check_offset(offset: int, records: str) -> None:
    """A cursor past `MAX_OFFSET`, where EP refuses to page, cannot be served."""
    if offset > MAX_OFFSET:
        raise UnservableRequest(
            f"Elastic Path cannot page past {MAX_OFFSET:,} {records}", field="cursor"
        )


def _follows(page: ep.EPList[Any], after: int, limit: int, records: str) -> bool:
    """Whether a next page, at offset `after`, can be promised: records follow, and EP
    lets the bridge page to them. Past `MAX_OFFSET` it does not: the list ends there, cut
    short, rather than with a cursor EP would refuse."""
    if not _has_more(page, after=after, limit=limit):
        return False
    if after > MAX_OFFSET:
        log.warning("platform_list_cut_short", platform=PLATFORM, records=records, offset=after)
        return False
    return True


def _has_more(page: ep.EPList[Any], *, after: int, limit: int) -> bool:
    """Whether records follow the first `after` ones (EP's total when given, else a full page)."""
    if not page.data:
        return False
    if page.total is not None:
        return after < page.total
    return len(page.data) >= limit


def _integration_event(delivery: dict[str, Any]) -> WebhookEvent:
    topic = delivery.get("triggered_by")
    payload = delivery.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(topic, str) or not isinstance(data, dict):
        raise unreadable("the delivery has no triggered_by or payload.data")
    kind = topic.partition(".")[0]
    if kind not in ("order", "customer"):
        return WebhookEvent(identifier(delivery.get("id"), "id"), topic, None, None)
    customer_id = nested(data, "relationships", "customer", "data", "id")
    return WebhookEvent(
        delivery_id=identifier(delivery.get("id"), "id"),
        topic=topic,
        kind="order" if kind == "order" else "customer",
        resource_id=identifier(data.get("id"), "payload.data.id"),
        customer_id=customer_id if isinstance(customer_id, str) and customer_id else None,
    )
