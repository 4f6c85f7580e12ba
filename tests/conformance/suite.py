"""The adapter conformance suite: R1 to R5 through the real app, against a platform emulator.

An adapter's test module subclasses `AdapterConformance`, names the emulator's fixtures in
a `Manifest`, and says how to start the platform and how to build the adapter for it:

    class TestAcmeConformance(AdapterConformance):
        manifest = Manifest(customer="c-1", orders=3, order="o-1", items=2, ...)

        @contextmanager
        def serve_platform(self) -> Iterator[Platform]:
            emulator = AcmeEmulator()
            with serve(emulator.app) as url:
                yield Platform(url=url, faults=emulator)

        def build_adapter(self, platform: Platform) -> Adapter:
            return AcmeAdapter(AcmeSettings(_env_file=None, base_url=platform.url, ...))

Pytest then runs every `test_*` method below for that adapter: bodies against the ERC
field tables, paging walks without skips or repeats, isolation between customers, not
found, and the translation of the platform faults the emulator can inject.

An adapter that declares write capabilities names, in `Manifest.writes`, the orders its
emulator holds for them (`WriteCases`: one to cancel, one already cancelled, one shipped,
...); the write cases run for each write it declares and skip the rest. The platform
emulator is shared by the class, so each case that changes an order uses its own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypedDict, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from adapters.base import (
    WRITE_CAPABILITIES,
    Adapter,
    Capability,
    OrderListRequest,
    OrderPage,
    ProductPage,
    ProductSearch,
    ShipmentListRequest,
    ShipmentPage,
    WriteResult,
)
from adapters.errors import AdapterError
from adapters.http import UpstreamObserver
from bridge.app import create_app
from bridge.auth import ORDERS_READ
from bridge.commands import ROUTE_IDS
from mappings.carts import Cart
from mappings.models import Customer, Order, OrderItem
from mappings.writes import CancelItems, CancelOrder, NewShippingAddress
from tests.conformance.shelf_contract import check
from tests.conftest import (
    AUTH,
    CLIENT_ID,
    CLIENT_SECRET,
    OAUTH_CLIENT,
    TOKEN_SECRET,
    decode,
    settings,
)

PREFIX = "/erc/ecommerce/connections"


class Fault(StrEnum):
    """A standard platform failure, and what the bridge must answer for it."""

    NOT_FOUND = "not_found"
    """404 for the order the route names."""
    UNAUTHORIZED = "unauthorized"
    """401 on every call: the platform refuses the bridge's credentials."""
    RATE_LIMITED = "rate_limited"
    """429 on every call."""
    SERVER_ERROR = "server_error"
    """500 on every call."""
    MALFORMED = "malformed"
    """200 with a body that is not JSON."""


EXPECTED: dict[Fault, tuple[int, str]] = {
    Fault.NOT_FOUND: (404, "not_found"),
    Fault.UNAUTHORIZED: (503, "upstream_unavailable"),
    Fault.RATE_LIMITED: (503, "upstream_unavailable"),
    Fault.SERVER_ERROR: (502, "upstream_error"),
    Fault.MALFORMED: (502, "upstream_error"),
}
ALL_FAULTS = frozenset(Fault)


class FaultInjector(Protocol):
    """What an emulator implements so that the suite can make its platform fail."""

    def inject(self, fault: Fault) -> None:
        """Answer every API call (not token grants) with `fault` until `clear()`."""

    def clear(self) -> None:
        """Answer normally again."""


@dataclass(frozen=True)
class Platform:
    """A running platform emulator: where it listens and how to make it fail."""

    url: str = ""
    faults: FaultInjector | None = None
    emulator: Any = None
    """The emulator itself, for adapter settings that need more than the URL."""


@contextmanager
def no_platform() -> Iterator[Platform]:
    """For adapters that read no platform (the demo store)."""
    yield Platform()


@dataclass(frozen=True)
class Manifest:
    """The emulator's fixtures the suite relies on."""

    customer: str
    """A customer with orders (at least two, so that a walk has two pages)."""
    orders: int
    """How many orders R2 lists for `customer`."""
    order: str
    """One of `customer`'s orders."""
    items: int
    """How many product lines `order` has."""
    empty_customer: str
    """A customer without orders."""
    other_customer: str
    """Another customer with orders."""
    other_order: str
    """One of `other_customer`'s orders."""
    faults: frozenset[Fault] = field(default_factory=frozenset)
    """The faults the emulator can inject."""
    missing_customer: str = "987654321"
    """An id of the platform's kind that names no customer."""
    missing_order: str = "987654320"
    """An id of the platform's kind that names no order."""
    writes: WriteCases | None = None
    """The orders for the write cases, for an adapter that declares writes."""


NEW_ADDRESS = {
    "first_name": "Ana",
    "last_name": "Silva",
    "address": "Rua Nova 7",
    "city": "Porto",
    "zip_code": "4000-001",
    "region_code": "PT-13",
    "country_code": "PT",
}


@dataclass(frozen=True)
class WriteCases:
    """The emulator's orders for the write cases, all of `customer`; None skips a case."""

    customer: str
    cancellable: str | None = None
    """An order W1 cancels."""
    cancelled: str | None = None
    """An order already cancelled: W1 is 200 without a change."""
    not_cancellable: str | None = None
    """An order W1 refuses (shipped, fulfilled, past the platform's window): 422."""
    addressable: str | None = None
    """An order W2 changes the shipping address of (not `cancellable`)."""
    new_address: dict[str, str] = field(default_factory=lambda: dict(NEW_ADDRESS))
    """A W2 body the platform takes for `addressable`."""
    not_addressable: str | None = None
    """An order W2 refuses: 422."""
    lines_order: str | None = None
    """An order W3 cancels `lines` of (neither `cancellable` nor `addressable`)."""
    lines: tuple[str, ...] = ()


class WriteOrders(TypedDict):
    """A platform's conformance module's `WRITE_CASES`: the orders its `WriteCases` name,
    and the W2 body already in place on `cancellable_order`."""

    cancellable_order: str
    shipped_order: str
    cancelled_order: str
    current_shipping_address: dict[str, str]


