"""Webhooks keep the caches fresh, end to end: the bridge served over loopback with the
Elastic Path and BigCommerce emulators, each platform call proven by the emulator's log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from adapters.bigcommerce import BigCommerceAdapter
from adapters.elasticpath import ElasticPathAdapter
from adapters.resources import customer_tag, order_tag
from tests.conftest import FAST, R
from tests.emulators import bigcommerce_fixtures as bc_fx
from tests.emulators import elasticpath_fixtures as ep_fx
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.platform_settings import bigcommerce_settings, elasticpath_settings
from tests.served_bridge import Bridge, Gate, bridge_over
from tests.servers import serve
from tests.test_webhooks import BC_SECRET, EP_SECRET, bc_delivery, ep_delivery, signed
from tests.unsent_bodies import answer_before_the_body

MARIA_ORDER = f"{R}/customers/{ep_fx.MARIA}/orders/{ep_fx.ORDER_COMPLETE}"
MARIA = f"{R}/customers/{ep_fx.MARIA}"
ANA = f"{R}/customers/{bc_fx.ANA}"
ANA_SHIPPED = f"{ANA}/orders/{bc_fx.ORDER_SHIPPED}"
ANA_COMPLETED = f"{ANA}/orders/{bc_fx.ORDER_COMPLETED}"
LUKAS = f"{R}/customers/{bc_fx.LUKAS}"


@pytest.fixture(scope="module")
def ep_served() -> Iterator[tuple[ElasticPathEmulator, Gate, str]]:
    emulator = ElasticPathEmulator(ep_fx.default_store())
    gate = Gate(emulator.app)
    with serve(gate) as url:
        yield emulator, gate, url


@pytest.fixture(scope="module")
def bc_served() -> Iterator[tuple[BigCommerceEmulator, str]]:
    emulator = BigCommerceEmulator(bc_fx.default_store())
    with serve(emulator.app) as url:
        yield emulator, url


@pytest.fixture
def ep(ep_served: tuple[ElasticPathEmulator, Gate, str]) -> Iterator[Bridge]:
    emulator, _, url = ep_served
    emulator.reset()
    adapter = ElasticPathAdapter(
        elasticpath_settings(url, webhook_secret=EP_SECRET),
        http=FAST,
    )
    with bridge_over(adapter, lambda: len(emulator.requests)) as bridge:
        yield bridge


@pytest.fixture
def gate(ep_served: tuple[ElasticPathEmulator, Gate, str]) -> Gate:
    return ep_served[1]


@pytest.fixture
def bc(bc_served: tuple[BigCommerceEmulator, str]) -> Iterator[Bridge]:
    emulator, url = bc_served
    emulator.reset()
    adapter = BigCommerceAdapter(
        bigcommerce_settings(url, webhook_secret=BC_SECRET),
        http=FAST,
    )
    with bridge_over(adapter, lambda: len(emulator.requests)) as bridge:
        yield bridge


def ep_headers(secret: str = EP_SECRET) -> dict[str, str]:
    return {"X-MOLTIN-SECRET-KEY": secret, "content-type": "application/json"}


def bc_signed(body: bytes, delivery_id: str = "msg_1", **options: Any) -> dict[str, str]:
    return signed(body, delivery_id, int(options.pop("stamp", time.time())), **options)


def bc_order_event(order_id: str, delivery_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    body = bc_delivery(ident=int(order_id))
    return body, bc_signed(body, delivery_id)


# Elastic Path: the events name the order's customer


def test_an_order_event_drops_its_bodies_and_resources_and_the_next_r3_asks_the_platform(
    ep: Bridge,
) -> None:
    assert ep.read(MARIA_ORDER) == "MISS"
    assert ep.read(MARIA_ORDER) == "HIT"
    key = ("/v2/orders/kept", ())
    ep.resources.put(key, b"{}", [order_tag(ep_fx.ORDER_COMPLETE), customer_tag(ep_fx.MARIA)])
    before = ep.calls()

    body = ep_delivery(order_id=ep_fx.ORDER_COMPLETE, customer_id=ep_fx.MARIA)
    assert ep.deliver(body, ep_headers()).status_code == 204

    assert ep.calls() == before  # the endpoint itself never calls the platform
    assert ep.resources.get(key) is None
    assert ep.read(MARIA_ORDER) == "MISS"
    assert ep.calls() > before


def test_a_customer_event_drops_r1(ep: Bridge) -> None:
    assert ep.read(MARIA) == "MISS"
    assert ep.read(MARIA) == "HIT"
    before = ep.calls()
    body = ep_delivery(topic="customer.updated", order_id=ep_fx.MARIA, customer_id=None)
    assert ep.deliver(body, ep_headers()).status_code == 204
    assert ep.calls() == before
    assert ep.read(MARIA) == "MISS"
    assert ep.calls() > before


def test_a_fill_under_way_when_the_event_arrives_is_answered_but_not_kept(
    ep: Bridge, gate: Gate
) -> None:
    gate.arm(f"/v2/orders/{ep_fx.ORDER_COMPLETE}")
    with ThreadPoolExecutor(1) as pool:
        early = pool.submit(ep.read, MARIA_ORDER)
        assert gate.arrived.wait(5)
        body = ep_delivery(order_id=ep_fx.ORDER_COMPLETE, customer_id=ep_fx.MARIA)
        assert ep.deliver(body, ep_headers()).status_code == 204
        gate.release.set()
        assert early.result(5) == "MISS"
    before = ep.calls()
    assert ep.read(MARIA_ORDER) == "MISS"  # the body fetched before the event was not kept
    assert ep.calls() > before


EP_REFUSED = [
    pytest.param(ep_delivery(), {"content-type": "application/json"}, 401, id="no-secret"),
    pytest.param(ep_delivery(), ep_headers("X" + EP_SECRET[1:]), 401, id="wrong-secret"),
    pytest.param(b'{"id": "d-1", "triggered_by"', ep_headers(), 400, id="broken-json"),
    pytest.param(ep_delivery(topic="product.updated"), ep_headers(), 400, id="unknown-event"),
]


@pytest.mark.parametrize(("body", "headers", "status"), EP_REFUSED)
def test_a_bad_elastic_path_delivery_is_refused_and_the_next_read_is_still_cached(
    ep: Bridge, body: bytes, headers: dict[str, str], status: int
) -> None:
    assert ep.read(MARIA_ORDER) == "MISS"
    before = ep.calls()
    assert ep.deliver(body, headers).status_code == status
    assert ep.read(MARIA_ORDER) == "HIT"
    assert ep.calls() == before


def test_a_replayed_delivery_is_refused_and_changes_nothing(ep: Bridge) -> None:
    body = ep_delivery(delivery_id="d-once", order_id=ep_fx.ORDER_COMPLETE)
    assert ep.deliver(body, ep_headers()).status_code == 204
    assert ep.read(MARIA_ORDER) == "MISS"
    before = ep.calls()
    assert ep.deliver(body, ep_headers()).status_code == 400
    assert ep.read(MARIA_ORDER) == "HIT"
    assert ep.calls() == before


def test_outcomes_are_counted_and_the_refusal_log_holds_no_secret(
    ep: Bridge, info_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    offered = "Y" + EP_SECRET[1:]
    assert ep.deliver(ep_delivery(), ep_headers(offered)).status_code == 401
    assert ep.deliver(ep_delivery(delivery_id="d-2"), ep_headers()).status_code == 204
    assert ep.deliver(ep_delivery(delivery_id="d-2"), ep_headers()).status_code == 400
    assert ep.deliver(b"[", ep_headers()).status_code == 400
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "webhook_refused" in text
    assert EP_SECRET not in text and offered not in text
    metrics = ep.metrics()
    for outcome in ("received", "refused_unauthenticated", "refused_invalid", "replayed"):
        assert f'erc_bridge_webhooks_total{{outcome="{outcome}"}} 1.0' in metrics


def test_another_adapters_webhooks_are_not_found(ep: Bridge) -> None:
    response = httpx.post(f"{ep.url}/webhooks/bigcommerce", content=ep_delivery())
    assert response.status_code == 404


# BigCommerce: an order event does not name the order's customer


def test_an_order_event_drops_that_orders_r3_and_every_r2_and_nothing_else(bc: Bridge) -> None:
    reads = [ANA_SHIPPED, ANA_COMPLETED, f"{ANA}/orders", f"{LUKAS}/orders", ANA]
    assert [bc.read(path) for path in reads] == ["MISS"] * len(reads)
    assert bc.read(f"{ANA}/most-recent-order") == "MISS"
    before = bc.calls()

    assert bc.deliver(*bc_order_event(bc_fx.ORDER_SHIPPED)).status_code == 204
    assert bc.calls() == before

    assert bc.read(ANA_SHIPPED) == "MISS"
    assert bc.read(f"{ANA}/orders") == "MISS"
    assert bc.read(f"{LUKAS}/orders") == "MISS"
    assert bc.read(f"{ANA}/most-recent-order") == "MISS"
    assert bc.read(ANA_COMPLETED) == "HIT"
    assert bc.read(ANA) == "HIT"
    assert bc.calls() > before


def test_an_order_event_without_its_customer_drops_the_resources_that_may_show_it(
    bc: Bridge,
) -> None:
    order = ("/v2/orders/2174", ())
    listing = ("/v2/orders", (("customer_id", 58),))
    other = ("/v2/orders/2230", ())
    bc.resources.put(order, b"{}", [order_tag(bc_fx.ORDER_SHIPPED), customer_tag(bc_fx.ANA)])
    bc.resources.put(listing, b"[]", [customer_tag(bc_fx.ANA)])
    bc.resources.put(other, b"{}", [order_tag(bc_fx.ORDER_COMPLETED), customer_tag(bc_fx.ANA)])
    assert bc.deliver(*bc_order_event(bc_fx.ORDER_SHIPPED)).status_code == 204
    assert bc.resources.get(order) is None
    assert bc.resources.get(listing) is None
    assert bc.resources.get(other) == b"{}"


def test_an_order_event_drops_the_r6_bodies_that_may_show_it(
    bc: Bridge, bc_served: tuple[BigCommerceEmulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """R6's key names no order: the event, which names no customer, drops every R6."""
    emulator, _ = bc_served
    of_the_order = f"{ANA}/shipments?order_id={bc_fx.ORDER_SHIPPED}"
    reads = [f"{ANA}/shipments", of_the_order, f"{LUKAS}/shipments"]
    assert [bc.read(path) for path in reads] == ["MISS"] * len(reads)
    parcels = emulator.store.shipments[bc_fx.ORDER_SHIPPED]
    renumbered = [{**parcel, "tracking_number": "RENUMBERED-1"} for parcel in parcels]
    monkeypatch.setitem(emulator.store.shipments, bc_fx.ORDER_SHIPPED, renumbered)
    before = bc.calls()

    assert bc.deliver(*bc_order_event(bc_fx.ORDER_SHIPPED)).status_code == 204

    assert [bc.read(path) for path in reads] == ["MISS"] * len(reads)
    shown = bc.client.get(of_the_order).json()["_embedded"]["shipments"]
    assert {s["tracking_info"]["tracking_number"] for s in shown} == {"RENUMBERED-1"}
    assert f"/v2/orders/{bc_fx.ORDER_SHIPPED}/shipments" in emulator.resources[before:]


