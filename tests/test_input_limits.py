"""Input limits: path ids, URI length, header size and bodies on GET, each refused with a
clear error before the platform is asked anything."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.app import create_app
from bridge.limits import MAX_HEAD_BYTES, MAX_TARGET_BYTES
from bridge.server import OneWriteHttpProtocol
from tests.conftest import AUTH, R, RecordingDemoAdapter, decode, settings
from tests.erc_contract import check
from tests.servers import serve

ROUTES_WITH_ORDER = ("", "/items")


def assert_refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = decode(response)
    check(body, "error")
    assert body["code"] == code
    return dict(body)


def field_names(body: dict[str, Any]) -> set[str]:
    return {f["name"] for f in body.get("fields", [])}


# Path ids.

# As written in the URL: clients remove literal `.` and `..` segments themselves.
BAD_IDS = [
    "a" * 129,
    "%2E%2E",
    "%2E",
    "-._~",
    "cus ana",
    "cus%00ana",
    "cus%09ana",
    "<script>",
    "cus'ana",
    'cus"ana',
    "cus;drop",
    "cus,ana",
    "cus*",
    "(eq)",
    "ана",
    "cus_ana\u200b",
    "%2e%2e",
]
GOOD_IDS = [
    "a" * 128,
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "100000123",
    "ord_123",
    "ORD.2024.07-15",
    "user+tag@example.com",
    "urn:shop:42",
    "a=b",
    "~x",
    "-1",
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    "template",
    [
        "/customers/{id}",
        "/customers/{id}/orders",
        "/customers/{id}/most-recent-order",
        "/customers/{id}/orders/ord_1001",
        "/customers/{id}/orders/ord_1001/items",
    ],
)
def test_bad_customer_id_is_400_naming_it(
    client: TestClient, recorder: RecordingDemoAdapter, bad: str, template: str
) -> None:
    body = assert_refused(client.get(R + template.format(id=bad)), 400, "invalid_request")
    assert field_names(body) == {"customer_id"}
    assert recorder.calls == []


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("suffix", ROUTES_WITH_ORDER)
def test_bad_order_id_is_400_naming_it(
    client: TestClient, recorder: RecordingDemoAdapter, bad: str, suffix: str
) -> None:
    response = client.get(f"{R}/customers/cus_ana/orders/{bad}{suffix}")
    body = assert_refused(response, 400, "invalid_request")
    assert field_names(body) == {"order_id"}
    assert recorder.calls == []


def test_every_bad_parameter_is_listed_at_once(
    client: TestClient, recorder: RecordingDemoAdapter
) -> None:
    response = client.get(f"{R}/customers/a b/orders/%2E%2E/items?limit=0&order_by=colour:up")
    body = assert_refused(response, 400, "invalid_request")
    assert field_names(body) == {"customer_id", "order_id", "limit", "order_by"}
    response = client.get(f"{R}/customers/a b/orders/x y/items")
    assert field_names(assert_refused(response, 400, "invalid_request")) == {
        "customer_id",
        "order_id",
    }
    assert recorder.calls == []


@pytest.mark.parametrize("good", GOOD_IDS)
def test_real_platform_ids_reach_the_adapter(
    client: TestClient, recorder: RecordingDemoAdapter, good: str
) -> None:
    assert_refused(client.get(f"{R}/customers/{good}"), 404, "not_found")
    assert_refused(client.get(f"{R}/customers/cus_ana/orders/{good}"), 404, "not_found")
    assert recorder.calls == [("get_customer", (good,)), ("get_order", ("cus_ana", good))]


def test_unauthenticated_bad_ids_are_401_not_400(
    client: TestClient, recorder: RecordingDemoAdapter
) -> None:
    assert client.get(f"{R}/customers/a b", headers={"X-API-Key": ""}).status_code == 401
    assert recorder.calls == []


# URI, query string and headers.


def test_long_query_string_is_414(client: TestClient, recorder: RecordingDemoAdapter) -> None:
    response = client.get(f"{R}/customers/cus_ana/orders?search={'x' * 9000}")
    assert_refused(response, 414, "uri_too_long")
    many = "&".join(f"p{n}=1" for n in range(2000))
    assert_refused(client.get(f"{R}/customers/cus_ana?{many}"), 414, "uri_too_long")
    assert recorder.calls == []


def test_long_path_is_414(client: TestClient, recorder: RecordingDemoAdapter) -> None:
    assert_refused(client.get(f"{R}/customers/{'a' * 1100}"), 414, "uri_too_long")
    assert recorder.calls == []


def test_query_string_just_under_the_limit_is_served(client: TestClient) -> None:
    padding = "x" * (8192 - len("unknown=") - 1)
    assert client.get(f"{R}/customers/cus_ana?unknown={padding}").status_code == 200


def test_large_headers_are_431(client: TestClient, recorder: RecordingDemoAdapter) -> None:
    big = client.get(f"{R}/customers/cus_ana", headers={"X-Padding": "x" * 9000})
    assert_refused(big, 431, "headers_too_large")
    many = client.get(f"{R}/customers/cus_ana", headers={f"X-H{n}": "1" for n in range(70)})
    assert_refused(many, 431, "headers_too_large")
    assert recorder.calls == []


def test_ordinary_headers_are_served(client: TestClient) -> None:
    headers = {f"X-H{n}": "v" * 50 for n in range(40)}
    assert client.get(f"{R}/customers/cus_ana", headers=headers).status_code == 200


# Bodies on GET.


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_body_on_get_is_400(
    client: TestClient, recorder: RecordingDemoAdapter, method: str
) -> None:
    response = client.request(method, f"{R}/customers/cus_ana", content=b'{"id": "x"}')
    assert response.status_code == 400
    if method == "GET":
        assert_refused(response, 400, "invalid_request")
    assert recorder.calls == []


def test_chunked_body_on_get_is_400(client: TestClient, recorder: RecordingDemoAdapter) -> None:
    def chunks() -> Any:
        yield b"a"
        yield b"b"

    response = client.request("GET", f"{R}/customers/cus_ana", content=chunks())
    assert_refused(response, 400, "invalid_request")
    assert recorder.calls == []


def test_empty_content_length_on_get_is_fine(client: TestClient) -> None:
    response = client.get(f"{R}/customers/cus_ana", headers={"Content-Length": "0"})
    assert response.status_code == 200


# The same over real HTTP, where the connection must survive or close cleanly.


@pytest.fixture(scope="module")
def served() -> Any:
    recorder = RecordingDemoAdapter()
    app = create_app(settings(), adapter=recorder)
    with serve(app, http=OneWriteHttpProtocol, ws="none") as base:
        yield base, recorder


def test_over_http_body_on_get_is_refused_and_the_next_request_works(served: Any) -> None:
    base, recorder = served
    recorder.calls.clear()
    with httpx.Client(base_url=base, headers=AUTH) as http:
        refused = http.request("GET", f"{R}/customers/cus_ana", content=b"x" * 100_000)
        assert_refused(refused, 400, "invalid_request")
        assert recorder.calls == []
        assert http.get(f"{R}/customers/cus_ana").status_code == 200


def test_over_http_large_headers_and_bad_ids_are_refused(served: Any) -> None:
    base, recorder = served
    recorder.calls.clear()
    with httpx.Client(base_url=base, headers=AUTH) as http:
        big = http.get(f"{R}/customers/cus_ana", headers={"X-Padding": "x" * 9000})
        assert_refused(big, 431, "headers_too_large")
        encoded = http.get(f"{R}/customers/cus%20ana")
        assert field_names(assert_refused(encoded, 400, "invalid_request")) == {"customer_id"}
        slash = http.get(f"{R}/customers/cus%2Fana")  # one segment: the id holds the slash
        assert field_names(assert_refused(slash, 400, "invalid_request")) == {"customer_id"}
    assert recorder.calls == []


def test_over_http_raw_request_with_a_body_on_get(served: Any) -> None:
    """A hand-written request, as a client that ignores conventions would send it."""
    base, recorder = served
    recorder.calls.clear()
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET {R}/customers/cus_ana HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {AUTH['X-API-Key']}\r\n"
        "Content-Length: 5\r\n\r\nhello"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in answer.lower()
    assert recorder.calls == []


MANY_HEADERS = "".join(f"X-H{n}: 1\r\n" for n in range(65))


@pytest.mark.parametrize(
    ("target", "padding", "status", "code"),
    [
        (f"{R}/customers/cus_ana?q={'x' * 9000}", "", 414, "uri_too_long"),
        (f"{R}/customers/cus_ana?q={'x' * MAX_TARGET_BYTES}", "", 414, "uri_too_long"),
        (f"{R}/customers/cus_ana", f"X-Padding: {'p' * 9000}\r\n", 431, "headers_too_large"),
        (
            f"{R}/customers/cus_ana",
            f"X-Padding: {'p' * MAX_HEAD_BYTES}\r\n",
            431,
            "headers_too_large",
        ),
        (f"{R}/customers/cus_ana", MANY_HEADERS, 431, "headers_too_large"),
    ],
)
def test_over_http_the_server_and_the_front_door_refuse_alike(
    served: Any, target: str, padding: str, status: int, code: str
) -> None:
    """Within the head limit the front door refuses; past it, the server, with the same
    answer and without reading on."""
    base, recorder = served
    recorder.calls.clear()
    host, port = base.removeprefix("http://").split(":")
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {AUTH['X-API-Key']}\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"{request}{padding}\r\n".encode())
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # what was left unread
            while chunk := sock.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"connection: close" in head.lower() and b"x-request-id: " in head.lower()
    assert decode(httpx.Response(status, content=body))["code"] == code
    assert recorder.calls == []
