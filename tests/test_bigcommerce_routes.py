"""The five ERC routes served by the bridge with the BigCommerce adapter and its emulator."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from adapters.bigcommerce import BigCommerceAdapter
from tests.conftest import FAST, R, decode
from tests.emulators import bigcommerce_fixtures as fx
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.erc_contract import check
from tests.platform_settings import bigcommerce_settings

STORE = fx.default_store()


def make_emulator() -> BigCommerceEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return BigCommerceEmulator(STORE)


@pytest.fixture
def bridge(
    make_client: Callable[..., TestClient],
    served: tuple[BigCommerceEmulator, str],
    emulator: BigCommerceEmulator,
) -> TestClient:
    settings = bigcommerce_settings(served[1])
    # The response cache is off so that every request reaches the platform.
    return make_client(BigCommerceAdapter(settings, http=FAST), cache_ttl_s=0)


def get(bridge: TestClient, path: str, table: str, **params: Any) -> dict[str, Any]:
    response = bridge.get(f"{R}{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = decode(response)
    check(body, table)
    return body


def money(summary: dict[str, Any]) -> dict[str, Decimal]:
    return {name: Decimal(value["value"]) for name, value in summary.items()}


def walk(bridge: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = get(bridge, path, "orders_page", **params, **({"cursor": cursor} if cursor else {}))
        orders += body["_embedded"]["orders"]
        link = body["_links"].get("next")
        if link is None:
            return orders
        cursor = parse_qs(urlsplit(link["href"]).query)["cursor"][0]


def test_r1_customer(bridge: TestClient) -> None:
    body = get(bridge, f"/customers/{fx.ANA}", "customer")
    assert body == {
        "id": "58",
        "first_name": "Ana",
        "last_name": "Ruiz",
        "customer_since": "2021-08-19T16:02:11.000Z",
        "shipping_addresses": [
            {
                "id": "1",
                "first_name": "Ana",
                "last_name": "Ruiz",
                "phone_number": "512-555-0133",
                "address": "55 Pine Ave",
                "zip_code": "78701",
                "city": "Austin",
                "region_code": "US-TX",
                "country_code": "US",
            },
            {
                "id": "2",
                "first_name": "Ana",
                "last_name": "Ruiz",
                "address": "300 Congress Ave, Floor 12",
                "zip_code": "78701",
                "city": "Austin",
                "region_code": "US-TX",
                "country_code": "US",
            },
        ],
        "custom_fields": {"email": "ana.ruiz@example.com"},
        "_links": {"self": {"href": f"http://testserver{R}/customers/58"}},
    }


def test_r2_lists_newest_first_with_statuses(bridge: TestClient) -> None:
    orders = walk(bridge, f"/customers/{fx.ANA}/orders", limit=4)
    assert [o["id"] for o in orders] == STORE.newest_first(fx.ANA)
    by_id = {o["id"]: o for o in orders}
    assert by_id[fx.ORDER_SHIPPED]["status"] == "ON_ITS_WAY"
    assert by_id[fx.ORDER_COMPLETED]["status"] == "DELIVERED"
    assert by_id[fx.ORDER_CANCELLED]["cancellation_status"] == "CANCELED"
    assert by_id[fx.ORDER_PICKUP]["delivery_type"] == "LOCAL_PICKUP"
    assert by_id[fx.ORDER_DIGITAL]["delivery_type"] == "UNKNOWN"
    assert by_id[fx.ORDER_DECLINED]["status"] == "UNKNOWN"
    assert by_id[fx.ORDER_IMPORTED]["custom_fields"]["external_id"] == "AMZ-114-5531"
    assert "items_number" not in by_id[fx.ORDER_SHIPPED]  # lines are not read for a list


def test_r2_by_order_number_and_search(bridge: TestClient) -> None:
    numbers = walk(bridge, f"/customers/{fx.ANA}/orders", order_by="order_number:asc", limit=3)
    assert [o["order_number"] for o in numbers] == sorted(STORE.newest_first(fx.ANA), key=int)
    found = walk(bridge, f"/customers/{fx.ANA}/orders", search="226")
    assert [o["id"] for o in found] == [fx.ORDER_REFUNDED, fx.ORDER_DECLINED]


def test_r3_reference_order(bridge: TestClient) -> None:
    body = get(bridge, f"/customers/{fx.ANA}/orders/{fx.ORDER_SHIPPED}", "order_detail")
    assert money(body["price_summary"]) == {
        "original_total_amount": Decimal("80"),
        "discounts_amount": Decimal("0"),
        "shipping_amount": Decimal("9.95"),
        "taxes_amount": Decimal("6.4"),
        "final_total_amount": Decimal("96.35"),
    }
    assert body["order_extra_info"]["latest_status_info"] == {
        "generic_type": "ON_ITS_WAY",
        "detailed_type": "IN_TRANSIT",
        "status_date_time": "2025-05-13T09:19:58.000Z",
    }
    assert body["purchase_datetime"] == "2025-05-12T14:03:51.000Z"
    assert body["shipping_address"]["region_code"] == "US-TX"
    assert body["items_number"] == 1
    assert body["payment_details"] == {"is_refunded": False}


@pytest.mark.parametrize(
    ("customer", "order", "expected"),
    [
        (fx.ANA, fx.ORDER_AWAITING_FULFILLMENT, ("138", "15", "0", "9.84", "132.84")),
        (fx.ANA, fx.ORDER_COMPLETED, ("66.75", "0", "13", "5.51", "85.26")),
        (fx.ANA, fx.ORDER_PENDING, ("0.3", "0", "0", "0", "0.3")),
        (fx.LUKAS, fx.ORDER_EUR, ("178.7", "10", "4.9", "27.72", "173.6")),
        (fx.KENJI, fx.ORDER_JPY, ("4800", "0", "800", "480", "6080")),
    ],
)
def test_r3_price_summaries(
    bridge: TestClient, customer: str, order: str, expected: tuple[str, ...]
) -> None:
    body = get(bridge, f"/customers/{customer}/orders/{order}", "order_detail")
    summary = money(body["price_summary"])
    assert tuple(summary.values()) == tuple(Decimal(value) for value in expected)
    taxes = 0 if order == fx.ORDER_EUR else summary["taxes_amount"]
    assert summary["final_total_amount"] == (
        summary["original_total_amount"]
        - summary["discounts_amount"]
        + summary["shipping_amount"]
        + taxes
    )


def test_r4_items_with_their_parcels(bridge: TestClient) -> None:
    body = get(
        bridge,
        f"/customers/{fx.ANA}/orders/{fx.ORDER_PARTIAL}/items",
        "items_page",
        order_by="price:desc",
    )
    items = body["_embedded"]["items"]
    assert [(i["sku"], i["price"]["value"]) for i in items] == [
        ("TNT-UL2", 349),
        ("TNT-FTP", 45),
        ("STK-SET", 19),
    ]
    stakes = items[2]
    assert [(d["id"], d["delivery_quantity"]) for d in stakes["deliveries"]] == [
        ("331", 2),
        ("332", 2),
    ]
    assert stakes["deliveries"][1]["tracking_info"]["tracking_number"] == "794698547399"
    assert "deliveries" not in items[1]


def test_r5_most_recent_order(bridge: TestClient) -> None:
    body = get(bridge, f"/customers/{fx.KENJI}/most-recent-order", "most_recent_order")
    assert body["id"] == fx.ORDER_JPY
    assert body["status_info"] == [
        {"generic_type": "CONFIRMED", "detailed_type": "CONFIRMED"},
        {
            "generic_type": "ON_ITS_WAY",
            "detailed_type": "IN_TRANSIT",
            "status_date_time": "2025-06-02T01:00:00.000Z",
        },
        {"generic_type": "OUT_FOR_DELIVERY"},
        {"generic_type": "DELIVERED"},
    ]
    assert body["status_info_current_index"] == 1
    assert body["tracking_info"] == {
        "tracking_number": "4455-6677-8899",
        "external_url": "https://track.example-carrier.test/4455-6677-8899",
    }
    assert body["highlighted_item"]["price"] == {"value": 4800, "currency": "JPY"}


@pytest.mark.parametrize(
    "path",
    [
        f"/customers/{fx.ANA}/orders/{fx.ORDER_EUR}",
        f"/customers/{fx.ANA}/orders/{fx.ORDER_GUEST}/items",
        f"/customers/0/orders/{fx.ORDER_GUEST}",
        "/customers/0/orders",
        "/customers/0",
        f"/customers/{fx.LUKAS}/orders/{fx.ORDER_SHIPPED}",
    ],
)
def test_orders_of_others_and_guests_are_404(
    bridge: TestClient, emulator: BigCommerceEmulator, path: str
) -> None:
    response = bridge.get(f"{R}{path}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    # At most the order itself was read: not its lines, and never a list of guest orders.
    assert all(r.resource.startswith("/v2/orders/") for r in emulator.requests)
    assert all(r.resource.count("/") == 3 for r in emulator.requests)


def test_a_refused_token_is_503_and_names_the_variable_not_the_token(
    bridge: TestClient, emulator: BigCommerceEmulator
) -> None:
    emulator.fail_next(401)
    response = bridge.get(f"{R}/customers/{fx.ANA}")
    assert response.status_code == 503
    assert response.json()["code"] == "upstream_unavailable"
    assert "BIGCOMMERCE_ACCESS_TOKEN" in response.json()["message"]
    assert fx.ACCESS_TOKEN not in response.text


def test_a_used_up_quota_is_503_with_retry_after(
    bridge: TestClient, emulator: BigCommerceEmulator
) -> None:
    emulator.limit_rate(quota=1, window_ms=30_000)
    assert bridge.get(f"{R}/customers/{fx.ANA}").status_code == 200
    response = bridge.get(f"{R}/customers/{fx.LUKAS}")
    assert response.status_code == 503
    assert response.json()["code"] == "upstream_unavailable"
    assert 29 <= int(response.headers["retry-after"]) <= 30
    assert len(emulator.requests) == 1  # the quota was respected: no call made


def test_r7_each_page_has_the_limit_its_request_asks(bridge: TestClient) -> None:
    """The cursor says where the next page starts, not how long it is."""
    visible = [str(p["id"]) for p in STORE.catalog if p["is_visible"]]
    shown: list[list[str]] = []
    cursor: dict[str, str] = {}
    for limit in (6, 2, 100):
        response = bridge.get(f"{R}/products", params={"limit": limit, **cursor})
        assert response.status_code == 200, response.text
        body = decode(response)
        shown.append([p["id"] for p in body["_embedded"]["products"]])
        link = body["_links"].get("next")
        cursor = {"cursor": parse_qs(urlsplit(link["href"]).query)["cursor"][0]} if link else {}
    assert shown == [visible[:6], visible[6:8], visible[8:]]
    assert cursor == {}
