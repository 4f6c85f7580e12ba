"""The front door (`bridge/middleware.py`): ERC reads served straight from it answer like
the router would, the Host header is validated, and every request gets an id."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.app import create_app
from bridge.middleware import FrontDoor, route_path
from tests.conftest import (
    API_KEY,
    AUTH,
    R,
    RecordingDemoAdapter,
    access_lines,
    decode,
    json_lines,
    settings,
    sign_cursors_at_one_moment,
)
from tests.erc_contract import check
from tests.servers import serve

SHORT = "/erc/ecommerce"
ROUTES = [
    "/customers/cus_ana",
    "/customers/cus_ana/orders",
    "/customers/cus_ana/orders/ord_1001",
    "/customers/cus_ana/orders/ord_1001/items",
    "/customers/cus_ana/most-recent-order",
]
PATHS = [prefix + route for prefix in (R, SHORT) for route in ROUTES]
CUSTOMER = f"{R}/customers/cus_ana"
CUSTOMER_ROUTE = f"{R}/customers/{{customer_id}}"
ORDERS_ROUTE = f"{R}/customers/{{customer_id}}/orders"
WRONG_KEY = {"X-API-Key": "not-the-key-0123456789abcdef0123456789"}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


class ExplodingAdapter(RecordingDemoAdapter):
    """The demo store with a bug: looking a customer up raises."""

    async def get_customer(self, customer_id: str) -> Any:
        self.calls.append(("get_customer", (customer_id,)))
        raise RuntimeError("kaboom: internal detail 7f3e")


def router_only_client(**overrides: Any) -> TestClient:
    """The bridge with a front door that knows no ERC routes: every request, GETs on ERC
    routes included, goes through the router."""
    app = create_app(settings(**overrides), adapter=RecordingDemoAdapter())
    app.user_middleware[:] = [Middleware(FrontDoor, metrics=app.state.metrics)]
    sign_cursors_at_one_moment(app)
    return TestClient(app, headers=AUTH)


def headers_without_id(response: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]


def watch_router(app: Any) -> list[tuple[str, str]]:
    """The (method, path) of every HTTP request that reaches the app's router from now on."""
    routed: list[tuple[str, str]] = []
    inner = app.router.middleware_stack

    async def watching(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            routed.append((scope["method"], scope["path"]))
        await inner(scope, receive, send)

    app.router.middleware_stack = watching
    return routed


# ERC reads: straight from the front door, or through the router, alike.


@pytest.mark.parametrize("path", PATHS)
def test_get_and_head_answer_alike(make_client: Callable[..., TestClient], path: str) -> None:
    getter, header = make_client(), make_client()
    got = getter.get(path)
    head = header.head(path)
    assert got.status_code == head.status_code == 200
    assert got.content
    assert head.content == b""
    assert got.headers["content-type"] == head.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) == len(got.content)
    assert got.headers["x-cache"] == head.headers["x-cache"] == "MISS"
    assert headers_without_id(got) == headers_without_id(head)
    # Both ways in fill and read the same cache entry.
    head_hit = getter.head(path)
    get_hit = header.get(path)
    assert head_hit.headers["x-cache"] == get_hit.headers["x-cache"] == "HIT"
    assert get_hit.content == got.content
    assert headers_without_id(head_hit) == headers_without_id(get_hit)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        *[(path, AUTH) for path in PATHS],
        (f"{R}/customers/cus_ana/orders?limit=2&order_by=order_number:asc", AUTH),
        (f"{R}/customers/cus_ana/orders/ord_1001/items?order_by=price:desc", AUTH),
        (f"{R}/customers/nobody", AUTH),
        (f"{R}/customers/CUS_ANA", AUTH),
        (f"{R}/customers/cus%5Fana/orders/ord_1001", AUTH),
        (f"{R}/customers/a%20b/orders", AUTH),
        (f"{R}/customers/cus_ana/orders?limit=0", AUTH),
        (f"{R}/customers/cus_ana/orders?cursor=forged", AUTH),
        (f"{R}/customers/cus_ana?brand=Other", AUTH),
        (CUSTOMER, {"X-API-Key": "wrong-key"}),
        (CUSTOMER, {"X-API-Key": ""}),
    ],
)
def test_fast_path_answers_byte_for_byte_like_the_router(
    make_client: Callable[..., TestClient], path: str, headers: dict[str, str]
) -> None:
    fast = make_client(brand="Demo Outfitters")
    sign_cursors_at_one_moment(fast.app)
    with router_only_client(brand="Demo Outfitters") as routed:
        via_router = routed.get(path, headers=headers)
    direct = fast.get(path, headers=headers)
    assert direct.status_code == via_router.status_code
    assert direct.content == via_router.content
    assert headers_without_id(direct) == headers_without_id(via_router)
    assert GENERATED_ID.match(direct.headers["x-request-id"])
    assert GENERATED_ID.match(via_router.headers["x-request-id"])


