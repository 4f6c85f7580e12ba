"""The five ERC routes served by the bridge with the Adobe CPAPI adapter and its emulator."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from tests.conftest import FAST_SHORT_READ, decode
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.adobe_fixtures import (
    ACROBAT,
    BUSY,
    LARKSPUR,
    LISTED_TYPES,
    MATRIX,
    PREVIEWS_ONLY,
    QUIET,
    STATUSES,
    UNLISTED,
    default_fixtures,
    matrix_order_id,
)
from tests.erc_contract import check
from tests.platform_settings import adobe_settings

R = "/erc/ecommerce/connections"
FIXTURES = default_fixtures()
BUSY_NEWEST_FIRST = [
    o["orderId"]
    for o in sorted(FIXTURES.orders[BUSY], key=lambda o: o["creationDate"], reverse=True)
    if o["orderType"] in LISTED_TYPES
]


def make_emulator() -> CPAPIEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return CPAPIEmulator()


@pytest.fixture
def bridge(
    make_client: Callable[..., TestClient],
    served: tuple[CPAPIEmulator, str],
    emulator: CPAPIEmulator,
) -> TestClient:
    settings = adobe_settings(emulator, served[1])
    return make_client(AdobeCPAPIAdapter(settings, http=FAST_SHORT_READ), cache_ttl_s=0)


def next_cursor(body: dict[str, Any]) -> str | None:
    link = body["_links"].get("next")
    if link is None:
        return None
    href: str = link["href"]
    return parse_qs(urlsplit(href).query)["cursor"][0]


def walk(bridge: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of an order list, following `_links.next`."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = bridge.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        check(body, "orders_page")
        pages.append(body)
        cursor = next_cursor(body)
        if cursor is None:
            return pages
        assert len(pages) < 100


def order_ids(pages: list[dict[str, Any]]) -> list[str]:
    return [order["id"] for page in pages for order in page["_embedded"]["orders"]]


def test_r1_customer(bridge: TestClient) -> None:
    response = bridge.get(f"{R}/customers/{LARKSPUR}")

    assert response.status_code == 200
    body = response.json()
    check(body, "customer")
    assert (body["first_name"], body["last_name"]) == ("Maren", "Okafor")
    assert body["customer_since"] == "2021-03-15T10:20:00.000Z"
    assert body["shipping_addresses"] == [
        {
            "first_name": "Maren",
            "last_name": "Okafor",
            "phone_number": "+1 503 555 0142",
            "address": "2200 NW Thurman St, Suite 400",
            "zip_code": "97210",
            "city": "Portland",
            "region_code": "US-OR",
            "country_code": "US",
            "default": True,
        }
    ]


def test_r2_pages_skip_returns_and_previews_and_reach_three_years_back(
    bridge: TestClient,
) -> None:
    pages = walk(bridge, f"{R}/customers/{BUSY}/orders", limit=7)

    assert order_ids(pages) == BUSY_NEWEST_FIRST
    assert len(pages) == 9
    oldest = pages[-1]["_embedded"]["orders"][-1]
    assert oldest["purchase_datetime"] == "2022-07-12T08:30:00.000Z"
    orders = [order for page in pages for order in page["_embedded"]["orders"]]
    assert {order["delivery_type"] for order in orders} == {"UNKNOWN"}


def test_r2_oldest_first_over_many_pages(bridge: TestClient) -> None:
    pages = walk(bridge, f"{R}/customers/{BUSY}/orders", limit=8, order_by="purchase_datetime:asc")

    assert order_ids(pages) == list(reversed(BUSY_NEWEST_FIRST))


def test_r2_order_number_and_search(bridge: TestClient) -> None:
    by_number = walk(bridge, f"{R}/customers/{BUSY}/orders", limit=25, order_by="order_number:asc")
    searched = walk(bridge, f"{R}/customers/{BUSY}/orders", limit=2, search="303")

    assert order_ids(by_number) == sorted(BUSY_NEWEST_FIRST, key=int)
    assert order_ids(searched) == [i for i in BUSY_NEWEST_FIRST if "303" in i]


def test_r2_orders_carry_status_prices_and_custom_fields(bridge: TestClient) -> None:
    response = bridge.get(f"{R}/customers/{LARKSPUR}/orders")

    body = decode(response)
    orders = body["_embedded"]["orders"]
    assert [order["order_number"] for order in orders] == [
        "5120008217",
        "5120007702",
        "5120007391",
        "5120006120",
        "5110004417",
    ]
    first = orders[0]
    assert first["status"] == "DELIVERED"
    assert first["items_number"] == 2
    assert first["price_summary"]["final_total_amount"] == {
        "value": Decimal("1499.40"),
        "currency": "USD",
    }
    assert first["custom_fields"]["order_type"] == "NEW"
    assert orders[3]["cancellation_status"] == "CANCELED"
    assert "next" not in body["_links"]


@pytest.mark.parametrize("customer_id", [QUIET, PREVIEWS_ONLY])
def test_r2_without_listable_orders_is_an_empty_list(bridge: TestClient, customer_id: str) -> None:
    response = bridge.get(f"{R}/customers/{customer_id}/orders")

    assert response.status_code == 200
    assert response.json()["_embedded"] == {"orders": []}


def test_a_cursor_for_another_customer_is_refused_without_a_platform_call(
    bridge: TestClient, emulator: CPAPIEmulator
) -> None:
    first = bridge.get(f"{R}/customers/{BUSY}/orders", params={"limit": 5}).json()
    calls_before = len(emulator.cpapi_exchanges)

    response = bridge.get(
        f"{R}/customers/{LARKSPUR}/orders", params={"limit": 5, "cursor": next_cursor(first)}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    assert len(emulator.cpapi_exchanges) == calls_before


@pytest.mark.parametrize("order_type", LISTED_TYPES)
@pytest.mark.parametrize(
    ("code", "generic", "detailed", "cancelled"),
    [
        ("1008", "UNKNOWN", "UNKNOWN", True),
        ("1000", "DELIVERED", "DELIVERED", False),
        ("1002", "CONFIRMED", "CONFIRMED", False),
        ("1004", "UNKNOWN", "FAILURE", False),
        ("1020", "UNKNOWN", "FAILURE", False),
        ("1022", "UNKNOWN", "FAILURE", False),
        ("1024", "UNKNOWN", "FAILURE", False),
        ("1026", "UNKNOWN", "FAILURE", False),
        ("1030", "UNKNOWN", "UNKNOWN", False),
    ],
)
def test_r3_every_status_row(
    bridge: TestClient, order_type: str, code: str, generic: str, detailed: str, cancelled: bool
) -> None:
    assert code in STATUSES
    order_id = matrix_order_id(order_type, code)

    response = bridge.get(f"{R}/customers/{MATRIX}/orders/{order_id}")

    assert response.status_code == 200
    body = response.json()
    check(body, "order_detail")
    assert body["order_extra_info"]["latest_status_info"] == {
        "generic_type": generic,
        "detailed_type": detailed,
    }
    assert ("cancellation_status" in body) is cancelled
    assert body["custom_fields"]["cpapi_status"] == code


def test_r3_order_detail(bridge: TestClient) -> None:
    response = bridge.get(f"{R}/customers/{LARKSPUR}/orders/5120008217")

    body = decode(response)
    check(response.json(), "order_detail")
    assert body["order_number"] == "5120008217"
    assert body["delivery_type"] == "UNKNOWN"
    assert body["items_number"] == 2
    assert body["order_extra_info"]["highlighted_item_image_url"] == (
        "https://cdn.example.com/offers/acrobat-pro.png"
    )
    assert body["price_summary"]["original_total_amount"]["value"] == Decimal("1499.4")
    assert body["custom_fields"]["return_order_ids"] == ["5120008390"]
    assert body["custom_fields"]["external_reference_id"] == "PO-88413"
    assert "shipping_address" not in body and "billing_address" not in body


def test_r3_without_a_price_for_every_item_has_no_price_summary(bridge: TestClient) -> None:
    body = bridge.get(f"{R}/customers/{LARKSPUR}/orders/5120007702").json()

    assert "price_summary" not in body


@pytest.mark.parametrize(
    ("customer_id", "order_id"),
    [
        (BUSY, "5120008217"),  # another customer's order
        (LARKSPUR, "5120008390"),  # a return
        (LARKSPUR, "5120008401"),  # a preview
        (LARKSPUR, "5129999999"),  # no such order
        ("1000000000", "5120008217"),  # no such customer
    ],
)
def test_r3_r4_orders_that_are_not_this_customers_orders_are_404(
    bridge: TestClient, customer_id: str, order_id: str
) -> None:
    for suffix in ("", "/items"):
        response = bridge.get(f"{R}/customers/{customer_id}/orders/{order_id}{suffix}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_r4_items(bridge: TestClient) -> None:
    response = bridge.get(f"{R}/customers/{LARKSPUR}/orders/5120008217/items")

    body = decode(response)
    check(response.json(), "items_page")
    acrobat, unlisted = body["_embedded"]["items"]
    assert (acrobat["id"], acrobat["sku"]) == ("1", ACROBAT)
    assert acrobat["name"] == "Acrobat Pro for teams"
    assert acrobat["price"] == {"value": Decimal("239.88"), "currency": "USD"}
    assert (unlisted["name"], unlisted["price"]["value"]) == (UNLISTED, Decimal("150"))
    assert unlisted["custom_fields"]["cpapi_status"] == "1008"


def test_r4_items_sorted_by_price(bridge: TestClient) -> None:
    response = bridge.get(
        f"{R}/customers/{LARKSPUR}/orders/5120008217/items", params={"order_by": "price:asc"}
    )

    assert [item["id"] for item in response.json()["_embedded"]["items"]] == ["2", "1"]


def test_r5_skips_previews_and_returns(bridge: TestClient) -> None:
    response = bridge.get(f"{R}/customers/{LARKSPUR}/most-recent-order")

    body = response.json()
    check(body, "most_recent_order")
    assert body["id"] == "5120008217"
    assert body["status_info"] == [
        {"generic_type": "CONFIRMED", "detailed_type": "CONFIRMED"},
        {"generic_type": "DELIVERED", "detailed_type": "DELIVERED"},
    ]
    assert body["status_info_current_index"] == 1
    assert body["highlighted_item"]["sku"] == ACROBAT


@pytest.mark.parametrize("customer_id", [QUIET, PREVIEWS_ONLY, "1000000000"])
def test_r5_without_listable_orders_is_404(bridge: TestClient, customer_id: str) -> None:
    response = bridge.get(f"{R}/customers/{customer_id}/most-recent-order")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("status", "code", "http", "erc_code"),
    [
        (403, "4115", 503, "upstream_unavailable"),
        (403, "4117", 503, "upstream_unavailable"),
        (400, "4119", 502, "upstream_error"),
        (400, "4120", 502, "upstream_error"),
        (500, "1124", 502, "upstream_error"),
        (429, "4118", 503, "upstream_unavailable"),
    ],
)
def test_cpapi_errors_become_erc_errors(
    bridge: TestClient, emulator: CPAPIEmulator, status: int, code: str, http: int, erc_code: str
) -> None:
    emulator.fail_next(status, code, times=FAST_SHORT_READ.attempts)

    response = bridge.get(f"{R}/customers/{LARKSPUR}")

    assert response.status_code == http
    body = response.json()
    assert body["code"] == erc_code
    assert set(body) <= {"code", "message", "description", "fields"}


def test_a_rejected_token_is_renewed_behind_the_route(
    bridge: TestClient, emulator: CPAPIEmulator
) -> None:
    assert bridge.get(f"{R}/customers/{LARKSPUR}").status_code == 200
    emulator.expire_tokens()

    response = bridge.get(f"{R}/customers/{QUIET}")

    assert response.status_code == 200
    assert len(emulator.token_exchanges) == 2


def test_platform_secrets_never_reach_a_response(
    bridge: TestClient, emulator: CPAPIEmulator
) -> None:
    emulator.fail_next(401, "4116", times=2)

    response = bridge.get(f"{R}/customers/{LARKSPUR}")

    assert response.status_code == 503
    token = (emulator.cpapi_exchanges[0].header("authorization") or "").removeprefix("Bearer ")
    assert token not in response.text
    assert emulator.client_secret not in response.text
