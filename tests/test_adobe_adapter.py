"""The Adobe CPAPI adapter against the IMS + CPAPI emulator, over real HTTP on loopback."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import structlog
from pydantic import ValidationError

from adapters.adobe_cpapi import AdobeCPAPIAdapter, AdobeSettings
from adapters.base import OrderListRequest, OrderSort
from adapters.errors import (
    AdapterError,
    NotFound,
    UnservableRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mappings.money import Money
from mappings.status import CancellationStatus, DetailedStatus, GenericStatus
from tests.conftest import FAST_SHORT_READ, IMPATIENT, ManualClock
from tests.emulators.adobe_cpapi import TOKEN_PATH, CPAPIEmulator, Exchange
from tests.emulators.adobe_fixtures import (
    ACROBAT,
    BUSY,
    CLIENT_SECRET,
    EURO,
    HIDDEN_TYPES,
    LARKSPUR,
    LISTED_TYPES,
    MATRIX,
    PREVIEWS_ONLY,
    QUIET,
    STATUSES,
    STOCK,
    SUBSTANCE,
    UNLISTED,
    busy_order_id,
    default_fixtures,
    matrix_order_id,
)
from tests.emulators.faults import FaultPlatform, Step
from tests.pages import all_orders, order_ids
from tests.platform_settings import adobe_settings
from tests.servers import serve
from tests.test_adobe_mapping import STATUS_TABLE

pytestmark = pytest.mark.anyio

ATTEMPTS = FAST_SHORT_READ.attempts
"""How often the shared client tries a call that gets 429, 5xx or no connection."""
HANG_S = 1.0
"""Longer than IMPATIENT's read timeout, short enough to keep the suite quick."""

FIXTURES = default_fixtures()
BUSY_LISTED = sorted(
    (o for o in FIXTURES.orders[BUSY] if o["orderType"] in LISTED_TYPES),
    key=lambda o: o["creationDate"],
)
NEWEST_FIRST = [o["orderId"] for o in reversed(BUSY_LISTED)]
OLDEST_FIRST = [o["orderId"] for o in BUSY_LISTED]


def make_emulator() -> CPAPIEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return CPAPIEmulator()


@pytest.fixture
def settings(served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator) -> AdobeSettings:
    return adobe_settings(emulator, served[1])


TOKEN = Step(body=orjson.dumps({"access_token": "t", "expires_in": 86399}))
"""An IMS answer with a token good for a day."""


@contextmanager
def scripted(*steps: Step, **serve_options: Any) -> Iterator[tuple[FaultPlatform, str]]:
    """A platform that answers IMS and CPAPI calls alike with `steps`, in order, over
    loopback (TLS when `serve_options` say so): the platform and its base URL."""
    platform = FaultPlatform().then(*steps)
    with serve(platform.app(), **serve_options) as url:
        tls = "ssl_certfile" in serve_options
        yield platform, url.replace("http://", "https://") if tls else url


def at(settings: AdobeSettings, url: str) -> AdobeSettings:
    """`settings` with IMS and CPAPI both at `url`."""
    return settings.model_copy(update={"cpapi_base_url": url, "ims_url": url + TOKEN_PATH})


async def opened(settings: AdobeSettings, **options: Any) -> AdobeCPAPIAdapter:
    adapter = AdobeCPAPIAdapter(settings, **{"http": FAST_SHORT_READ, **options})
    await adapter.open()
    return adapter


@pytest.fixture
async def adapter(settings: AdobeSettings) -> AsyncIterator[AdobeCPAPIAdapter]:
    adapter = await opened(settings)
    yield adapter
    await adapter.close()


def history_calls(emulator: CPAPIEmulator) -> list[Exchange]:
    return [e for e in emulator.cpapi_exchanges if e.path.endswith("/orders")]


# R1


async def test_a_customer_comes_from_the_company_profile(adapter: AdobeCPAPIAdapter) -> None:
    customer = await adapter.get_customer(LARKSPUR)

    assert (customer.id, customer.first_name, customer.last_name) == (LARKSPUR, "Maren", "Okafor")
    assert customer.customer_since is not None and customer.customer_since.year == 2021
    [address] = customer.shipping_addresses or []
    assert address.region_code == "US-OR"
    assert address.address == "2200 NW Thurman St, Suite 400"
    assert customer.custom_fields is not None
    assert customer.custom_fields["company_name"] == "Larkspur Design Studio LLC"


