"""The benchmark's replayed platform, over real HTTP on 127.0.0.1: what the bridge and the
anchors are measured against must answer like the emulator it recorded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from bench.platform import CUSTOMER, WITH_ITEMS, order_id
from bench.processes import running
from tests.processes import free_port

ORDERS = 3


@pytest.fixture(scope="module")
def platform() -> Iterator[str]:
    port = free_port()
    env = {"BENCH_ORDERS": str(ORDERS), "BENCH_LATENCY_MS": "0"}
    with running(["bench.platform", "--port", str(port)], port, env=env):
        yield f"http://127.0.0.1:{port}"


def test_each_order_is_the_recorded_one_under_its_own_id(platform: str) -> None:
    with httpx.Client(base_url=platform) as client:
        first = client.get(f"/v2/orders/{order_id(0)}{WITH_ITEMS}")
        last = client.get(f"/v2/orders/{order_id(ORDERS - 1)}{WITH_ITEMS}")
    assert first.status_code == last.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.json()["data"]["id"] == order_id(0)
    assert last.json()["data"]["id"] == order_id(ORDERS - 1)
    assert last.json()["data"]["relationships"]["customer"]["data"]["id"] == CUSTOMER
    assert first.json()["included"]["items"]


def test_lines_and_shipping_groups_are_answered_without_the_lines_included(
    platform: str,
) -> None:
    with httpx.Client(base_url=platform) as client:
        order = client.get(f"/v2/orders/{order_id(1)}").json()
        groups = client.get(f"/v2/orders/{order_id(1)}/shipping-groups").json()
    assert "included" not in order
    assert groups["data"]


@pytest.mark.parametrize(
    "path", [f"/v2/orders/{order_id(ORDERS)}", "/v2/customers/someone", "/v2/orders/unknown"]
)
def test_anything_else_is_a_404_in_the_platforms_words(platform: str, path: str) -> None:
    response = httpx.get(platform + path)
    assert response.status_code == 404
    assert orjson.loads(response.content)["errors"][0]["status"] == 404


def test_one_connection_carries_many_requests(platform: str) -> None:
    opened: list[object] = []
    with httpx.Client(base_url=platform) as client:
        for index in range(5):
            response = client.get(f"/v2/orders/{order_id(index % ORDERS)}")
            opened.append(response.extensions["network_stream"])
    assert len({id(stream) for stream in opened}) == 1
