"""Every answer of an ERC route says no cache may keep it: `Cache-Control: private,
no-store`. The routes answer customers' data to X-API-Key and Basic callers, and a shared
cache protects only requests that carry `Authorization` (RFC 9111 §3.5).

Over real HTTP, the bridge (the demo store, writes on) served by its own protocol, so
that the answers written at once (`answer_at_once`) are checked as sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.routes import ERC_ROUTES, PREFIXES, SLOT_ROUTES
from bridge.server import OneWriteHttpProtocol
from bridge.writes import WRITE_ROUTES
from tests.conftest import AUTH, settings
from tests.servers import serve
from tests.write_support import CANCELLABLE, OPEN_LINES, path

PRIVATE = "private, no-store"
IDS = {"customer_id": "cus_ana", "order_id": "ord_1001"}
QUERIES = {"/customers/cart": "?customer_id=cus_ana"}
"""The query a read needs to be answered 200."""


@pytest.fixture
def bridge() -> Iterator[httpx.Client]:
    app = create_app(settings(writes=True, brand="Demo Outfitters"))
    with (
        serve(app, http=OneWriteHttpProtocol, ws="none") as base,
        httpx.Client(base_url=base, headers=AUTH) as client,
    ):
        yield client


def assert_private(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers.get_list("cache-control") == [PRIVATE]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("route", ERC_ROUTES, ids=lambda route: route.path)
def test_every_read_is_private_missed_hit_and_headed(
    bridge: httpx.Client, route: Any, prefix: str
) -> None:
    url = prefix + route.path.format(**IDS) + QUERIES.get(route.path, "")
    for method in ("GET", "GET", "HEAD"):  # a miss (or hit), a hit, through the router
        assert_private(bridge.request(method, url), 200)


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/customers/nobody", AUTH, 404),
        ("/customers/cus_ana/orders?limit=0", AUTH, 400),
        ("/customers/cus_ana?brand=Other", AUTH, 404),
        ("/customers/cus_ana", {"X-API-Key": ""}, 401),
    ],
)
def test_a_read_refused_is_private(
    bridge: httpx.Client, url: str, headers: dict[str, str], status: int
) -> None:
    assert_private(bridge.get(PREFIXES[0] + url, headers=headers), status)


@pytest.mark.parametrize(("method", "route", "scope"), SLOT_ROUTES)
def test_a_slot_route_is_private(bridge: httpx.Client, method: str, route: str, scope: str) -> None:
    assert_private(bridge.request(method, PREFIXES[0] + route.format(**IDS)), 501)


WRITES = {
    "cancel_order": (CANCELLABLE, None),
    "change_shipping_address": (
        CANCELLABLE,
        {"address": "1 Rua Augusta", "city": "Lisboa", "country_code": "PT"},
    ),
    "cancel_items": ((OPEN_LINES[0], OPEN_LINES[1]), {"ids": [OPEN_LINES[2][0]]}),
}


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda route: route.action)
def test_every_write_answer_is_private_its_replay_and_refusals_too(
    bridge: httpx.Client, route: Any
) -> None:
    (customer, order), body = WRITES[route.action]
    url = path(customer, order, route.action)
    keyed = {**AUTH, "Idempotency-Key": f"private-{route.action}"}

    done = bridge.request(route.method, url, json=body, headers=keyed)
    replayed = bridge.request(route.method, url, json=body, headers=keyed)
    elsewhere = bridge.request(route.method, path("cus_yuki", order, route.action), json=body)
    not_json = bridge.request(route.method, url, content=b"{}", headers={"Content-Type": "x/y"})

    assert_private(done, 200)
    assert_private(replayed, 200)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert_private(elsewhere, 404)
    assert_private(not_json, 415)