async def test_a_customer_without_contacts_or_orders(adapter: AdobeCPAPIAdapter) -> None:
    customer = await adapter.get_customer(QUIET)

    assert customer.first_name is None
    [address] = customer.shipping_addresses or []
    assert (address.region_code, address.country_code, address.phone_number) == (
        "DE-BY",
        "DE",
        None,
    )


async def test_an_unknown_customer_is_not_found_on_every_route(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_customer("1000000000")
    with pytest.raises(NotFound):
        await adapter.list_orders(OrderListRequest(customer_id="1000000000", limit=5))
    with pytest.raises(NotFound):
        await adapter.get_order("1000000000", "5120008217")
    with pytest.raises(NotFound):
        await adapter.list_items("1000000000", "5120008217")
    with pytest.raises(NotFound):
        await adapter.most_recent_order("1000000000")

    codes = [e.code for e in emulator.cpapi_exchanges]
    routes = ["1116", "1116", "2115", "2115", "1116"]
    # R3 asks for the customer's returns alongside the order: that call may have gone out
    # (an unknown customer, 1116) before the order's answer made it unneeded.
    assert codes in (routes, [*routes[:2], "1116", *routes[2:]], [*routes[:3], "1116", *routes[3:]])


# R2: filtering, paging, ordering


async def test_orders_exclude_returns_and_previews_and_include_old_history(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    page = await adapter.list_orders(OrderListRequest(customer_id=LARKSPUR, limit=20))

    assert [order.id for order in page.orders] == [
        "5120008217",
        "5120007702",
        "5120007391",
        "5120006120",
        "5110004417",  # more than a year old
    ]
    assert page.resume is None
    assert {e.param("start-date") for e in history_calls(emulator)} == {"2000-01-01"}


async def test_every_listed_type_in_every_status_is_listed_and_no_hidden_type(
    adapter: AdobeCPAPIAdapter,
) -> None:
    listed = order_ids(await all_orders(adapter, MATRIX, 4))

    assert sorted(listed) == sorted(
        matrix_order_id(kind, status) for kind in LISTED_TYPES for status in STATUSES
    )
    hidden = {matrix_order_id(kind, status) for kind in HIDDEN_TYPES for status in STATUSES}
    assert not hidden & set(listed)


async def test_the_history_start_setting_is_what_the_platform_is_asked(
    settings: AdobeSettings, emulator: CPAPIEmulator
) -> None:
    adapter = await opened(settings.model_copy(update={"history_start": date(2024, 1, 1)}))
    try:
        page = await adapter.list_orders(OrderListRequest(customer_id=LARKSPUR, limit=20))
    finally:
        await adapter.close()

    assert "5110004417" not in [order.id for order in page.orders]
    assert {e.param("start-date") for e in history_calls(emulator)} == {"2024-01-01"}


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 20, 59, 60, 100])
async def test_newest_first_pages_never_skip_or_repeat_across_hidden_orders(
    adapter: AdobeCPAPIAdapter, limit: int
) -> None:
    pages = await all_orders(adapter, BUSY, limit)

    assert order_ids(pages) == NEWEST_FIRST
    assert len(pages) == math.ceil(60 / limit)  # a next page is promised only when it has orders
    assert all(len(page.orders) == limit for page in pages[:-1])


