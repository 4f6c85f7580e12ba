"""The five ERC routes served by the bridge with the Elastic Path adapter and its emulator."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from adapters.elasticpath import ElasticPathAdapter, ElasticPathSettings
from bridge.app import create_app
from bridge.config import StartupError, load_configuration
from tests.conftest import AUTH, FAST, R, decode
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator, error_body
from tests.erc_contract import check
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

STORE = fx.default_store()


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return ElasticPathEmulator(STORE)


def settings_for(base_url: str) -> ElasticPathSettings:
    return elasticpath_settings(base_url)


@pytest.fixture
def bridge(
    make_client: Callable[..., TestClient],
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
) -> TestClient:
    # The response cache is off so that every request reaches the platform.
    return make_client(ElasticPathAdapter(settings_for(served[1]), http=FAST), cache_ttl_s=0)


def next_cursor(body: dict[str, Any]) -> str | None:
    link = body["_links"].get("next")
    return parse_qs(urlsplit(link["href"]).query)["cursor"][0] if link else None


def walk(bridge: TestClient, path: str, table: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list route, following `_links.next`."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = bridge.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = decode(response)
        check(body, table)
        pages.append(body)
        cursor = next_cursor(body)
        if cursor is None:
            return pages


def money(value: dict[str, Any]) -> Decimal:
    assert isinstance(value["value"], (int, Decimal))
    return Decimal(value["value"])


def assert_balances(summary: dict[str, Any], *, tax_inclusive: bool) -> None:
    taxes = Decimal(0) if tax_inclusive else money(summary["taxes_amount"])
    assert money(summary["final_total_amount"]) == (
        money(summary["original_total_amount"])
        - money(summary["discounts_amount"])
        + money(summary["shipping_amount"])
        + taxes
    )


# R1


@pytest.mark.parametrize("prefix", [R, "/erc/ecommerce"])
def test_customer(bridge: TestClient, prefix: str) -> None:
    response = bridge.get(f"{prefix}/customers/{fx.MARIA}")
    assert response.status_code == 200
    body = decode(response)
    check(body, "customer")
    assert (body["id"], body["first_name"], body["last_name"]) == (fx.MARIA, "Maria", "Santos")
    assert body["customer_since"] == "2019-03-04T10:15:00.000Z"
    assert body["custom_fields"] == {"email": "maria.santos@example.org"}
    assert [a["address"] for a in body["shipping_addresses"]] == [
        "742 Alder Street, Apt 5",
        "1200 NW Naito Pkwy",
    ]
    assert body["_links"]["self"]["href"] == f"http://testserver{prefix}/customers/{fx.MARIA}"


def test_unknown_customer_is_404_on_every_route(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    base = f"{R}/customers/nobody-here"
    for path in (
        base,
        f"{base}/orders",
        f"{base}/most-recent-order",
        f"{base}/orders/{fx.ORDER_COMPLETE}",
        f"{base}/orders/{fx.ORDER_COMPLETE}/items",
    ):
        response = bridge.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


# R2


def test_order_list_walk(bridge: TestClient) -> None:
    pages = walk(bridge, f"{R}/customers/{fx.MARIA}/orders", "orders_page", limit=3)
    orders = [o for page in pages for o in page["_embedded"]["orders"]]
    assert [o["id"] for o in orders] == STORE.newest_first(fx.MARIA)
    assert [len(page["_embedded"]["orders"]) for page in pages] == [3, 3, 3]
    by_id = {o["id"]: o for o in orders}
    assert by_id[fx.ORDER_PROMO]["items_number"] == 2
    assert by_id[fx.ORDER_FULFILLED]["status"] == "ON_ITS_WAY"
    assert by_id[fx.ORDER_CANCELLED]["cancellation_status"] == "CANCELED"
    assert "cancellation_status" not in by_id[fx.ORDER_COMPLETE]
    assert by_id[fx.ORDER_DIGITAL]["delivery_type"] == "UNKNOWN"
    assert "shipping_addresses" not in by_id[fx.ORDER_DIGITAL]
    assert by_id[fx.ORDER_COMPLETE]["shipping_addresses"][0]["region_code"] == "US-OR"
    assert by_id[fx.ORDER_COMPLETE]["custom_fields"]["order_number"] == "EP-100234"
    for order in orders:
        assert_balances(order["price_summary"], tax_inclusive=False)


def test_orders_by_order_number(bridge: TestClient, emulator: ElasticPathEmulator) -> None:
    pages = walk(
        bridge,
        f"{R}/customers/{fx.BRUNO}/orders",
        "orders_page",
        limit=50,
        order_by="order_number:desc",
    )
    numbers = [o["order_number"] for page in pages for o in page["_embedded"]["orders"]]
    assert numbers == [f"BULK-{n:04d}" for n in range(120, 0, -1)]
    assert {c.query["page[limit]"] for c in emulator.api_calls} == {"100"}


def test_orders_by_purchase_time_ascending(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    pages = walk(
        bridge,
        f"{R}/customers/{fx.BRUNO}/orders",
        "orders_page",
        limit=40,
        order_by="purchase_datetime:asc",
    )
    ids = [o["id"] for page in pages for o in page["_embedded"]["orders"]]
    assert ids == list(reversed(STORE.newest_first(fx.BRUNO)))
    assert [c.query["page[offset]"] for c in emulator.api_calls] == ["0", "40", "80"]
    assert {c.query["sort"] for c in emulator.api_calls} == {"created_at"}


def test_search(bridge: TestClient) -> None:
    pages = walk(
        bridge, f"{R}/customers/{fx.BRUNO}/orders", "orders_page", limit=4, search="Bulk-011"
    )
    numbers = sorted(o["order_number"] for page in pages for o in page["_embedded"]["orders"])
    assert numbers == [f"BULK-{n:04d}" for n in range(110, 120)]


def test_customer_without_orders(bridge: TestClient) -> None:
    body = decode(bridge.get(f"{R}/customers/{fx.NOAH}/orders"))
    check(body, "orders_page")
    assert body["_embedded"] == {"orders": []}
    assert "next" not in body["_links"]


def test_limit_above_100_is_clamped(bridge: TestClient, emulator: ElasticPathEmulator) -> None:
    body = decode(bridge.get(f"{R}/customers/{fx.BRUNO}/orders", params={"limit": 500}))
    assert len(body["_embedded"]["orders"]) == 100
    assert "next" in body["_links"]
    assert emulator.api_calls[0].query["page[limit]"] == "100"


# R3


@dataclass(frozen=True)
class OrderCase:
    """An order and what R3 shows of it; the defaults are what a paid, shipping order of
    Maria's shows."""

    order_id: str
    items: int
    customer_id: str = fx.MARIA
    generic: str = "CONFIRMED"
    detailed: str = "CONFIRMED"
    cancelled: bool = False
    delivery: str = "SHIPPING"
    tax_inclusive: bool = False


