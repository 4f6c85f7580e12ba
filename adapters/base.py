"""The adapter interface: what every platform module implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar, Literal, NamedTuple, TypedDict, TypeVar, Unpack

import orjson
import structlog
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from adapters.answers import PlatformAnswers
from adapters.breaker import Ahead
from adapters.budget import CallBudget
from adapters.errors import CircuitOpen, NotFound, NotSupported, UpstreamError
from adapters.http import (
    NO_OBSERVER,
    HTTPConfig,
    PlatformLimits,
    UpstreamClient,
    UpstreamObserver,
    decoded_body,
)
from adapters.resources import ResourceCache, Tag
from adapters.responses import PlatformResponse
from adapters.tokens import CachedToken, TokenFetch
from adapters.webhooks import WebhookEvent
from mappings.carts import Cart
from mappings.errors import MappingError
from mappings.models import Customer, Order, OrderItem
from mappings.products import Product
from mappings.records import parse_json
from mappings.shipments import Shipment
from mappings.writes import CancelItems, CancelOrder, NewShippingAddress

log = structlog.get_logger("erc_bridge.adapters")

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")


class AheadRead(NamedTuple):
    """A resource read ahead of need: its JSON, and the resources' generation before it
    was fetched (None when it came from the resources: nothing to keep)."""

    raw: Any
    since: int | None


def resource_key(path: str, params: Mapping[str, str | int] | None) -> tuple[str, Any]:
    """The key `HTTPAdapter.get_json` keeps a resource under."""
    return (path, tuple(sorted((params or {}).items())))


def no_customer(customer_id: str) -> str:
    """What NotFound says of a customer the platform does not show this bridge."""
    return f"Customer {customer_id} not found"


def no_order(order_id: str) -> str:
    """What NotFound says of an order that is missing or someone else's (never which)."""
    return f"Order {order_id} not found"


def no_cart(cart_id: str) -> str:
    """What NotFound says of a cart the platform does not know."""
    return f"Cart {cart_id} not found"


Resume = Mapping[str, Any]


class CallOptions(TypedDict, total=False):
    """What one platform call (`HTTPAdapter.request`) may add to its method and path."""

    params: Mapping[str, str | int] | None
    json: Any
    retry: bool


class ReadOptions(TypedDict, total=False):
    """What a read of one platform resource may add to its path (`HTTPAdapter.get_json`)."""

    params: Mapping[str, str | int] | None
    missing: str | None
    tags: Iterable[Tag]


class Capability(StrEnum):
    """A route an adapter can serve. Routes it does not declare answer 501."""

    CUSTOMER = "customer"
    ORDERS = "orders"
    ORDER = "order"
    ITEMS = "items"
    MOST_RECENT_ORDER = "most_recent_order"
    SHIPMENTS = "shipments"
    PRODUCTS = "products"
    CART = "cart"
    CANCEL_ORDER = "cancel_order"
    CHANGE_SHIPPING_ADDRESS = "change_shipping_address"
    CANCEL_ITEMS = "cancel_items"


WRITE_CAPABILITIES = frozenset(
    {Capability.CANCEL_ORDER, Capability.CHANGE_SHIPPING_ADDRESS, Capability.CANCEL_ITEMS}
)
READ_CAPABILITIES = frozenset(
    {
        Capability.CUSTOMER,
        Capability.ORDERS,
        Capability.ORDER,
        Capability.ITEMS,
        Capability.MOST_RECENT_ORDER,
    }
)
"""The five order reads every platform adapter serves."""
SHELF_CAPABILITIES = frozenset({Capability.SHIPMENTS, Capability.PRODUCTS, Capability.CART})
"""R6 to R8: shipments, products and carts. An adapter serving only some of them, or only
some writes, declares those one by one."""
ALL_CAPABILITIES = frozenset(Capability)


@dataclass(frozen=True)
class OrderSort:
    field: Literal["purchase_datetime", "order_number"] = "purchase_datetime"
    descending: bool = True


@dataclass(frozen=True)
class OrderListRequest:
    """One page of a customer's orders.

    `resume` is None for the first page, else exactly what the adapter returned as
    `OrderPage.resume` for the previous one (the bridge signs it into the ERC cursor).
    """

    customer_id: str
    limit: int
    sort: OrderSort = field(default_factory=OrderSort)
    search: str | None = None
    resume: Resume | None = None


@dataclass(frozen=True)
class OrderPage:
    orders: Sequence[Order]
    resume: Resume | None = None
    """Where the next page starts (JSON-serializable); None when this page is the last."""


