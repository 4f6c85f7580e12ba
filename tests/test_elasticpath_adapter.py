"""The Elastic Path adapter against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.base import (
    OrderListRequest,
    OrderPage,
    OrderSort,
    ProductSearch,
    Resume,
    ShipmentListRequest,
)
from adapters.elasticpath import ElasticPathAdapter
from adapters.errors import NotFound, UnservableRequest, UpstreamError, UpstreamUnavailable
from adapters.resources import ResourceCache
from mappings.status import DeliveryType, DetailedStatus
from tests.conftest import FAST, ManualClock
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import (
    CLIENT_ID,
    CLIENT_SECRET,
    GRANT_PATH,
    ElasticPathEmulator,
    error_body,
)
from tests.pages import all_orders, order_ids
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

pytestmark = pytest.mark.anyio

STORE = fx.default_store()


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return ElasticPathEmulator(STORE)


@pytest.fixture
def base_url(served: tuple[ElasticPathEmulator, str]) -> str:
    return served[1]


@pytest.fixture
async def adapter(
    base_url: str, emulator: ElasticPathEmulator, clock: ManualClock
) -> AsyncIterator[ElasticPathAdapter]:
    adapter = ElasticPathAdapter(elasticpath_settings(base_url), http=FAST, clock=clock)
    await adapter.open()
    yield adapter
    await adapter.close()


def order_path(order_id: str) -> str:
    return f"/v2/orders/{order_id}"


def numbers(pages: list[OrderPage]) -> list[str]:
    return [order.order_number for page in pages for order in page.orders]


# R1


async def test_customer_with_addresses(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    customer = await adapter.get_customer(fx.MARIA)
    assert (customer.first_name, customer.last_name) == ("Maria", "Santos")
    assert [a.region_code for a in customer.shipping_addresses or []] == ["US-OR", "US-OR"]
    assert customer.custom_fields == {"email": "maria.santos@example.org"}
    assert sorted(emulator.api_paths) == [  # together, in either order
        f"/v2/customers/{fx.MARIA}",
        f"/v2/customers/{fx.MARIA}/addresses",
    ]
    assert emulator.grants == 1


async def test_customer_without_addresses(adapter: ElasticPathAdapter) -> None:
    customer = await adapter.get_customer(fx.NOAH)
    assert (customer.first_name, customer.last_name, customer.shipping_addresses) == (
        "Noah",
        None,
        None,
    )


async def test_unknown_customer_is_not_found(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_customer("no-such-customer")
    # EP wrote "status": "404" as a string here. The addresses, asked alongside, may or
    # may not have gone out before the answer came: nothing else was asked.
    customer = "/v2/customers/no-such-customer"
    assert customer in emulator.api_paths
    assert set(emulator.api_paths) <= {customer, f"{customer}/addresses"}
    assert len(emulator.api_paths) == len(set(emulator.api_paths))


# R2


async def test_first_page_of_orders(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    page = await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    assert [o.id for o in page.orders] == STORE.newest_first(fx.MARIA)
    assert page.resume is None
    (call,) = emulator.api_calls
    assert call.path == "/v2/orders"
    assert call.query == {
        "filter": f"eq(customer_id,{fx.MARIA})",
        "sort": "-created_at",
        "include": "items",
        "page[limit]": "20",
        "page[offset]": "0",
    }
    items = {o.id: o.items for o in page.orders}
    assert all(found is not None for found in items.values())
    # promotion lines are not items: three lines, two products
    assert len(items[fx.ORDER_PROMO] or []) == 2


@pytest.mark.parametrize(
    ("descending", "limit", "sizes"), [(True, 50, [50, 50, 20]), (False, 45, [45, 45, 30])]
)
async def test_walk_by_purchase_time_pages_on_ep(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    descending: bool,
    limit: int,
    sizes: list[int],
) -> None:
    pages = await all_orders(
        adapter, fx.BRUNO, limit, sort=OrderSort("purchase_datetime", descending=descending)
    )
    expected = STORE.newest_first(fx.BRUNO)
    if not descending:
        expected.reverse()
    assert [len(p.orders) for p in pages] == sizes
    assert order_ids(pages) == expected
    assert [(c.query["page[limit]"], c.query["page[offset]"]) for c in emulator.api_calls] == [
        (str(limit), str(offset)) for offset in range(0, 120, limit)
    ]
    assert {c.query["sort"] for c in emulator.api_calls} == {
        "-created_at" if descending else "created_at"
    }


@pytest.mark.parametrize("descending", [False, True])
async def test_walk_by_order_number_reads_every_ep_page(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, descending: bool
) -> None:
    pages = await all_orders(
        adapter, fx.BRUNO, 50, sort=OrderSort("order_number", descending=descending)
    )
    expected = [f"BULK-{n:04d}" for n in range(1, 121)]
    if descending:
        expected.reverse()
    assert [len(p.orders) for p in pages] == [50, 50, 20]
    assert numbers(pages) == expected
    # EP pages hold 100, the ERC pages 50: two EP calls for every ERC page
    assert [(c.query["page[limit]"], c.query["page[offset]"]) for c in emulator.api_calls] == [
        ("100", "0"),
        ("100", "100"),
    ] * 3


async def test_search_is_a_case_insensitive_substring_of_the_order_number(
    adapter: ElasticPathAdapter,
) -> None:
    pages = await all_orders(adapter, fx.BRUNO, 4, search="bulk-011")
    assert [len(p.orders) for p in pages] == [4, 4, 2]
    found = numbers(pages)
    assert sorted(found) == [f"BULK-{n:04d}" for n in range(110, 120)]
    # newest first, as without a search
    times = [o.purchase_datetime for p in pages for o in p.orders]
    assert None not in times
    assert times == sorted((t for t in times if t is not None), reverse=True)


async def test_search_without_match_is_an_empty_page(adapter: ElasticPathAdapter) -> None:
    page = await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=5, search="zzz"))
    assert (list(page.orders), page.resume) == ([], None)


async def test_limit_above_ep_page_size_is_clamped(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    page = await adapter.list_orders(OrderListRequest(customer_id=fx.BRUNO, limit=500))
    assert len(page.orders) == 100
    assert page.resume == {"offset": 100}
    assert emulator.api_calls[0].query["page[limit]"] == "100"
    assert all(c.status == 200 for c in emulator.api_calls)


async def test_resume_past_ep_offset_cap_is_refused_before_any_call(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(UnservableRequest) as caught:
        await adapter.list_orders(
            OrderListRequest(customer_id=fx.BRUNO, limit=20, resume={"offset": 10_020})
        )
    assert caught.value.field == "cursor"
    assert "10,000" in caught.value.message
    assert emulator.requests == []


async def test_customer_without_orders_has_an_empty_first_page(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    page = await adapter.list_orders(OrderListRequest(customer_id=fx.NOAH, limit=20))
    assert (list(page.orders), page.resume) == ([], None)
    assert emulator.api_paths == ["/v2/orders", f"/v2/customers/{fx.NOAH}"]


@pytest.mark.parametrize("field", ["purchase_datetime", "order_number"])
async def test_unknown_customer_has_no_order_list(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, field: Any
) -> None:
    with pytest.raises(NotFound):
        await adapter.list_orders(
            OrderListRequest(customer_id="nobody-here", limit=20, sort=OrderSort(field))
        )
    assert emulator.api_paths == ["/v2/orders", "/v2/customers/nobody-here"]


async def test_list_with_an_order_of_someone_else_is_refused(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    foreign = STORE.order(fx.ORDER_EUR)
    emulator.fail_next(
        200, {"data": [foreign], "meta": {"results": {"total": 1}}}, path="/v2/orders"
    )
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    assert any(entry["event"] == "platform_filter_ignored" for entry in logs)


# R3, R4


async def test_order_with_items_and_shipping_group(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    order = await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    assert order.order_number == "EP-100234"
    assert order.price_summary is not None
    assert order.price_summary.final_total_amount.value == Decimal("123.03")
    assert order.price_summary.original_total_amount.value == Decimal("115.97")
    assert [item.sku for item in order.items or []] == ["TRS-BLK-09", "MHS-GRY-M"]
    deliveries = (order.items or [])[0].deliveries
    assert deliveries is not None
    delivery = deliveries[0]
    assert delivery.tracking_info is not None
    assert (delivery.carrier, delivery.tracking_info.tracking_number) == (
        "UPS Ground",
        "1Z84X7E90312345678",
    )
    path = order_path(fx.ORDER_COMPLETE)
    # the lines come with the order; the store is not yet known to use shipping groups
    assert emulator.api_paths == [path, f"{path}/shipping-groups"]
    assert emulator.api_calls[0].query == {"include": "items"}


async def test_order_without_shipping_groups_asks_for_none(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    order = await adapter.get_order(fx.MARIA, fx.ORDER_CANCELLED)
    assert order.cancellation_status is not None
    assert emulator.api_paths == [order_path(fx.ORDER_CANCELLED)]


async def test_store_without_shipping_groups_endpoint_still_answers(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    path = order_path(fx.ORDER_COMPLETE)
    emulator.fail_next(404, error_body(404, "Not Found"), path=f"{path}/shipping-groups")
    order = await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    assert all(item.deliveries is None for item in order.items or [])


@pytest.mark.parametrize("order_id", [fx.ORDER_EUR, fx.ORDER_GUEST], ids=fx.fixture_name)
async def test_order_of_another_customer_is_not_found(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, order_id: str
) -> None:
    with pytest.raises(NotFound) as detail:
        await adapter.get_order(fx.MARIA, order_id)
    with pytest.raises(NotFound) as items:
        await adapter.list_items(fx.MARIA, order_id)
    with pytest.raises(NotFound) as missing:
        await adapter.get_order(fx.MARIA, "no-such-order")
    # exactly like an order that does not exist, and its lines are never fetched
    assert detail.value.message == items.value.message == f"Order {order_id} not found"
    assert missing.value.message == "Order no-such-order not found"
    assert emulator.api_paths == [
        order_path(order_id),
        order_path(order_id),
        order_path("no-such-order"),
    ]


def without_included_items(order_id: str) -> dict[str, Any]:
    """The order as `GET /v2/orders/{id}?include=items` answers it when EP leaves its
    lines out: the adapter then pages over `/items`."""
    return {"data": STORE.order(order_id), "included": {"items": []}}


async def test_every_item_page_is_read(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    items = await adapter.list_items(fx.OLIVIA, fx.ORDER_BIG)
    assert [item.sku for item in items] == [f"BLK-{n:03d}" for n in range(1, 121)]
    path = order_path(fx.ORDER_BIG)
    assert emulator.api_paths == [path]  # all 120 lines were included
    emulator.fail_next(200, without_included_items(fx.ORDER_BIG), path=path)
    items = await adapter.list_items(fx.OLIVIA, fx.ORDER_BIG)
    assert [item.sku for item in items] == [f"BLK-{n:03d}" for n in range(1, 121)]
    assert [(c.path, c.query.get("page[offset]")) for c in emulator.api_calls[1:]] == [
        (path, None),
        (f"{path}/items", "0"),
        (f"{path}/items", "100"),
    ]


async def test_item_pages_without_totals_are_read_until_a_short_page(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    items_path = f"{order_path(fx.ORDER_BIG)}/items"
    emulator.fail_next(200, without_included_items(fx.ORDER_BIG), path=order_path(fx.ORDER_BIG))
    emulator.fail_next(200, {"data": STORE.items[fx.ORDER_BIG][:100]}, path=items_path)
    items = await adapter.list_items(fx.OLIVIA, fx.ORDER_BIG)
    assert len(items) == 120
    assert [c.query.get("page[offset]") for c in emulator.api_calls[1:]] == ["0", "100"]


# R5


async def test_most_recent_order(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    order = await adapter.most_recent_order(fx.MARIA)
    assert order.id == STORE.newest_first(fx.MARIA)[0] == fx.ORDER_FULFILLED
    assert order.status.detailed is DetailedStatus.IN_TRANSIT
    assert order.delivery_type is DeliveryType.SHIPPING
    assert [len(item.deliveries or []) for item in order.items or []] == [1, 1]
    path = order_path(fx.ORDER_FULFILLED)
    assert emulator.api_paths == ["/v2/orders", f"{path}/shipping-groups"]
    assert emulator.api_calls[0].query["page[limit]"] == "1"
    assert emulator.api_calls[0].query["include"] == "items"


@pytest.mark.parametrize(
    ("customer_id", "message"),
    [
        (fx.NOAH, f"Customer {fx.NOAH} has no orders"),
        ("nobody-here", "Customer nobody-here not found"),
    ],
    ids=fx.fixture_name,
)
async def test_most_recent_order_of_customer_without_orders(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, customer_id: str, message: str
) -> None:
    with pytest.raises(NotFound) as caught:
        await adapter.most_recent_order(customer_id)
    assert caught.value.message == message
    assert emulator.api_paths == ["/v2/orders", f"/v2/customers/{customer_id}"]


# Ids in paths


ODD_IDS = [
    "a/b",
    "../customers",
    "a/../../v2/orders",
    "50%",
    "%2F",
    "%2E%2E",
    "x?y=1",
    "x#frag",
    "has space",
    "abc):eq(status,complete",
    "a;b",
    "ü",
]


@pytest.mark.parametrize("raw_id", ODD_IDS)
async def test_customer_ids_never_reach_another_path(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, raw_id: str
) -> None:
    for call in (
        adapter.get_customer(raw_id),
        adapter.list_orders(OrderListRequest(customer_id=raw_id, limit=20)),
        adapter.most_recent_order(raw_id),
    ):
        with pytest.raises(NotFound):
            await call
    # the id arrived whole, as the one segment after /v2/customers, and nothing else was
    # asked but the addresses R1 asks for alongside the customer (cancelled once it is unknown)
    customer = ("v2", "customers", raw_id)
    assert emulator.api_segments.count(customer) == 3
    assert set(emulator.api_segments) <= {customer, (*customer, "addresses")}


@pytest.mark.parametrize("raw_id", ODD_IDS)
async def test_order_ids_never_reach_another_path(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, raw_id: str
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_order(fx.MARIA, raw_id)
    with pytest.raises(NotFound):
        await adapter.list_items(fx.MARIA, raw_id)
    assert emulator.api_segments == [("v2", "orders", raw_id)] * 2


@pytest.mark.parametrize("raw_id", ["", ".", ".."])
async def test_ids_that_are_not_path_segments_are_unknown_without_a_call(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, raw_id: str
) -> None:
    for call in (
        adapter.get_customer(raw_id),
        adapter.list_orders(OrderListRequest(customer_id=raw_id, limit=20)),
        adapter.most_recent_order(raw_id),
        adapter.get_order(fx.MARIA, raw_id),
        adapter.list_items(fx.MARIA, raw_id),
    ):
        with pytest.raises(NotFound):
            await call
    assert emulator.requests == []


async def test_customer_id_that_cannot_be_filtered_on_is_refused_if_it_exists(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    odd = "odd,id"
    emulator.store.add_customer(odd, "Odd Id", "odd@example.com", "2025-01-01T00:00:00Z")
    try:
        with pytest.raises(UnservableRequest) as caught:
            await adapter.list_orders(OrderListRequest(customer_id=odd, limit=20))
    finally:
        del emulator.store.customers[odd]
    assert caught.value.field == "customer_id"
    assert emulator.api_segments == [("v2", "customers", odd)]


# Tokens


async def test_one_token_serves_many_calls(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    await adapter.get_customer(fx.MARIA)
    await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    assert emulator.grants == 1
    assert len({c.authorization for c in emulator.api_calls}) == 1


async def test_concurrent_requests_share_one_token_fetch(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    customers = await asyncio.gather(*(adapter.get_customer(fx.MARIA) for _ in range(12)))
    assert {c.id for c in customers} == {fx.MARIA}
    assert emulator.grants == 1
    assert [r.path for r in emulator.requests].count(GRANT_PATH) == 1


async def test_token_is_refreshed_shortly_before_it_expires(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, clock: ManualClock
) -> None:
    await adapter.get_customer(fx.NOAH)
    clock.advance(3600 - 61)
    await adapter.get_customer(fx.NOAH)
    assert emulator.grants == 1
    clock.advance(2)
    await adapter.get_customer(fx.NOAH)
    assert emulator.grants == 2
    assert all(c.status == 200 for c in emulator.api_calls)


async def test_token_the_platform_expired_early_is_replaced_once(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    await adapter.get_customer(fx.NOAH)
    emulator.advance(3601)
    await adapter.get_customer(fx.NOAH)
    noah = f"/v2/customers/{fx.NOAH}"
    addresses = f"{noah}/addresses"  # asked alongside the customer, so refused alongside it
    assert [entry for entry in emulator.sequence[-5:] if entry[0] != addresses] == [
        (noah, 401),
        (GRANT_PATH, 200),
        (noah, 200),
    ]
    assert [entry for entry in emulator.sequence[-5:] if entry[0] == addresses] == [
        (addresses, 401),
        (addresses, 200),
    ]


async def test_token_expiring_in_the_middle_of_an_order_walk(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.expire_tokens_after(1)
    page = await adapter.list_orders(
        OrderListRequest(
            customer_id=fx.BRUNO, limit=50, sort=OrderSort("order_number", descending=False)
        )
    )
    assert [o.order_number for o in page.orders] == [f"BULK-{n:04d}" for n in range(1, 51)]
    assert [
        (path, status, query.get("page[offset]"))
        for path, status, query in ((r.path, r.status, r.query) for r in emulator.requests)
    ] == [
        (GRANT_PATH, 200, None),
        ("/v2/orders", 200, "0"),
        ("/v2/orders", 401, "100"),
        (GRANT_PATH, 200, None),
        ("/v2/orders", 200, "100"),
    ]


async def test_token_expiring_in_the_middle_of_an_item_walk(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(200, without_included_items(fx.ORDER_BIG), path=order_path(fx.ORDER_BIG))
    emulator.expire_tokens_after(1)  # the injected order answer uses none
    items = await adapter.list_items(fx.OLIVIA, fx.ORDER_BIG)
    assert len(items) == 120
    items_path = f"{order_path(fx.ORDER_BIG)}/items"
    assert emulator.sequence[-3:] == [(items_path, 401), (GRANT_PATH, 200), (items_path, 200)]
    assert emulator.grants == 2


async def test_token_answer_wrapped_in_data_is_understood(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.token_in_data_envelope = True
    assert (await adapter.get_customer(fx.NOAH)).id == fx.NOAH


# EP errors → adapter errors


def secrets_absent(logs: Sequence[Mapping[str, Any]], *secrets: str) -> bool:
    text = repr(logs)
    return not any(secret in text for secret in secrets)


async def test_rejected_client_credentials(base_url: str, emulator: ElasticPathEmulator) -> None:
    wrong = "not-the-secret-4242"
    adapter = ElasticPathAdapter(elasticpath_settings(base_url, client_secret=wrong), http=FAST)
    await adapter.open()
    try:
        with capture_logs() as logs, pytest.raises(UpstreamUnavailable) as caught:
            await adapter.get_customer(fx.MARIA)
    finally:
        await adapter.close()
    assert "ELASTICPATH_CLIENT_SECRET" in caught.value.message
    assert wrong not in str(caught.value)
    assert secrets_absent(logs, wrong)
    assert [(r.path, r.status) for r in emulator.requests] == [(GRANT_PATH, 401)]


async def test_401_after_a_fresh_token_means_credentials_are_refused(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    # the addresses, asked alongside the customer, are refused too
    emulator.fail_next(401, error_body(401, "Unable to validate access token"), times=4)
    with capture_logs() as logs, pytest.raises(UpstreamUnavailable):
        await adapter.get_customer(fx.MARIA)
    customer = f"/v2/customers/{fx.MARIA}"
    assert emulator.grants == 2  # the first token, and one renewal however many were refused
    assert [status for path, status in emulator.sequence if path == customer] == [401, 401]
    tokens = [c.authorization for c in emulator.api_calls if c.path == customer]
    assert tokens[0] != tokens[1]
    assert secrets_absent(logs, CLIENT_SECRET, *(t.split()[1] for t in tokens if t))


async def test_403_is_not_retried(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    order = order_path(fx.ORDER_COMPLETE)
    emulator.fail_next(403, error_body(403, "Forbidden"), path=order, exact=True)
    with pytest.raises(UpstreamUnavailable):
        await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    # This order's calls only: a call of the test before may still reach the emulator now.
    assert [entry for entry in emulator.sequence if entry[0] == order] == [(order, 403)]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, error_body(400, "Bad Request", "Could not parse the supplied filter")),
        (400, error_body("400", "required", "id is required")),
        (422, error_body(422, "Unprocessable Entity")),
    ],
)
async def test_requests_ep_rejects_are_upstream_errors_logged_as_our_fault(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, status: int, body: Any
) -> None:
    emulator.fail_next(status, body)
    with capture_logs() as logs, pytest.raises(UpstreamError) as caught:
        await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    assert str(status) in caught.value.message
    (logged,) = [entry for entry in logs if entry["event"] == "platform_rejected_request"]
    assert (logged["status"], logged["platform_status"]) == (status, status)
    said = body["errors"][0]
    assert (logged["title"], logged["detail"]) == (said["title"], said.get("detail"))
    assert logged["log_level"] == "error"
    # not retried, nothing else asked
    assert emulator.api_paths == ["/v2/orders"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, error_body(500, "Internal Server Error", "boom")),
        (502, b"<html>Bad Gateway</html>"),
        (504, error_body("504", "Gateway Timeout")),
    ],
)
async def test_server_errors_that_outlast_the_retries_are_upstream_errors(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, status: int, body: Any
) -> None:
    emulator.fail_next(status, body, times=3)
    with capture_logs() as logs, pytest.raises(UpstreamError) as caught:
        await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    assert str(status) in caught.value.message
    (logged,) = [entry for entry in logs if entry["event"] == "platform_error"]
    assert logged["status"] == status
    assert emulator.api_paths == ["/v2/orders"] * 3


@pytest.mark.parametrize("status", [429, 503])
async def test_a_busy_platform_is_unavailable(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, status: int
) -> None:
    emulator.fail_next(status, error_body(str(status), "Too busy"), times=3)
    with pytest.raises(UpstreamUnavailable):
        await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    assert emulator.api_paths == [order_path(fx.ORDER_COMPLETE)] * 3


async def test_one_server_error_is_retried_transparently(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(500, error_body(500, "Internal Server Error"))
    order = await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    assert order.id == fx.ORDER_COMPLETE
    path = order_path(fx.ORDER_COMPLETE)
    assert emulator.sequence[1:] == [
        (path, 500),
        (path, 200),
        (f"{path}/shipping-groups", 200),
    ]


async def test_not_json_is_an_upstream_error(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.send_malformed_next()
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    assert [entry["event"] for entry in logs if entry["log_level"] != "debug"] == [
        "platform_body_unreadable"
    ]
    assert emulator.api_paths == [order_path(fx.ORDER_COMPLETE)]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (f"/v2/customers/{fx.MARIA}", {"data": {"id": fx.MARIA, "name": 5}}, "data.name"),
        (f"/v2/customers/{fx.MARIA}", {"customer": {}}, "data"),
        (f"/v2/customers/{fx.MARIA}/addresses", {"data": {"id": "x"}}, "data"),
    ],
    ids=fx.fixture_name,
)
async def test_unexpected_customer_json_logs_the_field(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, path: str, body: Any, field: str
) -> None:
    emulator.fail_next(200, body, path=path, exact=True)
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_customer(fx.MARIA)
    (logged,) = [entry for entry in logs if entry["event"] == "platform_body_unusable"]
    assert logged["field"] == field


async def test_unexpected_order_json_logs_the_field(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    broken = STORE.order(fx.ORDER_COMPLETE)
    assert broken is not None
    broken = {
        **broken,
        "meta": {
            **broken["meta"],
            "display_price": {"with_tax": {"amount": "12303", "currency": "USD"}},
        },
    }
    emulator.fail_next(200, {"data": broken}, path=order_path(fx.ORDER_COMPLETE))
    with capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)
    (logged,) = [entry for entry in logs if entry["event"] == "platform_body_unusable"]
    assert logged["field"] == "data.meta.display_price.with_tax.amount"
    assert emulator.api_paths == [order_path(fx.ORDER_COMPLETE)]


def listed_with_a_misfit() -> dict[str, Any]:
    """Maria's orders as `/v2/orders` lists them, one amount a string where EP sends a number."""
    orders = [STORE.order(order_id) for order_id in STORE.newest_first(fx.MARIA)]
    broken = orders[0]
    assert broken is not None
    orders[0] = {
        **broken,
        "meta": {
            **broken["meta"],
            "display_price": {"with_tax": {"amount": "12303", "currency": "USD"}},
        },
    }
    return {"data": orders, "meta": {"results": {"total": len(orders)}}}


