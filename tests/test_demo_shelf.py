"""R6 shipments, R7 products, R8 cart and the delivery slot routes over the demo store:
bodies, paging, filters, the cache's isolation, writes seen in reads, and every bad
parameter refused before the adapter is called."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from bridge.auth import CUSTOMERS_READ, ORDERS_READ
from tests.conformance.shelf_contract import check
from tests.conftest import CLIENT_ID, CLIENT_SECRET, TOKEN_SECRET, R, RecordingDemoAdapter, decode
from tests.test_oauth import token_for

SHIPMENTS = f"{R}/customers/cus_ana/shipments"
PRODUCTS = f"{R}/products"
CART = f"{R}/customers/cart"
SCHEDULE = f"{R}/customers/cus_ana/shipments/schedule"
SLOTS = f"{R}/customers/shipments/available-slots"


@pytest.fixture
def cached(make_client: Callable[..., TestClient], recorder: RecordingDemoAdapter) -> TestClient:
    return make_client(recorder, cache_ttl_s=60)


def ok(response: httpx2.Response, table: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = decode(response)
    check(body, table)
    return body


def refused(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    body: dict[str, Any] = decode(response)
    check(body, "error")
    return body


def cursor_of(body: dict[str, Any]) -> str:
    href: str = body["_links"]["next"]["href"]
    return parse_qs(urlsplit(href).query)["cursor"][0]


# R6


def test_shipments_of_ana_newest_first_with_both_parcels_of_one_order(client: TestClient) -> None:
    body = ok(client.get(SHIPMENTS), "shipments_page")
    shipments = body["_embedded"]["shipments"]
    assert [s["id"] for s in shipments] == [
        "shp_1005",  # not sent yet: ranked by its order's date
        "shp_1004",
        "shp_1002_2",
        "shp_1002_1",
        "shp_1001",
    ]
    assert {s["order_id"] for s in shipments if s["id"].startswith("shp_1002")} == {"ord_1002"}
    second = next(s for s in shipments if s["id"] == "shp_1002_2")
    assert second["latest_status_info"] == "IN_TRANSIT"
    assert second["tracking_info"] == {
        "tracking_number": "RR987654321PT",
        "tracking_carrier": "CTT",
        "external_url": second["tracking_info"]["external_url"],
    }
    assert all(item["quantity"].isdigit() for item in second["items"])
    assert int(second["delivery_quantity"]) == sum(int(i["quantity"]) for i in second["items"])
    assert body["_links"] == {"self": {"href": f"http://testserver{SHIPMENTS}"}}


def test_shipments_page_with_a_cursor_bound_to_the_filters(client: TestClient) -> None:
    first = ok(client.get(SHIPMENTS, params={"limit": 2}), "shipments_page")
    cursor = cursor_of(first)
    second = ok(client.get(SHIPMENTS, params={"limit": 2, "cursor": cursor}), "shipments_page")
    ids = [s["id"] for s in first["_embedded"]["shipments"] + second["_embedded"]["shipments"]]
    assert ids == ["shp_1005", "shp_1004", "shp_1002_2", "shp_1002_1"]
    moved = client.get(SHIPMENTS, params={"cursor": cursor, "order_id": "ord_1002"})
    refused(moved, 400, "invalid_cursor")
    elsewhere = client.get(f"{R}/customers/cus_john/shipments", params={"cursor": cursor})
    refused(elsewhere, 400, "invalid_cursor")


def test_shipments_filters(client: TestClient) -> None:
    by_order = ok(client.get(SHIPMENTS, params={"order_id": "ord_1002"}), "shipments_page")
    assert [s["id"] for s in by_order["_embedded"]["shipments"]] == ["shp_1002_2", "shp_1002_1"]
    by_number = ok(
        client.get(SHIPMENTS, params={"tracking_number": "RR123456785PT"}), "shipments_page"
    )
    assert [s["id"] for s in by_number["_embedded"]["shipments"]] == ["shp_1001"]
    printed_otherwise = ok(
        client.get(SHIPMENTS, params={"tracking_number": " rr123456785pt "}), "shipments_page"
    )
    assert printed_otherwise["_embedded"]["shipments"] == by_number["_embedded"]["shipments"]
    unshipped = ok(client.get(SHIPMENTS, params={"order_id": "ord_1003"}), "shipments_page")
    assert unshipped["_embedded"]["shipments"] == []


@pytest.mark.parametrize("order_id", ["ord_us_001", "ord_nope"], ids=["johns", "unknown"])
def test_shipments_of_an_order_not_the_customers_are_404(client: TestClient, order_id: str) -> None:
    """Another customer's order is answered exactly like a missing one, as on every platform."""
    body = refused(client.get(SHIPMENTS, params={"order_id": order_id}), 404, "not_found")
    assert "cus_ana" in body["message"] and order_id in body["message"]