ORDERS = {
    "complete": OrderCase(fx.ORDER_COMPLETE, items=2),
    "fulfilled": OrderCase(
        fx.ORDER_FULFILLED, items=2, generic="ON_ITS_WAY", detailed="IN_TRANSIT"
    ),
    "cancelled": OrderCase(
        fx.ORDER_CANCELLED, items=1, generic="UNKNOWN", detailed="UNKNOWN", cancelled=True
    ),
    "processing": OrderCase(fx.ORDER_PROCESSING, items=1),
    "partially-paid": OrderCase(fx.ORDER_PARTIAL, items=2),
    "digital": OrderCase(fx.ORDER_DIGITAL, items=1, delivery="UNKNOWN"),
    "unpaid": OrderCase(fx.ORDER_UNPAID, items=1, generic="UNKNOWN", detailed="UNKNOWN"),
    "promotion": OrderCase(fx.ORDER_PROMO, items=2),
    "anonymized": OrderCase(fx.ORDER_ANONYMIZED, items=1),
    "eur-tax-inclusive": OrderCase(fx.ORDER_EUR, items=2, customer_id=fx.HANS, tax_inclusive=True),
    "jpy": OrderCase(fx.ORDER_JPY, items=2, customer_id=fx.YUKI),
    "kwd": OrderCase(fx.ORDER_KWD, items=2, customer_id=fx.FATIMA),
    "120-items": OrderCase(fx.ORDER_BIG, items=120, customer_id=fx.OLIVIA, delivery="UNKNOWN"),
}


@pytest.mark.parametrize("case", list(ORDERS))
def test_order_detail(bridge: TestClient, case: str) -> None:
    order = ORDERS[case]
    response = bridge.get(f"{R}/customers/{order.customer_id}/orders/{order.order_id}")
    assert response.status_code == 200, response.text
    body = decode(response)
    check(body, "order_detail")
    assert (body["id"], body["customer_id"]) == (order.order_id, order.customer_id)
    assert body["order_extra_info"]["latest_status_info"] == {
        "generic_type": order.generic,
        "detailed_type": order.detailed,
    }
    assert ("cancellation_status" in body) is order.cancelled
    assert body["delivery_type"] == order.delivery
    assert body["items_number"] == order.items
    assert_balances(body["price_summary"], tax_inclusive=order.tax_inclusive)
    assert set(body["custom_fields"]) >= {"status", "payment", "shipping"}