@pytest.mark.parametrize("kept", [False, True], ids=["no resources", "resources"])
async def test_a_listed_order_that_does_not_fit_is_refused_alike_with_or_without_resources(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, kept: bool
) -> None:
    adapter.resources = ResourceCache(ttl_s=30) if kept else None
    emulator.fail_next(200, listed_with_a_misfit(), path="/v2/orders")
    with capture_logs() as logs, pytest.raises(UpstreamError) as refused:
        await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    assert refused.value.message == "elasticpath sent a /v2/orders body the bridge cannot read"
    (logged,) = [entry for entry in logs if entry["event"] == "platform_body_unusable"]
    assert logged["field"] == "data.0.meta.display_price.with_tax.amount"
    assert emulator.api_paths == ["/v2/orders"]
    if adapter.resources is not None:  # the list as received (the route forgets it), no order
        assert len(adapter.resources) == 1


@pytest.mark.parametrize("kept", [False, True], ids=["no resources", "resources"])
async def test_an_order_list_that_is_not_json_is_refused_alike_with_or_without_resources(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, kept: bool
) -> None:
    adapter.resources = ResourceCache(ttl_s=30) if kept else None
    emulator.send_malformed_next(path="/v2/orders")
    with capture_logs() as logs, pytest.raises(UpstreamError) as refused:
        await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    assert refused.value.message == "elasticpath sent a body that is not JSON"
    assert [entry["event"] for entry in logs if entry["log_level"] != "debug"] == [
        "platform_body_unreadable"
    ]
    assert emulator.api_paths == ["/v2/orders"]


