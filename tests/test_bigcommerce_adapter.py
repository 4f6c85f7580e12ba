"""The BigCommerce adapter against its emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from adapters.base import OrderListRequest, OrderSort, ProductSearch, ShipmentListRequest
from adapters.bigcommerce import PUBLIC_API, BigCommerceAdapter, BigCommerceSettings
from adapters.deadline import deadline_after
from adapters.errors import NotFound, UpstreamError, UpstreamUnavailable
from bridge.config import StartupError, load_configuration
from mappings.status import DeliveryType, DetailedStatus
from tests.conftest import API_KEY, FAST, ManualClock
from tests.emulators import bigcommerce_fixtures as fx
from tests.emulators.bigcommerce import BigCommerceEmulator, LoggedRequest
from tests.pages import all_orders, order_ids
from tests.platform_settings import bigcommerce_settings

pytestmark = pytest.mark.anyio

STORE = fx.default_store()


def make_emulator() -> BigCommerceEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return BigCommerceEmulator(STORE)


class Clock(ManualClock):
    """The adapter's clock; sleeping moves it, and the emulator's, forward at once."""

    def __init__(self, emulator: BigCommerceEmulator) -> None:
        super().__init__()
        self.emulator = emulator
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        self.emulator.advance(seconds)


@pytest.fixture
def clock(emulator: BigCommerceEmulator) -> Clock:
    return Clock(emulator)


@pytest.fixture
async def adapter(
    served: tuple[BigCommerceEmulator, str], emulator: BigCommerceEmulator, clock: Clock
) -> AsyncIterator[BigCommerceAdapter]:
    adapter = BigCommerceAdapter(
        bigcommerce_settings(served[1]), http=FAST, clock=clock, sleep=clock.sleep
    )
    await adapter.open()
    yield adapter
    await adapter.close()


def events(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """What the adapter logged, without the client's line per call."""
    return [entry for entry in logs if entry["event"] != "platform_call"]


def calls(emulator: BigCommerceEmulator) -> list[LoggedRequest]:
    return list(emulator.requests)


def request(customer: str, limit: int, **changes: Any) -> OrderListRequest:
    return OrderListRequest(customer_id=customer, limit=limit, **changes)


# Every call


async def test_calls_carry_the_token_and_ask_for_json(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)
    assert calls(emulator)
    for call in calls(emulator):
        assert call.path.startswith(f"/stores/{fx.STORE_HASH}/v2/orders/{fx.ORDER_SHIPPED}")
        assert (call.method, call.token, call.accept) == (
            "GET",
            fx.ACCESS_TOKEN,
            "application/json",
        )


# R1


