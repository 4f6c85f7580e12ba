"""What cancelling leaves in the demo store's reads: a cancelled line or order promises no
delivery (no `deliverable_quantity`, no parcel that has not left the shop), whether W1, W3
or the shipped data cancelled it, and W1 reads as W3 cancelling every line does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from mappings import demo as demo_mapping
from mappings.models import Delivery, DeliveryStatusInfo, Order, OrderItem, StatusEvent
from mappings.money import Money
from mappings.status import DetailedStatus
from tests.conftest import decode
from tests.write_support import R, path


def _read(client: TestClient, route: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{R}/customers/{route}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = decode(response)
    return body


def _items(client: TestClient, customer: str, order: str) -> list[dict[str, Any]]:
    page = _read(client, f"{customer}/orders/{order}/items", limit=100)
    items: list[dict[str, Any]] = page["_embedded"]["items"]
    return items


def _parcels(client: TestClient, customer: str, order: str) -> list[dict[str, Any]]:
    page = _read(client, f"{customer}/shipments", order_id=order, limit=100)
    parcels: list[dict[str, Any]] = page["_embedded"]["shipments"]
    return parcels


def _promises_nothing(item: dict[str, Any]) -> bool:
    """A cancelled line: marked so, nothing to deliver, no parcel still in the shop."""
    waiting = [
        delivery
        for delivery in item.get("deliveries", [])
        if delivery["latest_status_info"]["type"] in ("UNKNOWN", "CONFIRMED", "READY_FOR_PICKUP")
    ]
    return (
        item.get("custom_fields", {}).get("status") == "CANCELED"
        and "deliverable_quantity" not in item
        and not waiting
    )


@pytest.fixture
def writes(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(writes=True)


def test_cancelling_the_only_line_of_a_pickup_order_takes_its_parcel_off_the_shelf(
    writes: TestClient,
) -> None:
    assert [p["latest_status_info"] for p in _parcels(writes, "cus_yuki", "ord_2001")] == [
        "READY_FOR_PICKUP"
    ]
    response = writes.put(
        path("cus_yuki", "ord_2001", "cancel_items"), json={"ids": ["itm_2001_a"]}
    )
    assert response.status_code == 200, response.text

    assert _read(writes, "cus_yuki/orders/ord_2001")["cancellation_status"] == "CANCELED"
    assert _parcels(writes, "cus_yuki", "ord_2001") == []
    assert all(map(_promises_nothing, _items(writes, "cus_yuki", "ord_2001")))


def test_a_cancelled_order_promises_no_line_and_no_parcel(writes: TestClient) -> None:
    assert [p["id"] for p in _parcels(writes, "cus_ana", "ord_1005")] == ["shp_1005"]
    assert writes.post(path("cus_ana", "ord_1005", "cancel_order")).status_code == 200

    items = _items(writes, "cus_ana", "ord_1005")
    assert len(items) == 45
    assert [item["id"] for item in items if not _promises_nothing(item)] == []
    assert _parcels(writes, "cus_ana", "ord_1005") == []
    everything = _read(writes, "cus_ana/shipments", limit=100)["_embedded"]["shipments"]
    assert sorted(p["id"] for p in everything) == [
        "shp_1001",
        "shp_1002_1",
        "shp_1002_2",
        "shp_1004",
    ]


def test_cancelling_one_line_leaves_the_others_to_deliver(writes: TestClient) -> None:
    response = writes.put(
        path("cus_ana", "ord_1005", "cancel_items"), json={"ids": ["itm_1005_03"]}
    )
    assert response.status_code == 200, response.text

    items = {item["id"]: item for item in _items(writes, "cus_ana", "ord_1005")}
    assert _promises_nothing(items.pop("itm_1005_03"))
    assert all(item["deliverable_quantity"] == item["quantity"] for item in items.values())
    assert _parcels(writes, "cus_ana", "ord_1005") == []  # it carried that line only


def _as_read(client: TestClient, customer: str, order: str) -> tuple[Any, ...]:
    return (
        _read(client, f"{customer}/orders/{order}"),
        _items(client, customer, order),
        _parcels(client, customer, order),
        _read(client, f"{customer}/most-recent-order"),
    )


@pytest.mark.parametrize(
    ("customer", "order"), [("cus_john", "ord_us_004"), ("cus_yuki", "ord_2001")]
)
def test_cancelling_the_order_reads_as_cancelling_every_line(
    make_client: Callable[..., TestClient], customer: str, order: str
) -> None:
    by_order, by_lines = make_client(writes=True), make_client(writes=True)
    lines = [item["id"] for item in _items(by_lines, customer, order)]

    assert by_order.post(path(customer, order, "cancel_order")).status_code == 200
    assert by_lines.put(path(customer, order, "cancel_items"), json={"ids": lines}).is_success

    assert _as_read(by_order, customer, order) == _as_read(by_lines, customer, order)


@pytest.mark.parametrize(
    ("customer", "order"), [("cus_ana", "ord_1003"), ("cus_john", "ord_us_008")]
)
def test_the_stores_cancelled_orders_promise_nothing_either(
    writes: TestClient, customer: str, order: str
) -> None:
    assert all(map(_promises_nothing, _items(writes, customer, order)))
    assert writes.post(path(customer, order, "cancel_order")).status_code == 200
    lines = [item["id"] for item in _items(writes, customer, order)]
    again = writes.put(path(customer, order, "cancel_items"), json={"ids": lines})
    assert again.status_code == 200, again.text


def test_a_parcel_that_left_the_shop_stays_listed_after_the_order_is_cancelled(
    writes: TestClient,
) -> None:
    """`ord_us_008` was cancelled after its parcel failed to arrive: that parcel is history."""
    parcels = _parcels(writes, "cus_john", "ord_us_008")
    assert [(p["id"], p["latest_status_info"]) for p in parcels] == [("shp_us_008", "FAILURE")]


def _delivery(parcel: str, status: DetailedStatus) -> Delivery:
    return Delivery(
        id=parcel, delivery_quantity=1, latest_status_info=DeliveryStatusInfo(type=status)
    )


def test_a_cancelled_line_leaves_a_shared_parcel_to_the_other_lines() -> None:
    def line(line_id: str, *deliveries: Delivery) -> OrderItem:
        return OrderItem(
            id=line_id,
            name=line_id,
            price=Money.of("1.00", "EUR"),
            quantity=2,
            deliverable_quantity=2,
            deliveries=list(deliveries),
        )

    packed = _delivery("shp_packed", DetailedStatus.CONFIRMED)
    gone = _delivery("shp_gone", DetailedStatus.IN_TRANSIT)
    order = Order(
        id="ord_x",
        order_number="#X",
        customer_id="cus_x",
        status=StatusEvent(detailed=DetailedStatus.CONFIRMED),
        items=[demo_mapping.cancelled_line(line("a", packed, gone)), line("b", packed)],
    )

    cancelled = (order.items or [])[0]
    assert (cancelled.deliverable_quantity, cancelled.deliveries) == (None, [gone])
    carried = {
        parcel.id: [item.id for item in parcel.items or []]
        for parcel in demo_mapping.shipments(order)
    }
    assert carried == {"shp_packed": ["b"], "shp_gone": ["a"]}