def test_shipments_of_an_unknown_customer_are_404(client: TestClient) -> None:
    refused(client.get(f"{R}/customers/cus_nobody/shipments"), 404, "not_found")


def test_a_changed_address_shows_in_the_shipments(make_client: Callable[..., TestClient]) -> None:
    client = make_client(writes=True)
    new = {"address": "Rua Nova 7", "city": "Porto", "zip_code": "4000-001", "country_code": "PT"}
    changed = client.post(
        f"{R}/customers/cus_ana/orders/ord_1005/change-shipping-address", json=new
    )
    assert changed.status_code == 200, changed.text
    body = ok(client.get(SHIPMENTS, params={"order_id": "ord_1005"}), "shipments_page")
    (parcel,) = body["_embedded"]["shipments"]
    assert (parcel["shipping_address"]["address"], parcel["shipping_address"]["city"]) == (
        "Rua Nova 7",
        "Porto",
    )


# R7


def test_products_with_variants_and_one_sold_out(client: TestClient) -> None:
    body = ok(client.get(PRODUCTS), "products_page")
    products = {p["id"]: p for p in body["_embedded"]["products"]}
    assert len(products) == 7
    blanket = products["prd_wool_blanket"]
    assert {v["available_quantity"] for v in blanket["variants"]} == {0}
    shirt = products["prd_linen_shirt"]
    assert shirt["options"] == [
        {"name": "Colour", "values": ["White", "Blue"]},
        {"name": "Size", "values": ["S", "M", "L"]},
    ]
    blue_m = next(v for v in shirt["variants"] if v["id"] == "var_linen_blue_m")
    assert blue_m == {
        "id": "var_linen_blue_m",
        "sku": "LS-BLU-M",
        "price": {"value": Decimal("52.9"), "currency": "EUR"},
        "images_ids": ["img_linen_blue"],
        "options": {"Colour": "Blue", "Size": "M"},
        "available_quantity": 5,
    }
    assert "options" not in products["prd_canvas_tote"]  # one variant, nothing to choose


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("LINEN", ["prd_linen_shirt"]),
        ("es-nvy", ["prd_espadrilles"]),  # a variant's SKU
        ("lisbon", ["prd_sardine_print"]),  # the description
        ("nothing-like-this", []),
    ],
)
def test_product_search(client: TestClient, search: str, expected: list[str]) -> None:
    body = ok(client.get(PRODUCTS, params={"search": search}), "products_page")
    assert [p["id"] for p in body["_embedded"]["products"]] == expected


def test_products_page_through_the_catalog(client: TestClient) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        body = ok(client.get(PRODUCTS, params=params), "products_page")
        seen += [p["id"] for p in body["_embedded"]["products"]]
        if "next" not in body["_links"]:
            break
        params = {"limit": 3, "cursor": cursor_of(body)}
    assert len(seen) == len(set(seen)) == 7


# R8


