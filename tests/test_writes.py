"""The write routes on the demo store: applied and visible in the next reads, already done,
not allowed, another customer's, off, without the scope, and the platform's failures,
before the change and after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from adapters.base import Capability, WriteResult
from adapters.errors import (
    AdapterError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    WriteNotConfirmed,
)
from bridge.routes import PREFIXES
from mappings.models import OrderItem
from mappings.writes import CancelItems
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, TOKEN_SECRET, ManualClock, json_lines
from tests.test_oauth import basic, token_for
from tests.write_support import (
    CANCELLABLE,
    CANCELLED,
    NEW_ADDRESS,
    OPEN_LINES,
    SHIPPED,
    R,
    RecordingWrites,
    path,
)

WRITE = "erc-ecommerce-connections-orders:write"
READ = "erc-ecommerce-connections-orders:read"
CUSTOMER, ORDER = CANCELLABLE
LINE_CUSTOMER, LINE_ORDER, LINES = OPEN_LINES


def _order(client: TestClient, customer: str, order: str) -> dict[str, Any]:
    response = client.get(f"{R}/customers/{customer}/orders/{order}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    body: dict[str, Any] = response.json()
    return body


# Applied, and visible in the next reads


def test_cancel_applies_and_every_read_shows_it(
    writes: TestClient, recording: RecordingWrites
) -> None:
    assert "cancellation_status" not in _order(writes, CUSTOMER, ORDER)
    response = writes.post(path(CUSTOMER, ORDER, "cancel_order"), json={"cancel_reason": "late"})
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert [name for name, _ in recording.writes] == ["cancel_order"]
    detail = _order(writes, CUSTOMER, ORDER)
    assert detail["cancellation_status"] == "CANCELED"
    assert detail["custom_fields"]["cancel_reason"] == "late"
    listed = writes.get(f"{R}/customers/{CUSTOMER}/orders", params={"limit": 100}).json()
    summary = next(o for o in listed["_embedded"]["orders"] if o["id"] == ORDER)
    assert summary["cancellation_status"] == "CANCELED"


def _latest_status(client: TestClient, customer: str, order: str) -> Any:
    return _order(client, customer, order)["order_extra_info"]["latest_status_info"]


def test_an_order_cancelled_reads_as_the_stores_cancelled_orders_do(writes: TestClient) -> None:
    as_shipped = _latest_status(writes, *CANCELLED)
    assert as_shipped == {"generic_type": "UNKNOWN", "detailed_type": "UNKNOWN"}

    assert writes.post(path(CUSTOMER, ORDER, "cancel_order")).status_code == 200

    assert _latest_status(writes, CUSTOMER, ORDER) == as_shipped
    recent = writes.get(f"{R}/customers/{CUSTOMER}/most-recent-order").json()
    assert recent["id"] == ORDER
    assert "status_info_current_index" not in recent
    assert [step.get("detailed_type") for step in recent["status_info"]] == [None] * 4


def test_an_order_whose_every_line_is_cancelled_reads_as_a_cancelled_order(
    writes: TestClient,
) -> None:
    assert _latest_status(writes, LINE_CUSTOMER, LINE_ORDER)["generic_type"] == "CONFIRMED"

    response = writes.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": LINES})
    assert response.status_code == 200, response.text

    detail = _order(writes, LINE_CUSTOMER, LINE_ORDER)
    assert detail["cancellation_status"] == "CANCELED"
    assert detail["order_extra_info"]["latest_status_info"] == _latest_status(writes, *CANCELLED)


def test_a_cached_order_shows_the_write_at_once(
    writes: TestClient, recording: RecordingWrites
) -> None:
    first = writes.get(f"{R}/customers/{CUSTOMER}/orders/{ORDER}")
    again = writes.get(f"{R}/customers/{CUSTOMER}/orders/{ORDER}")
    assert again.headers["x-cache"] == "HIT" and first.json() == again.json()
    writes.get(f"{R}/customers/{CUSTOMER}/most-recent-order")
    assert writes.post(
        path(CUSTOMER, ORDER, "change_shipping_address"), json=NEW_ADDRESS
    ).is_success
    after = writes.get(f"{R}/customers/{CUSTOMER}/orders/{ORDER}")
    assert after.headers["x-cache"] == "MISS"
    shipped_to = after.json()["shipping_address"]
    assert shipped_to["address"] == "Rua Nova 7"
    assert shipped_to["region_code"] == "PT-13"
    assert writes.get(f"{R}/customers/{CUSTOMER}/most-recent-order").headers["x-cache"] == "MISS"


def test_other_customers_stay_cached_after_a_write(
    writes: TestClient, recording: RecordingWrites
) -> None:
    other = f"{R}/customers/{LINE_CUSTOMER}/orders/{LINE_ORDER}"
    writes.get(other)
    assert writes.post(path(CUSTOMER, ORDER, "cancel_order")).is_success
    assert writes.get(other).headers["x-cache"] == "HIT"


def test_cancel_items_answers_the_items_page_after_the_change(
    writes: TestClient, recording: RecordingWrites
) -> None:
    items_path = f"{R}/customers/{LINE_CUSTOMER}/orders/{LINE_ORDER}/items"
    writes.get(items_path)  # cached before the write
    response = writes.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[0]]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page = response.json()
    assert page["_links"]["self"]["href"] == f"http://testserver{items_path}"
    statuses = {
        item["id"]: item.get("custom_fields", {}).get("status")
        for item in page["_embedded"]["items"]
    }
    assert statuses == {LINES[0]: "CANCELED", LINES[1]: None}
    read = writes.get(items_path)
    assert read.headers["x-cache"] == "MISS"
    assert read.json() == page
    assert "cancellation_status" not in _order(writes, LINE_CUSTOMER, LINE_ORDER)
    everything = writes.put(
        path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": list(LINES)}
    )
    assert everything.status_code == 200
    assert _order(writes, LINE_CUSTOMER, LINE_ORDER)["cancellation_status"] == "CANCELED"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_both_prefixes_serve_the_writes(writes: TestClient, prefix: str) -> None:
    route = path(CUSTOMER, ORDER, "cancel_order").replace(R, prefix)
    assert writes.post(route).status_code == 200


# Already done, not allowed, not the customer's


def test_already_done_is_200_without_a_change(
    writes: TestClient, recording: RecordingWrites
) -> None:
    customer, order = CANCELLED
    before = _order(writes, customer, order)
    assert writes.post(path(customer, order, "cancel_order")).status_code == 200
    assert _order(writes, customer, order) == before
    assert writes.post(
        path(CUSTOMER, ORDER, "change_shipping_address"), json=NEW_ADDRESS
    ).is_success
    assert writes.post(
        path(CUSTOMER, ORDER, "change_shipping_address"), json=NEW_ADDRESS
    ).is_success
    assert writes.put(
        path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[1]]}
    ).is_success
    again = writes.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[1]]})
    assert again.status_code == 200


@pytest.mark.parametrize(
    "form",
    [{"city": "Porto "}, {"address": "  Rua Nova 7"}, {"zip_code": ""}, {"phone_number": ""}],
    ids=["city", "street", "empty_zip", "empty_phone"],
)
def test_an_address_sent_again_in_the_same_form_is_already_done(
    writes: TestClient, form: dict[str, str]
) -> None:
    body = {**NEW_ADDRESS, **form}
    change = path(CUSTOMER, ORDER, "change_shipping_address")
    with capture_logs() as logs:
        first = writes.post(change, json=body)
        after_first = _order(writes, CUSTOMER, ORDER)
        again = writes.post(change, json=body)

    assert (first.status_code, again.status_code) == (200, 200)
    outcomes = [line["outcome"] for line in logs if line.get("event") == "order_write"]
    assert outcomes == ["applied", "already_done"]
    assert _order(writes, CUSTOMER, ORDER) == after_first


def test_a_shipped_order_is_not_allowed(writes: TestClient, recording: RecordingWrites) -> None:
    customer, order = SHIPPED
    before = _order(writes, customer, order)
    body = _error(writes.post(path(customer, order, "cancel_order")), 422, "not_allowed")
    assert body["message"] == "the order has shipped"
    _error(
        writes.post(path(customer, order, "change_shipping_address"), json=NEW_ADDRESS),
        422,
        "not_allowed",
    )
    lines = _error(
        writes.put(path(customer, order, "cancel_items"), json={"ids": ["itm_1002_b"]}),
        422,
        "not_allowed",
    )
    assert lines["fields"][0]["name"] == "ids[0]"
    assert _order(writes, customer, order) == before


def test_a_delivered_order_says_so(writes: TestClient) -> None:
    body = _error(writes.post(path("cus_ana", "ord_1001", "cancel_order")), 422, "not_allowed")
    assert body["message"] == "the order has been delivered"
    body = _error(writes.post(path("cus_yuki", "ord_2002", "cancel_order")), 422, "not_allowed")
    assert body["message"] == "the order has been picked up"


@pytest.mark.parametrize(
    "refund_method",
    [
        {"original_payment_method": True},
        {"store_credit": {}},
        {"original_payment_method": False, "store_credit": {"expires_at": "2027-01-01"}},
    ],
)
def test_a_refund_the_store_cannot_make_names_the_field(
    writes: TestClient, recording: RecordingWrites, refund_method: dict[str, Any]
) -> None:
    response = writes.post(
        path(CUSTOMER, ORDER, "cancel_order"), json={"refund_method": refund_method}
    )
    body = _error(response, 422, "not_allowed")
    assert [field["name"] for field in body["fields"]] == ["refund_method"]
    assert "cancellation_status" not in _order(writes, CUSTOMER, ORDER)


@pytest.mark.parametrize(
    "order", [CANCELLABLE, CANCELLED, SHIPPED], ids=["open", "cancelled", "shipped"]
)
def test_a_refund_is_refused_naming_the_field_whatever_the_orders_state(
    writes: TestClient, recording: RecordingWrites, order: tuple[str, str]
) -> None:
    before = _order(writes, *order)
    body = {"refund_method": {"original_payment_method": True}}
    with capture_logs() as logs:
        response = writes.post(path(*order, "cancel_order"), json=body)

    refused = _error(response, 422, "not_allowed")
    assert [field["name"] for field in refused["fields"]] == ["refund_method"]
    assert [line["outcome"] for line in logs if line.get("event") == "order_write"] == ["refused"]
    assert _order(writes, *order) == before


def test_a_refund_method_asking_for_no_money_back_cancels(writes: TestClient) -> None:
    response = writes.post(
        path(CUSTOMER, ORDER, "cancel_order"),
        json={"refund_method": {"original_payment_method": False}},
    )
    assert response.status_code == 200, response.text
    assert _order(writes, CUSTOMER, ORDER)["cancellation_status"] == "CANCELED"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("cancel_order", None),
        ("change_shipping_address", NEW_ADDRESS),
        ("cancel_items", {"ids": ["itm_1005_01"]}),
    ],
)
def test_another_customers_order_is_404_and_untouched(
    writes: TestClient, recording: RecordingWrites, action: str, body: Any
) -> None:
    method = "PUT" if action == "cancel_items" else "POST"
    response = writes.request(method, path(LINE_CUSTOMER, ORDER, action), json=body)
    _error(response, 404, "not_found")
    assert "cancellation_status" not in _order(writes, CUSTOMER, ORDER)


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("cancel_order", None),
        ("change_shipping_address", NEW_ADDRESS),
        ("cancel_items", {"ids": [LINES[0]]}),
    ],
)
def test_a_write_naming_another_brand_is_404_and_never_reaches_the_store(
    make_client: Callable[..., TestClient], recording: RecordingWrites, action: str, body: Any
) -> None:
    """SPEC §1, as reads do: another brand is 404, the served one in any case is written."""
    client = make_client(recording, writes=True, brand="Demo Outfitters")
    method = "PUT" if action == "cancel_items" else "POST"
    route = path(LINE_CUSTOMER, LINE_ORDER, action)

    elsewhere = client.request(method, f"{route}?brand=Other", json=body)
    assert recording.calls == []
    here = client.request(method, f"{route}?brand=demo%20outfitters", json=body)

    _error(elsewhere, 404, "not_found")
    assert here.status_code == 200, here.text
    assert [name for name, _ in recording.writes] == [action]


# Off, not served, without the scope


def test_writes_are_off_unless_turned_on(
    make_client: Callable[..., TestClient], recording: RecordingWrites
) -> None:
    client = make_client(recording)
    body = _error(client.post(path(CUSTOMER, ORDER, "cancel_order")), 501, "not_supported")
    assert body["message"] == "Writes are off"
    assert recording.calls == []


class WithoutCancelItems(RecordingWrites):
    capabilities = RecordingWrites.capabilities - {Capability.CANCEL_ITEMS}


def test_an_adapter_without_the_write_is_501(make_client: Callable[..., TestClient]) -> None:
    adapter = WithoutCancelItems()
    client = make_client(adapter, writes=True)
    response = client.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[0]]})
    _error(response, 501, "not_supported")
    assert adapter.calls == []


def test_credentials_come_first(
    make_client: Callable[..., TestClient], recording: RecordingWrites
) -> None:
    client = make_client(recording, writes=True)
    response = client.post(path(CUSTOMER, ORDER, "cancel_order"), headers={"X-API-Key": "w" * 40})
    _error(response, 401, "unauthorized")
    assert recording.calls == []


def test_an_oauth_client_needs_the_write_scope(
    make_app_client: Callable[..., TestClient], recording: RecordingWrites, clock: ManualClock
) -> None:
    client = make_app_client(
        clock=clock,
        headers={},
        writes=True,
        oauth_clients=f"{CLIENT_ID}:{CLIENT_SECRET}:{READ}+{WRITE}",
        token_secret=TOKEN_SECRET,
    )
    reader = {"Authorization": f"Bearer {token_for(client, scope=READ)}"}
    refused = client.post(path(CUSTOMER, ORDER, "cancel_order"), headers=reader)
    _error(refused, 403, "forbidden")
    assert "insufficient_scope" in refused.headers["www-authenticate"]
    assert recording.calls == []
    writer = {"Authorization": f"Bearer {token_for(client, scope=WRITE)}"}
    assert client.post(path(CUSTOMER, ORDER, "cancel_order"), headers=writer).status_code == 200


def test_the_token_endpoint_refuses_the_write_scope_to_a_reader(
    make_app_client: Callable[..., TestClient], clock: ManualClock
) -> None:
    client = make_app_client(clock=clock, headers={}, writes=True)
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": WRITE},
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


def test_an_api_key_and_a_basic_user_hold_the_write_scope(
    make_client: Callable[..., TestClient], recording: RecordingWrites
) -> None:
    password = "basic-password-for-writes-0123456789"
    client = make_client(recording, writes=True, basic_users=f"agent:{password}")
    assert client.post(
        path(CUSTOMER, ORDER, "cancel_order"), headers={"X-API-Key": API_KEY}
    ).is_success
    response = client.post(path(*CANCELLED, "cancel_order"), headers=basic("agent", password))
    assert response.status_code == 200


def test_other_methods_are_405_with_allow(writes: TestClient) -> None:
    response = writes.get(path(CUSTOMER, ORDER, "cancel_order"))
    _error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    response = writes.post(
        path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[0]]}
    )
    assert response.headers["allow"] == "PUT"


# The platform's failures


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (WriteNotConfirmed("demo did not confirm"), 504, "upstream_timeout"),
        (UpstreamTimeout("demo is slow"), 504, "upstream_timeout"),
        (UpstreamError("demo answered 500"), 502, "upstream_error"),
        (UpstreamUnavailable("demo is down"), 503, "upstream_unavailable"),
    ],
)
def test_a_failed_write_is_tried_once(
    writes: TestClient, recording: RecordingWrites, failure: AdapterError, status: int, code: str
) -> None:
    recording.fail_with = failure
    body = _error(writes.post(path(CUSTOMER, ORDER, "cancel_order")), status, code)
    assert len(recording.writes) == 1
    if isinstance(failure, WriteNotConfirmed):
        assert body["message"] == "The change was not confirmed"


def test_a_method_a_path_does_not_serve_is_405_whatever_the_body(
    writes: TestClient, recording: RecordingWrites
) -> None:
    for route, allowed in (
        ("/oauth/token", "POST"),
        (path(CUSTOMER, ORDER, "cancel_order"), "POST"),
        (path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), "PUT"),
    ):
        response = writes.request(
            "GET",
            route,
            content=b"grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        _error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == allowed
        assert "x-request-id" in response.headers
    # A GET with a body on a path that serves GET is still refused as before.
    read = writes.request("GET", f"{R}/customers/{CUSTOMER}", content=b"{}")
    _error(read, 400, "invalid_request")
    assert recording.calls == []


class ItemsReadAfterTheChange(RecordingWrites):
    """The demo store, whose first read of an order's items after lines are cancelled
    raises `failure` or, without one, waits `delay_s`."""

    def __init__(self, *, failure: AdapterError | None = None, delay_s: float = 0.0) -> None:
        super().__init__()
        self.failure, self.delay_s = failure, delay_s
        self.changed = False

    async def cancel_items(self, customer_id: str, order_id: str, body: CancelItems) -> WriteResult:
        result = await super().cancel_items(customer_id, order_id, body)
        self.changed = True
        return result

    async def list_items(self, customer_id: str, order_id: str) -> list[OrderItem]:
        if self.changed:
            self.changed = False
            if self.failure is not None:
                raise self.failure
            await asyncio.sleep(self.delay_s)
        items: list[OrderItem] = await super().list_items(customer_id, order_id)
        return items


def _outcomes(output: str) -> list[tuple[str, str | None]]:
    return [
        (line["outcome"], line["reason"])
        for line in json_lines(output)
        if line.get("event") == "order_write"
    ]


def _item_statuses(page: dict[str, Any]) -> dict[str, str | None]:
    return {
        item["id"]: item.get("custom_fields", {}).get("status")
        for item in page["_embedded"]["items"]
    }


def test_the_items_page_after_a_change_is_read_even_past_the_deadline(
    make_client: Callable[..., TestClient], info_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = ItemsReadAfterTheChange(delay_s=0.6)
    writes = make_client(adapter, writes=True, deadline_s=0.3)

    response = writes.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[0]]})

    assert response.status_code == 200, response.text
    assert _item_statuses(response.json()) == {LINES[0]: "CANCELED", LINES[1]: None}
    assert _outcomes(capsys.readouterr().out) == [("applied", None)]
    assert len(adapter.writes) == 1


def test_items_cancelled_whose_page_cannot_be_read_are_answered_as_cancelled(
    make_client: Callable[..., TestClient], info_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = ItemsReadAfterTheChange(failure=UpstreamTimeout("demo did not answer in time"))
    writes = make_client(adapter, writes=True)
    cancel, key = path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), {"Idempotency-Key": "w3-unread"}

    first = writes.put(cancel, json={"ids": [LINES[0]]}, headers=key)
    repeat = writes.put(cancel, json={"ids": [LINES[0]]}, headers=key)

    body = _error(first, 504, "upstream_timeout")
    assert body["message"] == "The items are cancelled, but the items page could not be read"
    assert (repeat.status_code, repeat.content) == (504, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert _outcomes(capsys.readouterr().out) == [
        ("applied", "upstream_timeout"),
        ("replayed", None),
    ]
    assert len(adapter.writes) == 1
    page = writes.get(f"{R}/customers/{LINE_CUSTOMER}/orders/{LINE_ORDER}/items").json()
    assert _item_statuses(page) == {LINES[0]: "CANCELED", LINES[1]: None}