@dataclass(frozen=True)
class ShipmentListRequest:
    """One page of a customer's shipments, newest first (R6); `resume` as for orders."""

    customer_id: str
    limit: int
    order_id: str | None = None
    tracking_number: str | None = None
    resume: Resume | None = None


@dataclass(frozen=True)
class ShipmentPage:
    shipments: Sequence[Shipment]
    resume: Resume | None = None


@dataclass(frozen=True)
class ProductSearch:
    """One page of the catalog (R7), matching `search` when given."""

    limit: int
    search: str | None = None
    resume: Resume | None = None


@dataclass(frozen=True)
class ProductPage:
    products: Sequence[Product]
    resume: Resume | None = None


@dataclass(frozen=True)
class WriteResult:
    """How a write ended when the platform did not refuse it.

    `already_done`: the order already showed the change, nothing was sent. `ignored`
    names the body options the platform has no place for (the audit line lists them).
    """

    outcome: Literal["applied", "already_done"]
    ignored: tuple[str, ...] = ()


class Adapter:
    """Base class for platform adapters.

    Subclasses set `name`, `capabilities` and, when they need configuration, a
    `settings_class` (a pydantic-settings class with its own env prefix). The bridge
    builds the adapter with `cls(settings)`, sets `observer`, calls `open()` at startup
    and `close()` at shutdown. Every method raises only `adapters.errors` exceptions.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = READ_CAPABILITIES
    settings_class: ClassVar[type[BaseSettings] | None] = None
    observer: UpstreamObserver = NO_OBSERVER
    """Told about platform calls, retries and token refreshes. The bridge sets it before
    `open()`; adapters hand it to their `UpstreamClient`s and report new tokens to it."""
    platform_limits: PlatformLimits = PlatformLimits()
    """Idle time and answer cap of platform connections; set by the bridge before `open()`
    and handed, like `observer`, to every `UpstreamClient`."""
    breaker_periods: tuple[float, float] | None = None
    """The circuit breaker's first and longest open period in seconds, from the bridge's
    settings; set before `open()` and applied by `http_config()`."""
    budget: CallBudget | None = None
    """The platform call budget every `UpstreamClient` takes a turn from before each call
    (`ERC_BRIDGE_PLATFORM_RATE`); set before `open()`, None for no budget."""
    resources: ResourceCache | None = None
    """Platform resources kept across routes (SPEC §9); set by the bridge before `open()`
    for an adapter that reads a platform, None when nothing is kept."""
    token: CachedToken | None = None
    """The platform's bearer token, for an adapter that obtains one
    (`HTTPAdapter.bearer_token`); `authenticate()` takes it."""

    settings: BaseSettings | None
    """The adapter's own configuration: `settings_class()` read from the environment
    unless the caller passes one (tests, `erc-bridge check`)."""

    def __init__(self, settings: BaseSettings | None = None) -> None:
        if settings is None and self.settings_class is not None:
            settings = self.settings_class()
        self.settings = settings

    def http_config(self, config: HTTPConfig | None = None) -> HTTPConfig:
        """`config` (the defaults when None) with what the bridge's settings decide: give
        it to every `UpstreamClient` the adapter opens."""
        config = config or HTTPConfig()
        if self.breaker_periods is None:
            return config
        open_s, open_max_s = self.breaker_periods
        return replace(config, breaker_open_s=open_s, breaker_open_max_s=open_max_s)

    def check(self) -> None:
        """Read and check local configuration (files the settings name) before serving.

        Raise ValueError with one line naming the problem; startup stops with it.
        """

    async def open(self) -> None:
        """Create clients and load what the adapter needs; called once at startup."""

    async def close(self) -> None:
        """Release clients; called once at shutdown."""

    async def authenticate(self) -> None:
        """Obtain a platform access token, proving the platform accepts the credentials:
        the adapter's `token`. Nothing to do for an adapter without one."""
        if self.token is not None:
            await self.token.get()

    async def probe(self) -> None:
        """Prove the platform serves this bridge now: credentials accepted and one cheap
        call answered. Backs `/readyz` and `erc-bridge check`; nothing to check by default.
        A refusal of the credentials is UpstreamUnavailable with `credentials_rejected`.
        """

    def check_webhook_headers(self, headers: Mapping[str, str], *, now: float) -> None:
        """What a webhook delivery's headers alone decide, before its body is read, so that
        no caller is read from who could never be heard: NotSupported, or WebhookRefused
        when they cannot prove the sender. An adapter that reads webhooks overrides this
        with `read_webhook`."""
        raise NotSupported(f"{self.name} sends no webhooks the bridge reads")

    def read_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float) -> WebhookEvent:
        """The event of a platform's webhook delivery that proves its sender, or
        WebhookRefused; never calls the platform. `now` is the wall clock (Unix seconds).
        NotSupported when the platform sends none the bridge can check."""
        raise NotSupported(f"{self.name} sends no webhooks the bridge reads")

    async def get_customer(self, customer_id: str) -> Customer:
        raise NotSupported(f"{self.name} cannot look up customers")

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        raise NotSupported(f"{self.name} cannot list orders")

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        """The order with its items loaded; NotFound when it belongs to someone else."""
        raise NotSupported(f"{self.name} cannot look up orders")

    async def list_items(self, customer_id: str, order_id: str) -> list[OrderItem]:
        """Every product line of the order, in the platform's order."""
        order = await self.get_order(customer_id, order_id)
        return list(order.items or [])

    async def most_recent_order(self, customer_id: str) -> Order:
        """The newest order with its items; NotFound when the customer has none."""
        page = await self.list_orders(OrderListRequest(customer_id=customer_id, limit=1))
        if not page.orders:
            raise NotFound(f"customer {customer_id} has no orders")
        return await self.get_order(customer_id, page.orders[0].id)

    async def list_shipments(self, request: ShipmentListRequest) -> ShipmentPage:
        """The customer's shipments; NotFound for an unknown customer. The platform calls
        one page costs are bounded (no walk over every order of the customer)."""
        raise NotSupported(f"{self.name} cannot list shipments")

    async def list_products(self, request: ProductSearch) -> ProductPage:
        raise NotSupported(f"{self.name} cannot list products")

    async def get_cart(self, *, cart_id: str | None = None, customer_id: str | None = None) -> Cart:
        """The cart by id, or the customer's current cart; exactly one is given. Never
        creates a cart: an id the platform does not know is NotFound. UnservableRequest
        naming `customer_id` when the platform cannot look a cart up by customer."""
        raise NotSupported(f"{self.name} cannot look up carts")

    # Writes (SPEC §7). Each checks ownership (NotFound), then the platform's state rules
    # (NotAllowed, nothing sent), answers `already_done` without a platform write when the
    # change is in place, and sends the write at most once: after a timeout it re-reads
    # the order and answers by what it shows (WriteNotConfirmed when the change is absent).

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        raise NotSupported(f"{self.name} cannot cancel orders")

    async def change_shipping_address(
        self, customer_id: str, order_id: str, address: NewShippingAddress
    ) -> WriteResult:
        raise NotSupported(f"{self.name} cannot change a shipping address")

    async def cancel_items(self, customer_id: str, order_id: str, body: CancelItems) -> WriteResult:
        raise NotSupported(f"{self.name} cannot cancel order lines")