def test_a_bigcommerce_customer_event_drops_r1(bc: Bridge) -> None:
    assert bc.read(ANA) == "MISS"
    body = bc_delivery(scope="store/customer/updated", kind="customer", ident=int(bc_fx.ANA))
    assert bc.deliver(body, bc_signed(body)).status_code == 204
    assert bc.read(ANA) == "MISS"


def _bc_bad(case: str) -> tuple[bytes, dict[str, str]]:
    body = bc_delivery(ident=int(bc_fx.ORDER_SHIPPED))
    headers = bc_signed(body)
    if case == "no-signature":
        del headers["webhook-signature"]
    elif case == "bad-signature":
        headers["webhook-signature"] = "v1," + "A" * 44
    elif case == "wrong-secret":
        headers = bc_signed(body, key="another-app-client-secret-0123456789")
    elif case == "old-timestamp":
        headers = bc_signed(body, stamp=time.time() - 301)
    elif case == "broken-json":
        body = b'{"scope": "store/order/updated", "data"'
        headers = bc_signed(body)
    elif case == "unknown-event":
        body = bc_delivery(scope="store/product/updated", kind="product")
        headers = bc_signed(body)
    elif case == "tampered-body":
        body = bc_delivery(ident=int(bc_fx.ORDER_COMPLETED))
    return body, headers


