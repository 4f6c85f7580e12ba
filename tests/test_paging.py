"""Paging walks, cursor binding and tampering, limit and order_by validation."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from starlette.testclient import TestClient

from adapters.demo import DemoAdapter
from adapters.paging import natural_key
from tests.conftest import R, RecordingDemoAdapter, decode

RAW = json.loads(resources.files("adapters").joinpath("data/demo_store.json").read_text())
JOHN_ORDERS = [o for o in RAW["orders"] if o["customer_id"] == "cus_john"]
BIG_ORDER = next(o for o in RAW["orders"] if o["id"] == "ord_1005")


def walk(client: TestClient, url: str) -> tuple[list[dict[str, Any]], int]:
    """Follow `_links.next` to the end; returns every element and the number of pages."""
    elements: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = decode(response)
        embedded = body["_embedded"]
        elements.extend(embedded.get("orders", embedded.get("items", [])))
        pages += 1
        url = body["_links"].get("next", {}).get("href", "")
        assert pages < 200
    return elements, pages


def expected_orders(field: str, descending: bool) -> list[str]:
    def key(o: dict[str, Any]) -> Any:
        primary = (
            datetime.fromisoformat(o["placed_at"])
            if field == "purchase_datetime"
            else natural_key(o["number"])
        )
        return (primary, o["id"])

    return [o["id"] for o in sorted(JOHN_ORDERS, key=key, reverse=descending)]


@pytest.mark.parametrize("limit", [1, 7, 20, 100])
@pytest.mark.parametrize(
    "order_by",
    [
        None,
        "purchase_datetime:desc",
        "purchase_datetime:asc",
        "order_number:asc",
        "order_number:desc",
    ],
)
def test_order_walks_return_every_order_once_in_order(
    client: TestClient, limit: int, order_by: str | None
) -> None:
    query = f"limit={limit}" + (f"&order_by={order_by}" if order_by else "")
    orders, pages = walk(client, f"{R}/customers/cus_john/orders?{query}")
    field, _, direction = (order_by or "purchase_datetime:desc").partition(":")
    assert [o["id"] for o in orders] == expected_orders(field, direction == "desc")
    assert pages == -(-len(JOHN_ORDERS) // limit)


def item_key(field: str) -> Callable[[dict[str, Any]], Any]:
    return {
        "price": lambda i: Decimal(i["unit_price"]),
        "name": lambda i: i["name"].casefold(),
        "quantity": lambda i: i["quantity"],
        "sku": lambda i: natural_key(i["sku"]),
    }[field]


@pytest.mark.parametrize("limit", [1, 7, 20, 100])
@pytest.mark.parametrize(
    "order_by",
    [None, "price:desc", "price:asc", "name:asc", "quantity:desc", "sku:asc", "sku:desc"],
)
def test_item_walks_return_every_item_once_in_order(
    client: TestClient, limit: int, order_by: str | None
) -> None:
    query = f"limit={limit}" + (f"&order_by={order_by}" if order_by else "")
    items, pages = walk(client, f"{R}/customers/cus_ana/orders/ord_1005/items?{query}")
    raw = BIG_ORDER["items"]
    if order_by is None:
        expected = [i["id"] for i in raw]
    else:
        field, _, direction = order_by.partition(":")
        expected = [i["id"] for i in sorted(raw, key=item_key(field), reverse=direction == "desc")]
    assert [i["id"] for i in items] == expected
    assert pages == -(-len(raw) // limit)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("#A9", "#A10"), ("a2", "A10"), ("SKU-1²", "SKU-2"), ("1", "①"), ("x٣", "x10")],
)
def test_natural_order_counts_only_decimal_digits_as_numbers(lower: str, higher: str) -> None:
    assert natural_key(lower) < natural_key(higher)


class OddlyNumberedDemo(DemoAdapter):
    """Order numbers and SKUs as a platform may send them, with a superscript digit."""

    async def open(self) -> None:
        await super().open()
        orders = self._orders["cus_john"]
        first = orders[0]
        items = list(first.items or [])
        items[0] = items[0].model_copy(update={"sku": "SKU-2²"})
        orders[0] = first.model_copy(update={"order_number": "#US1²", "items": items})


def test_sorting_by_a_number_with_a_superscript_digit_is_served(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(OddlyNumberedDemo())
    by_number = client.get(f"{R}/customers/cus_john/orders?order_by=order_number:asc")
    by_sku = client.get(
        f"{R}/customers/cus_john/orders/{JOHN_ORDERS[0]['id']}/items?order_by=sku:asc"
    )
    assert by_number.status_code == 200, by_number.text
    assert "#US1²" in [order["order_number"] for order in decode(by_number)["_embedded"]["orders"]]
    assert by_sku.status_code == 200, by_sku.text
    assert "SKU-2²" in [item["sku"] for item in decode(by_sku)["_embedded"]["items"]]


def test_limit_above_100_is_clamped(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_ana/orders/ord_1005/items?limit=500"))
    assert len(body["_embedded"]["items"]) == 45
    body = decode(client.get(f"{R}/customers/cus_john/orders?limit=99999999999999999999999"))
    assert len(body["_embedded"]["orders"]) == 45


@pytest.mark.parametrize(
    "limit", ["9" * 33, "1" + "0" * 32, "1" * 33, "9" * 5000, "1" + "0" * 4999, "0" * 40 + "101"]
)
def test_a_limit_of_any_length_above_100_is_clamped(client: TestClient, limit: str) -> None:
    # Python will not read an integer of more than 4,300 digits; the bridge never has to.
    orders = client.get(f"{R}/customers/cus_john/orders?limit={limit}")
    items = client.get(f"{R}/customers/cus_ana/orders/ord_1005/items?limit={limit}")
    assert orders.status_code == items.status_code == 200
    assert len(decode(orders)["_embedded"]["orders"]) == 45
    assert len(decode(items)["_embedded"]["items"]) == 45
    assert decode(orders)["_links"]["self"]["href"].endswith(f"/orders?limit={limit}")  # as sent


@pytest.mark.parametrize(("limit", "size"), [("0" * 36 + "1", 1), ("0" * 4999 + "5", 5)])
def test_the_leading_zeros_of_a_limit_are_ignored(
    client: TestClient, limit: str, size: int
) -> None:
    body = decode(client.get(f"{R}/customers/cus_john/orders?limit={limit}"))
    assert len(body["_embedded"]["orders"]) == size
    assert "limit=" + str(size) + "&cursor=" in body["_links"]["next"]["href"]


def test_a_limit_of_32_digits_is_clamped(client: TestClient) -> None:
    limit = "9" * 32
    body = decode(client.get(f"{R}/customers/cus_john/orders?limit={limit}"))
    assert len(body["_embedded"]["orders"]) == 45
    assert body["_links"]["self"]["href"].endswith(f"/orders?limit={limit}")  # as sent


def test_default_limit_is_20(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_john/orders"))
    assert len(body["_embedded"]["orders"]) == 20
    assert "next" in body["_links"]


def test_last_page_has_no_next_link(client: TestClient) -> None:
    body = decode(client.get(f"{R}/customers/cus_john/orders?limit=45"))
    assert len(body["_embedded"]["orders"]) == 45
    assert "next" not in body["_links"]


@pytest.mark.parametrize(
    "limit",
    [
        *("0", "-1", "abc", "1.5", "", " 5", "+5", "٣", "\uff15", "1e3"),
        *("0" * 40, "-" + "9" * 40, "+" + "9" * 40, "9" * 40 + ".5", "٣" * 40, "9" * 40 + "x"),
    ],
)
def test_bad_limit_is_400_with_fields_and_no_adapter_call(
    client: TestClient, recorder: RecordingDemoAdapter, limit: str
) -> None:
    for path in ("orders", "orders/ord_1005/items"):
        response = client.get(f"{R}/customers/cus_ana/{path}", params={"limit": limit})
        assert response.status_code == 400
        body = decode(response)
        assert body["code"] == "invalid_request"
        assert body["fields"] == [
            {"name": "limit", "description": "must be an integer of at least 1"}
        ]
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "order_by"),
    [
        ("orders", "price:asc"),
        ("orders", "purchase_datetime"),
        ("orders", "purchase_datetime:up"),
        ("orders/ord_1005/items", "purchase_datetime:desc"),
        ("orders/ord_1005/items", "PRICE:asc"),
    ],
)
def test_bad_order_by_is_400_listing_allowed_values(
    client: TestClient, recorder: RecordingDemoAdapter, path: str, order_by: str
) -> None:
    response = client.get(f"{R}/customers/cus_ana/{path}", params={"order_by": order_by})
    assert response.status_code == 400
    field = decode(response)["fields"][0]
    assert field["name"] == "order_by"
    allowed = "purchase_datetime:asc" if path == "orders" else "price:asc"
    assert allowed in field["description"]
    assert recorder.calls == []


def test_every_bad_parameter_is_listed(client: TestClient) -> None:
    response = client.get(f"{R}/customers/cus_ana/orders?limit=0&order_by=x&search={'a' * 201}")
    assert [f["name"] for f in decode(response)["fields"]] == ["search", "limit", "order_by"]


def test_repeated_parameter_is_400(client: TestClient) -> None:
    response = client.get(f"{R}/customers/cus_ana/orders?limit=1&limit=2")
    assert response.status_code == 400
    assert decode(response)["fields"][0]["name"] == "limit"


def test_unknown_parameters_are_ignored(client: TestClient) -> None:
    assert client.get(f"{R}/customers/cus_ana/orders?foo=bar&page=2").status_code == 200


def first_cursor(client: TestClient, url: str) -> str:
    href: str = decode(client.get(url))["_links"]["next"]["href"]
    return parse_qs(urlsplit(href).query)["cursor"][0]


def assert_invalid_cursor(response: Any) -> None:
    assert response.status_code == 400, response.text
    body = decode(response)
    assert body["code"] == "invalid_cursor"
    assert body["fields"][0]["name"] == "cursor"


ORDERS_URL = f"{R}/customers/cus_john/orders?limit=5"
ITEMS_URL = f"{R}/customers/cus_ana/orders/ord_1005/items?limit=5"


@pytest.mark.parametrize(
    "reuse",
    [
        f"{R}/customers/cus_ana/orders?limit=5",
        f"{R}/customers/cus_john/orders?limit=5&order_by=order_number:asc",
        f"{R}/customers/cus_john/orders?limit=5&order_by=purchase_datetime:asc",
        f"{R}/customers/cus_john/orders?limit=5&search=US10",
        f"{R}/customers/cus_ana/orders/ord_1005/items?limit=5",
    ],
)
def test_order_cursor_reused_elsewhere_is_refused(
    client: TestClient, recorder: RecordingDemoAdapter, reuse: str
) -> None:
    cursor = first_cursor(client, ORDERS_URL)
    recorder.calls.clear()
    assert_invalid_cursor(client.get(f"{reuse}&cursor={cursor}"))
    assert recorder.calls == []


@pytest.mark.parametrize(
    "reuse",
    [
        f"{R}/customers/cus_ana/orders/ord_1001/items?limit=5",
        f"{R}/customers/cus_john/orders/ord_1005/items?limit=5",
        f"{R}/customers/cus_ana/orders/ord_1005/items?limit=5&order_by=price:asc",
        f"{R}/customers/cus_ana/orders?limit=5",
    ],
)
def test_item_cursor_reused_elsewhere_is_refused(client: TestClient, reuse: str) -> None:
    cursor = first_cursor(client, ITEMS_URL)
    assert_invalid_cursor(client.get(f"{reuse}&cursor={cursor}"))


def test_cursor_survives_a_changed_limit(client: TestClient) -> None:
    cursor = first_cursor(client, ORDERS_URL)
    assert client.get(f"{R}/customers/cus_john/orders?limit=9&cursor={cursor}").status_code == 200


def flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_tampered_cursors_are_refused(client: TestClient, recorder: RecordingDemoAdapter) -> None:
    cursor = first_cursor(client, ORDERS_URL)
    payload, signature = cursor.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["s"] = {"offset": 0}
    forged_payload = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    recorder.calls.clear()
    for forged in (
        f"{forged_payload}.{signature}",
        flip(cursor, 3),
        flip(cursor, len(cursor) - 2),
        cursor + "x",
        "not-a-cursor",
        "a.b.c",
        "....",
        "x" * 5000,
    ):
        assert_invalid_cursor(client.get(f"{ORDERS_URL}&cursor={forged}"))
    assert recorder.calls == []


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def with_unused_bits_flipped(segment: str) -> str:
    """`segment` with the lowest bit of its last character flipped: a bit no byte uses
    when the segment's length is not a multiple of 4, so lenient base64 reads the same."""
    assert len(segment) % 4 in (2, 3)
    last = BASE64URL[BASE64URL.index(segment[-1]) ^ 1]
    return segment[:-1] + last


