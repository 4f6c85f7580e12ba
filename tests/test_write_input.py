"""Write requests are checked before anything reaches the adapter: each bad input gets
its ERC error, and the adapter is never called."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from bridge.app import create_app
from bridge.writes import MAX_BODY_BYTES
from tests.conftest import AUTH, settings
from tests.write_support import CANCELLABLE, NEW_ADDRESS, OPEN_LINES, RecordingWrites, path

CUSTOMER, ORDER = CANCELLABLE
LINE_CUSTOMER, LINE_ORDER, LINES = OPEN_LINES


def _fields(response: Any) -> list[str]:
    return [field["name"] for field in response.json().get("fields", [])]


def _nothing_called(recording: RecordingWrites) -> None:
    assert recording.calls == [], recording.calls


def test_a_body_that_is_not_json_typed_is_415(
    writes: TestClient, recording: RecordingWrites
) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
        response = writes.post(
            path(CUSTOMER, ORDER, "change_shipping_address"),
            content=orjson.dumps(NEW_ADDRESS),
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 415, content_type
        assert response.json()["code"] == "unsupported_media_type"
    _nothing_called(recording)


def test_json_with_a_charset_is_json(writes: TestClient, recording: RecordingWrites) -> None:
    response = writes.post(
        path(CUSTOMER, ORDER, "cancel_order"),
        content=b"{}",
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


def test_a_required_body_needs_a_content_type(
    writes: TestClient, recording: RecordingWrites
) -> None:
    response = writes.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), content=b'{"ids":["a"]}')
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    _nothing_called(recording)


def test_an_optional_body_still_needs_its_content_type(
    writes: TestClient, recording: RecordingWrites
) -> None:
    response = writes.post(path(CUSTOMER, ORDER, "cancel_order"), content=b'{"restock": true}')
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    _nothing_called(recording)


def test_cancel_takes_no_body_at_all(writes: TestClient, recording: RecordingWrites) -> None:
    response = writes.post(path(CUSTOMER, ORDER, "cancel_order"))
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert [name for name, _ in recording.writes] == ["cancel_order"]


def test_an_oversized_body_is_413(writes: TestClient, recording: RecordingWrites) -> None:
    body = orjson.dumps({"cancel_reason": "x", "custom_fields": {"pad": "y" * MAX_BODY_BYTES}})
    response = writes.post(path(CUSTOMER, ORDER, "cancel_order"), content=body, headers=_JSON)
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    _nothing_called(recording)


def test_a_body_at_the_limit_is_read(writes: TestClient, recording: RecordingWrites) -> None:
    body = orjson.dumps({"custom_fields": {"pad": ""}})
    body = body.replace(b'""', b'"' + b"y" * (MAX_BODY_BYTES - len(body)) + b'"')
    assert len(body) == MAX_BODY_BYTES
    response = writes.post(path(CUSTOMER, ORDER, "cancel_order"), content=body, headers=_JSON)
    assert response.status_code == 200, response.text


def test_a_chunked_body_without_length_stops_at_the_limit(
    writes: TestClient, recording: RecordingWrites
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"custom_fields": {"pad": "'
        for _ in range(40):
            yield b"y" * 1024
        yield b'"}}'

    response = writes.post(path(CUSTOMER, ORDER, "cancel_order"), content=chunks(), headers=_JSON)
    assert response.request.headers.get("content-length") is None
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    _nothing_called(recording)


def test_a_lying_content_length_does_not_let_more_in() -> None:
    """The body is read piece by piece and given up past the limit, whatever the declared
    length: at most one piece past it is ever taken."""
    adapter = RecordingWrites()
    app = create_app(settings(writes=True), adapter=adapter)
    pieces = [b'{"custom_fields": {"pad": "'] + [b"y" * 1024] * 100
    taken: list[bytes] = []
    sent: list[Message] = []

    async def receive() -> Message:
        piece = pieces[len(taken)]
        taken.append(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path(CUSTOMER, ORDER, "cancel_order"),
        "raw_path": path(CUSTOMER, ORDER, "cancel_order").encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"x-api-key", AUTH["X-API-Key"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"20"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert sum(map(len, taken)) <= MAX_BODY_BYTES + 1024
    _nothing_called(adapter)


def test_a_declared_length_past_the_limit_is_refused_before_reading(
    writes: TestClient, recording: RecordingWrites
) -> None:
    response = writes.post(
        path(CUSTOMER, ORDER, "cancel_order"),
        content=b"{}",
        headers={**_JSON, "Content-Length": str(MAX_BODY_BYTES + 1)},
    )
    assert response.status_code == 413
    _nothing_called(recording)


_JSON = {"Content-Type": "application/json"}

BAD_BODIES: list[tuple[str, Any, list[str]]] = [
    ("cancel_order", b"{", ["body"]),
    ("cancel_order", b"[]", ["body"]),
    ("cancel_order", b'"cancel"', ["body"]),
    ("cancel_order", {"restock": "yes"}, ["restock"]),
    ("cancel_order", {"notify_customer": 1}, ["notify_customer"]),
    ("cancel_order", {"cancel_reason": "x" * 256}, ["cancel_reason"]),
    ("cancel_order", {"staff_note": "x" * 1001}, ["staff_note"]),
    ("cancel_order", {"custom_fields": []}, ["custom_fields"]),
    (
        "cancel_order",
        {"refund_method": {"original_payment_method": "true", "store_credit": {"expires_at": 7}}},
        ["refund_method.original_payment_method", "refund_method.store_credit.expires_at"],
    ),
    ("change_shipping_address", b"", ["body"]),
    ("change_shipping_address", {}, ["address", "city", "country_code"]),
    ("change_shipping_address", {**NEW_ADDRESS, "country_code": "XX"}, ["country_code"]),
    ("change_shipping_address", {**NEW_ADDRESS, "country_code": "pt"}, ["country_code"]),
    ("change_shipping_address", {**NEW_ADDRESS, "region_code": "ES-M"}, ["region_code"]),
    ("change_shipping_address", {**NEW_ADDRESS, "city": 4000}, ["city"]),
    ("change_shipping_address", {**NEW_ADDRESS, "address": "  "}, ["address"]),
    ("cancel_items", {}, ["ids"]),
    ("cancel_items", {"ids": []}, ["ids"]),
    ("cancel_items", {"ids": "itm_us_004_a"}, ["ids"]),
    ("cancel_items", {"ids": [f"i{n}" for n in range(101)]}, ["ids"]),
    ("cancel_items", {"ids": ["itm_us_004_a", 7, ""]}, ["ids[1]", "ids[2]"]),
    ("cancel_items", {"ids": ["itm_us_004_a", "itm_us_004_b", "itm_us_004_a"]}, ["ids[2]"]),
]


@pytest.mark.parametrize(
    ("action", "body", "fields"),
    BAD_BODIES,
    ids=[f"{action}-{index}" for index, (action, _, _) in enumerate(BAD_BODIES)],
)
def test_a_bad_body_lists_each_bad_field(
    writes: TestClient, recording: RecordingWrites, action: str, body: Any, fields: list[str]
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    customer, order = (LINE_CUSTOMER, LINE_ORDER) if action == "cancel_items" else CANCELLABLE
    method = "PUT" if action == "cancel_items" else "POST"
    response = writes.request(method, path(customer, order, action), content=content, headers=_JSON)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert sorted(_fields(response)) == sorted(fields)
    _nothing_called(recording)


def test_unknown_fields_are_ignored(writes: TestClient, recording: RecordingWrites) -> None:
    response = writes.post(
        path(CUSTOMER, ORDER, "cancel_order"), json={"cancel_reason": "moved", "colour": "red"}
    )
    assert response.status_code == 200, response.text


def test_ids_that_are_not_lines_of_the_order_are_named_after_the_ownership_check(
    writes: TestClient, recording: RecordingWrites
) -> None:
    response = writes.put(
        path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"),
        json={"ids": [LINES[0], "itm_1005_01", "nope"]},
    )
    assert response.status_code == 400, response.text
    assert _fields(response) == ["ids[1]", "ids[2]"]
    assert recording.calls[0] == ("list_items", (LINE_CUSTOMER, LINE_ORDER))
    assert recording.writes == []


def test_another_customers_order_is_404_before_its_ids_are_checked(
    writes: TestClient, recording: RecordingWrites
) -> None:
    response = writes.put(path(CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": ["nope"]})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert recording.writes == []


@pytest.mark.parametrize("key", ["", "has space", "é", "k" * 256, "tab\there"])
def test_a_malformed_idempotency_key_is_400(
    writes: TestClient, recording: RecordingWrites, key: str
) -> None:
    response = writes.post(
        path(CUSTOMER, ORDER, "cancel_order"),
        headers={b"Idempotency-Key": key.encode()},
    )
    assert response.status_code == 400, response.text
    assert _fields(response) == ["Idempotency-Key"]
    _nothing_called(recording)


def test_a_path_id_the_bridge_refuses_is_400(
    writes: TestClient, recording: RecordingWrites
) -> None:
    response = writes.post(path(CUSTOMER, "a%20b", "cancel_order"))
    assert response.status_code == 400
    assert _fields(response) == ["order_id"]
    _nothing_called(recording)
