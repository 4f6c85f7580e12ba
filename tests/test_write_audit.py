"""One `order_write` line per write attempt, naming fields and never their values, and
`erc_bridge_writes_total` counting each outcome."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.base import Capability
from adapters.errors import UpstreamError
from tests.conftest import API_KEY, json_lines
from tests.write_support import (
    CANCELLABLE,
    NEW_ADDRESS,
    OPEN_LINES,
    SHIPPED,
    RecordingWrites,
    held,
    opened,
    path,
    started,
)

CUSTOMER, ORDER = CANCELLABLE
LINE_CUSTOMER, LINE_ORDER, LINES = OPEN_LINES
SECRET_REASON = "customer-said-zebra-umbrella"
SECRET_NOTE = "call-back-at-marmalade-hour"
PASSWORD = "audit-basic-password-0123456789abcd"


@pytest.fixture
def writes(
    make_client: Callable[..., TestClient], recording: RecordingWrites, info_logging: None
) -> TestClient:
    return make_client(recording, writes=True, basic_users=f"agent-7:{PASSWORD}")


def _audit(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if line.get("event") == "order_write"]


def test_each_outcome_has_its_line_without_values(
    writes: TestClient, recording: RecordingWrites, capsys: pytest.CaptureFixture[str]
) -> None:
    cancel = path(CUSTOMER, ORDER, "cancel_order")
    body = {"cancel_reason": SECRET_REASON, "staff_note": SECRET_NOTE, "notify_customer": True}
    writes.post(cancel, json=body, headers={"X-Request-Id": "audit-1", "Idempotency-Key": "a-1"})
    writes.post(cancel, json=body, headers={"Idempotency-Key": "a-1"})
    writes.post(cancel)
    writes.post(path(*SHIPPED, "change_shipping_address"), json=NEW_ADDRESS)
    recording.fail_with = UpstreamError("demo answered 500")
    writes.put(path(LINE_CUSTOMER, LINE_ORDER, "cancel_items"), json={"ids": [LINES[0]]})
    output = capsys.readouterr().out
    lines = _audit(output)
    assert [line["outcome"] for line in lines] == [
        "applied",
        "replayed",
        "already_done",
        "refused",
        "failed",
    ]
    applied = lines[0]
    assert applied["action"] == "cancel_order"
    assert (applied["customer_id"], applied["order_id"]) == (CUSTOMER, ORDER)
    assert applied["caller"] == hashlib.sha256(API_KEY.encode()).hexdigest()[:8]
    assert applied["request_id"] == "audit-1"
    assert applied["changed"] == ["cancel_reason"]
    assert applied["ignored"] == ["notify_customer", "staff_note"]
    assert applied["reason"] is None
    assert lines[3]["reason"] == "not_allowed"
    assert lines[3]["message"] == "the order has shipped"
    assert lines[4]["reason"] == "upstream_error"
    for value in (SECRET_REASON, SECRET_NOTE, API_KEY, *map(str, NEW_ADDRESS.values())):
        assert value not in output, value


def test_an_address_change_names_its_fields_only(
    writes: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    basic = base64.b64encode(f"agent-7:{PASSWORD}".encode()).decode()
    del writes.headers["X-API-Key"]
    response = writes.post(
        path(CUSTOMER, ORDER, "change_shipping_address"),
        json=NEW_ADDRESS,
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    output = capsys.readouterr().out
    (line,) = _audit(output)
    assert line["caller"] == "agent-7"
    assert line["changed"] == [
        "address",
        "city",
        "country_code",
        "first_name",
        "last_name",
        "phone_number",
        "zip_code",
        "region_code",
    ]
    for value in NEW_ADDRESS.values():
        assert value not in output, value


def test_a_refused_body_is_audited_without_its_text(
    writes: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    writes.post(path(CUSTOMER, ORDER, "cancel_order"), json={"cancel_reason": SECRET_REASON * 20})
    output = capsys.readouterr().out
    (line,) = _audit(output)
    assert (line["outcome"], line["reason"]) == ("refused", "invalid_request")
    assert SECRET_REASON not in output


def test_the_metric_counts_actions_and_outcomes(writes: TestClient) -> None:
    writes.post(path(CUSTOMER, ORDER, "cancel_order"))
    writes.post(path(CUSTOMER, ORDER, "cancel_order"))
    writes.post(path(*SHIPPED, "cancel_order"))
    text = writes.get("/metrics").text
    assert 'erc_bridge_writes_total{action="cancel_order",outcome="applied"} 1.0' in text
    assert 'erc_bridge_writes_total{action="cancel_order",outcome="already_done"} 1.0' in text
    assert 'erc_bridge_writes_total{action="cancel_order",outcome="refused"} 1.0' in text


@pytest.mark.anyio
async def test_a_write_whose_caller_went_away_is_still_audited(
    info_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = held()
    async with await opened(adapter) as client:
        (await started(client, adapter)).cancel()
        await asyncio.sleep(0)
        assert _audit(capsys.readouterr().out) == []
        assert adapter.gate is not None
        adapter.gate.set()
        for _ in range(100):
            lines = _audit(capsys.readouterr().out)
            if lines:
                break
            await asyncio.sleep(0.01)
    assert [line["outcome"] for line in lines] == ["applied"]
    assert len(adapter.writes) == 1


class WithoutCancelItems(RecordingWrites):
    capabilities = RecordingWrites.capabilities - {Capability.CANCEL_ITEMS}


API_KEY_CALLER = hashlib.sha256(API_KEY.encode()).hexdigest()[:8]
REFUSED_AFTER_AUTHENTICATION = [
    # writes off, the adapter not serving the route, another brand
    ({}, "cancel_order", "", 501, "not_supported"),
    ({"writes": True}, "cancel_items", "", 501, "not_supported"),
    (
        {"writes": True, "brand": "Demo Outfitters"},
        "cancel_order",
        "?brand=Other",
        404,
        "not_found",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "action", "query", "status", "code"), REFUSED_AFTER_AUTHENTICATION
)
def test_a_write_refused_after_authentication_is_audited_as_refused_with_its_caller(
    make_client: Callable[..., TestClient],
    info_logging: None,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, Any],
    action: str,
    query: str,
    status: int,
    code: str,
) -> None:
    client = make_client(WithoutCancelItems(), **overrides)
    route = path(LINE_CUSTOMER, LINE_ORDER, action) + query
    body = {"ids": [LINES[0]]} if action == "cancel_items" else None
    response = client.request("PUT" if action == "cancel_items" else "POST", route, json=body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    (line,) = _audit(capsys.readouterr().out)
    assert (line["caller"], line["outcome"], line["reason"]) == (API_KEY_CALLER, "refused", code)
    metric = f'erc_bridge_writes_total{{action="{action}",outcome="refused"}} 1.0'
    assert metric in client.get("/metrics").text