async def test_customer_comes_from_v3_with_addresses(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    customer = await adapter.get_customer(fx.ANA)
    assert (customer.id, customer.first_name) == (fx.ANA, "Ana")
    assert len(customer.shipping_addresses or []) == 2
    (call,) = calls(emulator)
    assert call.resource == "/v3/customers"
    assert call.query == (("id:in", fx.ANA), ("include", "addresses"))


async def test_unknown_customer_is_not_found(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_customer("987654")
    assert len(calls(emulator)) == 1


@pytest.mark.parametrize("customer_id", ["0", "058", "-1", "58.0", "58,73", "abc", "", "1" * 20])
async def test_ids_that_are_not_bigcommerce_ids_are_not_found_without_a_call(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, customer_id: str
) -> None:
    # `0` is the guest "customer": its orders belong to nobody; `58,73` would widen id:in.
    with pytest.raises(NotFound):
        await adapter.get_customer(customer_id)
    with pytest.raises(NotFound):
        await adapter.list_orders(request(customer_id, 5))
    with pytest.raises(NotFound):
        await adapter.most_recent_order(customer_id)
    with pytest.raises(NotFound):
        await adapter.get_order(customer_id, fx.ORDER_GUEST)
    with pytest.raises(NotFound):
        await adapter.get_order(fx.ANA, customer_id)
    assert calls(emulator) == []


# R2


async def test_first_page_by_purchase_time(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    page = await adapter.list_orders(request(fx.ANA, 4))
    assert [o.id for o in page.orders] == STORE.newest_first(fx.ANA)[:4]
    assert page.resume == {"offset": 4}
    assert all(o.items is None for o in page.orders)
    listed, peek = calls(emulator)
    assert listed.query == (
        ("customer_id", fx.ANA),
        ("sort", "date_created:desc"),
        ("page", "1"),
        ("limit", "4"),
    )
    # One order past the page says whether there is a next one.
    assert (peek.param("page"), peek.param("limit")) == ("5", "1")


async def test_walk_newest_first_reads_each_page_once(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    pages = await all_orders(adapter, fx.ANA, 4)
    assert order_ids(pages) == STORE.newest_first(fx.ANA)
    assert [len(p.orders) for p in pages] == [4, 4, 3]
    assert [(c.param("page"), c.param("limit")) for c in calls(emulator)] == [
        ("1", "4"),
        ("5", "1"),
        ("2", "4"),
        ("9", "1"),
        ("3", "4"),
    ]


async def test_a_full_last_page_promises_no_next_one(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    pages = await all_orders(adapter, fx.LUKAS, 1)
    assert [len(p.orders) for p in pages] == [1, 1]
    assert pages[-1].resume is None


async def test_a_cursor_from_another_page_size_still_lands_on_the_right_order(
    adapter: BigCommerceAdapter,
) -> None:
    page = await adapter.list_orders(request(fx.ANA, 4, resume={"offset": 3}))
    assert [o.id for o in page.orders] == STORE.newest_first(fx.ANA)[3:7]
    assert page.resume == {"offset": 7}


async def test_oldest_first_and_by_order_number(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    oldest = await all_orders(adapter, fx.ANA, 5, sort=OrderSort(descending=False))
    assert order_ids(oldest) == list(reversed(STORE.newest_first(fx.ANA)))
    emulator.reset()
    numbers = await all_orders(adapter, fx.ANA, 5, sort=OrderSort("order_number", False))
    assert order_ids(numbers) == sorted(STORE.newest_first(fx.ANA), key=int)
    assert {c.param("sort") for c in calls(emulator)} == {"id:asc"}


async def test_search_reads_every_page_of_the_customers_orders(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    pages = await all_orders(adapter, fx.BULK, 100, search="52")
    found = order_ids(pages)
    bulk = [str(fx.BULK_FIRST_ID + n) for n in range(fx.BULK_ORDERS)]
    assert sorted(found) == sorted(order for order in bulk if "52" in order)
    first_request = calls(emulator)[:2]
    assert [(c.param("page"), c.param("limit")) for c in first_request] == [
        ("1", "250"),
        ("2", "250"),
    ]


async def test_customer_without_orders_has_an_empty_first_page(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    page = await adapter.list_orders(request(fx.PRIYA, 20))
    assert (page.orders, page.resume) == ([], None)
    assert [(c.resource, c.status) for c in calls(emulator)] == [
        ("/v2/orders", 204),
        ("/v3/customers", 200),
    ]


async def test_unknown_customer_has_no_order_list(adapter: BigCommerceAdapter) -> None:
    with pytest.raises(NotFound):
        await adapter.list_orders(request("987654", 20))
    with pytest.raises(NotFound):
        await adapter.list_orders(request("987654", 20, search="1"))


async def test_a_listed_order_of_someone_else_is_never_shown(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(200, [STORE.order(fx.ORDER_EUR)], path="/v2/orders")
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.list_orders(request(fx.ANA, 20))
    assert [entry["event"] for entry in events(logs)] == ["platform_filter_ignored"]


# R3, R4, R5


async def test_order_with_lines_destination_and_shipments(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    order = await adapter.get_order(fx.ANA, fx.ORDER_PARTIAL)
    assert [item.id for item in order.items or []] == ["22800", "22801", "22802"]
    assert order.shipping_address is not None
    assert order.delivery_type is DeliveryType.SHIPPING
    assert sorted(c.resource for c in calls(emulator)) == [
        f"/v2/orders/{fx.ORDER_PARTIAL}",
        f"/v2/orders/{fx.ORDER_PARTIAL}/products",
        f"/v2/orders/{fx.ORDER_PARTIAL}/shipments",
        f"/v2/orders/{fx.ORDER_PARTIAL}/shipping_addresses",
    ]


async def test_destinations_and_shipments_are_asked_for_only_when_there_are_some(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    order = await adapter.get_order(fx.ANA, fx.ORDER_PICKUP)
    assert order.delivery_type is DeliveryType.LOCAL_PICKUP
    assert order.status.detailed is DetailedStatus.READY_FOR_PICKUP
    assert [c.resource for c in calls(emulator)] == [
        f"/v2/orders/{fx.ORDER_PICKUP}",
        f"/v2/orders/{fx.ORDER_PICKUP}/products",
    ]


async def test_items_do_not_need_the_destination(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    items = await adapter.list_items(fx.ANA, fx.ORDER_SHIPPED)
    assert [item.sku for item in items] == ["BAG-CNV-WKD"]
    assert items[0].deliveries is not None
    assert "/shipping_addresses" not in " ".join(c.resource for c in calls(emulator))


async def test_order_of_another_customer_is_not_found(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    for customer, order in ((fx.ANA, fx.ORDER_EUR), (fx.ANA, fx.ORDER_GUEST), (fx.LUKAS, "2174")):
        with pytest.raises(NotFound) as caught:
            await adapter.get_order(customer, order)
        assert caught.value.message == f"Order {order} not found"
    # Only the order itself was read: nothing of someone else's order is fetched.
    assert all(c.resource.count("/") == 3 for c in calls(emulator))


async def test_unknown_order_is_not_found(adapter: BigCommerceAdapter) -> None:
    with pytest.raises(NotFound):
        await adapter.get_order(fx.ANA, "999999")
    with pytest.raises(NotFound):
        await adapter.list_items(fx.ANA, "999999")


async def test_most_recent_order_asks_for_one(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    order = await adapter.most_recent_order(fx.ANA)
    assert order.id == fx.ORDER_IMPORTED == STORE.newest_first(fx.ANA)[0]
    listed = calls(emulator)[0]
    assert (listed.param("sort"), listed.param("limit")) == ("date_created:desc", "1")
    assert order.items is not None


async def test_most_recent_order_of_customer_without_orders(
    adapter: BigCommerceAdapter,
) -> None:
    with pytest.raises(NotFound) as caught:
        await adapter.most_recent_order(fx.PRIYA)
    assert "has no orders" in caught.value.message
    with pytest.raises(NotFound) as unknown:
        await adapter.most_recent_order("987654")
    assert unknown.value.message == "Customer 987654 not found"


async def test_every_page_of_a_long_order_is_read(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    lines = [{**STORE.products[fx.ORDER_SHIPPED][0], "id": 90_000 + n} for n in range(260)]
    emulator.fail_next(200, lines[:250], path=f"/v2/orders/{fx.ORDER_SHIPPED}/products")
    emulator.fail_next(200, lines[250:], path=f"/v2/orders/{fx.ORDER_SHIPPED}/products")
    items = await adapter.list_items(fx.ANA, fx.ORDER_SHIPPED)
    assert len(items) == 260


# Platform errors


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_token_is_unavailable_and_says_what_to_check(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, status: int
) -> None:
    emulator.fail_next(status)
    with capture_logs() as logs, pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_customer(fx.ANA)
    assert "BIGCOMMERCE_ACCESS_TOKEN" in caught.value.message
    assert fx.ACCESS_TOKEN not in caught.value.message
    assert [entry["event"] for entry in events(logs)] == ["platform_credentials_rejected"]
    assert len(calls(emulator)) == 1  # not retried


async def test_a_missing_collection_means_a_wrong_store(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(404, path="/v3/customers")
    with capture_logs() as logs, pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_customer(fx.ANA)
    assert "BIGCOMMERCE_STORE_HASH" in caught.value.message
    assert events(logs)[0]["event"] == "platform_store_not_found"


@pytest.mark.parametrize("status", [400, 405, 406, 422])
async def test_requests_bigcommerce_rejects_are_upstream_errors_logged_as_our_fault(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, status: int
) -> None:
    emulator.fail_next(status, [{"status": status, "message": "The field 'sort' is invalid."}])
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.list_orders(request(fx.ANA, 5))
    assert events(logs)[0]["event"] == "platform_rejected_request"
    assert events(logs)[0]["detail"] == "The field 'sort' is invalid."
    assert len(calls(emulator)) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_errors_that_outlast_the_retries_are_upstream_errors(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, status: int
) -> None:
    emulator.fail_next(status, times=FAST.attempts)
    with pytest.raises(UpstreamError):
        await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)
    assert len(calls(emulator)) == FAST.attempts


async def test_one_server_error_is_retried_transparently(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(500)
    assert (await adapter.get_customer(fx.ANA)).id == fx.ANA
    assert [c.status for c in calls(emulator)] == [500, 200]


async def test_a_redirect_is_not_followed(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(302, b"")
    with pytest.raises(UpstreamError):
        await adapter.get_customer(fx.ANA)
    assert len(calls(emulator)) == 1


async def test_a_body_that_is_not_json_is_an_upstream_error(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(200, b"<html>maintenance</html>")
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)
    assert events(logs)[-1]["event"] == "platform_body_unreadable"


async def test_unexpected_json_logs_the_field(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    stored = STORE.order(fx.ORDER_SHIPPED)
    assert stored is not None
    broken = {**stored, "total_inc_tax": "ninety"}
    emulator.fail_next(200, broken, path=f"/v2/orders/{fx.ORDER_SHIPPED}")
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)
    assert (events(logs)[-1]["event"], events(logs)[-1]["field"]) == (
        "platform_body_unusable",
        "total_inc_tax",
    )


SHIPPED = f"/v2/orders/{fx.ORDER_SHIPPED}"
WRONG_SHAPES = [
    ("get_customer", "/v3/customers", b"{}"),
    ("list_orders", "/v2/orders", b"{}"),
    ("most_recent_order", "/v2/orders", b"false"),
    ("get_order", f"{SHIPPED}/products", b"{}"),
    ("list_items", f"{SHIPPED}/products", b"false"),
    ("list_shipments", f"{SHIPPED}/shipments", b"0"),
    ("list_products", "/v3/catalog/products", b"{}"),
]


def read(adapter: BigCommerceAdapter, route: str) -> Any:
    """`route` of Ana's, on her shipped order where it takes one."""
    if route == "list_orders":
        return adapter.list_orders(request(fx.ANA, 5))
    if route == "list_shipments":
        asked = ShipmentListRequest(customer_id=fx.ANA, limit=5, order_id=fx.ORDER_SHIPPED)
        return adapter.list_shipments(asked)
    if route == "list_products":
        return adapter.list_products(ProductSearch(limit=5))
    if route in ("get_order", "list_items"):
        return getattr(adapter, route)(fx.ANA, fx.ORDER_SHIPPED)
    return getattr(adapter, route)(fx.ANA)


@pytest.mark.parametrize(("route", "path", "body"), WRONG_SHAPES)
async def test_a_falsy_body_of_the_wrong_shape_is_an_upstream_error_not_an_empty_list(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, route: str, path: str, body: bytes
) -> None:
    """Only a 204 (no body) is an empty list; `{}`, `false` or `0` is a body that does not
    fit, never "no orders", "no lines" or "no such customer"."""
    emulator.fail_next(200, body, path=path)
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await read(adapter, route)
    assert events(logs)[-1]["event"] == "platform_body_unusable"


async def test_a_failing_line_list_stops_the_calls_made_with_it(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(404, path=f"/v2/orders/{fx.ORDER_SHIPPED}/products")
    with pytest.raises(NotFound):
        await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)


# The store's request quota


async def test_a_used_up_quota_is_waited_out_when_the_deadline_allows(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, clock: Clock
) -> None:
    emulator.limit_rate(quota=1, window_ms=2_000)
    await adapter.get_customer(fx.ANA)  # the answer says: none left for 2 s
    with capture_logs() as logs, deadline_after(8.0):
        customer = await adapter.get_customer(fx.LUKAS)
    assert customer.id == fx.LUKAS
    assert len(clock.slept) == 1 and 1.9 < clock.slept[0] <= 2.0
    assert [c.status for c in calls(emulator)] == [200, 200]  # never a 429
    assert events(logs)[0]["event"] == "platform_quota_wait"


async def test_a_used_up_quota_past_the_deadline_is_unavailable_without_a_call(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, clock: Clock
) -> None:
    emulator.limit_rate(quota=1, window_ms=30_000)
    await adapter.get_customer(fx.ANA)
    with deadline_after(8.0), pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)
    assert caught.value.retry_after is not None
    assert 29.0 < caught.value.retry_after <= 30.0
    assert clock.slept == []
    assert len(calls(emulator)) == 1


async def test_a_quota_with_requests_left_costs_no_wait(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, clock: Clock
) -> None:
    emulator.limit_rate(quota=20, window_ms=30_000)
    await adapter.get_order(fx.ANA, fx.ORDER_PARTIAL)
    await adapter.get_order(fx.ANA, fx.ORDER_SHIPPED)
    assert clock.slept == []


async def test_rate_limited_answers_are_retried_then_unavailable(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(429, times=FAST.attempts)
    with pytest.raises(UpstreamUnavailable):
        await adapter.get_customer(fx.ANA)
    assert len(calls(emulator)) == FAST.attempts


# Settings


def test_settings_default_to_the_public_api() -> None:
    settings = BigCommerceSettings(_env_file=None, store_hash="abc123", access_token="t0ken")
    assert settings.base_url == PUBLIC_API
    assert settings.api_root == "https://api.bigcommerce.com/stores/abc123"
    assert "t0ken" not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"store_hash": ""}, "store_hash"),
        ({"store_hash": "abc/123"}, "store_hash"),
        ({"access_token": "  "}, "access_token"),
        ({"base_url": "api.bigcommerce.com"}, "base_url"),
        ({"base_url": "https://api.bigcommerce.com?x=1"}, "base_url"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, Any], field: str) -> None:
    values = {"store_hash": "abc123", "access_token": "t0ken", **changes}
    with pytest.raises(ValidationError) as caught:
        BigCommerceSettings(_env_file=None, **values)
    assert [error["loc"][0] for error in caught.value.errors()] == [field]
    assert "t0ken" not in str(caught.value)


def test_startup_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("BIGCOMMERCE_STORE_HASH", "BIGCOMMERCE_ACCESS_TOKEN", "BIGCOMMERCE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ERC_BRIDGE_ADAPTER", "bigcommerce")
    monkeypatch.setenv("ERC_BRIDGE_API_KEYS", API_KEY)
    with pytest.raises(StartupError) as caught:
        load_configuration()
    message = str(caught.value)
    assert "BIGCOMMERCE_STORE_HASH is missing" in message
    assert "BIGCOMMERCE_ACCESS_TOKEN is missing" in message
    assert "BIGCOMMERCE_BASE_URL" not in message


def test_startup_builds_the_adapter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ERC_BRIDGE_ADAPTER", "bigcommerce")
    monkeypatch.setenv("ERC_BRIDGE_API_KEYS", API_KEY)
    monkeypatch.setenv("BIGCOMMERCE_STORE_HASH", "abc123")
    monkeypatch.setenv("BIGCOMMERCE_ACCESS_TOKEN", "t0ken-from-env")
    monkeypatch.delenv("BIGCOMMERCE_BASE_URL", raising=False)
    adapter = load_configuration().adapter
    assert isinstance(adapter, BigCommerceAdapter)
    assert isinstance(adapter.settings, BigCommerceSettings)
    assert adapter.settings.api_root == f"{PUBLIC_API}/stores/abc123"


def test_emulator_answers_an_empty_list_with_204(served: tuple[BigCommerceEmulator, str]) -> None:
    import httpx

    emulator, url = served
    emulator.reset()
    headers = {"X-Auth-Token": fx.ACCESS_TOKEN, "Accept": "application/json"}
    base = f"{url}/stores/{fx.STORE_HASH}"
    empty = httpx.get(f"{base}/v2/orders", params={"customer_id": fx.PRIYA}, headers=headers)
    assert (empty.status_code, empty.content) == (204, b"")
    listed = httpx.get(f"{base}/v2/orders", params={"customer_id": fx.ANA}, headers=headers)
    assert len(orjson.loads(listed.content)) == 11
    assert int(listed.headers["x-rate-limit-requests-left"]) > 0
    too_many = httpx.get(f"{base}/v2/orders", params={"limit": "251"}, headers=headers)
    assert too_many.status_code == 400
    anonymous = httpx.get(f"{base}/v2/orders", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401


async def test_probe_reads_one_order_and_reports_a_refused_token(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    await adapter.probe()
    (call,) = calls(emulator)
    assert (call.resource, call.param("limit")) == ("/v2/orders", "1")
    emulator.fail_next(401)
    with pytest.raises(UpstreamUnavailable, match="BIGCOMMERCE_ACCESS_TOKEN"):
        await adapter.probe()


async def test_a_429_waits_for_the_quota_reset_or_says_when(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, clock: Clock
) -> None:
    busy = {"X-Rate-Limit-Time-Reset-Ms": "15000", "X-Rate-Limit-Requests-Left": "0"}
    emulator.fail_next(429, headers=busy, times=5)
    with deadline_after(8.0), pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_customer(fx.ANA)
    assert caught.value.retry_after == 15.0
    assert len(calls(emulator)) == 1
    emulator.reset()
    emulator.fail_next(429, headers={**busy, "X-Rate-Limit-Time-Reset-Ms": "300"})
    with deadline_after(8.0):
        assert (await adapter.get_customer(fx.ANA)).id == fx.ANA
    assert clock.slept == [0.3]


async def test_rejected_token_is_marked_as_rejected_credentials(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(401, times=5)
    with pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_customer(fx.ANA)
    assert caught.value.credentials_rejected


@pytest.mark.parametrize("reset_ms", ["²", "9" * 5000, "1e9", "-5", ""])
async def test_a_429_whose_quota_reset_is_no_number_says_no_wait(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, clock: Clock, reset_ms: str
) -> None:
    busy = {"X-Rate-Limit-Time-Reset-Ms": reset_ms, "X-Rate-Limit-Requests-Left": "0"}
    emulator.fail_next(429, headers=busy, times=5)
    with deadline_after(8.0), pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_customer(fx.ANA)
    assert caught.value.retry_after is None
    emulator.reset()
    with deadline_after(8.0):
        assert (await adapter.get_customer(fx.ANA)).id == fx.ANA


async def test_a_quota_reset_past_any_window_is_waited_for_a_minute_at_most(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, clock: Clock
) -> None:
    busy = {"X-Rate-Limit-Time-Reset-Ms": "9" * 15, "X-Rate-Limit-Requests-Left": "0"}
    emulator.fail_next(429, headers=busy)
    with deadline_after(8.0), pytest.raises(UpstreamUnavailable) as caught:
        await adapter.get_customer(fx.ANA)
    assert caught.value.retry_after == 60.0
    clock.advance(60.0)
    with deadline_after(8.0):
        assert (await adapter.get_customer(fx.ANA)).id == fx.ANA