CRLF = "\r\n"


def _inserted(segment: str, characters: str) -> str:
    middle = len(segment) // 2
    return segment[:middle] + characters + segment[middle:]


ALTERATIONS: dict[str, Callable[[str, str], str]] = {
    # Each reads as the issued cursor's bytes to a lenient base64 decoder.
    "one-pad": lambda payload, signature: f"{payload}.{signature}=",
    "two-pads": lambda payload, signature: f"{payload}.{signature}==",
    "padded-payload": lambda payload, signature: f"{payload}=.{signature}",
    "unused-bits": lambda payload, signature: f"{payload}.{with_unused_bits_flipped(signature)}",
    # Characters outside the alphabet, four at a time so that the padding still fits.
    "punctuation": lambda payload, signature: f"{payload}.{_inserted(signature, '!!!!')}",
    "spaces": lambda payload, signature: f"{_inserted(payload, '    ')}.{signature}",
    "line-breaks": lambda payload, signature: f"{payload}.{_inserted(signature, CRLF * 2)}",
}


@pytest.mark.parametrize("alteration", ALTERATIONS)
def test_a_cursor_altered_in_its_spelling_is_refused(
    client: TestClient, recorder: RecordingDemoAdapter, alteration: str
) -> None:
    cursor = first_cursor(client, ORDERS_URL)
    assert client.get(f"{ORDERS_URL}&cursor={cursor}").status_code == 200  # as issued
    altered = ALTERATIONS[alteration](*cursor.split("."))
    recorder.calls.clear()
    response = client.get(f"{ORDERS_URL}&cursor={quote(altered, safe='')}")
    assert response.status_code == 400
    assert decode(response) == {
        "code": "invalid_cursor",
        "message": "The cursor is not valid for this request",
        "description": "malformed cursor",
        "fields": [{"name": "cursor", "description": "malformed cursor"}],
    }
    assert recorder.calls == []


def test_cursor_signed_with_another_secret_is_refused(
    make_client: Callable[..., TestClient],
) -> None:
    one = make_client(cursor_secret="first-cursor-secret-0123456789abcdef")
    other = make_client(cursor_secret="second-cursor-secret-0123456789abcdef")
    cursor = first_cursor(one, ORDERS_URL)
    assert_invalid_cursor(other.get(f"{ORDERS_URL}&cursor={cursor}"))


def test_expired_cursor_is_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = first_cursor(client, ORDERS_URL)
    codec = client.app.state.bridge.cursors  # type: ignore[attr-defined]
    real_clock = codec._clock
    monkeypatch.setattr(codec, "_clock", lambda: real_clock() + 7200)
    response = client.get(f"{ORDERS_URL}&cursor={cursor}")
    assert_invalid_cursor(response)
    assert "expired" in decode(response)["description"]