async def test_newest_first_survives_a_platform_page_smaller_than_asked(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.max_limit = 3

    pages = await all_orders(adapter, BUSY, 10)

    assert order_ids(pages) == NEWEST_FIRST
    assert max(int(e.param("limit") or 0) for e in history_calls(emulator)) == 11


async def test_oldest_first_is_correct_over_many_pages(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.max_limit = 25  # the whole history takes several platform pages

    pages = await all_orders(adapter, BUSY, 7, sort=OrderSort(descending=False))

    assert order_ids(pages) == OLDEST_FIRST
    assert len(pages) == 9
    assert pages[0].orders[0].purchase_datetime is not None
    assert pages[0].orders[0].purchase_datetime.year == 2022
    offsets = [int(e.param("offset") or 0) for e in history_calls(emulator)][:4]
    assert offsets == [0, 25, 50, 75]


@pytest.mark.parametrize("descending", [False, True])
async def test_order_number_ordering(adapter: AdobeCPAPIAdapter, descending: bool) -> None:
    sort = OrderSort(field="order_number", descending=descending)

    listed = order_ids(await all_orders(adapter, BUSY, 9, sort=sort))

    assert listed == sorted(NEWEST_FIRST, key=int, reverse=descending)
    assert listed != OLDEST_FIRST and listed != NEWEST_FIRST


@pytest.mark.parametrize(
    "sort", [OrderSort(), OrderSort(descending=False), OrderSort(field="order_number")]
)
@pytest.mark.parametrize(("search", "matches"), [("303", 6), ("3037", 1), ("5131", 0)])
async def test_search_is_a_substring_of_the_order_number(
    adapter: AdobeCPAPIAdapter, sort: OrderSort, search: str, matches: int
) -> None:
    # "5131" matches only the ids of return orders, which are never listed.
    expected = [order_id for order_id in NEWEST_FIRST if search in order_id]

    pages = await all_orders(adapter, BUSY, 2, sort=sort, search=search)

    assert sorted(order_ids(pages)) == sorted(expected)
    assert len(expected) == matches
    assert len(pages) == max(1, math.ceil(matches / 2))


async def test_a_customer_with_only_returns_and_previews_has_an_empty_list(
    adapter: AdobeCPAPIAdapter,
) -> None:
    for customer_id in (PREVIEWS_ONLY, QUIET):
        page = await adapter.list_orders(OrderListRequest(customer_id=customer_id, limit=5))
        assert (list(page.orders), page.resume) == ([], None)


async def test_a_history_that_shrank_below_the_cursor_ends_cleanly(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    request = OrderListRequest(customer_id=LARKSPUR, limit=5, resume={"platform_offset": 500})

    page = await adapter.list_orders(request)

    assert (list(page.orders), page.resume) == ([], None)
    assert [e.code for e in emulator.cpapi_exchanges] == ["1133"]


@pytest.mark.parametrize(
    "resume", [{}, {"platform_offset": -1}, {"platform_offset": "7"}, {"offset": 3}]
)
async def test_a_resume_state_that_is_not_ours_is_refused_without_a_call(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, resume: dict[str, Any]
) -> None:
    with pytest.raises(UnservableRequest):
        await adapter.list_orders(OrderListRequest(customer_id=LARKSPUR, limit=5, resume=resume))

    assert emulator.cpapi_exchanges == []


# R3 / R4


@pytest.mark.parametrize("order_type", LISTED_TYPES)
@pytest.mark.parametrize(("code", "generic", "detailed", "cancellation"), STATUS_TABLE)
async def test_every_status_row_of_every_order_type(
    adapter: AdobeCPAPIAdapter,
    order_type: str,
    code: str,
    generic: GenericStatus,
    detailed: DetailedStatus,
    cancellation: CancellationStatus | None,
) -> None:
    order = await adapter.get_order(MATRIX, matrix_order_id(order_type, code))

    assert (order.status.generic, order.status.detailed) == (generic, detailed)
    assert order.cancellation_status is cancellation
    assert order.custom_fields is not None
    assert (order.custom_fields["order_type"], order.custom_fields["cpapi_status"]) == (
        order_type,
        code,
    )


@pytest.mark.parametrize("order_type", HIDDEN_TYPES)
async def test_returns_and_previews_are_not_orders(
    adapter: AdobeCPAPIAdapter, order_type: str
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_order(MATRIX, matrix_order_id(order_type, "1000"))


async def test_an_order_with_catalog_and_partner_prices(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    order = await adapter.get_order(LARKSPUR, "5120008217")

    acrobat, unlisted = order.items or []
    assert (acrobat.name, acrobat.sku, acrobat.quantity) == ("Acrobat Pro for teams", ACROBAT, 5)
    assert acrobat.price == Money(value=Decimal("239.88"), currency="USD")  # catalog, not 219.90
    assert (unlisted.name, unlisted.image_url) == (UNLISTED, None)
    assert unlisted.price == Money(value=Decimal("150.00"), currency="USD")  # partner price
    assert unlisted.custom_fields == {
        "subscription_id": FIXTURES.order("5120008217")["lineItems"][1]["subscriptionId"],
        "cpapi_status": "1008",
        "remaining_quantity": 0,
    }
    assert order.price_summary is not None
    assert order.price_summary.final_total_amount == Money(value=Decimal("1499.40"), currency="USD")
    assert order.custom_fields == {
        "order_type": "NEW",
        "external_reference_id": "PO-88413",
        "cpapi_status": "1000",
        "subscription_ids": {
            str(line["extLineItemNumber"]): line["subscriptionId"]
            for line in FIXTURES.order("5120008217")["lineItems"]
        },
        "return_order_ids": ["5120008390"],
    }
    # The returns are asked for ahead of need, alongside the order: in either order.
    [order_call] = [e for e in emulator.cpapi_exchanges if e.path.endswith("/5120008217")]
    [returns_call] = [e for e in emulator.cpapi_exchanges if e.path.endswith("/orders")]
    assert order_call.param("fetch-price") == "true"
    assert returns_call.param("reference-order-id") == "5120008217"
    assert returns_call.param("start-date") == "2000-01-01"


async def test_an_unpriced_item_leaves_the_order_without_a_summary(
    adapter: AdobeCPAPIAdapter,
) -> None:
    order = await adapter.get_order(LARKSPUR, "5120007702")

    acrobat, stock = order.items or []
    assert acrobat.price == Money(value=Decimal("239.88"), currency="USD")
    assert (stock.name, stock.price) == ("Stock for teams (10 assets)", None)
    assert order.price_summary is None
    assert order.custom_fields is not None and "return_order_ids" not in order.custom_fields


async def test_no_catalog_entry_and_no_partner_pricing_means_no_price(
    adapter: AdobeCPAPIAdapter,
) -> None:
    order = await adapter.get_order(LARKSPUR, "5120007391")

    [item] = order.items or []
    assert (item.name, item.price) == (UNLISTED, None)
    assert order.price_summary is None
    assert order.status.detailed is DetailedStatus.FAILURE


async def test_catalog_prices_apply_only_in_the_order_currency(
    adapter: AdobeCPAPIAdapter,
) -> None:
    order = await adapter.get_order(EURO, "5150000101")

    acrobat, substance = order.items or []
    assert acrobat.price == Money(value=Decimal("221.76"), currency="EUR")  # USD catalog: skipped
    assert substance.sku == SUBSTANCE
    assert substance.price == Money(value=Decimal("549.00"), currency="EUR")  # EUR catalog
    assert order.price_summary is not None
    assert order.price_summary.final_total_amount == Money(value=Decimal("992.52"), currency="EUR")


async def test_without_a_catalog_items_are_named_by_offer_and_priced_by_the_partner(
    settings: AdobeSettings,
) -> None:
    adapter = await opened(settings.model_copy(update={"offer_catalog": None}))
    try:
        order = await adapter.get_order(LARKSPUR, "5120008217")
        busy = await adapter.get_order(LARKSPUR, "5120007702")
    finally:
        await adapter.close()

    acrobat, _ = order.items or []
    assert (acrobat.name, acrobat.image_url) == (ACROBAT, None)
    assert acrobat.price == Money(value=Decimal("219.90"), currency="USD")
    assert [(item.name, item.price) for item in busy.items or []] == [
        (ACROBAT, None),
        (STOCK, None),
    ]


async def test_a_cancelled_order_lists_its_return(adapter: AdobeCPAPIAdapter) -> None:
    order = await adapter.get_order(LARKSPUR, "5120006120")

    assert order.cancellation_status is CancellationStatus.CANCELED
    assert order.custom_fields is not None
    assert order.custom_fields["return_order_ids"] == ["5120006188"]


async def test_items_come_from_one_call(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    items = await adapter.list_items(LARKSPUR, "5120008217")

    assert [(item.id, item.sku) for item in items] == [("1", ACROBAT), ("2", UNLISTED)]
    assert len(emulator.cpapi_exchanges) == 1


async def test_an_order_of_another_customer_is_not_found(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_order(BUSY, "5120008217")
    with pytest.raises(NotFound):
        await adapter.list_items(QUIET, busy_order_id(3))

    # (the returns, asked alongside the first order, are dropped with it)
    assert [e.code for e in emulator.cpapi_exchanges if "/orders/" in e.path] == ["2115", "2115"]


async def test_an_order_whose_body_names_another_customer_is_not_found(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    # The platform answers for a customer in the path an order that names another one.
    emulator.fixtures.orders[BUSY].append(FIXTURES.order("5120008217"))

    with pytest.raises(NotFound):
        await adapter.list_items(BUSY, "5120008217")
    assert (await adapter.list_items(LARKSPUR, "5120008217"))[0].sku == ACROBAT

    assert [(e.path, e.status) for e in emulator.cpapi_exchanges] == [
        (f"/v3/customers/{BUSY}/orders/5120008217", 200),
        (f"/v3/customers/{LARKSPUR}/orders/5120008217", 200),
    ]


async def test_base_url_paths_and_ims_url_queries_are_kept(
    settings: AdobeSettings, monkeypatch: pytest.MonkeyPatch, tls_files: tuple[Path, Path]
) -> None:
    cert_file, key_file = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the default context trusts it
    steps = (TOKEN, Step(body=orjson.dumps(FIXTURES.customers[LARKSPUR])))
    tls = {"ssl_certfile": str(cert_file), "ssl_keyfile": str(key_file)}
    with scripted(*steps, **tls) as (platform, url):
        adapter = await opened(
            settings.model_copy(
                update={
                    "cpapi_base_url": f"{url}/adobe/partners/",
                    "ims_url": f"{url}/ims/token/v3?locale=en_US",
                }
            )
        )
        try:
            await adapter.get_customer(LARKSPUR)
        finally:
            await adapter.close()

    assert url.startswith("https://")
    assert [request["url"] for request in platform.requests] == [
        f"{url}/ims/token/v3?locale=en_US",
        f"{url}/adobe/partners/v3/customers/{LARKSPUR}",
    ]


@pytest.mark.parametrize(
    ("customer_id", "order_id"),
    [
        (f"..%2F{LARKSPUR}", "5120008217"),
        (f"../{LARKSPUR}", "5120008217"),
        (LARKSPUR, "../5120008217"),
        (LARKSPUR, "5120008217?fetch-price=false"),
        (LARKSPUR, "5120008217/../5120007702"),
    ],
)
async def test_ids_cannot_address_another_platform_path(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, customer_id: str, order_id: str
) -> None:
    with pytest.raises(NotFound):
        await adapter.list_items(customer_id, order_id)

    [call] = emulator.cpapi_exchanges
    assert call.code in {"1116", "2115"}
    assert call.path.count("/") == 5  # /v3/customers/{id}/orders/{id}


@pytest.mark.parametrize("bad_id", ["", "9" * 41])
async def test_ids_that_cannot_be_cpapi_ids_are_not_sent(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, bad_id: str
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_customer(bad_id)
    with pytest.raises(NotFound):
        await adapter.get_order(LARKSPUR, bad_id)
    with pytest.raises(NotFound):
        await adapter.list_orders(OrderListRequest(customer_id=bad_id, limit=5))

    assert emulator.exchanges == []  # not even a token was fetched


# R5


async def test_the_most_recent_order_skips_newer_previews_and_returns(
    adapter: AdobeCPAPIAdapter,
) -> None:
    order = await adapter.most_recent_order(LARKSPUR)

    assert order.id == "5120008217"
    assert order.items is not None and len(order.items) == 2
    assert order.custom_fields is not None
    assert order.custom_fields["return_order_ids"] == ["5120008390"]


async def test_the_most_recent_of_many_orders(adapter: AdobeCPAPIAdapter) -> None:
    assert (await adapter.most_recent_order(BUSY)).id == NEWEST_FIRST[0]


@pytest.mark.parametrize("customer_id", [PREVIEWS_ONLY, QUIET])
async def test_no_listable_order_means_no_most_recent_order(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, customer_id: str
) -> None:
    with pytest.raises(NotFound):
        await adapter.most_recent_order(customer_id)

    assert all(e.path.endswith("/orders") for e in emulator.cpapi_exchanges)


# Headers and idempotency


async def test_every_call_carries_the_required_headers_and_a_fresh_request_id(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    await adapter.get_customer(LARKSPUR)
    await all_orders(adapter, BUSY, 5)
    await adapter.get_order(LARKSPUR, "5120008217")
    await adapter.most_recent_order(LARKSPUR)

    calls = emulator.cpapi_exchanges
    [token_call] = emulator.token_exchanges
    assert len(calls) > 15
    assert all(call.status == 200 for call in calls)
    for call in calls:
        assert (call.header("authorization") or "").startswith("Bearer ims-")
        assert call.header("x-api-key") == emulator.client_id
        assert call.header("accept") == "application/json"
        assert call.header("content-type") == "application/json"
    assert len({call.request_id for call in calls}) == len(calls)
    assert len({call.correlation_id for call in calls}) == len(calls)
    assert not any(call.replayed for call in calls)
    assert token_call.status == 200


async def test_a_timed_out_call_is_retried_once_with_the_same_correlation_id(
    settings: AdobeSettings, emulator: CPAPIEmulator
) -> None:
    adapter = await opened(settings, http=IMPATIENT)
    try:
        await adapter.get_customer(LARKSPUR)  # takes the token before the platform stalls
        emulator.hang_next(HANG_S)
        order = await adapter.list_items(LARKSPUR, "5120008217")
    finally:
        await adapter.close()

    assert [item.sku for item in order] == [ACROBAT, UNLISTED]
    _, first, retry = emulator.cpapi_exchanges
    assert first.path == retry.path
    assert first.correlation_id == retry.correlation_id
    assert first.request_id != retry.request_id
    assert retry.replayed  # the platform answered from what it stored for the first attempt


async def test_a_call_that_times_out_twice_is_a_timeout(
    settings: AdobeSettings, emulator: CPAPIEmulator
) -> None:
    adapter = await opened(settings, http=IMPATIENT)
    try:
        await adapter.get_customer(LARKSPUR)
        emulator.hang_next(HANG_S, times=2)
        with pytest.raises(UpstreamTimeout):
            await adapter.get_customer(LARKSPUR)
    finally:
        await adapter.close()

    _, first, retry = emulator.cpapi_exchanges
    assert first.correlation_id == retry.correlation_id


async def test_a_retried_error_answer_is_a_new_intent(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.fail_next(500, "1124")

    customer = await adapter.get_customer(LARKSPUR)  # a reused id would replay the 500

    assert customer.id == LARKSPUR
    failed, succeeded = emulator.cpapi_exchanges
    assert (failed.status, succeeded.status) == (500, 200)
    assert failed.correlation_id != succeeded.correlation_id
    assert failed.request_id != succeeded.request_id
    assert not succeeded.replayed


async def test_after_a_failed_call_the_next_call_is_a_new_intent(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.fail_next(500, "1124", times=ATTEMPTS)

    with pytest.raises(UpstreamError):
        await adapter.get_customer(LARKSPUR)
    customer = await adapter.get_customer(LARKSPUR)

    assert customer.id == LARKSPUR
    calls = emulator.cpapi_exchanges
    assert [call.status for call in calls] == [500] * ATTEMPTS + [200]
    assert len({call.correlation_id for call in calls}) == len(calls)


# The IMS token


async def test_the_token_is_a_client_credentials_form_post(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    await adapter.get_customer(LARKSPUR)

    [token_call] = emulator.token_exchanges
    assert token_call.method == "POST"
    assert token_call.params == []  # the secret travels in the body, never in the URL
    assert token_call.header("content-type") == "application/x-www-form-urlencoded"


async def test_concurrent_calls_share_one_token(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(12):
            group.start_soon(adapter.get_customer, LARKSPUR)

    assert len(emulator.token_exchanges) == 1
    tokens = {call.header("authorization") for call in emulator.cpapi_exchanges}
    assert len(tokens) == 1 and len(emulator.cpapi_exchanges) == 12


async def test_the_token_is_reused_until_shortly_before_it_expires(
    settings: AdobeSettings, emulator: CPAPIEmulator, clock: ManualClock
) -> None:
    adapter = await opened(settings, clock=clock)
    try:
        await adapter.get_customer(LARKSPUR)
        clock.advance(22 * 3600)  # 22 h into a 24 h token
        await adapter.get_customer(LARKSPUR)
        tokens_before_expiry = len(emulator.token_exchanges)
        clock.advance(3600 + 1)  # within the last hour
        await adapter.get_customer(LARKSPUR)
    finally:
        await adapter.close()

    assert tokens_before_expiry == 1
    assert len(emulator.token_exchanges) == 2
    first, second, third = (call.header("authorization") for call in emulator.cpapi_exchanges)
    assert first == second != third


async def test_a_rejected_token_is_renewed_once(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    await adapter.get_customer(LARKSPUR)
    emulator.expire_tokens()

    customer = await adapter.get_customer(LARKSPUR)

    assert customer.id == LARKSPUR
    assert len(emulator.token_exchanges) == 2
    _, refused, renewed = emulator.cpapi_exchanges
    assert (refused.status, refused.code, renewed.status) == (401, "4116", 200)
    assert refused.header("authorization") != renewed.header("authorization")
    assert refused.correlation_id != renewed.correlation_id


async def test_a_token_refused_twice_means_the_credentials_are_wrong(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.fail_next(401, "4116", times=2)

    with pytest.raises(UpstreamUnavailable):
        await adapter.get_customer(LARKSPUR)

    assert len(emulator.cpapi_exchanges) == 2
    assert len(emulator.token_exchanges) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"client_secret": "not-the-secret"}, UpstreamUnavailable),
        ({"client_id": "another-client"}, UpstreamUnavailable),
        ({"ims_scopes": "openid"}, UpstreamUnavailable),
    ],
)
async def test_ims_refusing_the_credentials_is_unavailable_and_leaks_nothing(
    settings: AdobeSettings,
    emulator: CPAPIEmulator,
    change: dict[str, Any],
    expected: type[AdapterError],
) -> None:
    adapter = await opened(AdobeSettings(_env_file=None, **{**dict(settings), **change}))
    try:
        with structlog.testing.capture_logs() as logs, pytest.raises(expected) as caught:
            await adapter.get_customer(LARKSPUR)
    finally:
        await adapter.close()

    assert emulator.cpapi_exchanges == []
    secret = change.get("client_secret") or CLIENT_SECRET
    assert secret not in str(caught.value)
    assert secret not in repr(logs)
    assert any(entry["event"] == "platform_credentials_rejected" for entry in logs)


@pytest.mark.parametrize(("status", "expected"), [(500, UpstreamError), (503, UpstreamUnavailable)])
async def test_an_ims_failure_fails_the_call_and_the_next_call_asks_again(
    adapter: AdobeCPAPIAdapter,
    emulator: CPAPIEmulator,
    status: int,
    expected: type[AdapterError],
) -> None:
    emulator.fail_token(status, times=ATTEMPTS)

    with pytest.raises(AdapterError) as caught:
        await adapter.get_customer(LARKSPUR)
    customer = await adapter.get_customer(LARKSPUR)

    assert type(caught.value) is expected
    assert customer.id == LARKSPUR
    assert len(emulator.token_exchanges) == ATTEMPTS + 1
    assert len(emulator.cpapi_exchanges) == 1


async def test_tokens_and_secrets_never_reach_the_logs(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with structlog.testing.capture_logs() as logs:
        await adapter.get_customer(LARKSPUR)
        emulator.expire_tokens()
        emulator.fail_next(403, "4115")
        with pytest.raises(UpstreamUnavailable):
            await adapter.get_customer(LARKSPUR)

    token = (emulator.cpapi_exchanges[0].header("authorization") or "").removeprefix("Bearer ")
    assert token and token not in repr(logs)
    assert CLIENT_SECRET not in repr(logs)
    assert logs  # the refusal was logged


# CPAPI errors, translated in one place


@pytest.mark.parametrize(
    ("status", "code", "expected", "attempts"),
    [
        (404, "2115", NotFound, 1),
        (404, "1116", NotFound, 1),
        (403, "4115", UpstreamUnavailable, 1),
        (401, "4116", UpstreamUnavailable, 2),  # after one token renewal
        (403, "4117", UpstreamUnavailable, 1),
        (400, "4119", UpstreamError, 1),
        (400, "4120", UpstreamError, 1),
        (429, "4118", UpstreamUnavailable, ATTEMPTS),  # busy: the bridge says Retry-After
        (500, "1124", UpstreamError, ATTEMPTS),
        (502, None, UpstreamError, ATTEMPTS),
        (503, None, UpstreamUnavailable, ATTEMPTS),
        (400, "1132", UpstreamError, 1),
        (403, "4121", UpstreamError, 1),
        (404, None, UpstreamError, 1),
    ],
)
async def test_each_cpapi_error_becomes_its_erc_error(
    adapter: AdobeCPAPIAdapter,
    emulator: CPAPIEmulator,
    status: int,
    code: str | None,
    expected: type[AdapterError],
    attempts: int,
) -> None:
    order_path = f"/v3/customers/{LARKSPUR}/orders/5120008217"
    emulator.fail_next(status, code, times=attempts, path=order_path)

    with pytest.raises(AdapterError) as caught:
        await adapter.get_order(LARKSPUR, "5120008217")

    assert type(caught.value) is expected
    # the returns, asked alongside the order, are dropped with it
    calls = [call for call in emulator.cpapi_exchanges if call.path == order_path]
    assert len(calls) == attempts
    assert len({call.correlation_id for call in calls}) == attempts  # every answer ends an intent


@pytest.mark.parametrize("code", ["4119", "4120"])
async def test_a_request_the_platform_calls_malformed_is_logged_as_ours(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, code: str
) -> None:
    emulator.fail_next(400, code)

    with structlog.testing.capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_customer(LARKSPUR)

    [entry] = [entry for entry in logs if entry["event"] == "platform_rejected_request"]
    assert (entry["log_level"], entry["code"]) == ("error", code)
    assert entry["correlation_id"] == emulator.cpapi_exchanges[0].correlation_id


async def test_a_failure_in_the_middle_of_the_history_fails_the_page(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.max_limit = 25
    emulator.fail_next(500, "1124", after=1, times=ATTEMPTS)
    request = OrderListRequest(customer_id=BUSY, limit=5, sort=OrderSort(descending=False))

    with pytest.raises(UpstreamError):
        await adapter.list_orders(request)

    assert [(e.param("offset"), e.status) for e in emulator.cpapi_exchanges] == [
        ("0", 200),
        *[("25", 500)] * ATTEMPTS,
    ]


async def test_an_unusable_body_is_an_upstream_error_naming_the_field(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.fixtures.order("5120008217")["lineItems"][0]["quantity"] = "five"

    with structlog.testing.capture_logs() as logs, pytest.raises(UpstreamError):
        await adapter.get_order(LARKSPUR, "5120008217")

    [entry] = [entry for entry in logs if entry["event"] == "platform_body_unusable"]
    assert entry["field"] == "lineItems.0.quantity"


async def test_a_body_that_is_not_json_is_an_upstream_error(settings: AdobeSettings) -> None:
    maintenance = Step(body=b"<html>maintenance</html>", headers={"content-type": "text/html"})

    paths = await paths_of_a_failed_customer_read(settings, TOKEN, maintenance)

    assert paths == [TOKEN_PATH, f"/v3/customers/{LARKSPUR}"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"access_token": "", "expires_in": 86399}, id="blank token"),
        pytest.param({"access_token": "t"}, id="no lifetime"),
        pytest.param({"access_token": "t", "expires_in": "soon"}, id="lifetime not a number"),
        pytest.param({"access_token": "t", "expires_in": 0}, id="lifetime zero"),
        pytest.param(["not", "an", "object"], id="not an object"),
    ],
)
async def test_an_unusable_token_answer_is_an_upstream_error(
    settings: AdobeSettings, body: Any
) -> None:
    paths = await paths_of_a_failed_customer_read(settings, Step(body=orjson.dumps(body)))

    assert paths == ["/ims/token/v3"]


async def paths_of_a_failed_customer_read(settings: AdobeSettings, *steps: Step) -> list[str]:
    """Reads a customer from a platform that answers with `steps`, expecting UpstreamError:
    the paths the platform was asked for."""
    with scripted(*steps) as (platform, url):
        adapter = await opened(at(settings, url))
        try:
            with pytest.raises(UpstreamError):
                await adapter.get_customer(LARKSPUR)
        finally:
            await adapter.close()
    return [request["path"] for request in platform.requests]


async def test_an_unreachable_platform_is_unavailable(settings: AdobeSettings) -> None:
    closed = "http://127.0.0.1:9"
    unreachable = settings.model_copy(
        update={"cpapi_base_url": closed, "ims_url": closed + "/ims/token/v3"}
    )
    adapter = await opened(unreachable)
    try:
        with pytest.raises(UpstreamUnavailable):
            await adapter.get_customer(LARKSPUR)
    finally:
        await adapter.close()


# Settings

ENV = {
    "ADOBE_CPAPI_BASE_URL": "https://partners.example.com",
    "ADOBE_IMS_URL": "https://ims.example.com/ims/token/v3",
    "ADOBE_CLIENT_ID": "client",
    "ADOBE_CLIENT_SECRET": "env-secret-value",
    "ADOBE_IMS_SCOPES": "openid,AdobeID",
}


def test_settings_come_from_adobe_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**ENV, "ADOBE_HISTORY_START": "2019-05-02"}.items():
        monkeypatch.setenv(name, value)

    settings = AdobeSettings(_env_file=None)

    assert settings.history_start == date(2019, 5, 2)
    assert settings.offer_catalog is None
    assert settings.client_secret.get_secret_value() == "env-secret-value"
    assert "env-secret-value" not in repr(settings)


def test_the_history_start_defaults_to_2000(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    assert AdobeSettings(_env_file=None).history_start == date(2000, 1, 1)


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ADOBE_CPAPI_BASE_URL", None, "cpapi_base_url"),
        ("ADOBE_CPAPI_BASE_URL", "partners.example.com", "cpapi_base_url"),
        ("ADOBE_IMS_URL", "ftp://ims.example.com/token", "ims_url"),
        ("ADOBE_CLIENT_ID", " ", "client_id"),
        ("ADOBE_CLIENT_SECRET", "", "client_secret"),
        ("ADOBE_IMS_SCOPES", None, "ims_scopes"),
        ("ADOBE_HISTORY_START", "last year", "history_start"),
    ],
)
def test_missing_or_malformed_settings_name_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None, field: str
) -> None:
    for name, good in ENV.items():
        monkeypatch.setenv(name, good)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as caught:
        AdobeSettings(_env_file=None)

    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