RECIPIENT = ("first_name", "last_name", "phone_number")
"""W2 keeps these as they are unless the request gives them, on every platform (README,
"Write routes")."""

# Ids the bridge lets through to the adapter, which no platform knows as these.
FOREIGN_IDS = ("0", "id=1", "a..b", "x:y@z", "1+1", "~1", "9" * 128)
ROUTES = {
    "R1": "/customers/{customer}",
    "R2": "/customers/{customer}/orders",
    "R3": "/customers/{customer}/orders/{order}",
    "R4": "/customers/{customer}/orders/{order}/items",
    "R5": "/customers/{customer}/most-recent-order",
}
WRITE_ROUTES = {
    Capability.CANCEL_ORDER: ("POST", "/customers/{customer}/orders/{order}/cancel"),
    Capability.CHANGE_SHIPPING_ADDRESS: (
        "POST",
        "/customers/{customer}/orders/{order}/change-shipping-address",
    ),
    Capability.CANCEL_ITEMS: ("PUT", "/customers/{customer}/orders/{order}/items/cancel"),
}
SHELF_ROUTES = {
    "R6": "/customers/{customer}/shipments",
    "R7": "/products",
    "R8": "/customers/cart",
}
CAPABILITY_ROUTES = {c: name for c, name in ROUTE_IDS.items() if name.startswith("R")}
TABLES = {
    "R1": "customer",
    "R2": "orders_page",
    "R3": "order_detail",
    "R4": "items_page",
    "R5": "most_recent_order",
}
# A 404 injected into a lookup by id means "no such order"; R1, R2 and R5 may start with
# a search, where a 404 means something else on some platforms.
FAULT_ROUTES = {Fault.NOT_FOUND: ("R3", "R4")}
DEFAULT_FAULT_ROUTES = ("R1", "R2", "R3", "R5")
ORDER_SORTS = ("purchase_datetime:asc", "order_number:asc", "order_number:desc")
_DIGITS = re.compile(r"(\d+)")

T = TypeVar("T")


def natural_key(text: str) -> tuple[Any, ...]:
    """`#A9` before `#A10`: how the bridge promises to order order numbers."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in _DIGITS.split(text))


def page_limit(count: int) -> int:
    """A page size that makes a walk over `count` elements take at least two pages."""
    return max(1, (count + 1) // 2) if count > 2 else 1


class AdapterBug(AdapterError):
    """Stands in for an adapter's unexpected exception while the bridge answers."""


class Watched(Adapter):
    """Passes every call to the adapter under test, keeping the exception of a bug.

    The bridge would answer a bug with a bare 500; the suite raises the bug itself in the
    test instead, traceback and all, so that a failing test points at the line to fix
    (for a new adapter: a TODO).
    """

    def __init__(self, inner: Adapter) -> None:
        super().__init__(inner.settings)
        self.inner = inner
        self.bug: Exception | None = None

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (AdapterError, TimeoutError):
            raise
        except Exception as exc:
            self.bug = exc
            raise AdapterBug(f"{type(exc).__name__} in the adapter") from None

    @property
    def observer(self) -> UpstreamObserver:
        return self.inner.observer

    @observer.setter
    def observer(self, observer: UpstreamObserver) -> None:
        self.inner.observer = observer

    def check(self) -> None:
        self.inner.check()

    async def open(self) -> None:
        await self._call(self.inner.open())

    async def close(self) -> None:
        await self.inner.close()

    async def authenticate(self) -> None:
        await self._call(self.inner.authenticate())

    async def probe(self) -> None:
        await self._call(self.inner.probe())

    async def get_customer(self, customer_id: str) -> Customer:
        return await self._call(self.inner.get_customer(customer_id))

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        return await self._call(self.inner.list_orders(request))

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        return await self._call(self.inner.get_order(customer_id, order_id))

    async def list_items(self, customer_id: str, order_id: str) -> list[OrderItem]:
        return await self._call(self.inner.list_items(customer_id, order_id))

    async def most_recent_order(self, customer_id: str) -> Order:
        return await self._call(self.inner.most_recent_order(customer_id))

    async def list_shipments(self, request: ShipmentListRequest) -> ShipmentPage:
        return await self._call(self.inner.list_shipments(request))

    async def list_products(self, request: ProductSearch) -> ProductPage:
        return await self._call(self.inner.list_products(request))

    async def get_cart(self, *, cart_id: str | None = None, customer_id: str | None = None) -> Cart:
        return await self._call(self.inner.get_cart(cart_id=cart_id, customer_id=customer_id))

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        return await self._call(self.inner.cancel_order(customer_id, order_id, body))

    async def change_shipping_address(
        self, customer_id: str, order_id: str, address: NewShippingAddress
    ) -> WriteResult:
        return await self._call(self.inner.change_shipping_address(customer_id, order_id, address))

    async def cancel_items(self, customer_id: str, order_id: str, body: CancelItems) -> WriteResult:
        return await self._call(self.inner.cancel_items(customer_id, order_id, body))


def watched(adapter: Adapter) -> Watched:
    cls = type(
        f"Watched{type(adapter).__name__}",
        (Watched,),
        {"name": adapter.name, "capabilities": adapter.capabilities},
    )
    wrapper = cls(adapter)
    assert isinstance(wrapper, Watched)
    return wrapper


def secrets_of(adapter: Adapter) -> list[str]:
    values = dict(adapter.settings) if adapter.settings is not None else {}
    return [v.get_secret_value() for v in values.values() if isinstance(v, SecretStr)]


