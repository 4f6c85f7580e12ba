"""Every row of SPEC §2 Errors, answered as ERC JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters import errors
from adapters.base import READ_CAPABILITIES, Capability
from adapters.demo import DemoAdapter
from tests.conftest import AUTH, R, RecordingDemoAdapter, decode
from tests.erc_contract import check


class FailingAdapter(DemoAdapter):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    async def get_customer(self, customer_id: str) -> Any:
        raise self.exc


class PartialAdapter(DemoAdapter):
    capabilities = READ_CAPABILITIES - {Capability.ITEMS}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = decode(response)
    check(body, "error")
    assert body["code"] == code
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/index.html",  # `/` itself is the landing page
        "/erc/ecommerce/connections",
        f"{R}/customers",
        f"{R}/customers/cus_ana/orders/ord_1001/items/extra",
        f"{R}/customers/cus_ana/carts",
    ],
)
def test_unknown_routes_are_404_json(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_wrong_method_is_405_with_allow(client: TestClient, method: str) -> None:
    response = client.request(method, f"{R}/customers/cus_ana/orders")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        f"{R}/customers/nobody",
        f"{R}/customers/nobody/orders",
        f"{R}/customers/nobody/orders/ord_1001",
        f"{R}/customers/nobody/orders/ord_1001/items",
        f"{R}/customers/nobody/most-recent-order",
    ],
)
def test_unknown_customer_is_404_on_every_route(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize("suffix", ["", "/items"])
def test_another_customers_order_is_404_like_a_missing_one(client: TestClient, suffix: str) -> None:
    foreign = client.get(f"{R}/customers/cus_john/orders/ord_1001{suffix}")
    missing = client.get(f"{R}/customers/cus_john/orders/ord_nope{suffix}")
    assert_error(foreign, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert decode(foreign).keys() == decode(missing).keys()
    assert "Ana" not in foreign.text


def test_customer_without_orders_has_no_most_recent_order(client: TestClient) -> None:
    assert_error(client.get(f"{R}/customers/cus_new/most-recent-order"), 404, "not_found")
    body = decode(client.get(f"{R}/customers/cus_new/orders"))
    assert body["_embedded"] == {"orders": []}


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.NotFound("x"), 404, "not_found"),
        (errors.NotSupported("x"), 501, "not_supported"),
        (errors.UpstreamError("platform said no"), 502, "upstream_error"),
        (errors.UpstreamUnavailable("down", retry_after=30), 503, "upstream_unavailable"),
        (errors.UpstreamUnavailable("down"), 503, "upstream_unavailable"),
        (errors.UpstreamTimeout("slow"), 504, "upstream_timeout"),
        (errors.UnservableRequest("too deep", field="cursor"), 400, "invalid_request"),
    ],
)
def test_adapter_errors_become_erc_errors(
    make_client: Callable[..., TestClient], exc: Exception, status: int, code: str
) -> None:
    response = make_client(FailingAdapter(exc)).get(f"{R}/customers/cus_ana")
    assert_error(response, status, code)
    retry_after = getattr(exc, "retry_after", None)
    assert response.headers.get("retry-after") == (str(retry_after) if retry_after else None)


def test_unsupported_route_is_501(make_client: Callable[..., TestClient]) -> None:
    client = make_client(PartialAdapter())
    assert_error(client.get(f"{R}/customers/cus_ana/orders/ord_1001/items"), 501, "not_supported")
    assert client.get(f"{R}/customers/cus_ana/orders/ord_1001").status_code == 200


def test_a_bug_is_500_with_the_request_id_and_no_traceback(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(FailingAdapter(ZeroDivisionError("secret-detail")))
    response = client.get(f"{R}/customers/cus_ana", headers={"X-Request-Id": "req-42"})
    body = assert_error(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "req-42"
    assert "req-42" in body["description"]
    assert "secret-detail" not in response.text
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get(f"{R}/customers/cus_ana", headers={"X-Request-Id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = client.get(f"{R}/customers/cus_ana")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = client.get(f"{R}/customers/cus_ana", headers={"X-Request-Id": "a b\tc" + "x" * 200})
    assert unsafe.headers["x-request-id"] != "a b\tc" + "x" * 200


def test_access_log_is_one_json_line_per_request(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from bridge.logs import configure_logging

    configure_logging("info")
    client = make_client()
    capsys.readouterr()
    client.get(f"{R}/customers/cus_ana/orders/ord_1001", headers={"X-Request-Id": "log-1"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line.get("event") == "request"]
    assert len(access) == 1
    assert access[0]["request_id"] == "log-1"
    assert (
        access[0]["route"] == "/erc/ecommerce/connections/customers/{customer_id}/orders/{order_id}"
    )
    assert access[0]["status"] == 200
    assert "test-key" not in json.dumps(lines)


def test_no_adapter_call_for_requests_refused_before_it(
    client: TestClient, recorder: RecordingDemoAdapter
) -> None:
    client.get(f"{R}/customers/cus_ana", headers={"X-API-Key": "wrong"})
    client.post(f"{R}/customers/cus_ana")
    client.get(f"{R}/customers/cus_ana/orders?limit=x")
    client.get(f"{R}/customers/cus_ana/orders?cursor=forged")
    assert recorder.calls == []


def test_no_adapter_call_for_another_brand(make_client: Callable[..., TestClient]) -> None:
    recorder = RecordingDemoAdapter()
    client = make_client(recorder, brand="Demo Outfitters")
    assert (
        client.get(f"{R}/customers/cus_ana/orders/ord_1001?brand=x", headers=AUTH).status_code
        == 404
    )
    assert recorder.calls == []


def test_healthz_needs_no_credentials(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-API-Key": ""})
    assert response.status_code == 200
    assert decode(response) == {"status": "ok"}