@pytest.mark.parametrize("kept", [False, True], ids=["no resources", "resources"])
async def test_listed_orders_are_kept_only_with_resources(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, kept: bool
) -> None:
    adapter.resources = ResourceCache(ttl_s=30) if kept else None
    page = await adapter.list_orders(OrderListRequest(customer_id=fx.MARIA, limit=20))
    listed = next(order for order in page.orders if order.id == fx.ORDER_PROMO)
    before = len(emulator.api_paths)
    detail = await adapter.get_order(fx.MARIA, fx.ORDER_PROMO)
    assert detail.items == listed.items
    called = [path for path in emulator.api_paths[before:] if not path.endswith("/shipping-groups")]
    assert called == ([] if kept else [order_path(fx.ORDER_PROMO)])


@pytest.mark.parametrize(
    ("status", "body", "times", "error"),
    [
        (500, error_body(500, "Internal Server Error"), 3, UpstreamError),
        (503, error_body(503, "Service Unavailable"), 3, UpstreamUnavailable),
        (400, error_body(400, "Bad Request", "invalid_client"), 1, UpstreamUnavailable),
        (403, error_body(403, "Forbidden"), 1, UpstreamUnavailable),
        (200, {"token_type": "Bearer"}, 1, UpstreamError),
        (200, b"not json", 1, UpstreamError),
    ],
)
async def test_token_endpoint_failures(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    status: int,
    body: Any,
    times: int,
    error: type[Exception],
) -> None:
    emulator.fail_next(status, body, path=GRANT_PATH, times=times)
    with pytest.raises(error):
        await adapter.get_customer(fx.MARIA)
    assert emulator.api_calls == []