class ERC:
    """The bridge serving one adapter, as Talkdesk calls it."""

    def __init__(self, client: TestClient, adapter: Watched) -> None:
        self.client = client
        self.adapter = adapter

    def get(self, path: str, **params: Any) -> httpx2.Response:
        """GET a route; a test that needs a route the adapter does not declare is skipped."""
        if capability_of(path) not in self.adapter.capabilities:
            pytest.skip(f"the {self.adapter.name} adapter does not serve {capability_of(path)}")
        return self.get_undeclared(path, **params)

    def get_undeclared(self, path: str, **params: Any) -> httpx2.Response:
        response = self.client.get(f"{PREFIX}{path}", params=params)
        bug, self.adapter.bug = self.adapter.bug, None
        if bug is not None:
            raise bug
        return response

    def write(
        self, capability: Capability, customer: str, order: str, body: Any = None
    ) -> httpx2.Response:
        """Send a write; a test of a write the adapter does not declare is skipped."""
        self.needs(capability)
        return self.write_undeclared(capability, customer, order, body)

    def needs(self, capability: Capability) -> None:
        if capability not in self.adapter.capabilities:
            pytest.skip(f"the {self.adapter.name} adapter does not serve {capability}")

    def write_undeclared(
        self, capability: Capability, customer: str, order: str, body: Any = None
    ) -> httpx2.Response:
        method, template = WRITE_ROUTES[capability]
        path = PREFIX + template.format(customer=customer, order=order)
        response = self.client.request(method, path, json=body)
        bug, self.adapter.bug = self.adapter.bug, None
        if bug is not None:
            raise bug
        return response

    def ok(self, path: str, table: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, f"GET {path} {params}: {response.text}"
        body: dict[str, Any] = decode(response)
        check(body, table)
        return body

    def error(self, path: str, status: int, code: str, **params: Any) -> dict[str, Any]:
        return self.expect_error(self.get(path, **params), status, code)

    def expect_error(self, response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
        """The ERC error body, after checking it is exactly the error expected."""
        where = f"{response.request.method} {response.request.url}"
        assert (response.status_code, response.json().get("code")) == (status, code), (
            f"{where}: expected {status} {code}, got {response.status_code} {response.text}"
        )
        assert response.headers["content-type"] == "application/json"
        body: dict[str, Any] = decode(response)
        check(body, "error")
        for secret in secrets_of(self.adapter.inner):
            assert secret not in response.text
        return body

    def walk(self, path: str, table: str, key: str, **params: Any) -> list[list[dict[str, Any]]]:
        """Every page of a list route, following `_links.next`; the pages' elements."""
        pages: list[list[dict[str, Any]]] = []
        cursor: str | None = None
        while True:
            body = self.ok(path, table, **params, **({"cursor": cursor} if cursor else {}))
            pages.append(body["_embedded"][key])
            link = body["_links"].get("next")
            if link is None:
                return pages
            cursor = parse_qs(urlsplit(link["href"]).query)["cursor"][0]
            assert len(pages) <= 1000, "the walk does not end"


def route(name: str, *, customer: str = "", order: str = "") -> str:
    return {**ROUTES, **SHELF_ROUTES}[name].format(customer=customer, order=order)


def capability_of(path: str) -> Capability:
    """The capability an ERC path needs (`/customers/c1/orders` needs ORDERS)."""
    parts = path.strip("/").split("/")
    if parts in (["products"], ["customers", "cart"]):
        name = "R7" if parts == ["products"] else "R8"
    elif parts[-1] in ("most-recent-order", "shipments"):
        name = "R5" if parts[-1] == "most-recent-order" else "R6"
    else:
        name = f"R{len(parts) - 1}"
    return next(c for c, route_name in CAPABILITY_ROUTES.items() if route_name == name)


def _flatten(pages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [element for page in pages for element in page]


def _ids(elements: list[dict[str, Any]]) -> list[str]:
    return [element["id"] for element in elements]


def assert_whole_pages(pages: list[list[Any]], limit: int, total: int) -> None:
    """Full pages, then one last non-empty page: nothing skipped, no empty page promised."""
    assert sum(map(len, pages)) == total, [len(page) for page in pages]
    if total == 0:
        assert pages == [[]]
        return
    assert all(len(page) == limit for page in pages[:-1]), [len(page) for page in pages]
    assert 1 <= len(pages[-1]) <= limit, [len(page) for page in pages]


class AdapterConformance:
    """Every adapter, against its emulator, through the real app. Subclass it as `Test...`.

    R6 to R8 cases read the emulator's fixtures from the optional class attributes below;
    a case whose attribute is left None is skipped (as is one for a route the adapter does
    not declare)."""

    manifest: ClassVar[Manifest]
    SHIPMENTS_CUSTOMER: ClassVar[str | None] = None
    """A customer with at least two shipments (R6), so that a walk has two pages."""
    SHIPMENTS_COUNT: ClassVar[int | None] = None
    """How many shipments R6 lists for SHIPMENTS_CUSTOMER."""
    SHIPMENTS_ORDER: ClassVar[str | None] = None
    """One of SHIPMENTS_CUSTOMER's orders with shipments: the `order_id` filter."""
    SHIPMENTS_TRACKING_NUMBER: ClassVar[str | None] = None
    """The tracking number of one of SHIPMENTS_CUSTOMER's shipments."""
    SHIPMENTS_OTHER_CUSTOMER: ClassVar[str | None] = None
    """Another customer with shipments: none of them is ever listed for the first."""
    PRODUCT_SEARCH: ClassVar[str | None] = None
    """A `search` that finds some products of the catalog, not all (R7)."""
    PRODUCT_COUNT: ClassVar[int | None] = None
    """How many products R7 lists without `search` (at least two)."""
    CART_ID: ClassVar[str | None] = None
    """A cart the platform holds (R8 by `cart_id`)."""
    CART_CUSTOMER: ClassVar[str | None] = None
    """A customer whose current cart R8 finds by `customer_id`; for a platform that
    cannot look a cart up by customer, any customer (the case expects 400 naming it)."""
    CART_BY_CUSTOMER: ClassVar[bool] = True
    """False when the platform cannot look a cart up by customer (400 `customer_id`)."""
    UNKNOWN_CART_ID: ClassVar[str | None] = None
    """An id of the platform's kind that names no cart."""

    def serve_platform(self) -> AbstractContextManager[Platform]:
        """Start the platform emulator; `no_platform()` for an adapter that reads none."""
        raise NotImplementedError

    def build_adapter(self, platform: Platform) -> Adapter:
        """A new adapter pointed at the running platform."""
        raise NotImplementedError

    def restore_platform(self, platform: Platform) -> None:
        """Bring the platform's data back as first served, before each test: a platform
        that keeps the writes' changes makes every write case start from the same orders.
        Nothing to do by default (a platform whose `faults.clear()` does it, or none)."""

    # Fixtures

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "fault_case" not in metafunc.fixturenames:
            return
        cases = [
            pytest.param((fault, name), id=f"{fault}-{name}")
            for fault in sorted(self.manifest.faults)
            for name in FAULT_ROUTES.get(fault, DEFAULT_FAULT_ROUTES)
        ]
        skipped = pytest.param(
            None, marks=pytest.mark.skip(reason="the manifest names no injectable faults")
        )
        metafunc.parametrize("fault_case", cases or [skipped])

    @pytest.fixture(scope="class")
    @classmethod
    def platform(cls) -> Iterator[Platform]:
        with cls().serve_platform() as platform:
            yield platform

    @pytest.fixture
    def erc(self, platform: Platform) -> Iterator[ERC]:
        if platform.faults is not None:
            platform.faults.clear()
        self.restore_platform(platform)
        adapter = watched(self.build_adapter(platform))
        # The response cache is off so that every request reaches the platform.
        app = create_app(settings(cache_ttl_s=0, writes=True), adapter=adapter)
        with TestClient(app, headers=AUTH) as client:
            yield ERC(client, adapter)
        if platform.faults is not None:
            platform.faults.clear()

    @property
    def m(self) -> Manifest:
        return self.manifest

    def writing_adapter(self, platform: Platform, capability: Capability) -> Watched:
        """A new adapter under test, or a skip when it does not declare `capability`."""
        adapter = watched(self.build_adapter(platform))
        if capability not in adapter.capabilities:
            pytest.skip(f"the {adapter.name} adapter does not serve {capability}")
        return adapter

    def shelf(self, name: str) -> str:
        """The class attribute `name` (an R6 to R8 fixture), or a skip when it is absent."""
        value = getattr(self, name)
        if value is None:
            pytest.skip(f"the conformance module names no {name}")
        return str(value)

    def write_case(self, name: str) -> tuple[str, str]:
        """The customer and the order the manifest names for a write case, or a skip."""
        cases = self.m.writes
        order = getattr(cases, name) if cases is not None else None
        if cases is None or order is None:
            pytest.skip(f"the manifest names no {name} order")
        return cases.customer, order

    # R1

    def test_customer(self, erc: ERC) -> None:
        path = route("R1", customer=self.m.customer)
        body = erc.ok(path, "customer")
        assert body["id"] == self.m.customer
        assert body["_links"]["self"]["href"] == f"http://testserver{PREFIX}{path}"

    def test_customer_without_orders_is_still_a_customer(self, erc: ERC) -> None:
        body = erc.ok(route("R1", customer=self.m.empty_customer), "customer")
        assert body["id"] == self.m.empty_customer

    # R2

    def test_order_list_walk_newest_first(self, erc: ERC) -> None:
        path = route("R2", customer=self.m.customer)
        limit = page_limit(self.m.orders)
        pages = erc.walk(path, "orders_page", "orders", limit=limit)
        orders = _flatten(pages)
        ids = _ids(orders)
        assert len(ids) == len(set(ids)), "an order was listed twice"
        assert_whole_pages(pages, limit, self.m.orders)
        assert self.m.order in ids
        assert self.m.other_order not in ids
        assert {o.get("customer_id", self.m.customer) for o in orders} == {self.m.customer}
        times = [o["purchase_datetime"] for o in orders if "purchase_datetime" in o]
        assert times == sorted(times, reverse=True)
        # Nothing skipped: one big page holds exactly what the walk found.
        whole = erc.ok(path, "orders_page", limit=100)
        assert _ids(whole["_embedded"]["orders"]) == ids[:100]
        assert ("next" in whole["_links"]) == (self.m.orders > 100)

    @pytest.mark.parametrize("order_by", ORDER_SORTS)
    def test_order_list_walk_in_every_order(self, erc: ERC, order_by: str) -> None:
        path = route("R2", customer=self.m.customer)
        newest_first = _ids(_flatten(erc.walk(path, "orders_page", "orders", limit=100)))
        limit = page_limit(self.m.orders)
        pages = erc.walk(path, "orders_page", "orders", limit=limit, order_by=order_by)
        orders = _flatten(pages)
        assert_whole_pages(pages, limit, self.m.orders)
        assert sorted(_ids(orders)) == sorted(newest_first)
        field, _, direction = order_by.partition(":")
        if field == "order_number":
            keys: list[Any] = [natural_key(o["order_number"]) for o in orders]
        else:
            keys = [o["purchase_datetime"] for o in orders if "purchase_datetime" in o]
        assert keys == sorted(keys, reverse=direction == "desc")

    def test_search_finds_a_part_of_the_order_number(self, erc: ERC) -> None:
        path = route("R2", customer=self.m.customer)
        every = _flatten(erc.walk(path, "orders_page", "orders", limit=100))
        number = next(o["order_number"] for o in every if o["id"] == self.m.order)
        part = number[len(number) // 3 : len(number) // 3 + max(2, len(number) // 3)]
        expected = [o["id"] for o in every if part.casefold() in o["order_number"].casefold()]
        pages = erc.walk(path, "orders_page", "orders", limit=1, search=part.swapcase())
        assert _ids(_flatten(pages)) == expected
        assert self.m.order in expected

    def test_search_without_match_is_an_empty_page(self, erc: ERC) -> None:
        path = route("R2", customer=self.m.customer)
        body = erc.ok(path, "orders_page", search="zz-no-such-order-zz")
        assert body["_embedded"]["orders"] == []
        assert "next" not in body["_links"]

    def test_customer_without_orders_has_an_empty_list(self, erc: ERC) -> None:
        body = erc.ok(route("R2", customer=self.m.empty_customer), "orders_page")
        assert body["_embedded"]["orders"] == []
        assert "next" not in body["_links"]

    # R3

    def test_order_detail(self, erc: ERC) -> None:
        body = erc.ok(route("R3", customer=self.m.customer, order=self.m.order), "order_detail")
        assert body["id"] == self.m.order
        assert body.get("customer_id", self.m.customer) == self.m.customer
        assert body["items_number"] == self.m.items

    def test_order_detail_agrees_with_its_list_entry(self, erc: ERC) -> None:
        listed = _flatten(
            erc.walk(route("R2", customer=self.m.customer), "orders_page", "orders", limit=100)
        )
        summary = next(o for o in listed if o["id"] == self.m.order)
        detail = erc.ok(route("R3", customer=self.m.customer, order=self.m.order), "order_detail")
        for name in (
            "order_number",
            "customer_id",
            "purchase_datetime",
            "delivery_type",
            "price_summary",
            "cancellation_status",
        ):
            assert summary.get(name) == detail.get(name), name
        latest = detail.get("order_extra_info", {}).get("latest_status_info", {})
        assert summary.get("status") == latest.get("generic_type")
        if "items_number" in summary:
            assert summary["items_number"] == detail["items_number"]

    # R4

    def test_items_walk(self, erc: ERC) -> None:
        path = route("R4", customer=self.m.customer, order=self.m.order)
        limit = page_limit(self.m.items)
        pages = erc.walk(path, "items_page", "items", limit=limit)
        ids = _ids(_flatten(pages))
        assert len(ids) == len(set(ids)), "an item was listed twice"
        assert_whole_pages(pages, limit, self.m.items)

    # R5

    def test_most_recent_order_is_the_first_listed(self, erc: ERC) -> None:
        first = erc.ok(route("R2", customer=self.m.customer), "orders_page", limit=1)
        body = erc.ok(route("R5", customer=self.m.customer), "most_recent_order")
        assert body["id"] == first["_embedded"]["orders"][0]["id"]
        assert body.get("customer_id", self.m.customer) == self.m.customer
        if "highlighted_item" in body:
            items = erc.walk(
                route("R4", customer=self.m.customer, order=body["id"]),
                "items_page",
                "items",
                limit=100,
            )
            assert body["highlighted_item"]["id"] in _ids(_flatten(items))

    def test_most_recent_order_of_customer_without_orders_is_404(self, erc: ERC) -> None:
        erc.error(route("R5", customer=self.m.empty_customer), 404, "not_found")

    # R6 shipments

    def test_shipments_walk_newest_first_without_skips_or_repeats(self, erc: ERC) -> None:
        customer = self.shelf("SHIPMENTS_CUSTOMER")
        path = route("R6", customer=customer)
        whole = _flatten(erc.walk(path, "shipments_page", "shipments", limit=100))
        total = self.SHIPMENTS_COUNT if self.SHIPMENTS_COUNT is not None else len(whole)
        assert len(whole) == total and total >= 2
        limit = page_limit(total)
        pages = erc.walk(path, "shipments_page", "shipments", limit=limit)
        shipments = _flatten(pages)
        assert len(set(_ids(shipments))) == len(shipments), "a shipment was listed twice"
        # A page may hold fewer than `limit`: a platform bounds the orders one page reads.
        assert all(len(page) <= limit for page in pages), [len(page) for page in pages]
        assert _ids(shipments) == _ids(whole)
        assert {s.get("customer_id", customer) for s in shipments} == {customer}
        sent = [s["shipping_date"] for s in shipments if "shipping_date" in s]
        assert sent == sorted(sent, reverse=True)

    def test_shipments_filtered_by_order(self, erc: ERC) -> None:
        customer, order = self.shelf("SHIPMENTS_CUSTOMER"), self.shelf("SHIPMENTS_ORDER")
        path = route("R6", customer=customer)
        every = _flatten(erc.walk(path, "shipments_page", "shipments", limit=100))
        pages = erc.walk(path, "shipments_page", "shipments", limit=1, order_id=order)
        found = _flatten(pages)
        assert found and {s.get("order_id", order) for s in found} == {order}
        assert _ids(found) == [s["id"] for s in every if s.get("order_id") == order]

    def test_shipments_filtered_by_tracking_number(self, erc: ERC) -> None:
        customer = self.shelf("SHIPMENTS_CUSTOMER")
        number = self.shelf("SHIPMENTS_TRACKING_NUMBER")
        path = route("R6", customer=customer)
        found = _flatten(erc.walk(path, "shipments_page", "shipments", tracking_number=number))
        assert found
        assert {s["tracking_info"]["tracking_number"] for s in found} == {number}
        unknown = "ZZ-NO-SUCH-PARCEL-ZZ"
        none = erc.walk(path, "shipments_page", "shipments", tracking_number=unknown)
        assert _flatten(none) == []

    def test_another_customers_shipments_are_never_listed(self, erc: ERC) -> None:
        customer = self.shelf("SHIPMENTS_CUSTOMER")
        other = self.shelf("SHIPMENTS_OTHER_CUSTOMER")
        mine = _flatten(erc.walk(route("R6", customer=customer), "shipments_page", "shipments"))
        theirs = _flatten(erc.walk(route("R6", customer=other), "shipments_page", "shipments"))
        assert theirs, "the other customer has no shipments to keep apart"
        assert not set(_ids(mine)) & set(_ids(theirs))
        assert {s.get("customer_id", other) for s in theirs} == {other}
        # Their order, named as a filter of mine, finds nothing of theirs.
        their_order = next((s["order_id"] for s in theirs if "order_id" in s), None)
        if their_order is not None:  # none of theirs: nothing listed, or no such order (404)
            path = route("R6", customer=customer)
            response = erc.get(path, order_id=their_order)
            assert response.status_code in (200, 404), response.text
            if response.status_code == 200:
                assert response.json()["_embedded"]["shipments"] == []

    def test_shipments_of_an_unknown_customer_are_404(self, erc: ERC) -> None:
        self.shelf("SHIPMENTS_CUSTOMER")
        erc.error(route("R6", customer=self.m.missing_customer), 404, "not_found")

    def test_a_shipments_cursor_does_not_cross_customers_or_filters(self, erc: ERC) -> None:
        customer = self.shelf("SHIPMENTS_CUSTOMER")
        first = erc.ok(route("R6", customer=customer), "shipments_page", limit=1)
        cursor = parse_qs(urlsplit(first["_links"]["next"]["href"]).query)["cursor"][0]
        other = route("R6", customer=self.m.other_customer)
        erc.error(other, 400, "invalid_cursor", cursor=cursor)
        mine = route("R6", customer=customer)
        erc.error(mine, 400, "invalid_cursor", cursor=cursor, tracking_number="X1")

    @pytest.mark.parametrize(
        ("name", "value"), [("limit", "0"), ("order_id", "a/b"), ("tracking_number", "x" * 201)]
    )
    def test_bad_shipments_parameters_are_400_naming_them(
        self, erc: ERC, name: str, value: str
    ) -> None:
        customer = self.shelf("SHIPMENTS_CUSTOMER")
        body = erc.error(route("R6", customer=customer), 400, "invalid_request", **{name: value})
        assert [f["name"] for f in body["fields"]] == [name]

    # R7 products

    def test_products_walk_without_skips_or_repeats(self, erc: ERC) -> None:
        whole = erc.ok(route("R7"), "products_page", limit=100)["_embedded"]["products"]
        total = self.PRODUCT_COUNT if self.PRODUCT_COUNT is not None else len(whole)
        if total < 2:
            pytest.skip("the catalog has fewer than two products to page")
        limit = page_limit(total)
        pages = erc.walk(route("R7"), "products_page", "products", limit=limit)
        products = _flatten(pages)
        assert len(set(_ids(products))) == len(products), "a product was listed twice"
        assert_whole_pages(pages, limit, total)
        assert _ids(products)[:100] == _ids(whole)
        for product in products:
            variants = {v["id"] for v in product.get("variants", [])}
            if "default_variant_id" in product:
                assert product["default_variant_id"] in variants, product["id"]
            images = {i["id"] for i in product.get("images", [])}
            for variant in product.get("variants", []):
                assert set(variant.get("images_ids", [])) <= images, variant["id"]

    def test_product_search_finds_some_of_the_catalog(self, erc: ERC) -> None:
        search = self.shelf("PRODUCT_SEARCH")
        every = _ids(_flatten(erc.walk(route("R7"), "products_page", "products", limit=100)))
        pages = erc.walk(route("R7"), "products_page", "products", limit=1, search=search)
        found = _ids(_flatten(pages))
        assert found, f"nothing found for {search!r}"
        assert len(set(found)) == len(found)
        assert set(found) < set(every)
        none = erc.ok(route("R7"), "products_page", search="zz-no-such-product-zz")
        assert none["_embedded"]["products"] == []
        assert "next" not in none["_links"]

    def test_a_products_cursor_is_bound_to_its_search(self, erc: ERC) -> None:
        first = erc.ok(route("R7"), "products_page", limit=1)
        if "next" not in first["_links"]:
            pytest.skip("the catalog has one page")
        cursor = parse_qs(urlsplit(first["_links"]["next"]["href"]).query)["cursor"][0]
        erc.error(route("R7"), 400, "invalid_cursor", cursor=cursor, search="zz")

    @pytest.mark.parametrize(("name", "value"), [("limit", "-1"), ("search", "s" * 201)])
    def test_bad_products_parameters_are_400_naming_them(
        self, erc: ERC, name: str, value: str
    ) -> None:
        body = erc.error(route("R7"), 400, "invalid_request", **{name: value})
        assert [f["name"] for f in body["fields"]] == [name]

    # R8 cart

    def test_cart_by_id(self, erc: ERC) -> None:
        cart_id = self.shelf("CART_ID")
        body = erc.ok(route("R8"), "cart", cart_id=cart_id)
        assert body["cart_id"] == cart_id
        assert_cart_adds_up(body)

    def test_cart_by_customer(self, erc: ERC) -> None:
        customer = self.shelf("CART_CUSTOMER")
        if not self.CART_BY_CUSTOMER:
            body = erc.error(route("R8"), 400, "invalid_request", customer_id=customer)
            assert [f["name"] for f in body["fields"]] == ["customer_id"]
            return
        body = erc.ok(route("R8"), "cart", customer_id=customer)
        assert body.get("customer_id", customer) == customer
        assert_cart_adds_up(body)

    def test_unknown_cart_is_404(self, erc: ERC) -> None:
        erc.error(route("R8"), 404, "not_found", cart_id=self.shelf("UNKNOWN_CART_ID"))

    def test_cart_of_an_unknown_customer_is_404(self, erc: ERC) -> None:
        self.shelf("CART_CUSTOMER")
        if not self.CART_BY_CUSTOMER:
            pytest.skip("the platform looks carts up by id only")
        erc.error(route("R8"), 404, "not_found", customer_id=self.m.missing_customer)

    @pytest.mark.parametrize(
        "params",
        [{}, {"customer_id": "c1", "cart_id": "k1"}, {"cart_id": "a/b"}, {"customer_id": ""}],
        ids=["neither", "both", "bad-id", "empty"],
    )
    def test_a_cart_needs_exactly_one_good_id(self, erc: ERC, params: dict[str, str]) -> None:
        body = erc.error(route("R8"), 400, "invalid_request", **params)
        named = {f["name"] for f in body["fields"]}
        assert named <= {"customer_id", "cart_id"} and named

    # Not found and isolation

    @pytest.mark.parametrize("name", list(ROUTES))
    def test_unknown_customer_is_404(self, erc: ERC, name: str) -> None:
        path = route(name, customer=self.m.missing_customer, order=self.m.order)
        erc.error(path, 404, "not_found")

    @pytest.mark.parametrize("name", ["R3", "R4"])
    def test_unknown_order_is_404(self, erc: ERC, name: str) -> None:
        path = route(name, customer=self.m.customer, order=self.m.missing_order)
        erc.error(path, 404, "not_found")

    @pytest.mark.parametrize("foreign", FOREIGN_IDS)
    def test_ids_the_platform_cannot_know_are_404(self, erc: ERC, foreign: str) -> None:
        erc.error(route("R1", customer=foreign), 404, "not_found")
        erc.error(route("R3", customer=self.m.customer, order=foreign), 404, "not_found")
        erc.error(route("R3", customer=foreign, order=self.m.order), 404, "not_found")

    @pytest.mark.parametrize("name", ["R3", "R4"])
    def test_another_customers_order_is_404_like_a_missing_one(self, erc: ERC, name: str) -> None:
        erc.ok(route(name, customer=self.m.other_customer, order=self.m.other_order), TABLES[name])
        foreign = erc.error(
            route(name, customer=self.m.customer, order=self.m.other_order), 404, "not_found"
        )
        missing = erc.error(
            route(name, customer=self.m.customer, order=self.m.missing_order), 404, "not_found"
        )
        assert foreign.keys() == missing.keys()
        assert self.m.other_customer not in str(foreign)

    def test_lists_and_most_recent_orders_stay_with_their_customer(self, erc: ERC) -> None:
        mine = _ids(
            _flatten(erc.walk(route("R2", customer=self.m.customer), "orders_page", "orders"))
        )
        theirs_pages = erc.walk(
            route("R2", customer=self.m.other_customer), "orders_page", "orders"
        )
        theirs = _flatten(theirs_pages)
        assert self.m.other_order in _ids(theirs)
        assert not set(mine) & set(_ids(theirs))
        assert {o.get("customer_id", self.m.other_customer) for o in theirs} == {
            self.m.other_customer
        }
        newest = erc.ok(route("R5", customer=self.m.other_customer), "most_recent_order")
        assert newest["id"] in _ids(theirs)

    def test_a_cursor_does_not_cross_customers(self, erc: ERC) -> None:
        first = erc.ok(route("R2", customer=self.m.customer), "orders_page", limit=1)
        cursor = parse_qs(urlsplit(first["_links"]["next"]["href"]).query)["cursor"][0]
        erc.error(route("R2", customer=self.m.other_customer), 400, "invalid_cursor", cursor=cursor)

    def test_routes_the_adapter_does_not_declare_are_501(self, erc: ERC) -> None:
        for capability, name in CAPABILITY_ROUTES.items():
            path = route(name, customer=self.m.customer, order=self.m.order)
            response = erc.get_undeclared(path)
            if capability in erc.adapter.capabilities:
                assert response.status_code != 501, name
            else:
                erc.expect_error(response, 501, "not_supported")

    # Platform faults

    def test_platform_fault(
        self, erc: ERC, platform: Platform, fault_case: tuple[Fault, str]
    ) -> None:
        fault, name = fault_case
        assert platform.faults is not None, "the manifest names faults but no injector"
        path = route(name, customer=self.m.customer, order=self.m.order)
        status, code = EXPECTED[fault]
        platform.faults.inject(fault)
        response = erc.get(path)
        erc.expect_error(response, status, code)
        if "retry-after" in response.headers:
            assert int(response.headers["retry-after"]) >= 1
        platform.faults.clear()
        erc.ok(path, TABLES[name])  # the adapter recovers once the platform does

    # Writes (SPEC §7)

    def test_cancel_order_applies_and_the_next_read_shows_it(self, erc: ERC) -> None:
        customer, order = self.write_case("cancellable")
        response = erc.write(Capability.CANCEL_ORDER, customer, order, {"cancel_reason": "other"})
        assert response.status_code == 200, response.text
        assert response.content == b""
        detail = erc.ok(route("R3", customer=customer, order=order), "order_detail")
        assert detail.get("cancellation_status") == "CANCELED"
        again = erc.write(Capability.CANCEL_ORDER, customer, order)
        assert again.status_code == 200, again.text  # already done

    def test_cancelling_a_cancelled_order_is_done_already(self, erc: ERC) -> None:
        customer, order = self.write_case("cancelled")
        before = erc.ok(route("R3", customer=customer, order=order), "order_detail")
        response = erc.write(Capability.CANCEL_ORDER, customer, order)
        assert response.status_code == 200, response.text
        assert erc.ok(route("R3", customer=customer, order=order), "order_detail") == before

    def test_cancelling_a_shipped_order_is_not_allowed(self, erc: ERC) -> None:
        customer, order = self.write_case("not_cancellable")
        before = erc.ok(route("R3", customer=customer, order=order), "order_detail")
        response = erc.write(Capability.CANCEL_ORDER, customer, order)
        body = erc.expect_error(response, 422, "not_allowed")
        assert body["message"]
        assert erc.ok(route("R3", customer=customer, order=order), "order_detail") == before

    def test_changing_the_address_applies_and_the_next_read_shows_it(self, erc: ERC) -> None:
        customer, order = self.write_case("addressable")
        assert self.m.writes is not None
        address = self.m.writes.new_address
        response = erc.write(Capability.CHANGE_SHIPPING_ADDRESS, customer, order, address)
        assert response.status_code == 200, response.text
        detail = erc.ok(route("R3", customer=customer, order=order), "order_detail")
        shipped_to = detail.get("shipping_address", {})
        for name in ("address", "city", "country_code"):
            assert shipped_to.get(name) == address[name], (name, shipped_to)
        again = erc.write(Capability.CHANGE_SHIPPING_ADDRESS, customer, order, address)
        assert again.status_code == 200, again.text  # the same address: already done

    def test_changing_only_the_place_keeps_the_recipient(self, erc: ERC) -> None:
        customer, order = self.write_case("addressable")
        assert self.m.writes is not None
        address = self.m.writes.new_address
        r3 = route("R3", customer=customer, order=order)
        first = erc.write(Capability.CHANGE_SHIPPING_ADDRESS, customer, order, address)
        assert first.status_code == 200, first.text
        named = erc.ok(r3, "order_detail").get("shipping_address", {})
        recipient = {name: named.get(name) for name in RECIPIENT}
        assert any(recipient.values()), named
        place = {k: v for k, v in address.items() if k not in RECIPIENT}
        place["address"] = f"{address['address']}, back door"
        moved = erc.write(Capability.CHANGE_SHIPPING_ADDRESS, customer, order, place)
        assert moved.status_code == 200, moved.text
        shipped_to = erc.ok(r3, "order_detail").get("shipping_address", {})
        assert shipped_to.get("address") == place["address"], shipped_to
        assert {name: shipped_to.get(name) for name in RECIPIENT} == recipient

    def test_changing_the_address_of_a_shipped_order_is_not_allowed(self, erc: ERC) -> None:
        customer, order = self.write_case("not_addressable")
        assert self.m.writes is not None
        before = erc.ok(route("R3", customer=customer, order=order), "order_detail")
        response = erc.write(
            Capability.CHANGE_SHIPPING_ADDRESS, customer, order, self.m.writes.new_address
        )
        erc.expect_error(response, 422, "not_allowed")
        assert erc.ok(route("R3", customer=customer, order=order), "order_detail") == before

    def test_cancelling_items_answers_the_items_as_the_next_read_shows_them(self, erc: ERC) -> None:
        customer, order = self.write_case("lines_order")
        assert self.m.writes is not None
        ids = list(self.m.writes.lines)
        response = erc.write(Capability.CANCEL_ITEMS, customer, order, {"ids": ids})
        assert response.status_code == 200, response.text
        page = decode(response)
        check(page, "items_page")
        assert page == erc.ok(route("R4", customer=customer, order=order), "items_page")
        again = erc.write(Capability.CANCEL_ITEMS, customer, order, {"ids": ids})
        assert again.status_code == 200, again.text  # already done

    @pytest.mark.parametrize("capability", sorted(WRITE_CAPABILITIES))
    def test_a_write_to_another_customers_order_is_404(
        self, erc: ERC, capability: Capability
    ) -> None:
        erc.needs(capability)
        before = erc.ok(
            route("R3", customer=self.m.other_customer, order=self.m.other_order), "order_detail"
        )
        body = _valid_body(capability, self.m.writes)
        response = erc.write(capability, self.m.customer, self.m.other_order, body)
        erc.expect_error(response, 404, "not_found")
        after = erc.ok(
            route("R3", customer=self.m.other_customer, order=self.m.other_order), "order_detail"
        )
        assert after == before

    @pytest.mark.parametrize("capability", sorted(WRITE_CAPABILITIES))
    def test_a_bad_write_body_is_400(self, erc: ERC, capability: Capability) -> None:
        bad = {
            Capability.CANCEL_ORDER: {"restock": "yes"},
            Capability.CHANGE_SHIPPING_ADDRESS: {**NEW_ADDRESS, "country_code": "XX"},
            Capability.CANCEL_ITEMS: {"ids": []},
        }[capability]
        response = erc.write(capability, self.m.customer, self.m.order, bad)
        body = erc.expect_error(response, 400, "invalid_request")
        assert body["fields"]

    def test_undeclared_writes_are_501(self, erc: ERC) -> None:
        for capability in sorted(WRITE_CAPABILITIES - erc.adapter.capabilities):
            body = _valid_body(capability, self.m.writes)
            response = erc.write_undeclared(capability, self.m.customer, self.m.order, body)
            erc.expect_error(response, 501, "not_supported")

    @pytest.mark.parametrize("capability", sorted(WRITE_CAPABILITIES))
    def test_writes_are_off_unless_turned_on(
        self, platform: Platform, capability: Capability
    ) -> None:
        adapter = self.writing_adapter(platform, capability)
        with TestClient(create_app(settings(), adapter=adapter), headers=AUTH) as client:
            erc = ERC(client, adapter)
            body = _valid_body(capability, self.m.writes)
            response = erc.write(capability, self.m.customer, self.m.order, body)
            erc.expect_error(response, 501, "not_supported")

    @pytest.mark.parametrize("capability", sorted(WRITE_CAPABILITIES))
    def test_a_write_needs_the_write_scope(
        self, platform: Platform, capability: Capability
    ) -> None:
        adapter = self.writing_adapter(platform, capability)
        values = {"writes": True, "oauth_clients": OAUTH_CLIENT, "token_secret": TOKEN_SECRET}
        with TestClient(create_app(settings(**values), adapter=adapter)) as client:
            token = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": ORDERS_READ},
                auth=(CLIENT_ID, CLIENT_SECRET),
            ).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            erc = ERC(client, adapter)
            body = _valid_body(capability, self.m.writes)
            response = erc.write(capability, self.m.customer, self.m.order, body)
            erc.expect_error(response, 403, "forbidden")


def assert_cart_adds_up(cart: dict[str, Any]) -> None:
    """Each line's and the cart's final amount are their base less their discounts, when
    the platform says both; the quantities add up."""
    for cost in [cart["cost"], *(line["cost"] for line in cart.get("cart_lines", []))]:
        if {"base_amount", "discounts_amount"} <= cost.keys() and "taxes_amount" not in cost:
            expected = Decimal(cost["base_amount"]) - Decimal(cost["discounts_amount"])
            assert Decimal(cost["final_amount"]) == expected, cost
    lines = cart.get("cart_lines", [])
    if "total_quantity" in cart and lines:
        assert int(cart["total_quantity"]) == sum(int(line["quantity"]) for line in lines)


def _valid_body(capability: Capability, cases: WriteCases | None) -> Any:
    if capability is Capability.CHANGE_SHIPPING_ADDRESS:
        return cases.new_address if cases is not None else NEW_ADDRESS
    if capability is Capability.CANCEL_ITEMS:
        return {"ids": list(cases.lines) if cases is not None and cases.lines else ["x"]}
    return None
