"""Every answer of an ERC route says no cache may keep it: `Cache-Control: private,
no-store`. The routes answer customers' data to X-API-Key and Basic callers, and a shared
cache protects only requests that carry `Authorization` (RFC 9111 §3.5).

Over real HTTP, the bridge (the demo store, writes on) served by its own protocol, so
that the answers written at once (`answer_at_once`) are checked as sent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.errors import ERCError
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


FRONT_DOOR_REFUSALS = {
    "uri_too_long": ("GET", f"/customers/cus_ana?q={'x' * 9000}", {}, None, 414),
    "headers_too_large": ("GET", "/customers/cus_ana", {"X-Padding": "p" * 9000}, None, 431),
    "bad_host": ("GET", "/customers/cus_ana", {"Host": "bad host"}, None, 400),
    "body_on_get": ("GET", "/customers/cus_ana", {}, b"{}", 400),
    "unknown_path": ("GET", "/customers/cus_ana/wishlist", {}, None, 404),
    "wrong_method": ("DELETE", "/customers/cus_ana", {}, None, 405),
}


@pytest.mark.parametrize(
    ("method", "route", "headers", "body", "status"),
    FRONT_DOOR_REFUSALS.values(),
    ids=FRONT_DOOR_REFUSALS.keys(),
)
def test_a_front_door_refusal_is_private(
    bridge: httpx.Client,
    method: str,
    route: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    response = bridge.request(method, PREFIXES[0] + route, headers=headers, content=body)
    assert_private(response, status)


def test_a_request_the_server_cannot_parse_is_answered_private(bridge: httpx.Client) -> None:
    host, port = str(bridge.base_url.host), bridge.base_url.port
    assert port is not None
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(b"BREW /customers/cus_ana HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert head[0].startswith(b"http/1.1 400")
    assert [line for line in head if line.startswith(b"cache-control:")] == [
        b"cache-control: private, no-store"
    ]


def test_an_error_that_chooses_its_own_caching_keeps_it() -> None:
    error = ERCError(400, "invalid_grant", "No", headers={"cache-control": "no-store"})
    assert error.response().headers.getlist("cache-control") == ["no-store"]
