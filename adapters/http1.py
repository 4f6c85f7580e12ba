"""Keep-alive HTTP/1.1 connections to one platform origin.

An adapter's call is a GET or a form POST with a few headers, and a JSON answer read
whole. aiohttp's client spent about 95 us of CPU on each (`bench/transport.py`), for
cookies, redirects, tracing and streaming that the bridge does not use. This
pool writes each request in one piece and reads the answer with httptools (llhttp, the
parser uvicorn serves with); TLS is asyncio's. Connections are reused last-in first-out,
dropped whenever an exchange does not end cleanly, and dropped before reuse once idle
longer than `idle_timeout` (a load balancer on the way may have forgotten them). An
answer is refused past `max_answer_bytes` on the wire (status line, headers, body and its
chunk framing alike) or past `MAX_ANSWER_HEADERS` headers: what it takes in memory stays
within about the bytes it was allowed.

An egress proxy, when the environment names one (`adapters/proxies.py`), carries every
connection: an `http` origin's requests go to it in absolute form, an `https` origin is
reached through a `CONNECT` tunnel with TLS to the origin inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from adapters.proxies import DEFAULT_PORTS, Proxy

Headers = list[tuple[bytes, bytes]]
_UNANSWERED = "the platform closed the connection without answering"

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""One answer's bytes on the wire, at most: a platform gone wrong must not exhaust memory."""

MAX_ANSWER_HEADERS = 256
"""Headers of one answer, at most. Each is kept as its own pair of objects, several times
the size of a short header on the wire: a flood of empty ones must not cost 40 times the
answer cap. Platforms send a few dozen."""