@pytest.mark.parametrize(
    ("customer_id", "order_id", "final", "original"),
    [
        (
            fx.MARIA,
            fx.ORDER_PARTIAL,
            '{"value":0.3,"currency":"USD"}',
            '{"value":0.3,"currency":"USD"}',
        ),
        (
            fx.YUKI,
            fx.ORDER_JPY,
            '{"value":16310,"currency":"JPY"}',
            '{"value":14100,"currency":"JPY"}',
        ),
        (
            fx.FATIMA,
            fx.ORDER_KWD,
            '{"value":30.5,"currency":"KWD"}',
            '{"value":29,"currency":"KWD"}',
        ),
        (
            fx.HANS,
            fx.ORDER_EUR,
            '{"value":171.7,"currency":"EUR"}',
            '{"value":178.7,"currency":"EUR"}',
        ),
    ],
    ids=["usd-cents", "jpy", "kwd", "eur-tax-inclusive"],
)
def test_money_on_the_wire(
    bridge: TestClient, customer_id: str, order_id: str, final: str, original: str
) -> None:
    text = bridge.get(f"{R}/customers/{customer_id}/orders/{order_id}").text
    assert f'"final_total_amount":{final}' in text
    assert f'"original_total_amount":{original}' in text


@pytest.mark.parametrize("suffix", ["", "/items"])
@pytest.mark.parametrize(
    "order_id", [fx.ORDER_EUR, fx.ORDER_GUEST], ids=["other-customer", "guest"]
)
def test_order_of_another_customer_is_404_like_a_missing_one(
    bridge: TestClient, emulator: ElasticPathEmulator, order_id: str, suffix: str
) -> None:
    theirs = bridge.get(f"{R}/customers/{fx.MARIA}/orders/{order_id}{suffix}")
    assert theirs.status_code == 404
    assert theirs.json() == {"code": "not_found", "message": f"Order {order_id} not found"}
    # only the order itself was read: none of its lines, addresses or groups
    assert emulator.api_paths == [f"/v2/orders/{order_id}"]


# R4


