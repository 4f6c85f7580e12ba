"""The served process writes each answer to the socket in one piece, and bounds what a
connection can hold before its request reaches the app (bridge/server.py)."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Send
from uvicorn.server import ServerState

from bridge.limits import MAX_HEAD_BYTES, MAX_TARGET_BYTES, headers_too_large, uri_too_long
from bridge.server import (
    OneWriteHttpProtocol,
    TurnedAway,
    TurnWrites,
    WriteBatch,
    fit_descriptor_limit,
)
from tests.conftest import API_KEY, AUTH, ManualClock, R, settings, sign_cursors_at_one_moment
from tests.servers import serve


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _next_turn() -> None:
    await asyncio.sleep(0)


def test_writes_of_one_turn_reach_each_socket_as_one_write_at_its_end() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport]:
        batch = WriteBatch(asyncio.get_running_loop())
        first, second = RecordingTransport(), RecordingTransport()
        held_first, held_second = TurnWrites(first, batch), TurnWrites(second, batch)
        held_first.write(b"HTTP/1.1 200 OK\r\n\r\n")
        held_second.write(b"HTTP/1.1 404 Not Found\r\n\r\n")
        held_first.write(memoryview(b"body"))
        held_second.write(bytearray(b"missing"))
        assert first.writes == second.writes == []
        assert held_first.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await _next_turn()
        held_first.write(b"next")
        await _next_turn()
        return first, second

    first, second = asyncio.run(scenario())
    assert first.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]
    assert second.writes == [b"HTTP/1.1 404 Not Found\r\n\r\nmissing"]


def test_in_a_long_turn_what_has_waited_goes_out_at_the_next_write() -> None:
    clock = ManualClock(100.0)

    async def scenario() -> tuple[RecordingTransport, RecordingTransport, list[bytes]]:
        batch = WriteBatch(asyncio.get_running_loop(), max_hold_s=0.001, clock=clock)
        early, late = RecordingTransport(), RecordingTransport()
        TurnWrites(early, batch).write(b"first answer")
        clock.now += 0.0005
        held_late = TurnWrites(late, batch)
        held_late.write(b"second answer")
        assert early.writes == []  # not held long enough yet
        clock.now += 0.002  # the turn goes on rendering other answers
        held_late.write(b", its body")  # same connection: still one write
        TurnWrites(RecordingTransport(), batch).write(b"third answer")
        written_before_the_turn_ended = early.writes + late.writes
        await _next_turn()
        return early, late, written_before_the_turn_ended

    early, late, before_the_end = asyncio.run(scenario())
    assert before_the_end == [b"first answer", b"second answer, its body"]
    assert (early.writes, late.writes) == ([b"first answer"], [b"second answer, its body"])


def test_closing_passes_on_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport]:
        batch = WriteBatch(asyncio.get_running_loop())
        closed, aborted = RecordingTransport(), RecordingTransport()
        first, second = TurnWrites(closed, batch), TurnWrites(aborted, batch)
        first.write(b"last words")
        first.close()
        second.write(b"never sent")
        second.abort()
        await _next_turn()
        return closed, aborted

    closed, aborted = asyncio.run(scenario())
    assert (closed.writes, closed.closed) == ([b"last words"], True)
    assert (aborted.writes, aborted.aborted) == ([], True)


def test_nothing_is_written_to_a_socket_already_closing() -> None:
    async def scenario() -> RecordingTransport:
        inner = RecordingTransport()
        held = TurnWrites(inner, WriteBatch(asyncio.get_running_loop()))
        held.write(b"late")
        inner.closed = True  # the peer went away during the turn
        await _next_turn()
        return inner

    assert asyncio.run(scenario()).writes == []


async def _tiny(request: Request) -> Response:
    return Response(b"x" * int(request.query_params.get("size", "5")), media_type="text/plain")


async def _length(request: Request) -> Response:
    return Response(str(len(await request.body())).encode(), media_type="text/plain")


TINY = Starlette(
    routes=[Route("/", _tiny, methods=["GET", "POST"]), Route("/length", _length, methods=["POST"])]
)


def test_uvicorn_with_the_protocol_writes_a_whole_answer_at_once() -> None:
    async def scenario() -> RecordingTransport:
        config = uvicorn.Config(TINY, log_config=None, access_log=False, lifespan="off")
        protocol = OneWriteHttpProtocol(config, ServerState(), {})
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(b"GET /?size=3000 HTTP/1.1\r\nHost: test\r\n\r\n")
        for _ in range(50):
            await _next_turn()
            if transport.writes:
                break
        protocol.connection_lost(None)
        return transport

    writes = asyncio.run(scenario()).writes
    assert len(writes) == 1
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 3000" in head
    assert body == b"x" * 3000


@pytest.fixture
def served_bridge() -> Iterator[str]:
    from bridge.app import create_app

    with serve(create_app(settings()), http=OneWriteHttpProtocol, ws="none") as base:
        yield base


def test_answers_are_intact_over_one_kept_alive_connection(served_bridge: str) -> None:
    paths = [
        f"{R}/customers/cus_ana",
        f"{R}/customers/cus_ana/orders?limit=7",
        f"{R}/customers/cus_ana/orders/ord_1001",
        f"{R}/customers/cus_ana/orders/ord_1001/items",
        f"{R}/customers/cus_ana/most-recent-order",
        f"{R}/customers/nobody",
    ]
    from starlette.testclient import TestClient

    from bridge.app import create_app

    with TestClient(create_app(settings()), headers=AUTH) as direct:
        expected = [
            (r.status_code, r.content.replace(b"http://testserver", served_bridge.encode()))
            for r in map(direct.get, paths)
        ]
    transport = httpx.HTTPTransport(retries=0)
    with httpx.Client(base_url=served_bridge, headers=AUTH, transport=transport) as http:
        for _ in range(3):
            answers = [(r.status_code, r.content) for r in map(http.get, paths)]
            assert [status for status, _ in answers] == [200, 200, 200, 200, 200, 404]
            assert [body for _, body in answers] == [body for _, body in expected]
        head = http.head(paths[0])
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(expected[0][1])


def test_pipelined_requests_each_get_their_whole_answer(served_bridge: str) -> None:
    host, port = served_bridge.removeprefix("http://").split(":")
    request = (
        f"GET {R}/customers/cus_ana HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {API_KEY}\r\n\r\n"
    ).encode()
    closing = request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request + closing)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 2
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(
            next(line for line in head.split(b"\r\n") if line.startswith(b"content-length")).split(
                b":"
            )[1]
        )
        assert head.startswith(b"200 OK") and len(body) == length
        assert body.startswith(b'{"id":"cus_ana"')


# Guards before a request reaches the app.

SHORT_TIMEOUT_S = 0.05
SETTLE_TURNS = 50


async def _settle(transport: RecordingTransport) -> None:
    for _ in range(SETTLE_TURNS):
        await _next_turn()
        if transport.closed and transport.writes:
            return


def _protocol(
    state: ServerState | None = None, **limits: Any
) -> tuple[OneWriteHttpProtocol, RecordingTransport]:
    config = uvicorn.Config(TINY, log_config=None, access_log=False, lifespan="off")
    cls = OneWriteHttpProtocol.limited(
        header_timeout_s=limits.get("header_timeout_s", 10.0),
        body_timeout_s=limits.get("body_timeout_s", 10.0),
        max_connections=limits.get("max_connections", 100),
    )
    protocol = cls(config, state or ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def _answer(transport: RecordingTransport) -> tuple[bytes, dict[str, Any]]:
    head, _, body = b"".join(transport.writes).partition(b"\r\n\r\n")
    return head, json.loads(body)


def test_a_head_past_the_limit_is_431_before_it_ends() -> None:
    async def scenario() -> tuple[RecordingTransport, int]:
        protocol, transport = _protocol()
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\nX-Padding: ")
        fed = 0
        while not transport.closed and fed < 4 * MAX_HEAD_BYTES:
            protocol.data_received(b"p" * 1000)
            fed += 1000
        await _settle(transport)
        protocol.connection_lost(None)
        return transport, fed

    transport, fed = asyncio.run(scenario())
    assert MAX_HEAD_BYTES - 1000 < fed <= MAX_HEAD_BYTES + 1000
    head, body = _answer(transport)
    assert head.startswith(b"HTTP/1.1 431 ") and b"connection: close" in head
    assert b"content-type: application/json" in head and b"x-request-id: " in head
    assert body == json.loads(bytes(headers_too_large().response().body))
    assert transport.closed


def test_a_request_target_past_the_limit_is_414_and_too_many_headers_431() -> None:
    async def scenario(request: bytes) -> RecordingTransport:
        protocol, transport = _protocol()
        protocol.data_received(request)
        await _settle(transport)
        protocol.connection_lost(None)
        return transport

    long_target = b"GET /?q=" + b"x" * MAX_TARGET_BYTES
    _, body = _answer(asyncio.run(scenario(long_target)))
    assert body == json.loads(bytes(uri_too_long().response().body))
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(70))
    _, body = _answer(asyncio.run(scenario(many)))
    assert body["code"] == "headers_too_large"


def _exchange(base: str, *requests: bytes) -> list[bytes]:
    """Sends each request on one connection to the served `base` once the answer to the
    one before has arrived, and reads until the server closes: the bytes received after
    each."""
    host, port = base.removeprefix("http://").split(":")
    received: list[bytes] = []
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        for request in requests:
            sock.sendall(request)
            answer = b""
            while not _whole(answer) and (chunk := sock.recv(65536)):
                answer += chunk
            received.append(answer)
        assert sock.recv(65536) == b""  # closed after the last answer
    return received


def _whole(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.startswith(b"content-length: ")]
    return bool(found and lengths) and len(body) >= int(lengths[0].split(b": ")[1])


MALFORMED = {
    "non-ascii-target": b"GET /erc/\xc3\xa9cole HTTP/1.1\r\nHost: t\r\n\r\n",
    "space-in-header-name": b"GET /healthz HTTP/1.1\r\nHost: t\r\nSecret Token: s3\r\n\r\n",
    "content-length-abc": b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
    "unknown-method": b"BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    # The head is fine and the app is reading the body when its framing turns out wrong.
    "bad-chunk-in-body": b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\n",
}


def _assert_malformed_answer(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 400 Bad Request"
    assert b"content-type: application/json" in lines and b"connection: close" in lines
    assert any(line.startswith(b"x-request-id: ") for line in lines)
    assert json.loads(body) == {  # the same for all: nothing of the request is repeated
        "code": "invalid_request",
        "message": "The request is not a well-formed HTTP request",
        "description": "Its request line, a header or its body framing could not be read",
    }


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=list(MALFORMED))
def test_a_request_the_server_cannot_read_is_a_400_erc_body_and_the_connection_closes(
    served_bridge: str, request_bytes: bytes
) -> None:
    (answer,) = _exchange(served_bridge, request_bytes)
    _assert_malformed_answer(answer)


def test_a_malformed_request_after_an_answered_one_is_a_400_erc_body_too(
    served_bridge: str,
) -> None:
    first, second = _exchange(
        served_bridge,
        f"GET /healthz HTTP/1.1\r\nHost: test\r\nX-API-Key: {API_KEY}\r\n\r\n".encode(),
        MALFORMED["unknown-method"],
    )
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    _assert_malformed_answer(second)


def test_a_head_arriving_a_byte_at_a_time_within_the_limits_is_served() -> None:
    async def scenario() -> RecordingTransport:
        protocol, transport = _protocol()
        request = b"GET /?size=4 HTTP/1.1\r\nHost: test\r\nX-Padding: " + b"p" * 8000 + b"\r\n\r\n"
        for n in range(len(request)):
            protocol.data_received(request[n : n + 1])
        for _ in range(SETTLE_TURNS):
            await _next_turn()
            if transport.writes:
                break
        protocol.connection_lost(None)
        return transport

    writes = asyncio.run(scenario()).writes
    assert writes[0].startswith(b"HTTP/1.1 200 ") and writes[0].endswith(b"xxxx")


def test_an_oversize_head_after_a_request_in_flight_ends_the_connection_after_its_answer() -> None:
    async def scenario() -> RecordingTransport:
        protocol, transport = _protocol()
        protocol.data_received(
            b"GET /?size=3 HTTP/1.1\r\nHost: test\r\n\r\nGET / HTTP/1.1\r\nX-Padding: "
            + b"p" * MAX_HEAD_BYTES
        )
        await _settle(transport)
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(scenario())
    assert transport.writes[0].startswith(b"HTTP/1.1 200 ") and transport.closed
    assert b"431" not in b"".join(transport.writes)


def test_a_silent_connection_is_closed_at_the_header_timeout_without_an_answer() -> None:
    async def scenario() -> RecordingTransport:
        _, transport = _protocol(header_timeout_s=SHORT_TIMEOUT_S)
        await asyncio.sleep(SHORT_TIMEOUT_S * 4)
        return transport

    transport = asyncio.run(scenario())
    assert transport.closed and transport.writes == []


def test_a_head_not_whole_at_the_timeout_is_408_counted_from_its_first_byte() -> None:
    async def scenario() -> tuple[RecordingTransport, bool]:
        protocol, transport = _protocol(header_timeout_s=SHORT_TIMEOUT_S * 4)
        protocol.data_received(b"GET /?size=1 HTTP/1.1\r\nHost: test\r\n\r\n")
        await asyncio.sleep(SHORT_TIMEOUT_S * 6)  # answered, then idle: no head is due
        open_while_idle = not transport.closed
        protocol.data_received(b"GET / HTTP/1.1\r\nHo")
        await asyncio.sleep(SHORT_TIMEOUT_S * 8)
        protocol.connection_lost(None)
        return transport, open_while_idle

    transport, open_while_idle = asyncio.run(scenario())
    assert open_while_idle
    assert transport.writes[0].startswith(b"HTTP/1.1 200 ")
    answer = b"".join(transport.writes[1:])
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head
    assert json.loads(body)["code"] == "request_timeout"
    assert transport.closed


STEADY_PIECES = (b"a", b"bc", b"def")


def _post_slowly(
    target: bytes, length: int, *, body_timeout_s: float, then_s: float
) -> tuple[RecordingTransport, bool]:
    """A POST to `target` announcing a body of `length` bytes, `STEADY_PIECES` sent one
    every `SHORT_TIMEOUT_S`, then `then_s` of silence: the transport, and whether the
    protocol had closed it by then."""

    async def scenario() -> tuple[RecordingTransport, bool]:
        protocol, transport = _protocol(body_timeout_s=body_timeout_s)
        head = b"POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n"
        protocol.data_received(head % (target, length))
        for piece in STEADY_PIECES:  # each read moves the deadline on not at all
            await asyncio.sleep(SHORT_TIMEOUT_S)
            protocol.data_received(piece)
        await asyncio.sleep(then_s)
        closed = transport.closed
        protocol.connection_lost(None)
        return transport, closed

    return asyncio.run(scenario())


def test_a_body_not_whole_at_the_body_timeout_is_408_counted_from_the_heads_end() -> None:
    transport, closed = _post_slowly(
        b"/length", 9, body_timeout_s=SHORT_TIMEOUT_S * 4, then_s=SHORT_TIMEOUT_S * 4
    )
    assert closed
    head, body = _answer(transport)
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head
    assert body["code"] == "request_timeout" and "body" in body["description"]


def test_a_body_whole_within_the_body_timeout_is_read_by_the_app() -> None:
    # Past the deadline once the body is whole: nothing more happens.
    transport, closed = _post_slowly(
        b"/length", 6, body_timeout_s=SHORT_TIMEOUT_S * 8, then_s=SHORT_TIMEOUT_S * 8
    )
    assert not closed
    assert [w[:13] for w in transport.writes] == [b"HTTP/1.1 200 "]
    assert transport.writes[0].endswith(b"\r\n\r\n6")


def test_an_answer_before_the_body_is_not_followed_by_a_408_when_the_body_never_comes() -> None:
    transport, closed = _post_slowly(
        b"/?size=2", 1000, body_timeout_s=SHORT_TIMEOUT_S * 6, then_s=SHORT_TIMEOUT_S * 6
    )
    assert closed
    assert [w[:13] for w in transport.writes] == [b"HTTP/1.1 200 "]


def test_the_rest_of_a_body_answered_early_is_not_read_as_the_next_head() -> None:
    """Body bytes after the answer would outgrow the head limit if they counted as one."""

    async def scenario() -> tuple[RecordingTransport, bool]:
        protocol, transport = _protocol(body_timeout_s=SHORT_TIMEOUT_S * 20)
        length = 2 * MAX_HEAD_BYTES
        protocol.data_received(
            b"POST /?size=2 HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % length
        )
        await _next_turn()
        for start in range(0, length, 1000):
            protocol.data_received(b"b" * min(1000, length - start))
        protocol.data_received(b"GET /?size=3 HTTP/1.1\r\nHost: test\r\n\r\n")
        for _ in range(SETTLE_TURNS):
            await _next_turn()
            if len(transport.writes) == 2:
                break
        open_after = not transport.closed
        protocol.connection_lost(None)
        return transport, open_after

    transport, open_after = asyncio.run(scenario())
    assert [w[:13] for w in transport.writes] == [b"HTTP/1.1 200 "] * 2
    assert transport.writes[1].endswith(b"\r\n\r\nxxx") and open_after


def test_past_the_cap_a_connection_gets_503_at_once_and_is_not_counted() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport, int]:
        state = ServerState()
        first, _ = _protocol(state, max_connections=1)
        second, turned_away = _protocol(state, max_connections=1)
        count = len(state.connections)
        second.connection_lost(None)
        first.connection_lost(None)
        third, admitted = _protocol(state, max_connections=1)
        third.data_received(b"GET /?size=2 HTTP/1.1\r\nHost: test\r\n\r\n")
        for _ in range(SETTLE_TURNS):
            await _next_turn()
            if admitted.writes:
                break
        third.connection_lost(None)
        return turned_away, admitted, count

    turned_away, admitted, count = asyncio.run(scenario())
    assert count == 1 and turned_away.closed
    head, body = _answer(turned_away)
    assert head.startswith(b"HTTP/1.1 503 ") and b"\r\nretry-after: 1" in head
    assert b"connection: close" in head
    assert body["code"] == "unavailable"
    assert admitted.writes[0].startswith(b"HTTP/1.1 200 ")


def test_the_service_defaults_are_the_protocol_defaults() -> None:
    defaults = settings()
    assert defaults.header_timeout_s == OneWriteHttpProtocol.header_timeout_s
    assert defaults.body_timeout_s == OneWriteHttpProtocol.body_timeout_s
    assert defaults.max_connections == OneWriteHttpProtocol.max_connections


@pytest.mark.parametrize(
    ("limits", "raised_to", "warned"),
    [
        ((4096, 65536), None, False),
        ((1024, 65536), 65536, False),
        ((256, 512), 512, True),
    ],
)
def test_the_descriptor_limit_is_raised_for_the_cap_or_a_warning_says_it_is_short(
    monkeypatch: pytest.MonkeyPatch,
    limits: tuple[int, int],
    raised_to: int | None,
    warned: bool,
) -> None:
    raised: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: limits)
    monkeypatch.setattr(resource, "setrlimit", lambda _, value: raised.append(value))
    with structlog.testing.capture_logs() as logs:
        fit_descriptor_limit(1000)
    assert raised == ([] if raised_to is None else [(raised_to, limits[1])])
    events = [line["event"] for line in logs]
    assert ("descriptor_limit_low" in events) is warned


def test_turned_away_connections_are_told_in_one_line_at_most_every_ten_seconds() -> None:
    turned_away = TurnedAway(max_connections=5)
    with structlog.testing.capture_logs() as logs:
        for now in (100.0, 100.5, 101.0, 109.0, 110.0, 110.1):
            turned_away.note(now)
    assert [(line["count"], line["total"]) for line in logs] == [(1, 1), (4, 5)]
    assert {line["event"] for line in logs} == {"connections_turned_away"}


# The keep-alive timeout: one timer per connection, moved on while requests keep coming.

KEEP_ALIVE_S = 0.2


async def _paced(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("wait", "0")))
    return Response(b"ok", media_type="text/plain")


PACED = Starlette(routes=[Route("/", _paced)])


def _kept_alive() -> tuple[OneWriteHttpProtocol, RecordingTransport]:
    config = uvicorn.Config(
        PACED,
        log_config=None,
        access_log=False,
        lifespan="off",
        # Typed as whole seconds, used as any number of them: a fifth keeps the tests short.
        timeout_keep_alive=KEEP_ALIVE_S,  # type: ignore[arg-type]
    )
    protocol = OneWriteHttpProtocol(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def _answers(transport: RecordingTransport) -> int:
    return b"".join(transport.writes).count(b"HTTP/1.1 200 OK")


def test_an_idle_connection_is_closed_at_the_keep_alive_timeout_after_its_last_answer() -> None:
    async def scenario() -> list[tuple[int, bool]]:
        protocol, transport = _kept_alive()
        seen = []
        for _ in range(3):  # each request comes before the timeout counted from the last answer
            protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            await asyncio.sleep(KEEP_ALIVE_S * 0.6)
            seen.append((_answers(transport), transport.closed))
        await asyncio.sleep(KEEP_ALIVE_S * 0.6)
        seen.append((_answers(transport), transport.closed))
        protocol.connection_lost(None)
        return seen

    assert asyncio.run(scenario()) == [(1, False), (2, False), (3, False), (3, True)]


def test_a_connection_is_not_closed_for_keep_alive_while_a_request_is_served() -> None:
    async def scenario() -> tuple[bool, int, bool]:
        protocol, transport = _kept_alive()
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        await asyncio.sleep(KEEP_ALIVE_S * 0.5)
        wait = KEEP_ALIVE_S * 2  # the first answer's timer fires while this one is served
        protocol.data_received(f"GET /?wait={wait} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        await asyncio.sleep(KEEP_ALIVE_S * 2.2)
        open_after_the_slow_answer = not transport.closed
        answered = _answers(transport)
        await asyncio.sleep(KEEP_ALIVE_S * 1.5)
        protocol.connection_lost(None)
        return open_after_the_slow_answer, answered, transport.closed

    assert asyncio.run(scenario()) == (True, 2, True)


def test_a_lost_connection_leaves_no_keep_alive_timer_behind() -> None:
    async def scenario() -> tuple[bool, bool]:
        protocol, _ = _kept_alive()
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        await asyncio.sleep(KEEP_ALIVE_S * 0.3)
        armed = protocol.timeout_keep_alive_task is not None
        protocol.connection_lost(ConnectionResetError())
        return armed, protocol.timeout_keep_alive_task is None

    assert asyncio.run(scenario()) == (True, True)


def test_a_request_read_with_the_rest_of_a_body_answered_early_is_not_cut_by_keep_alive() -> None:
    """The body's end marks the connection idle; the next request, begun in that same
    read, must clear the mark, or the keep-alive timer closes the connection under it."""
    early_then_paced = Starlette(
        routes=[Route("/", _tiny, methods=["POST"]), Route("/paced", _paced)]
    )
    with serve(
        early_then_paced,
        http=OneWriteHttpProtocol,
        ws="none",
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_S,
    ) as base:
        early, paced = _exchange(
            base,
            b"POST /?size=2 HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n12345",
            # The rest of that body and a request outlasting the keep-alive timeout, in one read.
            b"67890GET /paced?wait=%g HTTP/1.1\r\nHost: test\r\n\r\n" % (KEEP_ALIVE_S * 3),
        )
    assert early.startswith(b"HTTP/1.1 200 ") and early.endswith(b"xx")
    assert paced.startswith(b"HTTP/1.1 200 ") and paced.endswith(b"ok")


# An ERC answer written at once (`answer_at_once`): the bytes uvicorn's `send` writes.

DATE = (b"date", b"Sat, 05 Dec 2026 08:00:00 GMT")


def _bridge_request(path: str, *lines: str, method: str = "GET") -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: test", f"X-API-Key: {API_KEY}", *lines]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


async def _bridge_connection() -> tuple[OneWriteHttpProtocol, RecordingTransport]:
    """A connection to a fresh bridge (the demo store), served by the protocol."""
    from bridge.app import create_app

    app = create_app(settings())
    sign_cursors_at_one_moment(app)
    await app.state.bridge.adapter.open()
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    state = ServerState()
    state.default_headers = [DATE]
    protocol = OneWriteHttpProtocol(config, state, {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def _send_of(protocol: OneWriteHttpProtocol) -> Send:
    """The ASGI `send` of the protocol's request, as the app is given it: uvicorn types the
    callable with its own message types, Starlette (and `answer_at_once`) with mappings."""
    return cast(Send, protocol.cycle.send)


async def _served_by_protocol(requests: list[bytes]) -> tuple[list[bytes], bool]:
    """Each request on one connection to a fresh bridge, and what was written for each."""
    protocol, transport = await _bridge_connection()
    answers = []
    for request in requests:
        before = len(transport.writes)
        protocol.data_received(request)
        for _ in range(SETTLE_TURNS):
            await _next_turn()
            if protocol.cycle.response_complete and len(transport.writes) > before:
                break
        answers.append(b"".join(transport.writes[before:]))
    protocol.connection_lost(None)
    return answers, transport.closed


ONE_CONNECTION = [
    _bridge_request(f"{R}/customers/cus_ana/orders/ord_1001", "X-Request-Id: first"),
    _bridge_request(f"{R}/customers/cus_ana/orders/ord_1001", "X-Request-Id: second"),
    _bridge_request(f"{R}/customers/cus_ana/orders?limit=2&extra=1", "X-Request-Id: third"),
    _bridge_request(f"{R}/customers/cus_ana", "X-Request-Id: fourth", method="HEAD"),
    _bridge_request(f"{R}/customers/nobody", "X-Request-Id: fifth"),
    _bridge_request(f"{R}/customers/cus_ana", "X-Request-Id: last", "Connection: close"),
]


def test_an_erc_answer_written_at_once_is_byte_for_byte_what_uvicorn_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge import routes, server

    taken: list[bool] = []

    def noting(*args: Any) -> bool:
        taken.append(server.answer_at_once(*args))
        return taken[-1]

    monkeypatch.setattr(routes, "answer_at_once", noting)
    at_once, closed = asyncio.run(_served_by_protocol(ONE_CONNECTION))
    # The miss, the hit, the list and the customer are written at once; the HEAD goes
    # through the router, whose `send` is wrapped; the 404 is an error answer.
    assert taken == [True, True, True, False, True]
    monkeypatch.setattr(routes, "answer_at_once", lambda *args: False)
    by_uvicorn, closed_by_uvicorn = asyncio.run(_served_by_protocol(ONE_CONNECTION))
    assert at_once == by_uvicorn
    assert closed and closed_by_uvicorn
    heads = [answer.partition(b"\r\n\r\n")[0] for answer in at_once]
    assert heads[0].startswith(b"HTTP/1.1 200 OK\r\ndate: ") and b"x-cache: MISS" in heads[0]
    assert b"x-cache: HIT" in heads[1] and b"\r\nx-request-id: second" in heads[1]
    assert heads[3].startswith(b"HTTP/1.1 200 ") and at_once[3].endswith(b"\r\n\r\n")
    assert heads[4].startswith(b"HTTP/1.1 404 ")
    assert heads[5].endswith(b"x-request-id: last\r\nconnection: close")


def test_a_caller_gone_before_its_answer_gets_nothing_written() -> None:
    async def scenario() -> tuple[RecordingTransport, bool]:
        protocol, transport = await _bridge_connection()
        protocol.data_received(_bridge_request(f"{R}/customers/cus_ana"))
        cycle = protocol.cycle
        protocol.connection_lost(None)  # before the app has run
        for _ in range(SETTLE_TURNS):
            await _next_turn()
        return transport, cycle.response_complete

    transport, complete = asyncio.run(scenario())
    assert transport.writes == [] and not complete


def test_default_headers_uvicorn_would_refuse_are_not_written_at_once() -> None:
    from bridge.server import answer_at_once

    async def scenario(defaults: list[tuple[bytes, bytes]]) -> tuple[bool, list[bytes]]:
        config = uvicorn.Config(TINY, log_config=None, access_log=False, lifespan="off")
        state = ServerState()
        state.default_headers = defaults
        protocol = OneWriteHttpProtocol(config, state, {})
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        headers = [(b"content-length", b"2")]
        written = answer_at_once(_send_of(protocol), 200, headers, b"ok")
        return written, list(transport.writes)  # before the app has run

    written, _ = asyncio.run(scenario([DATE]))
    assert written
    for refused in ([(b"x-bad", b"a\r\nb")], [(b"X-Upper", b"1")], [(b"connection", b"close")]):
        written, writes = asyncio.run(scenario(refused))
        assert not written and writes == []


def test_an_answer_written_at_once_reaches_the_socket_before_the_turn_ends() -> None:
    from bridge.server import answer_at_once

    async def scenario() -> tuple[bool, list[bytes]]:
        protocol, transport = await _bridge_connection()
        protocol.data_received(_bridge_request(f"{R}/customers/cus_ana"))
        written = answer_at_once(_send_of(protocol), 200, [(b"content-length", b"5")], b"whole")
        return written, list(transport.writes)  # in the same turn

    written, writes = asyncio.run(scenario())
    assert written and len(writes) == 1 and writes[0].endswith(b"\r\n\r\nwhole")


def test_a_whole_answer_goes_out_behind_what_its_connection_holds() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        batch = WriteBatch(asyncio.get_running_loop())
        inner, other = RecordingTransport(), RecordingTransport()
        held, alone = TurnWrites(inner, batch), TurnWrites(other, batch)
        held.write(b"first, ")
        held.write_whole(b"second")
        alone.write_whole(b"at once")
        before_the_turn_ended = list(inner.writes)
        await _next_turn()
        return before_the_turn_ended, inner.writes, other.writes

    before, inner_writes, other_writes = asyncio.run(scenario())
    assert before == [] and inner_writes == [b"first, second"]
    assert other_writes == [b"at once"]