IDLE_TIMEOUT = 15.0
"""Seconds a kept-alive connection may sit unused before it is dropped rather than reused."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: Headers
    body: bytes
    transfer_coding: bytes = b""
    """The transfer codings still on `body` (`gzip` of `Transfer-Encoding: gzip, chunked`:
    the parser undoes only `chunked`); empty for most answers."""


class ProtocolError(Exception):
    """What came back is not an answer the bridge can use: not HTTP/1.1, too large, or
    a body that does not decode. The platform answered, wrongly; the network is fine."""


class _Stale(ConnectionError):
    """A kept-alive connection closed before any byte of the answer: the platform never
    saw the request, or dropped it unanswered."""


class NotSent(Exception):
    """Raised before any byte of the request was written: the platform cannot have it."""


class NotConnected(NotSent, ConnectionError):
    """No connection could be opened: refused, unreachable, or TLS or the proxy's tunnel
    failed."""


class NotSentInTime(NotSent, TimeoutError):
    """The time ran out waiting for a free connection, or for a new one to open."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    base_path: str
    """The base URL's path ("" or "/stores/abc"), put before every request path."""

    @classmethod
    def of(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        return cls(parts.scheme, parts.hostname, port, parts.path)

    @property
    def host_header(self) -> str:
        default = self.port == DEFAULT_PORTS[self.scheme]
        return self._bracketed_host if default else self.authority

    @property
    def authority(self) -> str:
        """`host:port`, as a `CONNECT` request names the origin."""
        return f"{self._bracketed_host}:{self.port}"

    @property
    def _bracketed_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


class Slots:
    """At most `size` holders at once; the others wait first come, first served.

    What `asyncio.Semaphore` does, with a synchronous `take_now()`: every platform call
    takes two slots (the client's calls in flight, the pool's connections), and a free one
    is taken here without a coroutine or a look through the queue."""

    __slots__ = ("_free", "_waiting")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take_now(self) -> bool:
        """Take a free slot if there is one and nobody is waiting for it."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """A slot, once those waiting before have theirs. A caller cancelled while waiting
        leaves the queue; one cancelled as its slot came passes it on."""
        if self.take_now():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            raise

    def release(self) -> None:
        """Give the slot back: to the first caller still waiting, else to the free ones."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class HTTP1Pool:
    """At most `max_connections` connections to `origin`; a request waits up to
    `pool_timeout` for one, and up to `connect_timeout` for a new one to open."""

    def __init__(
        self,
        origin: Origin,
        *,
        max_connections: int,
        connect_timeout: float,
        pool_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        idle_timeout: float = IDLE_TIMEOUT,
        proxy: Proxy | None = None,
    ) -> None:
        self.origin = origin
        self.proxy = proxy
        self.max_answer_bytes = max_answer_bytes
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        tls = origin.scheme == "https"
        self._ssl = (ssl_context or ssl.create_default_context()) if tls else None
        self._slots = Slots(max_connections)
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()

    @property
    def forwards(self) -> bool:
        """Requests go to a proxy that forwards them: they must name the origin in full
        (absolute form) and carry the proxy's credentials."""
        return self.proxy is not None and self._ssl is None

    async def exchange(
        self,
        request: bytes,
        *,
        within_s: float,
        idempotent: bool,
        written: Callable[[], None] | None = None,
    ) -> RawResponse:
        """Send `request` (a whole HTTP/1.1 message) and read the answer within `within_s`
        seconds. TimeoutError when it is late, ConnectionError when it cannot be had,
        ProtocolError when what came back is unusable; NotSent (NotSentInTime,
        NotConnected) when it failed before the request was written. `written` is called
        each time the request is written: from then on the platform may have it, even if
        the exchange is cancelled.

        A kept-alive connection the platform has closed meanwhile is dropped and, for an
        idempotent request, the next one tried."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + within_s
        if not self._slots.take_now():
            try:
                async with asyncio.timeout_at(min(deadline, now + self._pool_timeout)):
                    await self._slots.take()
            except TimeoutError as exc:
                raise NotSentInTime("no connection was free in time") from exc
        try:
            self._drop_expired(now)
            while self._idle:
                connection = self._idle.pop()
                if connection.lost:
                    continue
                try:
                    return await connection.exchange(request, loop, deadline, written)
                except _Stale as exc:
                    if not idempotent:
                        raise ConnectionError(_UNANSWERED) from exc
            connection = await self._connect(loop, deadline)
            try:
                return await connection.exchange(request, loop, deadline, written)
            except _Stale as exc:
                raise ConnectionError(_UNANSWERED) from exc
        finally:
            self._slots.release()

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._idle.clear()

    def _drop_expired(self, now: float) -> None:
        # Oldest first: idle connections sit in the order they were last used.
        idle = self._idle
        while idle and now - idle[0].idle_since > self._idle_timeout:
            idle.popleft().close()

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self._connect_timeout)):
                return await self._opening(loop)
        except TimeoutError as exc:
            raise NotSentInTime("no connection opened in time") from exc
        except OSError as exc:  # refused, unreachable, unresolvable, TLS, the proxy's tunnel
            raise NotConnected(str(exc) or type(exc).__name__) from exc

    async def _opening(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        origin, proxy = self.origin, self.proxy
        if proxy is not None and self._ssl is not None:
            return await self._tunnel(loop, proxy, self._ssl)
        host, port = (origin.host, origin.port) if proxy is None else (proxy.host, proxy.port)
        _, connection = await loop.create_connection(
            lambda: _Connection(self),
            host,
            port,
            ssl=self._ssl,
            server_hostname=origin.host if self._ssl else None,
        )
        return connection

    async def _tunnel(
        self, loop: asyncio.AbstractEventLoop, proxy: Proxy, tls: ssl.SSLContext
    ) -> _Connection:
        """A connection through a `CONNECT` tunnel, TLS to the origin inside it."""
        transport, opening = await loop.create_connection(_TunnelOpening, proxy.host, proxy.port)
        try:
            await opening.open(transport, self.origin.authority, proxy.authorization)
            connection = _Connection(self)
            secured = await loop.start_tls(
                transport, connection, tls, server_hostname=self.origin.host
            )
        except BaseException:
            transport.abort()
            raise
        assert secured is not None
        connection.connection_made(secured)
        return connection

    def _opened(self, connection: _Connection) -> None:
        self._open.add(connection)

    def _closed(self, connection: _Connection) -> None:
        self._open.discard(connection)
        with contextlib.suppress(ValueError):
            self._idle.remove(connection)

    def _reusable(self, connection: _Connection) -> None:
        self._idle.append(connection)


class _TunnelOpening(asyncio.Protocol):
    """Asks a proxy for a `CONNECT` tunnel and waits for its yes."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def open(
        self, transport: asyncio.Transport, target: str, authorization: str | None
    ) -> None:
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if authorization is not None:
            lines.append(f"Proxy-Authorization: {authorization}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        head = await self._answer
        status_line = head.split(b"\r\n", 1)[0]
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or parts[1] != b"200":
            reason = status_line[:100].decode("ascii", errors="replace")
            raise ConnectionError(f"the proxy refused the tunnel: {reason}")

    def data_received(self, data: bytes) -> None:
        self._head += data
        if b"\r\n\r\n" in self._head and not self._answer.done():
            self._answer.set_result(bytes(self._head))
        elif len(self._head) > 16_384 and not self._answer.done():
            self._answer.set_exception(ConnectionError("the proxy's answer to CONNECT is too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._answer.done():
            self._answer.set_exception(ConnectionError("the proxy closed the connection"))


class _Connection(asyncio.Protocol):
    """One connection, one exchange at a time."""

    def __init__(self, pool: HTTP1Pool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[RawResponse] | None = None
        self._headers: Headers = []
        self._body: bytes | bytearray = b""
        self._size = 0
        """Bytes of the answer received so far, as they came on the wire."""
        self._heard = False
        self._until_close = False
        self._transfer_coding = b""
        self._keep_alive = False
        self._lost = False
        self.idle_since = 0.0

    async def exchange(
        self,
        request: bytes,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        written: Callable[[], None] | None,
    ) -> RawResponse:
        assert self._transport is not None
        answer: asyncio.Future[RawResponse] = loop.create_future()
        self._answer = answer
        self._headers, self._body, self._size, self._heard = [], b"", 0, False
        timer = loop.call_at(deadline, self._time_out)
        self._transport.write(request)
        try:
            if written is not None:
                written()
            response = await answer
        except BaseException:
            self.close()  # late, cancelled or broken: what is still on the wire is unknown
            raise
        finally:
            timer.cancel()
        if self._keep_alive and not self._lost:
            self.idle_since = loop.time()
            self._pool._reusable(self)
        else:
            self.close()
        return response

    @property
    def lost(self) -> bool:
        return self._lost

    def close(self) -> None:
        self._lost = True
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._pool._opened(self)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # nothing was asked: whatever this is, the connection is spoiled
            return
        self._heard = True
        # Counted as it arrives, framing and all: an answer cut into tiny chunks or lines
        # takes far more parser work, and more callbacks, than its payload shows.
        self._size += len(data)
        if self._size > self._pool.max_answer_bytes:
            self._refuse(ProtocolError(f"an answer over {self._pool.max_answer_bytes} bytes"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._refuse(ProtocolError(f"unreadable HTTP answer: {exc}"))
        except httptools.HttpParserUpgrade:  # 101: nothing asked for another protocol
            self._refuse(ProtocolError("the platform switched to another protocol"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._pool._closed(self)
        if self._until_close and exc is None:
            self._finish()
        elif not self._heard:
            self._fail(_Stale())
        else:
            self._fail(ConnectionError("the connection closed in the middle of the answer"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # an answer nobody asked for: the connection is spoiled

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self._headers) < MAX_ANSWER_HEADERS:
            self._headers.append((name, value))
        elif not self.lost:
            self._refuse(ProtocolError(f"an answer with over {MAX_ANSWER_HEADERS} headers"))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        has_body = status >= 200 and status not in (204, 304)
        length_given, codings = _framing(self._headers)
        chunked = bool(codings) and codings[-1] == b"chunked"
        # RFC 9112 §6.3: a body that is not chunked last, nor of a given length, ends when
        # the connection does; the parser reads it so, and so must the end of the answer.
        self._until_close = has_body and not chunked and (bool(codings) or not length_given)
        self._transfer_coding = b", ".join(codings[:-1] if chunked else codings)

    def on_body(self, body: bytes) -> None:
        gathered = self._body
        if not gathered:
            self._body = body  # most answers come in one piece: kept as it came, not copied
        elif isinstance(gathered, bytearray):
            gathered += body
        else:  # more pieces are gathered in one buffer: each kept apart costs 35 bytes more
            self._body = bytearray(gathered) + body

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            self._headers, self._body = [], b""  # informational: the answer follows
            return
        self._finish()

    def _finish(self) -> None:
        # Asked now: the parser forgets the message once this callback returns.
        self._keep_alive = not self._until_close and self._parser.should_keep_alive()
        self._until_close = False
        answer = self._answer
        if answer is not None and not answer.done():
            body = bytes(self._body)  # the one piece itself, if it came in one
            status = self._parser.get_status_code()
            answer.set_result(RawResponse(status, self._headers, body, self._transfer_coding))

    def _fail(self, error: Exception) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(error)

    def _refuse(self, error: ProtocolError) -> None:
        """The answer is unusable: fail the exchange and drop the connection, whose rest
        of the answer nobody will read."""
        self._fail(error)
        self.close()

    def _time_out(self) -> None:
        self._fail(TimeoutError())


def _framing(headers: Headers) -> tuple[bool, list[bytes]]:
    """Whether `headers` give a `Content-Length`, and the transfer codings they name, in
    the order they were applied (parameters left out, in lower case)."""
    length_given = False
    codings: list[bytes] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            length_given = True
        elif lowered == b"transfer-encoding":
            for coding in value.split(b","):
                token = coding.split(b";", 1)[0].strip().lower()
                if token:
                    codings.append(token)
    return length_given, codings
