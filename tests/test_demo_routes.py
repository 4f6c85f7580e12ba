"""Every demo customer and order through every route, checked against the ERC tables."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import R, decode
from tests.erc_contract import GENERIC_OF, check

RAW = json.loads(resources.files("adapters").joinpath("data/demo_store.json").read_text())
CUSTOMERS = [c["id"] for c in RAW["customers"]]
ORDERS = [(o["customer_id"], o["id"]) for o in RAW["orders"]]
RAW_ORDERS = {o["id"]: o for o in RAW["orders"]}


def money(value: dict[str, Any]) -> Decimal:
    return Decimal(value["value"])


def assert_price_summary_balances(summary: dict[str, Any], tax_included: bool) -> None:
    taxes = Decimal(0) if tax_included else money(summary["taxes_amount"])
    expected = (
        money(summary["original_total_amount"])
        - money(summary["discounts_amount"])
        + money(summary["shipping_amount"])
        + taxes
    )
    assert money(summary["final_total_amount"]) == expected


@pytest.mark.parametrize("customer_id", CUSTOMERS)
def test_customer_body_follows_the_erc_table(client: TestClient, customer_id: str) -> None:
    response = client.get(f"{R}/customers/{customer_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = decode(response)
    check(body, "customer")
    assert body["id"] == customer_id
    raw = next(c for c in RAW["customers"] if c["id"] == customer_id)
    assert len(body.get("shipping_addresses", [])) == len(raw["addresses"])
    assert body["_links"]["self"]["href"] == f"http://testserver{R}/customers/{customer_id}"


@pytest.mark.parametrize(("customer_id", "order_id"), ORDERS)
def test_order_detail_follows_seed_001(client: TestClient, customer_id: str, order_id: str) -> None:
    body = decode(client.get(f"{R}/customers/{customer_id}/orders/{order_id}"))
    check(body, "order_detail")
    raw = RAW_ORDERS[order_id]
    assert (body["id"], body["order_number"], body["customer_id"]) == (
        order_id,
        raw["number"],
        customer_id,
    )
    assert body["items_number"] == len(raw["items"])
    assert_price_summary_balances(body["price_summary"], raw["tax_included"])
    assert {m["currency"] for m in body["price_summary"].values()} == {raw["currency"]}
    latest = body["order_extra_info"]["latest_status_info"]
    assert GENERIC_OF[latest["detailed_type"]] == latest["generic_type"]
    assert ("cancellation_status" in body) == raw.get("cancelled", False)
    if "card" in raw:
        assert body["payment_details"]["card_number"].endswith(raw["card"]["last4"])
        assert (
            raw["card"]["last4"] == body["payment_details"]["card_number"].replace("*", "").strip()
        )
    highest = max(raw["items"], key=lambda i: Decimal(i["unit_price"]))
    if highest.get("image_url"):
        assert body["order_extra_info"]["highlighted_item_image_url"] == highest["image_url"]


@pytest.mark.parametrize(("customer_id", "order_id"), ORDERS)
def test_items_follow_seed_000(client: TestClient, customer_id: str, order_id: str) -> None:
    body = decode(client.get(f"{R}/customers/{customer_id}/orders/{order_id}/items?limit=100"))
    check(body, "items_page")
    raw = RAW_ORDERS[order_id]
    items = body["_embedded"]["items"]
    assert [i["id"] for i in items] == [i["id"] for i in raw["items"]]
    for item, raw_item in zip(items, raw["items"], strict=True):
        assert item["price"] == {
            "value": Decimal(raw_item["unit_price"]),
            "currency": raw["currency"],
        }
        assert item["quantity"] == raw_item["quantity"]
        delivered = sum(d.get("delivery_quantity", 0) for d in item.get("deliveries", []))
        assert delivered == sum(raw_item.get("shipments", {}).values())


@pytest.mark.parametrize("customer_id", CUSTOMERS)
def test_orders_and_most_recent_order(client: TestClient, customer_id: str) -> None:
    listing = decode(client.get(f"{R}/customers/{customer_id}/orders?limit=100"))
    check(listing, "orders_page")
    orders = listing["_embedded"]["orders"]
    assert {o["id"] for o in orders} == {o for c, o in ORDERS if c == customer_id}
    recent = client.get(f"{R}/customers/{customer_id}/most-recent-order")
    if not orders:
        assert recent.status_code == 404
        check(decode(recent), "error")
        return
    body = decode(recent)
    check(body, "most_recent_order")
    assert body["id"] == orders[0]["id"]
    steps = [s["generic_type"] for s in body["status_info"]]
    index = body.get("status_info_current_index")
    if index is not None:
        current = body["status_info"][index]
        assert current["generic_type"] == orders[0]["status"]
        assert all("detailed_type" in s for s in body["status_info"][: index + 1])
    assert steps in (
        ["CONFIRMED", "ON_ITS_WAY", "OUT_FOR_DELIVERY", "DELIVERED"],
        ["CONFIRMED", "DELIVERED"],
    )


def test_demo_store_covers_every_status_and_currency(client: TestClient) -> None:
    detailed, generic, delivery_types, currencies = set(), set(), set(), set()
    for customer_id, order_id in ORDERS:
        body = decode(client.get(f"{R}/customers/{customer_id}/orders/{order_id}"))
        latest = body["order_extra_info"]["latest_status_info"]
        detailed.add(latest["detailed_type"])
        generic.add(latest["generic_type"])
        delivery_types.add(body["delivery_type"])
        currencies.add(body["price_summary"]["final_total_amount"]["currency"])
    assert detailed == set(GENERIC_OF)
    assert generic == set(GENERIC_OF.values())
    assert {"LOCAL_PICKUP", "SHIPPING", "LOCAL_DELIVERY", "UNKNOWN"} <= delivery_types
    assert {"EUR", "USD", "JPY", "KWD"} <= currencies


def test_order_with_two_deliveries_in_different_states(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_ana/orders/ord_1002/items"))
    deliveries = [d for i in body["_embedded"]["items"] for d in i["deliveries"]]
    assert len({d["id"] for d in deliveries}) == 2
    assert {d["latest_status_info"]["type"] for d in deliveries} == {"DELIVERED", "IN_TRANSIT"}
    assert all(d["tracking_info"]["tracking_number"] for d in deliveries)
    detail = decode(client.get(f"{R}/customers/cus_ana/orders/ord_1002"))
    assert detail["order_extra_info"]["latest_status_info"]["detailed_type"] == "IN_TRANSIT"


def test_cancelled_order_is_marked_canceled(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_ana/orders/ord_1003"))
    assert body["cancellation_status"] == "CANCELED"
    assert body["order_extra_info"]["latest_status_info"]["generic_type"] == "UNKNOWN"


def test_anonymized_address_fields_are_omitted(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_john/orders/ord_us_013"))
    assert body["shipping_address"] == {"region_code": "US-OR", "country_code": "US"}


def test_money_renders_per_currency_exponent(client: TestClient) -> None:
    jpy = client.get(f"{R}/customers/cus_yuki/orders/ord_2001").text
    assert '"final_total_amount":{"value":5280,"currency":"JPY"}' in jpy
    kwd = client.get(f"{R}/customers/cus_fatima/orders/ord_3001").text
    assert '"value":42.75,"currency":"KWD"' in kwd
    tiny = client.get(f"{R}/customers/cus_john/orders/ord_us_002").text
    assert '"original_total_amount":{"value":0.3,"currency":"USD"}' in tiny


def test_both_prefixes_serve_the_same_body(client: TestClient) -> None:
    path = "/customers/cus_ana/orders/ord_1001"
    canonical = decode(client.get(f"/erc/ecommerce/connections{path}"))
    short = decode(client.get(f"/erc/ecommerce{path}"))
    assert canonical["_links"]["self"]["href"].endswith(f"/erc/ecommerce/connections{path}")
    assert short["_links"]["self"]["href"].endswith(f"/erc/ecommerce{path}")
    canonical.pop("_links"), short.pop("_links")
    assert canonical == short


def test_self_link_repeats_path_and_query_under_the_public_url(make_client: Any) -> None:
    client = make_client(public_url="https://bridge.example.com/shop-1/")
    query = "limit=2&unknown=x%20y&order_by=order_number:asc"
    body = decode(client.get(f"{R}/customers/cus_john/orders?{query}"))
    known = "limit=2&order_by=order_number:asc"
    assert body["_links"]["self"]["href"] == (
        f"https://bridge.example.com/shop-1{R}/customers/cus_john/orders?{query}"
    )
    assert body["_links"]["next"]["href"].startswith(
        f"https://bridge.example.com/shop-1{R}/customers/cus_john/orders?{known}&cursor="
    )


def test_brand_is_carried_and_another_brand_is_not_found(make_client: Any) -> None:
    client = make_client(brand="Demo Outfitters")
    customer = decode(client.get(f"{R}/customers/cus_ana"))
    assert customer["brand"] == "Demo Outfitters"
    orders = decode(client.get(f"{R}/customers/cus_ana/orders?brand=demo%20outfitters"))
    assert {o["brand"] for o in orders["_embedded"]["orders"]} == {"Demo Outfitters"}
    assert (
        decode(client.get(f"{R}/customers/cus_ana/most-recent-order"))["brand"] == "Demo Outfitters"
    )
    other = client.get(f"{R}/customers/cus_ana/orders/ord_1001?brand=Other")
    assert other.status_code == 404
    assert decode(other)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("POST", "/customers/cus_ana/shipments/schedule"),
        ("GET", "/customers/shipments/available-slots"),
    ],
)
def test_a_slot_route_naming_another_brand_is_not_found(
    make_client: Any, method: str, route: str
) -> None:
    client = make_client(brand="Demo Outfitters")
    elsewhere = client.request(method, f"{R}{route}?brand=Other")
    here = client.request(method, f"{R}{route}?brand=Demo%20Outfitters")
    assert (elsewhere.status_code, decode(elsewhere)["code"]) == (404, "not_found")
    assert (here.status_code, decode(here)["code"]) == (501, "not_supported")


def test_no_brand_configured_means_no_brand_field(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_ana?brand=Anything"))
    assert "brand" not in body


def test_search_matches_order_numbers_case_insensitively(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_john/orders?search=us104&limit=100"))
    numbers = sorted(o["order_number"] for o in body["_embedded"]["orders"])
    assert numbers == [f"#US{n}" for n in range(1040, 1046)]
    none = decode(client.get(f"{R}/customers/cus_john/orders?search=zzz"))
    assert none["_embedded"]["orders"] == []
    assert "next" not in none["_links"]