def test_items_walk_over_an_order_of_120_lines(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    path = f"{R}/customers/{fx.OLIVIA}/orders/{fx.ORDER_BIG}/items"
    pages = walk(bridge, path, "items_page", limit=25)
    skus = [item["sku"] for page in pages for item in page["_embedded"]["items"]]
    assert [len(page["_embedded"]["items"]) for page in pages] == [25, 25, 25, 25, 20]
    assert skus == [f"BLK-{n:03d}" for n in range(1, 121)]
    # each ERC page read the order, its 120 lines included
    order_path = f"/v2/orders/{fx.ORDER_BIG}"
    assert [(c.path, c.query) for c in emulator.api_calls] == [
        (order_path, {"include": "items"})
    ] * 5


@pytest.mark.parametrize(
    ("order_by", "key", "reverse"),
    [
        ("price:desc", lambda i: Decimal(i["price"]["value"]), True),
        ("quantity:asc", lambda i: i["quantity"], False),
        ("name:desc", lambda i: i["name"], True),
    ],
)
def test_items_sorted_over_the_whole_order(
    bridge: TestClient, order_by: str, key: Callable[[dict[str, Any]], Any], reverse: bool
) -> None:
    path = f"{R}/customers/{fx.OLIVIA}/orders/{fx.ORDER_BIG}/items"
    pages = walk(bridge, path, "items_page", limit=50, order_by=order_by)
    items = [item for page in pages for item in page["_embedded"]["items"]]
    assert len(items) == 120
    assert [key(i) for i in items] == sorted((key(i) for i in items), reverse=reverse)


def test_items_carry_their_shipping_group(bridge: TestClient) -> None:
    body = decode(bridge.get(f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}/items"))
    check(body, "items_page")
    first = body["_embedded"]["items"][0]
    assert first["price"] == {"value": Decimal("89.99"), "currency": "USD"}
    assert first["deliveries"] == [
        {
            "id": fx.GROUP_COMPLETE,
            "delivery_quantity": 1,
            "carrier": "UPS Ground",
            "delivery_date_start": "2025-03-18T00:00:00.000Z",
            "delivery_date_end": "2025-03-20T23:59:59.000Z",
            "latest_status_info": {"type": "CONFIRMED"},
            "tracking_info": {"tracking_number": "1Z84X7E90312345678"},
            "last_update": "2025-03-15T09:02:17.508Z",
        }
    ]


# R5


def test_most_recent_order(bridge: TestClient) -> None:
    body = decode(bridge.get(f"{R}/customers/{fx.MARIA}/most-recent-order"))
    check(body, "most_recent_order")
    assert body["id"] == fx.ORDER_FULFILLED
    assert body["tracking_info"] == {"tracking_number": "794698547301"}
    assert [step["generic_type"] for step in body["status_info"]] == [
        "CONFIRMED",
        "ON_ITS_WAY",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
    ]
    assert body["status_info_current_index"] == 1
    assert body["status_info"][1]["detailed_type"] == "IN_TRANSIT"
    assert body["highlighted_item"]["sku"] == "TNT-ALP-2P"


def test_most_recent_order_of_customer_without_orders(bridge: TestClient) -> None:
    response = bridge.get(f"{R}/customers/{fx.NOAH}/most-recent-order")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# Ids and EP errors


@pytest.mark.parametrize(
    "odd_id", ["a%2Fb", "%2E%2E", "50%25", "x%3Fy", "x%23y", "has%20space", "a%2C(b)"]
)
def test_odd_ids_never_reach_the_platform(
    bridge: TestClient, emulator: ElasticPathEmulator, odd_id: str
) -> None:
    for path in (
        f"{R}/customers/{odd_id}",
        f"{R}/customers/{odd_id}/orders",
        f"{R}/customers/{fx.MARIA}/orders/{odd_id}",
        f"{R}/customers/{fx.MARIA}/orders/{odd_id}/items",
    ):
        response = bridge.get(path)
        assert response.status_code in (400, 404), path
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("status", "body", "times", "answer", "code"),
    [
        (401, error_body(401, "Unable to validate access token"), 2, 503, "upstream_unavailable"),
        (403, error_body(403, "Forbidden"), 1, 503, "upstream_unavailable"),
        (400, error_body(400, "Bad Request", "Could not parse"), 1, 502, "upstream_error"),
        (429, error_body("429", "Too Many Requests"), 3, 503, "upstream_unavailable"),
        (500, error_body(500, "Internal Server Error"), 3, 502, "upstream_error"),
        (200, b"<html>maintenance</html>", 1, 502, "upstream_error"),
        (200, {"data": {"id": fx.MARIA, "name": ["not", "a", "name"]}}, 1, 502, "upstream_error"),
    ],
    ids=[
        "revoked",
        "forbidden",
        "bad-request",
        "rate-limited",
        "server-error",
        "not-json",
        "bad-json",
    ],
)
def test_platform_errors_become_erc_errors(
    bridge: TestClient,
    emulator: ElasticPathEmulator,
    status: int,
    body: Any,
    times: int,
    answer: int,
    code: str,
) -> None:
    # R1 asks for the addresses alongside the customer: each call meets the fault
    emulator.fail_next(status, body, times=2 * times)
    response = bridge.get(f"{R}/customers/{fx.MARIA}")
    assert response.status_code == answer
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    check(error, "error")
    assert error["code"] == code
    tokens = {c.authorization.split()[1] for c in emulator.api_calls if c.authorization}
    for secret in (CLIENT_SECRET, *tokens):
        assert secret not in response.text


# EP's offset cap with a customer who has more than 10,000 orders


@pytest.fixture(scope="module")
def huge() -> Iterator[tuple[ElasticPathEmulator, str]]:
    emulator = ElasticPathEmulator(fx.huge_store())
    with serve(emulator.app) as url:
        yield emulator, url


def test_sorting_more_orders_than_ep_can_page_is_a_clear_400(
    make_client: Callable[..., TestClient], huge: tuple[ElasticPathEmulator, str]
) -> None:
    huge[0].reset()
    bridge = make_client(ElasticPathAdapter(settings_for(huge[1]), http=FAST), cache_ttl_s=0)
    response = bridge.get(
        f"{R}/customers/{fx.HUGE}/orders", params={"order_by": "order_number:asc"}
    )
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_request"
    assert [f["name"] for f in error["fields"]] == ["order_by"]
    assert "purchase_datetime" in error["message"]
    # the newest orders are still served
    assert bridge.get(f"{R}/customers/{fx.HUGE}/orders").status_code == 200


# Configuration from the environment


def test_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,  # reset: no fault left over from another test
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ERC_BRIDGE_API_KEYS": AUTH["X-API-Key"],
        "ERC_BRIDGE_CACHE_TTL_S": "0",
        "ELASTICPATH_BASE_URL": served[1] + "/",
        "ELASTICPATH_CLIENT_ID": CLIENT_ID,
        "ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    configuration = load_configuration()
    assert isinstance(configuration.adapter, ElasticPathAdapter)
    app = create_app(configuration.settings, adapter=configuration.adapter)
    with TestClient(app, headers=AUTH) as client:
        assert client.get(f"{R}/customers/{fx.MARIA}").status_code == 200


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ELASTICPATH_BASE_URL", "useast.api.elasticpath.com"),
        ("ELASTICPATH_CLIENT_ID", ""),
        ("ELASTICPATH_CLIENT_SECRET", "   "),
    ],
)
def test_malformed_setting_names_the_variable_never_the_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = {
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ERC_BRIDGE_API_KEYS": AUTH["X-API-Key"],
        "ELASTICPATH_BASE_URL": "https://useast.api.elasticpath.com",
        "ELASTICPATH_CLIENT_ID": "client",
        "ELASTICPATH_CLIENT_SECRET": "secret-that-must-not-leak",
    }
    settings[variable] = value
    for name, setting in settings.items():
        monkeypatch.setenv(name, setting)
    with pytest.raises(StartupError) as caught:
        load_configuration()
    assert str(caught.value).startswith(variable)
    assert "secret-that-must-not-leak" not in str(caught.value)