BC_REFUSED = {
    "no-signature": 401,
    "bad-signature": 401,
    "wrong-secret": 401,
    "old-timestamp": 401,
    "tampered-body": 401,
    "broken-json": 400,
    "unknown-event": 400,
}


@pytest.mark.parametrize(("case", "status"), BC_REFUSED.items(), ids=list(BC_REFUSED))
def test_a_bad_bigcommerce_delivery_is_refused_and_the_next_read_is_still_cached(
    bc: Bridge, case: str, status: int
) -> None:
    assert bc.read(ANA_SHIPPED) == "MISS"
    assert bc.read(f"{ANA}/orders") == "MISS"
    before = bc.calls()
    assert bc.deliver(*_bc_bad(case)).status_code == status
    assert bc.read(ANA_SHIPPED) == "HIT"
    assert bc.read(f"{ANA}/orders") == "HIT"
    assert bc.calls() == before


def test_a_replayed_bigcommerce_delivery_is_refused_and_changes_nothing(bc: Bridge) -> None:
    body, headers = bc_order_event(bc_fx.ORDER_SHIPPED, delivery_id="msg_once")
    assert bc.deliver(body, headers).status_code == 204
    assert bc.read(ANA_SHIPPED) == "MISS"
    before = bc.calls()
    assert bc.deliver(body, headers).status_code == 400
    assert bc.read(ANA_SHIPPED) == "HIT"
    assert bc.calls() == before