async def test_unreachable_platform_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = ElasticPathAdapter(elasticpath_settings(f"http://127.0.0.1:{port}"), http=FAST)
    await adapter.open()
    try:
        with pytest.raises(UpstreamUnavailable):
            await adapter.get_customer(fx.MARIA)
    finally:
        await adapter.close()


# EP's 10,000 offset cap, with a customer who has more orders than that


HUGE_CATALOG = 10_050


@pytest.fixture(scope="module")
def huge() -> Iterator[tuple[ElasticPathEmulator, str]]:
    """A customer with more orders, and a catalog with more products, than EP pages to."""
    store = fx.huge_store()
    store.shelf = fx.Shelf()
    for n in range(HUGE_CATALOG):
        store.shelf.add_product(fx.uid(f"product:huge:{n}"), f"Bar {n}", f"B-{n}", 100, image=False)
    emulator = ElasticPathEmulator(store)
    with serve(emulator.app) as url:
        yield emulator, url


@pytest.fixture
async def huge_adapter(huge: tuple[ElasticPathEmulator, str]) -> AsyncIterator[ElasticPathAdapter]:
    huge[0].reset()
    adapter = ElasticPathAdapter(elasticpath_settings(huge[1]), http=FAST)
    await adapter.open()
    yield adapter
    await adapter.close()


