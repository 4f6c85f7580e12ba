"""`POST /webhooks/{adapter}`: only deliveries that prove their sender change anything."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from adapters.base import Adapter
from adapters.bigcommerce import BigCommerceAdapter, BigCommerceSettings
from adapters.demo import DemoAdapter
from adapters.elasticpath import ElasticPathAdapter, ElasticPathSettings
from bridge.webhooks import MAX_BODY_BYTES, SeenDeliveries, WebhookEndpoint
from tests.conftest import ManualClock

EP_SECRET = "ep-integration-secret-5c1f0a9e-77d2-4b"
BC_SECRET = "bc-app-client-secret-0f3e9b1c-28a4-4d"
NOW = 1_800_000_000


@dataclass
class Forgotten:
    customers: list[str] = field(default_factory=list)
    orders: list[tuple[str, str | None]] = field(default_factory=list)

    async def forget_customer(self, customer_id: str) -> None:
        self.customers.append(customer_id)

    async def forget_order(self, order_id: str, customer_id: str | None) -> None:
        self.orders.append((order_id, customer_id))

    @property
    def nothing(self) -> bool:
        return not self.customers and not self.orders


def elasticpath(secret: str | None = EP_SECRET) -> ElasticPathAdapter:
    return ElasticPathAdapter(
        ElasticPathSettings(
            _env_file=None,
            base_url="https://useast.api.elasticpath.com",
            client_id="client-id",
            client_secret="client-secret-for-tests-0123456789ab",
            webhook_secret=secret,
        )
    )


def bigcommerce(secret: str | None = BC_SECRET) -> BigCommerceAdapter:
    return BigCommerceAdapter(
        BigCommerceSettings(
            _env_file=None,
            store_hash="abc123",
            access_token="access-token-for-tests-0123456789ab",
            webhook_secret=secret,
        )
    )


@pytest.fixture
def forgotten() -> Forgotten:
    return Forgotten()


@pytest.fixture
def receiving(forgotten: Forgotten) -> Callable[[Adapter], TestClient]:
    wall = ManualClock(NOW)
    seen = SeenDeliveries(ManualClock(0.0))

    def factory(adapter: Adapter) -> TestClient:
        endpoint = WebhookEndpoint(adapter, forgotten, wall_clock=wall, seen=seen)
        return TestClient(Starlette(routes=[endpoint.route()]))

    return factory


def ep_delivery(
    delivery_id: str = "d-1",
    topic: str = "order.updated",
    order_id: str = "ord-7",
    customer_id: str | None = "cus-1",
) -> bytes:
    data: dict[str, Any] = {"type": "order", "id": order_id}
    if customer_id is not None:
        data["relationships"] = {"customer": {"data": {"type": "customer", "id": customer_id}}}
    return json.dumps(
        {"id": delivery_id, "triggered_by": topic, "attempt": 1, "payload": {"data": data}}
    ).encode()


def bc_delivery(scope: str = "store/order/updated", kind: str = "order", ident: int = 118) -> bytes:
    return json.dumps(
        {
            "store_id": "1025646",
            "producer": "stores/abc123",
            "scope": scope,
            "data": {"type": kind, "id": ident},
            "hash": "x",
            "created_at": NOW,
        }
    ).encode()


def signed(
    body: bytes, delivery_id: str = "msg_1", stamp: int = NOW, key: str = BC_SECRET
) -> dict[str, str]:
    mac = hmac.new(key.encode(), f"{delivery_id}.{stamp}.".encode() + body, hashlib.sha256)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
        "content-type": "application/json",
    }


def test_an_elastic_path_order_event_with_its_secret_forgets_the_order_of_its_customer(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    client = receiving(elasticpath())
    response = client.post(
        "/webhooks/elasticpath", content=ep_delivery(), headers={"X-MOLTIN-SECRET-KEY": EP_SECRET}
    )
    assert response.status_code == 204
    assert forgotten.orders == [("ord-7", "cus-1")] and not forgotten.customers


def test_an_elastic_path_customer_event_forgets_the_customer(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    body = ep_delivery(topic="customer.updated", order_id="cus-9", customer_id=None)
    response = receiving(elasticpath()).post(
        "/webhooks/elasticpath", content=body, headers={"X-MOLTIN-SECRET-KEY": EP_SECRET}
    )
    assert response.status_code == 204
    assert forgotten.customers == ["cus-9"] and not forgotten.orders


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no-secret"),
        pytest.param({"X-MOLTIN-SECRET-KEY": EP_SECRET[:-1] + "X"}, 401, id="wrong-secret"),
        pytest.param({"X-MOLTIN-SECRET-KEY": ""}, 401, id="empty-secret"),
    ],
)
def test_an_elastic_path_delivery_without_the_secret_is_refused_and_changes_nothing(
    receiving: Callable[[Adapter], TestClient],
    forgotten: Forgotten,
    headers: dict[str, str],
    status: int,
) -> None:
    response = receiving(elasticpath()).post(
        "/webhooks/elasticpath", content=ep_delivery(), headers=headers
    )
    assert response.status_code == status
    assert response.json()["code"] == "unauthorized"
    assert forgotten.nothing


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="broken-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(json.dumps({"id": "d-1", "payload": {"data": {}}}).encode(), id="no-topic"),
        pytest.param(ep_delivery(order_id=""), id="empty-order-id"),
        pytest.param(ep_delivery(topic="product.updated"), id="unknown-event"),
    ],
)
def test_an_unreadable_elastic_path_delivery_is_400_and_changes_nothing(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten, body: bytes
) -> None:
    response = receiving(elasticpath()).post(
        "/webhooks/elasticpath", content=body, headers={"X-MOLTIN-SECRET-KEY": EP_SECRET}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert forgotten.nothing


def test_a_delivery_received_before_is_refused_and_changes_nothing_more(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    client = receiving(elasticpath())
    headers = {"X-MOLTIN-SECRET-KEY": EP_SECRET}
    assert (
        client.post("/webhooks/elasticpath", content=ep_delivery(), headers=headers).status_code
        == 204
    )
    again = client.post("/webhooks/elasticpath", content=ep_delivery(), headers=headers)
    assert again.status_code == 400 and "before" in again.json()["description"]
    assert forgotten.orders == [("ord-7", "cus-1")]


def test_a_refused_delivery_does_not_use_up_its_id(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    client = receiving(elasticpath())
    forged = client.post(
        "/webhooks/elasticpath", content=ep_delivery(), headers={"X-MOLTIN-SECRET-KEY": "guess"}
    )
    assert forged.status_code == 401
    real = client.post(
        "/webhooks/elasticpath", content=ep_delivery(), headers={"X-MOLTIN-SECRET-KEY": EP_SECRET}
    )
    assert real.status_code == 204 and forgotten.orders == [("ord-7", "cus-1")]


def test_a_bigcommerce_order_event_signed_with_the_app_secret_forgets_the_order(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    body = bc_delivery()
    response = receiving(bigcommerce()).post(
        "/webhooks/bigcommerce", content=body, headers=signed(body)
    )
    assert response.status_code == 204
    assert forgotten.orders == [("118", None)]


def test_a_bigcommerce_signature_list_during_key_rotation_is_accepted(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    body = bc_delivery(scope="store/customer/updated", kind="customer", ident=42)
    headers = signed(body)
    headers["webhook-signature"] = "v1,b2xkLWtleQ== " + headers["webhook-signature"]
    response = receiving(bigcommerce()).post("/webhooks/bigcommerce", content=body, headers=headers)
    assert response.status_code == 204
    assert forgotten.customers == ["42"]


def _tampered(body: bytes) -> dict[str, str]:
    return signed(body + b" ")


@pytest.mark.parametrize(
    ("make_headers", "status"),
    [
        pytest.param(lambda body: {}, 401, id="unsigned"),
        pytest.param(
            lambda body: signed(body, key="another-secret-0123456789abcdefgh"), 401, id="wrong-key"
        ),
        pytest.param(_tampered, 401, id="body-changed"),
        pytest.param(lambda body: signed(body, stamp=NOW - 301), 401, id="stale"),
        pytest.param(lambda body: signed(body, stamp=NOW + 301), 401, id="from-the-future"),
        pytest.param(
            lambda body: {**signed(body), "webhook-timestamp": "soon"},
            401,
            id="timestamp-not-a-number",
        ),
        pytest.param(
            lambda body: {**signed(body), "webhook-signature": "v1,!!!"},
            401,
            id="signature-not-base64",
        ),
        pytest.param(
            lambda body: {
                **signed(body),
                "webhook-signature": signed(body)["webhook-signature"].replace("v1,", "v2,"),
            },
            401,
            id="unknown-version",
        ),
    ],
)
def test_a_bigcommerce_delivery_that_does_not_prove_its_sender_is_refused(
    receiving: Callable[[Adapter], TestClient],
    forgotten: Forgotten,
    make_headers: Callable[[bytes], dict[str, str]],
    status: int,
) -> None:
    body = bc_delivery()
    response = receiving(bigcommerce()).post(
        "/webhooks/bigcommerce", content=body, headers=make_headers(body)
    )
    assert response.status_code == status
    assert forgotten.nothing


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{", id="broken-json"),
        pytest.param(
            bc_delivery(scope="store/product/updated", kind="product"), id="unknown-event"
        ),
        pytest.param(
            json.dumps({"scope": "store/order/updated", "data": {"type": "order"}}).encode(),
            id="no-id",
        ),
        pytest.param(
            json.dumps(
                {"scope": "store/order/updated", "data": {"type": "order", "id": True}}
            ).encode(),
            id="id-not-an-id",
        ),
    ],
)
def test_an_unreadable_bigcommerce_delivery_is_400_and_changes_nothing(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten, body: bytes
) -> None:
    response = receiving(bigcommerce()).post(
        "/webhooks/bigcommerce", content=body, headers=signed(body)
    )
    assert response.status_code == 400
    assert forgotten.nothing


def test_a_replayed_bigcommerce_delivery_id_is_refused(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    client = receiving(bigcommerce())
    body = bc_delivery()
    assert (
        client.post("/webhooks/bigcommerce", content=body, headers=signed(body)).status_code == 204
    )
    assert (
        client.post("/webhooks/bigcommerce", content=body, headers=signed(body)).status_code == 400
    )
    assert forgotten.orders == [("118", None)]


@pytest.mark.parametrize(
    ("adapter", "path"),
    [
        pytest.param(elasticpath(secret=None), "/webhooks/elasticpath", id="secret-not-set"),
        pytest.param(DemoAdapter(), "/webhooks/demo", id="platform-without-webhooks"),
        pytest.param(elasticpath(), "/webhooks/bigcommerce", id="another-adapter"),
    ],
)
def test_webhooks_the_bridge_cannot_check_are_404(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten, adapter: Adapter, path: str
) -> None:
    response = receiving(adapter).post(
        path, content=ep_delivery(), headers={"X-MOLTIN-SECRET-KEY": EP_SECRET}
    )
    assert response.status_code == 404
    assert forgotten.nothing


def test_an_oversized_delivery_is_refused_before_it_is_read_whole(
    receiving: Callable[[Adapter], TestClient], forgotten: Forgotten
) -> None:
    client = receiving(elasticpath())
    headers = {"X-MOLTIN-SECRET-KEY": EP_SECRET}
    huge = b"{" + b" " * MAX_BODY_BYTES + b"}"
    assert client.post("/webhooks/elasticpath", content=huge, headers=headers).status_code == 400

    def chunks() -> Any:
        yield b"{"
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b" " * 1024

    streamed = client.post("/webhooks/elasticpath", content=chunks(), headers=headers)
    assert streamed.status_code == 400
    assert forgotten.nothing


def test_a_forgotten_delivery_id_is_accepted_again_after_the_memory_runs_out() -> None:
    clock = ManualClock(0.0)
    seen = SeenDeliveries(clock)
    assert seen.first_time("d-1") and not seen.first_time("d-1")
    clock.advance(72 * 3600 + 1)
    assert seen.first_time("d-1")