def test_anas_cart_by_customer_and_by_id_with_its_discounts(client: TestClient) -> None:
    by_customer = ok(client.get(CART, params={"customer_id": "cus_ana"}), "cart")
    by_id = ok(client.get(CART, params={"cart_id": "crt_ana_current"}), "cart")
    assert by_customer["_links"]["self"]["href"] == f"http://testserver{CART}?customer_id=cus_ana"
    assert by_id["_links"]["self"]["href"] == f"http://testserver{CART}?cart_id=crt_ana_current"
    del by_customer["_links"], by_id["_links"]
    assert by_customer == by_id
    assert by_id["cost"] == {
        "base_amount": "119.80",
        "discounts_amount": "15.58",
        "final_amount": "104.22",
        "taxes_amount": "19.49",
    }
    assert [d["discount_code"] for d in by_id["cart_discounts"]] == ["WELCOME5"]
    shirt = by_id["cart_lines"][0]
    assert (shirt["variant_title"], shirt["quantity"], shirt["cost"]["final_amount"]) == (
        "Blue / M",
        "2",
        "95.22",
    )
    assert shirt["cart_lines_discounts"][0]["discount_code"] == "LINEN10"
    assert by_id["total_quantity"] == "3"


def test_the_cart_path_is_not_a_customer_named_cart(
    client: TestClient, recorder: RecordingDemoAdapter
) -> None:
    ok(client.get("/erc/ecommerce/customers/cart", params={"cart_id": "crt_guest_7f3a"}), "cart")
    assert recorder.calls == [("get_cart", ("crt_guest_7f3a", None))]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cart_id": "crt_nope"}, "cart crt_nope not found"),
        ({"customer_id": "cus_nobody"}, "customer cus_nobody not found"),
        ({"customer_id": "cus_john"}, "customer cus_john has no cart"),
    ],
)
def test_unknown_carts_are_404(client: TestClient, params: dict[str, str], message: str) -> None:
    body = refused(client.get(CART, params=params), 404, "not_found")
    assert body["message"] == message


# Bad parameters: the ERC error, and the adapter never called.


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (SHIPMENTS, {"limit": "0"}, ["limit"]),
        (SHIPMENTS, {"limit": "many"}, ["limit"]),
        (SHIPMENTS, {"order_id": "../ord_1001"}, ["order_id"]),
        (SHIPMENTS, {"order_id": "x" * 129}, ["order_id"]),
        (SHIPMENTS, {"tracking_number": "t" * 201}, ["tracking_number"]),
        (SHIPMENTS, {"limit": "0", "order_id": "a/b"}, ["order_id", "limit"]),
        (PRODUCTS, {"limit": "-3"}, ["limit"]),
        (PRODUCTS, {"search": "s" * 201}, ["search"]),
        (CART, {}, ["customer_id", "cart_id"]),
        (
            CART,
            {"customer_id": "cus_ana", "cart_id": "crt_ana_current"},
            ["customer_id", "cart_id"],
        ),
        (CART, {"cart_id": "a b"}, ["cart_id"]),
        (CART, {"customer_id": ".."}, ["customer_id"]),
    ],
)
def test_a_bad_parameter_is_400_naming_it_without_an_adapter_call(
    client: TestClient,
    recorder: RecordingDemoAdapter,
    path: str,
    params: dict[str, str],
    named: list[str],
) -> None:
    body = refused(client.get(path, params=params), 400, "invalid_request")
    assert [field["name"] for field in body["fields"]] == named
    assert recorder.calls == []


@pytest.mark.parametrize("path", [SHIPMENTS, PRODUCTS])
def test_a_forged_cursor_is_400_without_an_adapter_call(
    client: TestClient, recorder: RecordingDemoAdapter, path: str
) -> None:
    refused(client.get(path, params={"cursor": "e30.AAAA"}), 400, "invalid_cursor")
    assert recorder.calls == []


def test_unknown_parameters_are_ignored(client: TestClient) -> None:
    body = ok(client.get(PRODUCTS, params={"search": "mug", "colour": "blue"}), "products_page")
    assert [p["id"] for p in body["_embedded"]["products"]] == ["prd_ceramic_mug"]