def test_erc_gets_skip_the_router_and_everything_else_goes_through_it(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    routed = watch_router(client.app)
    for path in PATHS:
        assert client.get(path).status_code == 200
    assert client.get(f"{R}/customers/nobody").status_code == 404
    assert client.get(CUSTOMER, headers={"X-API-Key": "wrong"}).status_code == 401
    assert routed == []
    assert client.head(CUSTOMER).status_code == 200
    assert client.post(CUSTOMER).status_code == 405
    assert client.get("/healthz").status_code == 200
    assert client.get(f"{R}/customers/").status_code == 404
    assert routed == [
        ("HEAD", CUSTOMER),
        ("POST", CUSTOMER),
        ("GET", "/healthz"),
        ("GET", f"{R}/customers/"),
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (CUSTOMER, {"X-API-Key": "wrong"}, 401),
        (f"{R}/customers/nobody", AUTH, 404),
        (f"{R}/customers/cus_ana/orders?limit=0", AUTH, 400),
        (f"{R}/customers/cus_ana?brand=Other", AUTH, 404),
    ],
)
def test_erc_route_errors_say_they_were_not_cached(
    make_client: Callable[..., TestClient],
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    response = make_client(brand="Demo Outfitters").request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-cache"] == "MISS"


@pytest.mark.parametrize(
    ("method", "path"),
    [*[("POST", path) for path in PATHS], *[(m, CUSTOMER) for m in ("PUT", "PATCH", "DELETE")]],
)
def test_other_methods_on_erc_routes_are_405_with_allow(
    make_client: Callable[..., TestClient], path: str, method: str
) -> None:
    response = make_client().request(method, path, headers={"X-Request-Id": "wrong-method-1"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["x-request-id"] == "wrong-method-1"
    body = decode(response)
    check(body, "error")
    assert body["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "path",
    [
        f"{R}/customers/",
        f"{SHORT}/customers/",
        f"{R}/",
        "/erc/",
        f"{R}/customers",
        f"{R}/customers/cus_ana/carts",
        f"{R}/customers/cus_ana/orders/ord_1001/items/extra",
        "/erc/ecommerce/connections2/customers/cus_ana",
        "/ERC/ecommerce/connections/customers/cus_ana",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown_erc_looking_paths_are_the_404_erc_body(
    make_client: Callable[..., TestClient], path: str, method: str
) -> None:
    response = make_client().request(method, path, headers={"X-Request-Id": "lost-1"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "lost-1"
    assert "x-cache" not in response.headers
    if method == "GET":
        body = decode(response)
        check(body, "error")
        assert body == {"code": "not_found", "message": "No such route"}


@pytest.mark.parametrize("path", [*PATHS, "/healthz", "/metrics", "/openapi.json"])
@pytest.mark.parametrize("headers", [AUTH, WRONG_KEY], ids=["right-key", "wrong-key"])
def test_a_trailing_slash_is_404_never_a_redirect_to_the_callers_host(
    make_client: Callable[..., TestClient],
    recorder: RecordingDemoAdapter,
    path: str,
    headers: dict[str, str],
) -> None:
    # Starlette would answer a 307 to `http://{Host}{path}` before any authentication.
    client = make_client(recorder)
    response = client.get(
        f"{path}/", headers={**headers, "Host": "attacker.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "attacker.example" not in response.text
    assert decode(response) == {"code": "not_found", "message": "No such route"}
    assert recorder.calls == []
    assert len(client.app.state.bridge.cache) == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", PATHS)
def test_routes_match_under_a_root_path(path: str) -> None:
    app = create_app(settings(), adapter=RecordingDemoAdapter())
    with TestClient(app, headers=AUTH, root_path="/bridge") as client:
        routed = watch_router(app)
        got = client.get(f"/bridge{path}")
        assert routed == []  # the front door matched the route itself
        head = client.head(f"/bridge{path}")
        assert got.status_code == head.status_code == 200
        assert int(head.headers["content-length"]) == len(got.content)
        assert decode(got)["_links"]["self"]["href"].startswith(f"http://testserver/bridge{path}")
        # A server that leaves the root out of `path` is matched on the path as given.
        assert client.get(path).status_code == 200
        # A root that is only a prefix of the first segment is not stripped.
        assert client.get(f"/bridgeX{path}").status_code == 404


def test_an_explicit_asgi_scope_with_a_root_path_is_served() -> None:
    app = create_app(settings(), adapter=RecordingDemoAdapter())
    path = f"/shop-1{R}/customers/cus_ana/orders/ord_1001"
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "/shop-1",
        "query_string": b"",
        "headers": [
            (b"host", b"bridge.example.com"),
            (b"x-api-key", API_KEY.encode()),
            (b"x-request-id", b"scoped-1"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("bridge.example.com", 443),
    }

    with TestClient(app) as client:  # runs the lifespan: the demo store is opened
        assert client.portal is not None
        sent = client.portal.call(answered, app, scope)

    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"x-request-id"] == b"scoped-1"
    assert headers[b"x-cache"] == b"MISS"
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(sent[1]["body"])
    assert not sent[1].get("more_body", False)
    body = json.loads(sent[1]["body"])
    assert body["id"] == "ord_1001"
    assert body["_links"]["self"]["href"] == f"https://bridge.example.com{path}"


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/erc/x", "", "/erc/x"),
        ("/bridge/erc/x", "/bridge", "/erc/x"),
        ("/bridge", "/bridge", ""),
        ("/bridgeX/erc/x", "/bridge", "/bridgeX/erc/x"),
        ("/erc/x", "/bridge", "/erc/x"),
        ("/a/b/erc/x", "/a/b", "/erc/x"),
    ],
)
def test_route_path_strips_only_a_whole_root(path: str, root: str, expected: str) -> None:
    assert route_path({"path": path, "root_path": root}) == expected


# The Host header: validated, and never able to make two requests share an answer.

JOHN_ORDERS = f"{R}/customers/cus_john/orders"
# Under a key that was one concatenated string, the first request's self href was
# http://h{JOHN_ORDERS}?limit=1&x={JOHN_ORDERS}, exactly the second one's: the second
# (asking for one order) was answered with the first one's cached page of twenty.
CRAFTED_HOST = f"h{JOHN_ORDERS}?limit=1&x="
VICTIM_QUERY = f"limit=1&x={JOHN_ORDERS}"


@pytest.mark.parametrize(
    "host",
    [CRAFTED_HOST, "evil.example/x", "a b", "user@evil.example", "h:port", "h:123456", "[::1", ""],
)
@pytest.mark.parametrize("path", [CUSTOMER, "/healthz", f"{CUSTOMER}/"])
def test_a_malformed_host_is_400_before_anything_else(
    make_client: Callable[..., TestClient], recorder: RecordingDemoAdapter, host: str, path: str
) -> None:
    client = make_client(recorder)
    response = client.get(path, headers={"Host": host}, follow_redirects=False)
    assert response.status_code == 400
    body = decode(response)
    check(body, "error")
    assert body["code"] == "invalid_request"
    assert [f["name"] for f in body["fields"]] == ["Host"]
    assert "location" not in response.headers
    assert recorder.calls == []
    assert len(client.app.state.bridge.cache) == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "host", ["bridge.example.com", "127.0.0.1:8080", "[::1]:8080", "erc_bridge:8080", "B.EX."]
)
def test_a_well_formed_host_is_what_links_repeat(
    make_client: Callable[..., TestClient], host: str
) -> None:
    response = make_client().get(CUSTOMER, headers={"Host": host})
    assert response.status_code == 200
    assert decode(response)["_links"]["self"]["href"] == f"http://{host}{CUSTOMER}"


def test_a_crafted_host_no_longer_answers_another_request_over_http() -> None:
    recorder = RecordingDemoAdapter()
    app = create_app(settings(), adapter=recorder)
    with serve(app) as base, httpx.Client(base_url=base, headers=AUTH) as http:
        crafted = http.get(JOHN_ORDERS, headers={"Host": CRAFTED_HOST})
        assert crafted.status_code == 400
        assert recorder.calls == []
        victim = http.get(f"{JOHN_ORDERS}?{VICTIM_QUERY}", headers={"Host": "h"})
    assert victim.status_code == 200
    assert victim.headers["x-cache"] == "MISS"
    assert len(decode(victim)["_embedded"]["orders"]) == 1


def test_the_cache_key_keeps_host_path_and_query_apart() -> None:
    # Past the front door's Host check, the key alone keeps the two requests apart.
    app = create_app(settings(), adapter=RecordingDemoAdapter())
    endpoint = next(
        r.endpoint for r in app.routes if isinstance(r, Route) and r.path == ORDERS_ROUTE
    )
    with TestClient(app) as client:
        assert client.portal is not None
        crafted = client.portal.call(endpoint_answer, endpoint, CRAFTED_HOST, "")
        victim = client.portal.call(endpoint_answer, endpoint, "h", VICTIM_QUERY)
    assert len(crafted["_embedded"]["orders"]) == 20
    assert len(victim["_embedded"]["orders"]) == 1
    assert len(app.state.bridge.cache) == 2


async def endpoint_answer(endpoint: ASGIApp, host: str, query: str) -> Any:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": JOHN_ORDERS,
        "raw_path": JOHN_ORDERS.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", host.encode()), (b"x-api-key", API_KEY.encode())],
        "path_params": {"customer_id": "cus_john"},
        "client": ("127.0.0.1", 40000),
    }

    sent = await answered(endpoint, scope)
    assert sent[0]["status"] == 200
    return json.loads(sent[1]["body"])


def test_under_a_public_url_links_ignore_the_host_and_hosts_share_entries(
    make_client: Callable[..., TestClient], recorder: RecordingDemoAdapter
) -> None:
    client = make_client(recorder, public_url="https://bridge.example.com/shop-1")
    one = client.get(CUSTOMER, headers={"Host": "one.example"})
    two = client.get(CUSTOMER, headers={"Host": "two.example:8443"})
    assert (one.headers["x-cache"], two.headers["x-cache"]) == ("MISS", "HIT")
    assert decode(two)["_links"]["self"]["href"] == f"https://bridge.example.com/shop-1{CUSTOMER}"
    assert "example:8443" not in two.text
    assert len(recorder.calls) == 1


# Request ids.


@pytest.mark.parametrize("offered", ["abc-123", "A.b_c:d-9", "x" * 128, "0"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_safe_request_id_is_echoed(
    make_client: Callable[..., TestClient], offered: str, method: str
) -> None:
    response = make_client().request(method, CUSTOMER, headers={"X-Request-Id": offered})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == offered


@pytest.mark.parametrize(
    "offered", ["a b", "x" * 129, "", "a/b", "a;b", "<script>", "id,other", "tab\tid"]
)
def test_an_unsafe_request_id_is_replaced_by_a_generated_one(
    make_client: Callable[..., TestClient], offered: str
) -> None:
    response = make_client().get(CUSTOMER, headers={"X-Request-Id": offered})
    assert response.status_code == 200
    assert response.headers["x-request-id"] != offered
    assert GENERATED_ID.match(response.headers["x-request-id"])


def through_front_door(app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    """Run one GET /other through a front door around `app`; the messages it sent."""
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/other",
        "raw_path": b"/other",
        "query_string": b"",
        "headers": headers,
    }
    return asyncio.run(answered(FrontDoor(app), scope))


async def answered(app: ASGIApp, scope: Scope) -> list[Message]:
    """The messages `app` sends for one bodiless request with `scope`."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def half_answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    raise RuntimeError("after the start")


def test_a_request_id_ending_in_a_newline_is_not_echoed() -> None:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = through_front_door(ok, [(b"x-request-id", b"abc\n")])
    echoed = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert GENERATED_ID.match(echoed)


def test_generated_request_ids_differ(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    ids = {client.get(CUSTOMER).headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20
    assert all(GENERATED_ID.match(i) for i in ids)


def test_the_first_of_repeated_headers_is_the_one_read(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    twice = [("X-Request-Id", "first-id"), ("X-Request-Id", "second-id")]
    assert client.get(CUSTOMER, headers=twice).headers["x-request-id"] == "first-id"
    good_first = [("X-API-Key", API_KEY), ("X-API-Key", "wrong")]
    bad_first = [("X-API-Key", "wrong"), ("X-API-Key", API_KEY)]
    assert client.get(CUSTOMER, headers=good_first).status_code == 200
    assert client.get(CUSTOMER, headers=bad_first).status_code == 401


MANY_HEADERS = {f"X-H{n}": "1" for n in range(70)}


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status", "code"),
    [
        ("GET", f"{R}/customers/cus_ana/orders?search={'x' * 9000}", {}, None, 414, "uri_too_long"),
        ("GET", f"{R}/customers/{'a' * 1100}", {}, None, 414, "uri_too_long"),
        ("GET", CUSTOMER, MANY_HEADERS, None, 431, "headers_too_large"),
        ("GET", CUSTOMER, {"X-Padding": "x" * 9000}, None, 431, "headers_too_large"),
        ("GET", CUSTOMER, {}, b'{"id": "x"}', 400, "invalid_request"),
        ("HEAD", CUSTOMER, {}, b"x", 400, None),
        ("POST", "/healthz", MANY_HEADERS, None, 431, None),
    ],
)
def test_refusals_echo_the_request_id_and_close(
    make_client: Callable[..., TestClient],
    recorder: RecordingDemoAdapter,
    method: str,
    path: str,
    headers: dict[str, str],
    content: bytes | None,
    status: int,
    code: str | None,
) -> None:
    client = make_client(recorder)
    offered = client.request(
        method, path, headers={**headers, "X-Request-Id": "refused-1"}, content=content
    )
    assert offered.status_code == status
    assert offered.headers["x-request-id"] == "refused-1"
    assert offered.headers["connection"] == "close"
    if code is not None:
        body = decode(offered)
        check(body, "error")
        assert body["code"] == code
    generated = client.request(method, path, headers=headers, content=content)
    assert generated.status_code == status
    assert GENERATED_ID.match(generated.headers["x-request-id"])
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", CUSTOMER, {"X-API-Key": "wrong"}, 401),
        ("HEAD", CUSTOMER, {"X-API-Key": "wrong"}, 401),
        ("GET", CUSTOMER, {"X-API-Key": ""}, 401),
        ("GET", f"{R}/customers/nobody", {}, 404),
        ("HEAD", f"{R}/customers/nobody", {}, 404),
        ("GET", "/nowhere", {}, 404),
        ("GET", f"{R}/customers/cus_ana/orders?limit=x", {}, 400),
        ("GET", "/healthz", {}, 200),
        ("GET", "/metrics", {}, 200),
    ],
)
def test_every_answer_carries_the_request_id(
    make_client: Callable[..., TestClient],
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    response = make_client().request(method, path, headers={**headers, "X-Request-Id": "every-1"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "every-1"
    assert response.headers.get_list("x-request-id") == ["every-1"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.usefixtures("info_logging")
def test_an_unexpected_exception_is_a_500_quoting_the_request_id(
    make_client: Callable[..., TestClient],
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    adapter = ExplodingAdapter()
    client = make_client(adapter)
    capsys.readouterr()
    response = client.request(method, CUSTOMER, headers={"X-Request-Id": "bug-42"})
    out = capsys.readouterr().out
    assert adapter.calls == [("get_customer", ("cus_ana",))]

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-42"
    assert response.headers["content-type"] == "application/json"
    if method == "GET":
        body = decode(response)
        check(body, "error")
        assert body["code"] == "internal_error"
        assert "bug-42" in body["description"]
        for leak in ("Traceback", "RuntimeError", "kaboom", "7f3e", "File "):
            assert leak not in response.text
    lines = json_lines(out)
    errors = [line for line in lines if line.get("event") == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "bug-42"
    assert "RuntimeError" in json.dumps(errors[0])
    (access,) = access_lines(out)
    assert (access["status"], access["request_id"], access["route"]) == (
        500,
        "bug-42",
        CUSTOMER_ROUTE,
    )


@pytest.mark.usefixtures("info_logging")
def test_a_500_quotes_a_generated_request_id(make_client: Callable[..., TestClient]) -> None:
    response = make_client(ExplodingAdapter()).get(CUSTOMER)
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.match(request_id)
    assert request_id in decode(response)["description"]


@pytest.mark.usefixtures("info_logging")
def test_an_exception_after_the_answer_began_sends_nothing_more() -> None:
    sent = through_front_door(half_answer, [(b"x-request-id", b"half-1")])
    assert len(sent) == 1
    assert sent[0]["status"] == 202
    assert (b"x-request-id", b"half-1") in sent[0]["headers"]


def test_an_exception_after_the_answer_began_is_logged_with_the_status_sent(
    capsys: pytest.CaptureFixture[str], info_logging: None
) -> None:
    through_front_door(half_answer, [])
    assert [line["status"] for line in access_lines(capsys.readouterr().out)] == [202]


async def _noop_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


@pytest.mark.parametrize("with_path_parameter", [False, True])
def test_a_path_is_matched_by_the_first_route_of_its_depth(with_path_parameter: bool) -> None:
    """Routes are looked up among those with as many `/`, in matching order; a `{…:path}`
    parameter (which may hold `/`) has every route tried."""
    paths = ["/erc/x/cart", "/erc/x/{customer_id}", "/erc/x/{customer_id}/orders/{order_id}"]
    if with_path_parameter:
        paths.append("/erc/files/{rest:path}")
    routes = [Route(path, _noop_endpoint) for path in paths]
    door = FrontDoor(_noop_endpoint, erc_routes=routes)
    expected = {
        "/erc/x/cart": routes[0],
        "/erc/x/ana": routes[1],
        "/erc/x/ana/orders/1": routes[2],
        "/erc/x/ana/orders": None,
        "/erc/x/ana/orders/1/": None,
        "/erc/files/a/b/c": routes[3] if with_path_parameter else None,
    }
    for path, route in expected.items():
        scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path}
        assert door._erc_route(scope) is route, path
