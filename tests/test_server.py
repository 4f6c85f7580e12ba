"""The served process writes each answer to the socket in one piece (bridge/server.py)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.server import ServerState

from bridge.server import OneWriteHttpProtocol, TurnWrites, WriteBatch
from tests.conftest import API_KEY, AUTH, R, settings
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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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
    clock = Clock()

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


TINY = Starlette(routes=[Route("/", _tiny, methods=["GET", "POST"])])


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
def served_bridge() -> Any:
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
