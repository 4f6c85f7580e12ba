"""Routes are matched on the path's segments as sent (`bridge/middleware.py`): a `%2F` in
a path id stays in that id, which the id rules refuse, and reaches no other route; dot
segments, plain or encoded, are ids like any other."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from bridge.app import create_app
from bridge.params import ID_CHARACTERS, MAX_ID_LENGTH
from bridge.routes import PREFIXES
from bridge.server import OneWriteHttpProtocol
from tests.conftest import API_KEY, RecordingDemoAdapter, access_lines, decode, settings
from tests.servers import serve
from tests.write_support import R, RecordingWrites

ID_RULE = f"must be 1 to {MAX_ID_LENGTH} characters of {ID_CHARACTERS}"


def refused_id(name: str) -> dict[str, Any]:
    return {
        "code": "invalid_request",
        "message": f"Invalid request parameters: {name}",
        "fields": [{"name": name, "description": ID_RULE}],
    }


NO_ROUTE = {"code": "not_found", "message": "No such route"}

# A `%2F` inside an id: the route that answers (after the prefix) and the id it refuses.
# Decoded whole, most of these paths reached another route: `cus_ana%2Forders` was the
# order list of `cus_ana`.
ENCODED_SLASHES = {
    "/customers/cus_ana%2Forders": ("/customers/{customer_id}", "customer_id"),
    "/customers/cus_ana%2forders%2ford_1001": ("/customers/{customer_id}", "customer_id"),
    "/customers/cus_ana%2Fmost-recent-order": ("/customers/{customer_id}", "customer_id"),
    "/customers/cus_ana%2Fshipments": ("/customers/{customer_id}", "customer_id"),
    "/customers/cus_ana/orders/ord_1001%2Fitems": (
        "/customers/{customer_id}/orders/{order_id}",
        "order_id",
    ),
    "/customers/cus_ana%2Forders/orders/ord_1001": (
        "/customers/{customer_id}/orders/{order_id}",
        "customer_id",
    ),
}


@pytest.mark.usefixtures("info_logging")
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("path", ENCODED_SLASHES)
def test_an_encoded_slash_stays_in_its_id_and_the_id_is_refused(
    make_client: Callable[..., TestClient],
    recorder: RecordingDemoAdapter,
    capsys: pytest.CaptureFixture[str],
    prefix: str,
    path: str,
) -> None:
    client = make_client(recorder)
    capsys.readouterr()
    response = client.get(prefix + path)
    route, refused = ENCODED_SLASHES[path]
    assert response.status_code == 400
    assert decode(response) == refused_id(refused)
    (access,) = access_lines(capsys.readouterr().out)
    assert access["route"] == prefix + route
    assert recorder.calls == []
    assert len(client.app.state.bridge.cache) == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path",
    [
        "/erc/ecommerce%2Fconnections/customers/cus_ana",
        "/erc%2Fecommerce/customers/cus_ana",
        f"{R}/customers%2Fcus_ana",
        f"{R}/customers%2Fcus_ana/orders",
        f"{R}/customers/cus_ana%2Forders/ord_1001",
        f"{R}%2Fproducts",
    ],
)
def test_an_encoded_slash_between_literal_segments_matches_no_route(
    make_client: Callable[..., TestClient], recorder: RecordingDemoAdapter, path: str
) -> None:
    response = make_client(recorder).get(path)
    assert response.status_code == 404
    assert decode(response) == NO_ROUTE
    assert recorder.calls == []


# The write routes go through the router, which matches on the same path.


def test_a_slash_encoded_into_an_order_id_does_not_reach_the_cancel_route(
    writes: TestClient, recording: RecordingWrites
) -> None:
    # Decoded whole, this was `POST …/orders/ord_1005/cancel`, and cancelled the order.
    response = writes.post(f"{R}/customers/cus_ana/orders/ord_1005%2Fcancel", json={})
    assert response.status_code == 405  # the order's path, which serves GET only
    assert response.headers["allow"] == "GET, HEAD"
    assert decode(response)["code"] == "method_not_allowed"
    response = writes.post(f"{R}/customers/cus_ana%2Forders%2Ford_1005/cancel", json={})
    assert response.status_code == 404
    assert decode(response) == NO_ROUTE
    assert recording.calls == []
    order = decode(writes.get(f"{R}/customers/cus_ana/orders/ord_1005"))
    assert "cancellation_status" not in order


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_write_route_refuses_a_customer_id_holding_an_encoded_slash(
    writes: TestClient, recording: RecordingWrites, prefix: str
) -> None:
    response = writes.post(
        f"{prefix}/customers/cus_ana%2Fx/orders/ord_1005/cancel", json={"cancel_reason": "late"}
    )
    assert response.status_code == 400
    assert decode(response) == refused_id("customer_id")
    assert recording.calls == []


# Served over HTTP, with the request target exactly as written: no client in between
# that could normalize it.


def exchange(base: str, target: str) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {API_KEY}\r\n"
        "Connection: close\r\n\r\n"
    )
    received = b""
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request.encode())
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


SERVED: dict[str, tuple[int, dict[str, Any]]] = {
    f"{R}/customers/cus_ana%2Forders": (400, refused_id("customer_id")),
    f"{R}/customers/cus_ana%2Forders%2Ford_1001": (400, refused_id("customer_id")),
    "/erc/ecommerce%2Fconnections/customers/cus_ana": (404, NO_ROUTE),
    f"{R}/customers/cus_ana/orders/..": (400, refused_id("order_id")),
    f"{R}/customers/cus_ana/orders/%2e%2e": (400, refused_id("order_id")),
    f"{R}/customers/%2E%2E/orders": (400, refused_id("customer_id")),
    f"{R}/customers/./orders": (400, refused_id("customer_id")),
    f"{R}/customers/cus_ana/orders/ord_1001/..": (404, NO_ROUTE),
    f"{R}/customers/cus_ana/..%2F..%2Fproducts": (404, NO_ROUTE),
    f"{R}/customers/cus_ana/%2e%2e/%2e%2e/products": (404, NO_ROUTE),
    f"{R}/products/..": (404, NO_ROUTE),
}


def test_served_paths_with_encoded_slashes_or_dot_segments_reach_no_other_route() -> None:
    recorder = RecordingDemoAdapter()
    app = create_app(settings(), adapter=recorder)
    answers = {}
    with serve(app, http=OneWriteHttpProtocol, ws="none") as base:
        for target in SERVED:
            status, body = exchange(base, target)
            answers[target] = (status, json.loads(body))
    assert answers == SERVED
    assert recorder.calls == []
