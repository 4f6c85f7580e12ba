"""Request bodies read within a bound, and callers that leave before theirs arrived."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message

from bridge.app import create_app
from bridge.bodies import ClientGone, read_body
from bridge.webhooks import SeenDeliveries, WebhookEndpoint
from tests.conftest import AUTH, R, settings
from tests.test_webhooks import EP_SECRET, Forgotten, elasticpath


class TooLarge(Exception):
    pass


def http(method: str, path: str, headers: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


class Caller:
    """Sends `messages` as the request, notes the answer, and counts what was read."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.read = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.read += 1
        if self.messages:
            return self.messages.pop(0)
        await asyncio.sleep(3600)  # nothing more will come
        raise AssertionError

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(starts[0]["status"]) if starts else None


def run(app: ASGIApp, scope: dict[str, Any], caller: Caller) -> None:
    asyncio.run(asyncio.wait_for(app(scope, caller.receive, caller.send), 5))


def chunk(data: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


GONE: Message = {"type": "http.disconnect"}


def test_a_body_in_pieces_is_read_whole() -> None:
    caller = Caller([chunk(b'{"a"'), chunk(b":1}", more=False)])
    body = asyncio.run(read_body(http("POST", "/"), caller.receive, 100, TooLarge))
    assert body == b'{"a":1}'


def test_a_declared_length_past_the_bound_is_refused_before_reading() -> None:
    caller = Caller([chunk(b"x" * 10, more=False)])
    scope = http("POST", "/", [("Content-Length", "101")])
    with pytest.raises(TooLarge):
        asyncio.run(read_body(scope, caller.receive, 100, TooLarge))
    assert caller.read == 0


def test_pieces_past_the_bound_are_refused_whatever_the_declared_length() -> None:
    caller = Caller([chunk(b"x" * 60), chunk(b"x" * 60), chunk(b"", more=False)])
    scope = http("POST", "/", [("Content-Length", "10")])
    with pytest.raises(TooLarge):
        asyncio.run(read_body(scope, caller.receive, 100, TooLarge))
    assert caller.read == 2


def test_a_caller_leaving_mid_body_is_told_apart() -> None:
    caller = Caller([chunk(b'{"a"'), GONE])
    with pytest.raises(ClientGone):
        asyncio.run(read_body(http("POST", "/"), caller.receive, 100, TooLarge))


def test_a_webhook_whose_sender_left_mid_body_is_refused_and_forgets_nothing() -> None:
    forgotten = Forgotten()
    endpoint = WebhookEndpoint(elasticpath(), forgotten, seen=SeenDeliveries())
    app = Starlette(routes=[endpoint.route()])
    headers = [("Content-Type", "application/json"), ("X-MOLTIN-SECRET-KEY", EP_SECRET)]
    caller = Caller([chunk(b'{"id": "d-1", "triggered_by": "order.updated"'), GONE])
    run(app, http("POST", "/webhooks/elasticpath", headers), caller)
    assert caller.status == 400
    assert forgotten.nothing


def test_a_token_request_whose_caller_left_mid_body_is_400_not_500() -> None:
    client = "talkdesk-connections:client-secret-7d41c9a2-5b0e-4f68-93ac:"
    client += "erc-ecommerce-connections-customers:read"
    app = create_app(
        settings(oauth_clients=client, token_secret="token-secret-for-tests-0123456789abcdef")
    )
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    caller = Caller([chunk(b"grant_type=client_credentials&client_id=talk"), GONE])
    run(app, http("POST", "/oauth/token", headers), caller)
    assert caller.status == 400


def test_a_write_whose_caller_left_mid_body_changes_nothing_and_is_no_server_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_app(settings(writes=True))
    asyncio.run(app.state.bridge.adapter.open())
    headers = [*AUTH.items(), ("Content-Type", "application/json"), ("Content-Length", "40")]
    path = f"{R}/customers/cus_ana/orders/ord_1005/cancel"
    caller = Caller([chunk(b'{"cancel_reason": "cha'), GONE])
    run(app, http("POST", path, headers), caller)
    assert caller.status is None  # no one to answer
    logged = capsys.readouterr().out
    assert '"status":499' in logged and '"status":500' not in logged
    assert "client_gone" in logged
    reread = Caller([])
    run(app, http("GET", f"{R}/customers/cus_ana/orders/ord_1005", AUTH.items()), reread)
    body = b"".join(m.get("body", b"") for m in reread.sent)
    assert reread.status == 200
    assert b"CANCELED" not in body