MALFORMED_STAMPS = {
    "superscript-two": b"\xb2",  # a digit to str.isdigit() once decoded as latin-1
    "past-a-float": b"1" + b"0" * 400,
    "past-the-int-digit-limit": b"9" * 5000,
    "thirteen-digits": b"1" * 13,
}


def test_a_malformed_timestamp_is_refused_unauthenticated_and_counted(
    bc: Bridge, info_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bc.read(ANA_SHIPPED) == "MISS"
    body = bc_delivery(ident=int(bc_fx.ORDER_SHIPPED))
    statuses = {}
    for case, stamp in MALFORMED_STAMPS.items():
        headers = [(name.encode(), value.encode()) for name, value in bc_signed(body).items()]
        headers = [(n, stamp if n == b"webhook-timestamp" else v) for n, v in headers]
        answer = httpx.post(f"{bc.url}/webhooks/bigcommerce", content=body, headers=headers)
        statuses[case] = (answer.status_code, answer.json()["code"])
    logged = capsys.readouterr()

    assert statuses == dict.fromkeys(MALFORMED_STAMPS, (401, "unauthorized"))
    assert bc.read(ANA_SHIPPED) == "HIT"
    refused = f'erc_bridge_webhooks_total{{outcome="refused_unauthenticated"}} {len(statuses)}.0'
    assert refused in bc.metrics()
    assert "unhandled_error" not in logged.out + logged.err
    assert "99999" not in logged.out + logged.err  # no header is repeated in the log


def test_a_delivery_its_headers_refuse_is_answered_before_its_body(bc: Bridge, ep: Bridge) -> None:
    unsigned = {"content-type": "application/json"}
    late = bc_signed(b"", stamp=time.time() - 301)
    answers = [
        answer_before_the_body(bc.url, "/webhooks/bigcommerce", unsigned),
        answer_before_the_body(bc.url, "/webhooks/bigcommerce", late),
        answer_before_the_body(ep.url, "/webhooks/elasticpath", ep_headers("X" + EP_SECRET[1:])),
    ]
    assert [answer[:13] for answer in answers] == [b"HTTP/1.1 401 "] * 3, answers


def test_webhooks_not_received_are_404_before_the_body(
    bc_served: tuple[BigCommerceEmulator, str],
) -> None:
    emulator, url = bc_served
    without_secret = BigCommerceAdapter(bigcommerce_settings(url), http=FAST)
    with bridge_over(without_secret, lambda: len(emulator.requests)) as bridge:
        answer = answer_before_the_body(bridge.url, "/webhooks/bigcommerce", bc_signed(b""))
    assert answer.startswith(b"HTTP/1.1 404 "), answer


def test_a_refusal_is_an_erc_error_body(bc: Bridge) -> None:
    body, headers = bc_order_event(bc_fx.ORDER_SHIPPED, delivery_id="msg_json")
    assert bc.deliver(body, headers).status_code == 204
    refused = bc.deliver(body, headers)
    assert refused.headers["content-type"] == "application/json"
    assert json.loads(refused.text)["code"] == "invalid_request"


def test_the_webhook_route_is_documented_without_erc_credentials(ep: Bridge) -> None:
    operation = ep.client.get("/openapi.json").json()["paths"]["/webhooks/{adapter}"]["post"]
    assert operation["security"] == []
    # 408, 414 and 431: the front door's bounds on time, path and headers, as on every route.
    assert set(operation["responses"]) == {"204", "400", "401", "404", "408", "414", "431"}
    assert "application/json" in operation["requestBody"]["content"]