def cut_short(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    return [
        (entry["records"], entry["offset"])
        for entry in logs
        if entry["event"] == "platform_list_cut_short"
    ]


async def test_pages_up_to_the_offset_cap_then_the_list_ends_there(
    huge: tuple[ElasticPathEmulator, str], huge_adapter: ElasticPathAdapter
) -> None:
    """A next page is promised only where EP lets the bridge page to: the one at 10,000
    is the last, and says it was cut short, instead of a cursor that would be refused."""
    emulator = huge[0]
    request = OrderListRequest(customer_id=fx.HUGE, limit=20, resume={"offset": 9_980})
    with capture_logs() as logs:
        pages = await all_orders(huge_adapter, fx.HUGE, 20, resume={"offset": 9_980})
    assert [len(page.orders) for page in pages] == [20, 20]
    assert [page.resume for page in pages] == [{"offset": 10_000}, None]
    assert cut_short(logs) == [("orders", 10_020)]
    assert [c.query["page[offset]"] for c in emulator.api_calls] == ["9980", "10000"]
    with pytest.raises(UnservableRequest) as caught:
        await huge_adapter.list_orders(replace(request, resume={"offset": 10_020}))
    assert caught.value.field == "cursor"


async def test_shipment_pages_end_at_the_last_order_ep_pages_to(
    huge: tuple[ElasticPathEmulator, str], huge_adapter: ElasticPathAdapter
) -> None:
    """A page reads no order past the cap, so every cursor it gives can be followed."""

    async def resumed_at(order: int) -> Resume | None:
        resume = {"order": order, "skip": 0}
        request = ShipmentListRequest(customer_id=fx.HUGE, limit=5, resume=resume)
        return (await huge_adapter.list_shipments(request)).resume

    with capture_logs() as logs:
        resumes = [await resumed_at(order) for order in (9_980, 9_990, 9_995, 10_000)]
    assert resumes == [{"order": 9_990, "skip": 0}, {"order": 10_000, "skip": 0}, None, None]
    assert cut_short(logs) == [("orders", 10_001), ("orders", 10_001)]
    asked = [(c.query["page[offset]"], c.query["page[limit]"]) for c in huge[0].api_calls]
    assert asked == [("9980", "10"), ("9990", "10"), ("9995", "6"), ("10000", "1")]


async def test_product_pages_end_at_the_offset_cap(huge_adapter: ElasticPathAdapter) -> None:
    with capture_logs() as logs:
        near = ProductSearch(limit=20, resume={"field": None, "offset": 9_980})
        at_cap = await huge_adapter.list_products(near)
        last = await huge_adapter.list_products(replace(near, resume=at_cap.resume))
    assert (len(at_cap.products), at_cap.resume) == (20, {"field": None, "offset": 10_000})
    assert (len(last.products), last.resume) == (20, None)
    assert cut_short(logs) == [("products", 10_020)]


@pytest.mark.parametrize(
    ("sort", "search", "field"),
    [("order_number", None, "order_by"), ("purchase_datetime", "H-1", "search")],
)
async def test_sorting_more_orders_than_ep_can_page_is_refused(
    huge: tuple[ElasticPathEmulator, str],
    huge_adapter: ElasticPathAdapter,
    sort: Any,
    search: str | None,
    field: str,
) -> None:
    with pytest.raises(UnservableRequest) as caught:
        await huge_adapter.list_orders(
            OrderListRequest(customer_id=fx.HUGE, limit=20, sort=OrderSort(sort), search=search)
        )
    assert caught.value.field == field
    assert "10,100" in caught.value.message
    # the first page says how many there are: nothing more is asked
    assert len(huge[0].api_calls) == 1


def test_emulator_keeps_ep_limits(served: tuple[ElasticPathEmulator, str]) -> None:
    """The emulator is as strict as EP, so the tests above prove the adapter respects it."""
    import httpx

    emulator, url = served
    emulator.reset()
    with httpx.Client(base_url=url) as http:
        token = http.post(
            GRANT_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def orders(**params: Any) -> httpx.Response:
            return http.get("/v2/orders", params=params, headers=auth)

        assert http.get("/v2/orders").status_code == 401
        assert http.get("/v2/orders", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert orders(**{"page[limit]": 101}).status_code == 400
        assert orders(**{"page[limit]": 0}).status_code == 400
        assert orders(**{"page[offset]": 10_001}).status_code == 400
        assert orders(**{"page[offset]": 10_000}).status_code == 200
        bad = orders(filter="customer_id=abc")
        assert (bad.status_code, bad.json()) == (
            400,
            {
                "errors": [
                    {
                        "status": 400,
                        "title": "Bad Request",
                        "detail": "Could not parse the supplied filter",
                    }
                ]
            },
        )
        assert orders(filter="eq(customer_id,a):eq(status,complete)").status_code == 200
        assert orders(filter="eq(nonsense,a)").status_code == 400
        assert orders(filter="eq(customer_id,a),b)").status_code == 400
        assert orders(sort="order_number").status_code == 400
        assert orders(include="everything").status_code == 400
        missing = http.get("/v2/orders/nope", headers=auth)
        assert (missing.status_code, missing.json()["errors"][0]["status"]) == (404, 404)
        missing = http.get("/v2/customers/nope", headers=auth)
        assert (missing.status_code, missing.json()["errors"][0]["status"]) == (404, "404")
        emulator.advance(3601)
        assert orders().status_code == 401