# Orders listed without all their lines (EP's `include=items` may leave some out): the price
# summary of R2 is the one of R3, or absent when it cannot be known.


def listed_with(order_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A one-order list answer whose `included.items` holds only `lines` of the order."""
    meta = {"page": {"limit": 20, "offset": 0, "current": 1, "total": 1}, "results": {"total": 1}}
    return {"data": [STORE.order(order_id)], "included": {"items": lines}, "meta": meta}


def listed_order(bridge: TestClient, customer_id: str) -> dict[str, Any]:
    response = bridge.get(f"{R}/customers/{customer_id}/orders")
    assert response.status_code == 200, response.text
    body = decode(response)
    check(body, "orders_page")
    [order] = body["_embedded"]["orders"]
    assert isinstance(order, dict)
    return order


def test_a_tax_inclusive_order_listed_with_some_of_its_lines_sums_its_price_as_its_detail(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    detail = decode(bridge.get(f"{R}/customers/{fx.HANS}/orders/{fx.ORDER_EUR}"))
    emulator.reset()
    some_lines = STORE.items[fx.ORDER_EUR][1:]
    emulator.fail_next(200, listed_with(fx.ORDER_EUR, some_lines), path="/v2/orders", exact=True)
    summary = listed_order(bridge, fx.HANS)["price_summary"]
    assert summary == detail["price_summary"]
    values = {name: Decimal(amount["value"]) for name, amount in summary.items()}
    # Prices include tax: the taxes are not added again.
    assert values["final_total_amount"] == (
        values["original_total_amount"] - values["discounts_amount"] + values["shipping_amount"]
    )
    assert [c.path for c in emulator.api_calls] == ["/v2/orders"]


def test_a_taxed_order_listed_with_none_of_its_lines_has_no_price_summary(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(200, listed_with(fx.ORDER_EUR, []), path="/v2/orders", exact=True)
    # Whether its prices hold the taxes is unknown: no summary rather than a wrong one.
    assert "price_summary" not in listed_order(bridge, fx.HANS)
    assert [c.path for c in emulator.api_calls] == ["/v2/orders"]


def test_r5_steps_of_a_fulfilled_order_without_a_destination_carry_their_own_status(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    """Fulfilled (IN_TRANSIT, ON_ITS_WAY) with no shipping address: delivery type UNKNOWN,
    whose two steps have no ON_ITS_WAY; the order stops on CONFIRMED, as CONFIRMED."""
    order = copy.deepcopy(STORE.order(fx.ORDER_EUR))
    assert order is not None
    order.update(shipping="fulfilled", shipping_address=None)
    answer = listed_with(fx.ORDER_EUR, STORE.items[fx.ORDER_EUR])
    emulator.fail_next(200, {**answer, "data": [order]}, path="/v2/orders", exact=True)
    response = bridge.get(f"{R}/customers/{fx.HANS}/most-recent-order")
    assert response.status_code == 200, response.text
    body = decode(response)
    check(body, "most_recent_order")
    assert body["delivery_type"] == "UNKNOWN"
    assert body["status_info"] == [
        {"generic_type": "CONFIRMED", "detailed_type": "CONFIRMED"},
        {"generic_type": "DELIVERED"},
    ]
    assert body["status_info_current_index"] == 0