# The response cache


def test_the_cache_keeps_customers_carts_and_searches_apart(
    cached: TestClient, recorder: RecordingDemoAdapter
) -> None:
    ana = cached.get(SHIPMENTS)
    john = cached.get(f"{R}/customers/cus_john/shipments")
    assert ana.headers["x-cache"] == john.headers["x-cache"] == "MISS"
    assert {s["customer_id"] for s in john.json()["_embedded"]["shipments"]} == {"cus_john"}
    assert cached.get(SHIPMENTS).headers["x-cache"] == "HIT"
    filtered = cached.get(SHIPMENTS, params={"order_id": "ord_1002"})
    assert filtered.headers["x-cache"] == "MISS"

    by_customer = cached.get(CART, params={"customer_id": "cus_ana"})
    by_id = cached.get(CART, params={"cart_id": "crt_guest_7f3a"})
    assert (by_customer.json()["cart_id"], by_id.json()["cart_id"]) == (
        "crt_ana_current",
        "crt_guest_7f3a",
    )
    assert cached.get(CART, params={"cart_id": "crt_guest_7f3a"}).headers["x-cache"] == "HIT"

    linen = cached.get(PRODUCTS, params={"search": "linen"})
    mug = cached.get(PRODUCTS, params={"search": "mug"})
    assert [p["id"] for p in linen.json()["_embedded"]["products"]] == ["prd_linen_shirt"]
    assert [p["id"] for p in mug.json()["_embedded"]["products"]] == ["prd_ceramic_mug"]
    assert cached.get(PRODUCTS, params={"search": "linen"}).headers["x-cache"] == "HIT"
    assert [name for name, _ in recorder.calls] == [
        "list_shipments",
        "list_shipments",
        "list_shipments",
        "get_cart",
        "get_cart",
        "list_products",
        "list_products",
    ]


# Delivery slots: 501 on every adapter, after the credentials


@pytest.mark.parametrize("prefix", [R, "/erc/ecommerce"])
def test_slot_routes_are_501_once_authorized(client: TestClient, prefix: str) -> None:
    schedule = client.post(f"{prefix}/customers/cus_ana/shipments/schedule", json={"id": "s1"})
    slots = client.get(f"{prefix}/customers/shipments/available-slots")
    for response in (schedule, slots):
        refused(response, 501, "not_supported")


def test_slot_routes_check_credentials_first(
    client: TestClient, recorder: RecordingDemoAdapter
) -> None:
    refused(
        client.post(SCHEDULE, json={"id": "s1"}, headers={"X-API-Key": "wrong"}),
        401,
        "unauthorized",
    )
    anonymous = client.get(SLOTS, headers={"X-API-Key": ""})
    refused(anonymous, 401, "unauthorized")
    assert "www-authenticate" in anonymous.headers
    assert recorder.calls == []


def test_slot_routes_need_their_scope(make_client: Callable[..., TestClient]) -> None:
    oauth = f"{CLIENT_ID}:{CLIENT_SECRET}:{CUSTOMERS_READ}+{ORDERS_READ}"
    client = make_client(oauth_clients=oauth, token_secret=TOKEN_SECRET)
    del client.headers["X-API-Key"]  # the bearer token alone speaks for the caller
    customers_only = {"Authorization": f"Bearer {token_for(client, scope=CUSTOMERS_READ)}"}
    refused(client.get(SLOTS, headers=customers_only), 403, "forbidden")
    refused(client.post(SCHEDULE, json={"id": "s1"}, headers=customers_only), 403, "forbidden")
    orders = {"Authorization": f"Bearer {token_for(client, scope=ORDERS_READ)}"}
    refused(client.get(SLOTS, headers=orders), 501, "not_supported")


def test_slot_routes_answer_other_methods_405(client: TestClient) -> None:
    wrong = client.get(SCHEDULE)
    refused(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "POST"
    assert client.post(SLOTS).status_code == 405
