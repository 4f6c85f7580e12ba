"""The keep-alive HTTP/1.1 pool, against servers on 127.0.0.1 that answer exactly as
scripted (raw bytes), and against uvicorn."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.decoding import STEP_BYTES, decoded
from adapters.http import HTTPConfig, Outgoing, UpstreamClient, _HTTP1Wire
from adapters.http1 import (
    MAX_ANSWER_HEADERS,
    HTTP1Pool,
    NotConnected,
    NotSentInTime,
    Origin,
    ProtocolError,
    Slots,
)
from tests.servers import serve

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
HANG = b""  # no answer at all
DROP = b"<drop>"  # close the connection without answering
Answer = bytes | Callable[[bytes], bytes]


@dataclass
class Scripted:
    """Answers the n-th request with the n-th script entry (the last one repeats)."""

    script: list[Answer]
    close_after: set[int] = field(default_factory=set)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                index = len(self.requests) - 1
                answer = self.script[min(index, len(self.script) - 1)]
                answer = answer(request) if callable(answer) else answer
                if answer == HANG:
                    await asyncio.sleep(30)
                    return
                if answer == DROP:
                    return
                writer.write(answer)
                await writer.drain()
                if index in self.close_after:
                    return
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def scripted(
    *script: Answer, close_after: set[int] | None = None
) -> AsyncIterator[tuple[Scripted, Origin]]:
    server = Scripted(list(script), close_after or set())
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, Origin.of(f"http://127.0.0.1:{port}")
    finally:
        listening.close()


def pool_for(origin: Origin, **options: float) -> HTTP1Pool:
    defaults: dict[str, float] = {"max_connections": 8, "connect_timeout": 2, "pool_timeout": 2}
    defaults.update(options)
    return HTTP1Pool(
        origin,
        max_connections=int(defaults["max_connections"]),
        connect_timeout=defaults["connect_timeout"],
        pool_timeout=defaults["pool_timeout"],
    )


def get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


async def test_answers_come_back_whole_over_one_kept_alive_connection() -> None:
    async with scripted(OK) as (server, origin):
        pool = pool_for(origin)
        for _ in range(5):
            response = await pool.exchange(get(), within_s=2, idempotent=True)
            assert (response.status, response.body) == (200, b"ok")
        await pool.close()
    assert server.connections == 1
    assert len(server.requests) == 5


async def test_headers_come_back_as_sent() -> None:
    answer = b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n"
    async with scripted(answer) as (_, origin):
        pool = pool_for(origin)
        response = await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()
    assert response.status == 429
    assert (b"Retry-After", b"3") in response.headers and (b"X-A", b"1") in response.headers


async def test_connection_close_is_honoured() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with scripted(closing) as (server, origin):  # says close, but leaves it open
        pool = pool_for(origin)
        for _ in range(3):
            assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        await pool.close()
    assert server.connections == 3


async def test_chunked_bodies_are_joined() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
    )
    async with scripted(chunked) as (server, origin):
        pool = pool_for(origin)
        first = await pool.exchange(get(), within_s=2, idempotent=True)
        second = await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()
    assert first.body == second.body == b"hello world"
    assert server.connections == 1


async def test_a_body_delimited_by_close_is_read_to_the_end() -> None:
    async with scripted(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 70_000, close_after={0, 1}) as (
        server,
        origin,
    ):
        pool = pool_for(origin)
        response = await pool.exchange(get(), within_s=2, idempotent=True)
        again = await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()
    assert response.body == again.body == b"x" * 70_000
    assert server.connections == 2


async def test_informational_answers_are_skipped() -> None:
    async with scripted(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK) as (_, origin):
        pool = pool_for(origin)
        response = await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()
    assert (response.status, response.body) == (200, b"ok")


@pytest.mark.parametrize(
    ("first_answer", "close_after"),
    [
        (OK, {0}),  # closed after the first answer, without saying so
        (OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra", set()),  # unasked bytes
    ],
    ids=["closed-silently", "unasked-answer"],
)
async def test_a_connection_the_platform_spoiled_while_idle_is_replaced(
    first_answer: bytes, close_after: set[int]
) -> None:
    async with scripted(first_answer, OK, close_after=close_after) as (server, origin):
        pool = pool_for(origin)
        assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        await asyncio.sleep(0.05)
        assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        await pool.close()
    assert server.connections == 2


@pytest.mark.parametrize("idempotent", [True, False])
async def test_a_request_dropped_unanswered_is_sent_again_only_when_idempotent(
    idempotent: bool,
) -> None:
    # The platform closes a kept-alive connection just as the second request arrives.
    async with scripted(OK, DROP, OK) as (server, origin):
        pool = pool_for(origin)
        await pool.exchange(get("/first"), within_s=2, idempotent=True)
        second = pool.exchange(get("/second"), within_s=2, idempotent=idempotent)
        if idempotent:
            assert (await second).body == b"ok"
        else:
            with pytest.raises(ConnectionError, match="without answering") as dropped:
                await second
            assert not isinstance(dropped.value, NotConnected)  # it was written: it may count
        await pool.close()
    sent = [request.split(b" ")[1] for request in server.requests]
    assert sent == ([b"/first", b"/second", b"/second"] if idempotent else [b"/first", b"/second"])
    assert server.connections == (2 if idempotent else 1)


async def test_a_late_answer_is_a_timeout_and_its_connection_is_dropped() -> None:
    async with scripted(HANG, OK) as (server, origin):
        pool = pool_for(origin)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await pool.exchange(get(), within_s=0.2, idempotent=True)
        assert asyncio.get_running_loop().time() - started < 1
        assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        await pool.close()
    assert server.connections == 2


async def test_a_cancelled_exchange_drops_its_connection() -> None:
    async with scripted(HANG, OK) as (server, origin):
        pool = pool_for(origin)
        pending = asyncio.ensure_future(pool.exchange(get(), within_s=5, idempotent=True))
        await asyncio.sleep(0.1)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        await pool.close()
    assert server.connections == 2


SWITCHING_PROTOCOLS = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
)


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        SWITCHING_PROTOCOLS,
    ],
    ids=["not-http", "bad-length", "bad-chunk", "switching-protocols"],
)
async def test_an_answer_that_is_not_http_is_a_protocol_error(answer: bytes) -> None:
    async with scripted(answer, OK) as (_, origin):
        pool = pool_for(origin)
        with pytest.raises(ProtocolError):
            await pool.exchange(get(), within_s=2, idempotent=True)
        assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        await pool.close()


async def test_an_answer_cut_short_is_a_connection_error() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    async with scripted(cut, close_after={0}) as (_, origin):
        pool = pool_for(origin)
        with pytest.raises(ConnectionError, match="middle of the answer"):
            await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()


async def test_nothing_listening_is_a_connection_error_before_sending() -> None:
    async with scripted(OK) as (_, origin):
        pass  # closed again: the port is free
    pool = pool_for(origin)
    with pytest.raises(NotConnected):
        await pool.exchange(get(), within_s=2, idempotent=False)


async def test_a_connection_not_opened_in_time_is_a_timeout_before_sending() -> None:
    async with scripted(OK) as (server, origin):
        pool = pool_for(origin, connect_timeout=0)
        with pytest.raises(NotSentInTime):
            await pool.exchange(get(), within_s=2, idempotent=False)
        await pool.close()
    assert server.requests == []


async def test_a_new_connection_closed_unanswered_may_have_had_the_request() -> None:
    async with scripted(DROP) as (server, origin):
        pool = pool_for(origin)
        with pytest.raises(ConnectionError, match="without answering") as dropped:
            await pool.exchange(get(), within_s=2, idempotent=False)
        await pool.close()
    assert not isinstance(dropped.value, NotConnected)
    assert len(server.requests) == 1


async def test_connections_are_capped_and_a_long_wait_for_one_times_out() -> None:
    async with scripted(OK) as (server, origin):
        pool = pool_for(origin, max_connections=2)
        answers = await asyncio.gather(
            *(pool.exchange(get(), within_s=5, idempotent=True) for _ in range(10))
        )
        assert all(answer.body == b"ok" for answer in answers)
        assert server.most_open <= 2
        await pool.close()
    async with scripted(HANG) as (_, origin):
        pool = pool_for(origin, max_connections=1, pool_timeout=0.1)
        first = asyncio.ensure_future(pool.exchange(get(), within_s=5, idempotent=True))
        await asyncio.sleep(0.05)
        with pytest.raises(NotSentInTime):  # a timeout, before the request was written
            await pool.exchange(get(), within_s=5, idempotent=True)
        first.cancel()
        await pool.close()


POOL_IDLE_S = 0.2
BALANCER_IDLE_S = 0.5
"""A load balancer on the way forgets a connection idle this long, without a word."""


@dataclass
class ForgetfulBalancer:
    """Answers OK, except on a connection idle past `BALANCER_IDLE_S`: like a load
    balancer that dropped its state, it swallows the request and never answers."""

    connections: int = 0
    swallowed: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        loop = asyncio.get_running_loop()
        last_seen = loop.time()
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                if loop.time() - last_seen > BALANCER_IDLE_S:
                    self.swallowed += 1
                    await reader.read()  # until the client gives up
                    return
                writer.write(OK)
                await writer.drain()
                last_seen = loop.time()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


async def test_a_connection_idle_past_the_idle_time_is_not_reused() -> None:
    balancer = ForgetfulBalancer()
    listening = await asyncio.start_server(balancer.handle, "127.0.0.1", 0)
    origin = Origin.of(f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}")
    pool = HTTP1Pool(
        origin, max_connections=2, connect_timeout=2, pool_timeout=2, idle_timeout=POOL_IDLE_S
    )
    try:
        for _ in range(3):  # used within the idle time: kept
            assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
            await asyncio.sleep(POOL_IDLE_S / 4)
        assert balancer.connections == 1
        await asyncio.sleep(BALANCER_IDLE_S + 0.1)  # past both idle times
        assert (await pool.exchange(get(), within_s=2, idempotent=True)).body == b"ok"
        assert (balancer.connections, balancer.swallowed) == (2, 0)
    finally:
        await pool.close()
        listening.close()


# The wire: request framing and decoding


def echo(request: bytes) -> bytes:
    body = request
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_requests_carry_the_base_path_query_and_merged_headers() -> None:
    async with scripted(echo) as (_, origin):
        base = f"http://127.0.0.1:{origin.port}/stores/abc"
        wire = _HTTP1Wire(base, {"X-Auth-Token": "t0", "Accept": "text/plain"}, HTTPConfig())
        outgoing = Outgoing(
            "GET", "/v3/orders", {"a b": "c&d", "n": [1, 2]}, {"x-auth-token": "t1"}
        )
        response = await wire.exchange(outgoing, 2)
        await wire.close()
    head, _ = response.content.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /stores/abc/v3/orders?a+b=c%26d&n=1&n=2 HTTP/1.1"
    headers = [line.lower() for line in lines[1:]]
    assert f"host: 127.0.0.1:{origin.port}" in headers
    assert "x-auth-token: t1" in headers and "x-auth-token: t0" not in headers
    assert "accept: text/plain" in headers
    assert "accept-encoding: gzip, deflate" in headers


async def test_form_posts_carry_their_length_and_type() -> None:
    async with scripted(echo) as (_, origin):
        wire = _HTTP1Wire(f"http://127.0.0.1:{origin.port}", {}, HTTPConfig())
        form = {"grant_type": "client_credentials", "client_secret": "a/b+c"}
        response = await wire.exchange(Outgoing("POST", "/oauth", data=form), 2)
        await wire.close()
    head, body = response.content.split(b"\r\n\r\n", 1)
    assert body == b"grant_type=client_credentials&client_secret=a%2Fb%2Bc"
    assert f"content-length: {len(body)}".encode() in head.lower()
    assert b"content-type: application/x-www-form-urlencoded" in head.lower()


@pytest.mark.parametrize(
    ("headers", "path"),
    [({"Authorization": "Bearer x\r\nX-Injected: 1"}, "/a"), ({}, "/a\r\nX-Injected: 1")],
)
async def test_a_line_break_in_a_request_sends_nothing(headers: dict[str, str], path: str) -> None:
    async with scripted(OK) as (server, origin):
        wire = _HTTP1Wire(f"http://127.0.0.1:{origin.port}", {}, HTTPConfig())
        with pytest.raises(ValueError, match="line break"):
            await wire.exchange(Outgoing("GET", path, headers=headers), 2)
        await wire.close()
    assert server.connections == 0


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (b"gzip", gzip.compress),
        (b"deflate", zlib.compress),
        (b"deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
    ],
)
async def test_compressed_answers_reach_adapters_decoded(
    encoding: bytes, encode: Callable[[bytes], bytes]
) -> None:
    body = encode(b'{"data": []}')
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        encoding,
        len(body),
        body,
    )
    async with scripted(answer) as (_, origin):
        wire = _HTTP1Wire(f"http://127.0.0.1:{origin.port}", {}, HTTPConfig())
        response = await wire.exchange(Outgoing("GET", "/"), 2)
        await wire.close()
    assert response.json() == {"data": []}


def gzipped_answer(body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
    return head % len(body) + body


async def answer_through_the_wire(answer: bytes, *, then_close: bool = False) -> bytes:
    async with scripted(answer, close_after={0} if then_close else set()) as (_, origin):
        wire = _HTTP1Wire(f"http://127.0.0.1:{origin.port}", {}, HTTPConfig())
        try:
            return (await wire.exchange(Outgoing("GET", "/"), 2)).content
        finally:
            await wire.close()


async def test_a_corrupt_compressed_answer_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="corrupt"):
        await answer_through_the_wire(gzipped_answer(b"nope"))


ORDERS = b'{"data": [' + b", ".join(b'{"id": "%d"}' % n for n in range(100)) + b"]}"
GZIP_MEMBERS = {
    "two-members": gzip.compress(ORDERS[:500]) + gzip.compress(ORDERS[500:]),
    "padded": gzip.compress(ORDERS[:500]) + bytes(3) + gzip.compress(ORDERS[500:]) + bytes(5),
    "a-member-a-byte": b"".join(gzip.compress(ORDERS[n : n + 1]) for n in range(len(ORDERS))),
    "empty-members": gzip.compress(b"") + gzip.compress(ORDERS) + gzip.compress(b"") * 3,
}


@pytest.mark.parametrize("body", GZIP_MEMBERS.values(), ids=GZIP_MEMBERS.keys())
async def test_every_member_of_a_gzip_answer_reaches_adapters(body: bytes) -> None:
    assert gzip.decompress(body) == ORDERS
    assert await answer_through_the_wire(gzipped_answer(body)) == ORDERS


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["no-content", "empty-200"],
)
async def test_an_empty_answer_labelled_gzip_is_empty(head: bytes) -> None:
    """Some servers and proxies label every answer, bodies or none (BigCommerce answers an
    empty list with 204)."""
    assert await answer_through_the_wire(head) == b""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (gzip.compress(ORDERS) + b"<html>trailer</html>", "corrupt"),
        (gzip.compress(ORDERS) + b"\x1f", "cut short"),
        (gzip.compress(ORDERS[:500]) + gzip.compress(ORDERS[500:])[:-6], "cut short"),
    ],
    ids=["trailing-garbage", "trailing-byte", "second-member-truncated"],
)
async def test_anything_but_a_whole_member_after_a_gzip_member_is_a_protocol_error(
    body: bytes, reason: str
) -> None:
    with pytest.raises(ProtocolError, match=reason):
        await answer_through_the_wire(gzipped_answer(body))


def chunked(body: bytes, size: int = 100) -> bytes:
    pieces = [body[n : n + size] for n in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


async def test_an_answer_in_a_transfer_coding_ended_by_close_is_read_whole() -> None:
    # RFC 9112 §6.3: not chunked last, so the body ends when the connection does.
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + gzip.compress(ORDERS)
    assert await answer_through_the_wire(answer, then_close=True) == ORDERS


async def test_a_transfer_coding_under_chunked_is_undone_too() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    assert await answer_through_the_wire(head + chunked(gzip.compress(ORDERS))) == ORDERS


async def test_a_gzip_answer_of_many_empty_members_gives_others_their_turn() -> None:
    turns = 0

    async def other_request() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_request())
    await asyncio.sleep(0)
    try:
        body = gzip.compress(b"") * 20_000 + gzip.compress(b"{}")
        assert await decoded(b"gzip", body, max_bytes=1024) == b"{}"
        turns_before_the_end = turns
    finally:
        other.cancel()
    assert turns_before_the_end > 10


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        (b"gzip", gzip.compress(b'{"data": []}')[:-6], "cut short"),
        (b"gzip", gzip.compress(bytes(3 * STEP_BYTES)), "over"),
        (b"gzip", gzip.compress(bytes(STEP_BYTES)) * 3, "over"),
    ],
    ids=["truncated", "over-the-cap", "members-over-the-cap"],
)
async def test_an_answer_that_does_not_decode_within_the_cap_is_a_protocol_error(
    encoding: bytes, body: bytes, reason: str
) -> None:
    with pytest.raises(ProtocolError, match=reason):
        await decoded(encoding, body, max_bytes=2 * STEP_BYTES)


async def test_an_answer_decoding_to_the_cap_exactly_is_whole() -> None:
    data = bytes(range(256)) * (2 * STEP_BYTES // 256)
    for encode in (gzip.compress, zlib.compress):
        encoding = b"gzip" if encode is gzip.compress else b"deflate"
        assert await decoded(encoding, encode(data), max_bytes=len(data)) == data


def test_origins_are_read_from_base_urls() -> None:
    assert Origin.of("https://api.example.com/stores/x") == Origin(
        "https", "api.example.com", 443, "/stores/x"
    )
    assert Origin.of("http://127.0.0.1:8080").host_header == "127.0.0.1:8080"
    assert Origin.of("https://api.example.com:443").host_header == "api.example.com"
    assert Origin.of("http://[::1]:9000").host_header == "[::1]:9000"
    with pytest.raises(ValueError):
        Origin.of("ftp://example.com")


# Real servers


async def test_against_uvicorn_many_requests_share_few_connections() -> None:
    seen: set[tuple[str, int]] = set()

    async def where(request: Request) -> JSONResponse:
        assert request.client is not None
        seen.add((request.client.host, request.client.port))
        return JSONResponse({"path": request.url.path, "query": request.url.query})

    app = Starlette(routes=[Route("/{rest:path}", where)])
    with serve(app) as url:
        client = UpstreamClient(url, platform="test", config=HTTPConfig(max_connections=4))
        answers = await asyncio.gather(
            *(client.send("GET", f"/items/{n}", params={"page": n}) for n in range(40))
        )
        await client.close()
    assert [answer.json() for answer in answers] == [
        {"path": f"/items/{n}", "query": f"page={n}"} for n in range(40)
    ]
    assert len(seen) <= 4


async def test_https_is_spoken_and_certificates_are_checked(tls_files: tuple[Path, Path]) -> None:
    cert_file, key_file = tls_files

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"scheme": request.url.scheme})

    app = Starlette(routes=[Route("/", hello)])
    with serve(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as url:
        origin = Origin.of(url.replace("http://", "https://"))
        trusting = HTTP1Pool(
            origin,
            max_connections=2,
            connect_timeout=2,
            pool_timeout=2,
            ssl_context=ssl.create_default_context(cafile=str(cert_file)),
        )
        for _ in range(3):
            response = await trusting.exchange(get(), within_s=5, idempotent=True)
            assert response.status == 200 and response.body.endswith(b'{"scheme":"https"}')
        await trusting.close()
        default = pool_for(origin)  # the system's roots do not know this certificate
        with pytest.raises(NotConnected) as refused:  # nothing of the request was written
            await default.exchange(get(), within_s=5, idempotent=True)
        assert isinstance(refused.value.__cause__, ssl.SSLError)
        await default.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000,
        b"HTTP/1.1 200 OK\r\n" + b"X-Filler: yyyyyyyyyy\r\n" * 300 + b"Content-Length: 0\r\n\r\n",
        # 1000 bytes of payload, six times as many on the wire
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"1\r\nx\r\n" * 1000
        + b"0\r\n\r\n",
    ],
    ids=["body", "headers", "chunk-framing"],
)
async def test_an_answer_over_the_size_limit_is_refused(answer: bytes) -> None:
    async with scripted(answer) as (server, origin):
        pool = HTTP1Pool(
            origin, max_connections=2, connect_timeout=2, pool_timeout=2, max_answer_bytes=4096
        )
        with pytest.raises(ProtocolError, match="over 4096 bytes"):
            await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()
    assert server.connections == 1


def empty_headers(count: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"a:\r\n" * (count - 1) + b"Content-Length: 2\r\n\r\nok"


async def test_an_answer_with_too_many_headers_is_refused() -> None:
    async with scripted(
        empty_headers(MAX_ANSWER_HEADERS), empty_headers(MAX_ANSWER_HEADERS + 1)
    ) as (
        _,
        origin,
    ):
        pool = pool_for(origin)
        response = await pool.exchange(get(), within_s=2, idempotent=True)
        assert (len(response.headers), response.body) == (MAX_ANSWER_HEADERS, b"ok")
        with pytest.raises(ProtocolError, match=f"over {MAX_ANSWER_HEADERS} headers"):
            await pool.exchange(get(), within_s=2, idempotent=True)
        await pool.close()


async def test_an_answer_in_tiny_chunks_takes_memory_near_its_size_on_the_wire() -> None:
    cap = 1024 * 1024
    head, end = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"0\r\n\r\n"
    chunks = (cap - len(head) - len(end)) // len(b"1\r\nx\r\n")
    async with scripted(head + b"1\r\nx\r\n" * chunks + end) as (_, origin):
        pool = HTTP1Pool(
            origin, max_connections=1, connect_timeout=2, pool_timeout=2, max_answer_bytes=cap
        )
        tracemalloc.start()
        try:
            response = await pool.exchange(get(), within_s=10, idempotent=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await pool.close()
    assert response.body == b"x" * chunks
    assert peak < 4 * cap  # the server's send buffer, what was read, the body: not per chunk


# The slots the pool and the client's calls in flight are counted with


async def waiting_for(slots: Slots, name: str, order: list[str]) -> asyncio.Task[None]:
    async def take() -> None:
        await slots.take()
        order.append(name)

    task = asyncio.create_task(take())
    await asyncio.sleep(0)  # queued
    return task


async def test_slots_are_given_first_come_first_served() -> None:
    slots, order = Slots(1), list[str]()
    assert slots.take_now()
    first = await waiting_for(slots, "first", order)
    second = await waiting_for(slots, "second", order)
    assert not slots.take_now()
    slots.release()
    await first
    assert order == ["first"]
    slots.release()
    await second
    assert order == ["first", "second"]
    slots.release()
    assert slots.take_now()  # every slot back, none lost


async def test_a_caller_gone_while_waiting_leaves_the_queue() -> None:
    slots, order = Slots(1), list[str]()
    assert slots.take_now()
    gone = await waiting_for(slots, "gone", order)
    stays = await waiting_for(slots, "stays", order)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    slots.release()
    await stays
    assert order == ["stays"]
    slots.release()
    assert slots.take_now() and not slots.take_now()


async def test_a_slot_given_to_a_caller_cancelled_meanwhile_goes_to_the_next() -> None:
    slots, order = Slots(1), list[str]()
    assert slots.take_now()
    late = await waiting_for(slots, "late", order)
    next_one = await waiting_for(slots, "next", order)
    slots.release()  # the slot is handed to `late`...
    late.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await late
    await next_one
    assert order == ["next"]


async def test_a_timed_out_wait_takes_no_slot() -> None:
    slots = Slots(1)
    assert slots.take_now()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await slots.take()
    assert not slots.take_now()  # still held by the first caller, nobody else
    slots.release()
    assert slots.take_now()