class HTTPAdapter(PlatformAnswers, Adapter):
    """An adapter that calls its platform through one `UpstreamClient`: `open()` sets
    `_upstream`, `close()` releases it, and `_http` is it (an error before `open()`).

    `raise_for_status` translates the platform's answers (`adapters.answers`). `http`
    overrides the platform's call defaults.
    """

    _upstream: UpstreamClient | None = None

    def __init__(
        self,
        settings: BaseSettings | None = None,
        *,
        http: HTTPConfig | None = None,
    ) -> None:
        super().__init__(settings)
        self._http_config = http

    def bearer_token(
        self, fetch: TokenFetch, *, clock: Callable[[], float], margin: float = 60.0
    ) -> CachedToken:
        """The platform's bearer token as `fetch` grants it, for `self.token`: the
        observer hears of every new one."""
        return CachedToken(
            fetch,
            margin=margin,
            clock=clock,
            on_refresh=lambda: self.observer.token_refreshed(self.name),
        )

    def filter_ignored(self, endpoint: str) -> UpstreamError:
        """What to raise when a list for one customer names another customer's order: the
        platform ignored the filter, and nothing of the list may be shown. Logged as an
        error, the same event for every platform, so that one alert covers them all."""
        log.error(
            "platform_filter_ignored",
            platform=self.name,
            endpoint=endpoint,
            detail="an order of another customer came back for a customer filter",
        )
        return UpstreamError(f"{self.name} returned an order of another customer")

    def connect(
        self, base_url: str, *, platform: str | None = None, **options: Any
    ) -> UpstreamClient:
        """An `UpstreamClient` to `base_url` built as the bridge decides (breaker periods,
        observer, connection limits); `options` are the platform's own (`headers`, …)."""
        return UpstreamClient(
            base_url,
            platform=platform or self.name,
            config=self.http_config(self._http_config),
            observer=self.observer,
            limits=self.platform_limits,
            budget=self.budget,
            **options,
        )

    async def close(self) -> None:
        if self._upstream is not None:
            await self._upstream.close()
            self._upstream = None

    async def get_json(self, path: str, *, endpoint: str, **options: Unpack[ReadOptions]) -> Any:
        """GET one platform resource as JSON; None for a 204 (nothing to say).

        A 404 is NotFound(`missing`) when `missing` is given. A resource given `tags` (what
        it belongs to) is kept in `resources` and read from there while it lives: the
        caller checks whose it is every time, as for a fresh one.
        """
        return await self._read_resource(path, orjson.loads, endpoint, options)

    async def get_record(
        self, model: type[R], path: str, *, endpoint: str, **options: Unpack[ReadOptions]
    ) -> R:
        """`get_json` validated as `model` straight from the JSON bytes, which costs less
        than decoding and then validating. A body that does not fit is a MappingError (for
        the caller's `readable`) and is not kept."""
        record = await self._read_resource(path, partial(parse_json, model), endpoint, options)
        if record is None:
            raise MappingError("the platform answered without a body")
        return record

    async def _read_resource(
        self, path: str, decode: Callable[[bytes], T], endpoint: str, options: ReadOptions
    ) -> T | None:
        params, missing = options.get("params"), options.get("missing")
        tags = options.get("tags", ())
        decoded: list[T] = []

        async def fetch() -> bytes:
            response = await self.exchange(path, endpoint=endpoint, params=params)
            self.raise_for_status(response, endpoint, missing=missing)
            if response.status_code == 204:
                return b""
            decoded.append(decoded_body(response, self.name, decode))  # only what decodes is kept
            return response.content

        if self.resources is None or not tags:
            body = await fetch()
        else:
            body = await self.resources.fetch(resource_key(path, params), fetch, tags)
        if decoded:  # this call fetched it: decoded once, and the cache keeps the bytes
            return decoded[0]
        return decode(body) if body else None

    async def read_ahead(
        self,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int],
        missing: str | None = None,
    ) -> AheadRead:
        """A resource read before it is known to be needed (`breaker.Ahead`): from the
        resources when kept there, else from the platform without keeping it (`used_ahead`
        keeps it)."""
        kept = None if self.resources is None else self.resources.get(resource_key(path, params))
        if kept is not None:
            return AheadRead(orjson.loads(kept), since=None)
        since = self.generation()
        raw = await self.get_json(path, endpoint=endpoint, params=params, missing=missing)
        return AheadRead(raw, since)

    async def used_ahead(
        self,
        ahead: Ahead[AheadRead],
        path: str,
        params: Mapping[str, str | int],
        tags: Iterable[Tag],
    ) -> AheadRead | None:
        """What `ahead` read, now needed, and kept; None when the breaker was not closed
        for it (the caller reads it now)."""
        try:
            read = await ahead.result()
        except CircuitOpen:
            return None
        if read.since is not None:
            self.keep(path, params, read.raw, tags, since=read.since)
        return read

    def holds(self, path: str, params: Mapping[str, str | int] | None) -> bool:
        """Whether `get_json(path, params=params)` would be read from the resources kept
        here, costing no round trip: then nothing needs asking for alongside it."""
        return self.resources is not None and resource_key(path, params) in self.resources

    def generation(self) -> int | None:
        """The resources' generation: read it before fetching what `keep` will keep. None
        when nothing is kept, so that a caller need not prepare anything to keep."""
        return self.resources.generation if self.resources is not None else None

    def keep(
        self,
        path: str,
        params: Mapping[str, str | int] | None,
        raw: Any,
        tags: Iterable[Tag],
        *,
        since: int | None,
    ) -> None:
        """Keep `raw`, which came with another answer, as `get_json(path, params=params)`
        would fetch it; not when something was forgotten after `since` (`generation()`)."""
        if self.resources is not None:
            self.resources.put(resource_key(path, params), orjson.dumps(raw), tags, since=since)

    async def exchange(
        self, path: str, *, endpoint: str, params: Mapping[str, str | int] | None = None
    ) -> PlatformResponse:
        """One GET of the platform, whatever its answer."""
        return await self.request("GET", path, endpoint=endpoint, params=params)

    async def request(
        self, method: str, path: str, *, endpoint: str, **options: Unpack[CallOptions]
    ) -> PlatformResponse:
        """One call of the platform, whatever its answer: where a platform adds its
        per-call authentication or quota, for reads and writes alike."""
        return await self._http.send(method, path, endpoint=endpoint, **options)

    @property
    def _http(self) -> UpstreamClient:
        if self._upstream is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not awaited")
        return self._upstream
