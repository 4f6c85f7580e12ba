"""How `erc-bridge serve` runs the app under uvicorn.

uvicorn writes a response's status line and headers as soon as the app sends them, and
the body as a second write: two system calls for every answer, and on a sandboxed or
virtualized host a socket write is among the dearest things a request does. The
protocol below holds what uvicorn writes to a connection and passes it on in one write
when the event loop's turn ends, so a whole answer goes out at once, and the answers of
one turn go out together, just before the loop looks for more requests. A long turn
(many answers rendered back to back) must not hold the first of them back until the
last is done: what has waited `MAX_HOLD_S` goes out at the next write. An answer the
bridge writes whole (`answer_at_once`) is not held at all: under load a turn is long,
and every answer held to its end waits for the rendering of all the others.

The protocol also guards what comes before a request reaches the app, where uvicorn
itself bounds nothing: a request head is read only up to the input limits
(`bridge/limits.py`), it must arrive whole within a header timeout counted from accept
and from the first byte of each request, its body within a body timeout counted from the
head's end, and past a cap on open connections a new one is answered 503 at once and
closed, so that no caller can hold the memory or the file descriptors that the others
need. A request the parser cannot read is answered 400 with an ERC body like every other
refusal here (uvicorn's own answer is plain text), and the connection is closed.
"""

from __future__ import annotations

import asyncio
import math
import resource
import secrets
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

import httptools
import structlog
from starlette.types import Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from bridge.errors import ERCError
from bridge.limits import (
    MAX_HEAD_BYTES,
    MAX_HEADER_COUNT,
    MAX_TARGET_BYTES,
    headers_too_large,
    uri_too_long,
)

MAX_HOLD_S = 0.001
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 768
RETRY_AFTER_S = 1
DESCRIPTOR_HEADROOM = 256
"""Descriptors the process needs besides its callers' connections: the platform pool
(128 connections per platform client), Redis, the listening socket, the event loop's own."""
AT_CAPACITY_LOG_EVERY_S = 10.0

log = structlog.get_logger("erc_bridge.server")


class WriteBatch:
    """The connections of one event loop with writes held, passed on together."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        max_hold_s: float = MAX_HOLD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self._max_hold_s = max_hold_s
        self._clock = clock
        self._holding: list[TurnWrites] = []
        self._since = 0.0
        self._release_scheduled = False

    def enlist(self, transport: TurnWrites) -> None:
        now = self._clock()
        if not self._holding:
            self._since = now
        elif now - self._since > self._max_hold_s:
            self.release()
            self._since = now
        self._holding.append(transport)
        if not self._release_scheduled:
            self._release_scheduled = True
            self._loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._release_scheduled = False
        self.release()

    def release(self) -> None:
        holding, self._holding = self._holding, []
        for transport in holding:
            transport.release()


class TurnWrites(asyncio.Transport):
    """A transport that holds what is written to it until its `batch` lets it go, then
    passes it on in one write. Closing passes on what is held first."""

    def __init__(self, transport: asyncio.Transport, batch: WriteBatch) -> None:
        super().__init__()
        self._transport = transport
        self._batch = batch
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._batch.enlist(self)
        self._held.append(bytes(data))

    def write_whole(self, data: bytes) -> None:
        """Writes a whole answer now, for holding it would only delay it: held only behind
        what this connection already holds, so that its answers keep their order."""
        if self._held:
            self.write(data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def release(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.release()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatch] = (
    weakref.WeakKeyDictionary()
)


def write_batch(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = WriteBatch(loop)
    return batch


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each answer to the socket in one piece, and
    guarding each connection until its requests are read (see the module's text).
    `limited` gives the class with the service's own limits."""

    header_timeout_s = HEADER_TIMEOUT_S
    body_timeout_s = BODY_TIMEOUT_S
    max_connections = MAX_CONNECTIONS
    turned_away: TurnedAway | None = None

    @classmethod
    def limited(
        cls, *, header_timeout_s: float, body_timeout_s: float, max_connections: int
    ) -> type[OneWriteHttpProtocol]:
        return type(
            cls.__name__,
            (cls,),
            {
                "header_timeout_s": header_timeout_s,
                "body_timeout_s": body_timeout_s,
                "max_connections": max_connections,
                "turned_away": TurnedAway(max_connections),
            },
        )

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_since: float | None = None  # while a request head is awaited
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_since: float | None = None  # from a head's end until its body's
        self._body_timer: asyncio.TimerHandle | None = None
        self._idle_since: float | None = None  # since the last answer, while none is due
        self._at_capacity = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections) >= self.max_connections:
            self._turn_away(cast(asyncio.Transport, transport))
            return
        held = TurnWrites(cast(asyncio.Transport, transport), write_batch(self.loop))
        super().connection_made(held)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._body_timer, self.timeout_keep_alive_task):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self.timeout_keep_alive_task = None
        if not self._at_capacity:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if (
            self._head_since is None
            and self._body_since is None  # else the rest of a body answered before its end
            and (self.cycle is None or self.cycle.response_complete)
        ):
            self._await_head()  # the first byte of the next request
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._refuse(cause.error if isinstance(cause, _Refused) else malformed_request())
            return
        if self._body_since is not None and self._body_timer is None:
            # Only for a body that outlasts a read: most arrive with their head.
            self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_due)
        if self._head_since is not None:
            # Whole reads are counted: one that also ends the previous request counts
            # towards the next head too, which errs on the side of the limit.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(headers_too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # Busy from here, even when this read also ended a body answered early, which
        # marked the connection idle: only this request's answer makes it idle again.
        self._unset_keepalive_if_required()
        if self._head_since is None:
            self._await_head()

    # uvicorn's own two callbacks (called for every request: no extra call), with a limit.

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_TARGET_BYTES:
            raise _Refused(uri_too_long())

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))
        if len(self.headers) > MAX_HEADER_COUNT:
            raise _Refused(headers_too_large())

    def on_headers_complete(self) -> None:
        self._head_since = None
        self._body_since = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_since = None
        super().on_message_complete()
        if self.cycle.response_complete and not self.transport.is_closing():
            # Answered before its body ended: from now the connection is idle.
            self._await_next_request()

    # The keep-alive timeout, with one timer per connection as for the head: uvicorn arms
    # a new timer after every answer and cancels it at the next request's first bytes.

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None  # busy: a timer that fires now finds nothing to close

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._await_next_request()

    def _await_next_request(self) -> None:
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # a request came; its answer sets the timer again
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def _await_head(self) -> None:
        """A request head is due: from now it has `header_timeout_s` to arrive whole. One
        timer per connection at a time, moved on when it fires early."""
        self._head_since = self.loop.time()
        self._head_bytes = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_due)

    def _head_due(self) -> None:
        self._head_timer = None
        if self._head_since is None or self.transport.is_closing():
            return
        left = self._head_since + self.header_timeout_s - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._head_due)
        elif self._head_bytes:
            self._refuse(request_timeout(self.header_timeout_s))
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _body_due(self) -> None:
        """The body timer, moved on like the head's. When the app answered before the
        body ended, there is nothing left to say: the connection is only closed."""
        self._body_timer = None
        if self._body_since is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused:
            # Not the caller's delay: an answer ahead of it in the pipeline, or a body the
            # app has yet to take in, holds the reading up.
            self._body_since = now
        left = self._body_since + self.body_timeout_s - now
        if left > 0:
            self._body_timer = self.loop.call_later(left, self._body_due)
        elif self.cycle.response_complete:
            self.transport.close()
        else:
            self._refuse(request_timeout(self.body_timeout_s, "body"))

    def _refuse(self, error: ERCError) -> None:
        """Answers a request that cannot be read to its end, and closes."""
        self._head_since = self._body_since = None
        # What the parser holds of the head goes now, not when the connection is gone.
        self.parser = httptools.HttpRequestParser(self)
        self.url, self.headers = b"", []
        request_id = secrets.token_hex(16)
        log.info("request_refused", status=error.status, code=error.code, request_id=request_id)
        cycle = self.cycle
        answering = cycle if cycle is not None and not cycle.response_complete else None
        if answering is not None and not answering.more_body:
            # An earlier request's answer is still on its way: it ends the connection.
            answering.keep_alive = False
            self.flow.pause_reading()
            return
        # Else the request refused is the one being read, whose app, if it is reading the
        # body, hears the client is gone: this is its answer unless one has begun.
        if answering is None or not answering.response_started:
            headers = [*self.server_state.default_headers, (b"x-request-id", request_id.encode())]
            self.transport.write(raw_answer(error, headers))
        self.transport.close()

    def _turn_away(self, transport: asyncio.Transport) -> None:
        """Past the cap: answered at once, without reading, and closed. The descriptor is
        what must not be held any longer."""
        self._at_capacity = True
        transport.write(raw_answer(at_capacity(self.max_connections)))
        transport.close()
        if self.turned_away is not None:
            self.turned_away.note(self.loop.time())


def answer_at_once(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> bool:
    """Writes a whole answer straight to its connection, as uvicorn's `send` would for its
    two messages, when `send` is uvicorn's own (httptools) with nothing wrapped around it
    and nothing sent yet. False when it cannot (another server, a wrapper, an answer
    begun, a caller gone, a connection not taking writes): then send the two messages.

    Only for answers the bridge builds itself: `headers` lower-case, with a content-length
    of len(`body`) and no framing or connection header, and values no caller can shape,
    for uvicorn's search for bytes a header must not hold is skipped for them. The
    server's own default headers are checked as uvicorn checks them, once for each list
    the server makes (it makes a new one when the Date changes)."""
    cycle = getattr(send, "__self__", None)
    if (
        type(cycle) is not RequestResponseCycle
        or cycle.response_started
        or cycle.disconnected
        or cycle.flow.write_paused
        or cycle.access_log
        or not _checked(cycle.default_headers)
    ):
        return False
    cycle.response_started = cycle.response_complete = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = False
    lines = [STATUS_LINE[status]]
    for name, value in (*cycle.default_headers, *headers):
        lines += (name, b": ", value, b"\r\n")
    if not cycle.keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if cycle.scope["method"] != "HEAD":
        lines.append(body)
    transport = cycle.transport
    if isinstance(transport, TurnWrites):
        transport.write_whole(b"".join(lines))
    else:
        transport.write(b"".join(lines))
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True


_checked_defaults: list[list[tuple[bytes, bytes]]] = []


def _checked(defaults: list[tuple[bytes, bytes]]) -> bool:
    """Whether the server's default headers are ones uvicorn would write: lower-case,
    no bytes a header must not hold, no framing or connection header of their own."""
    if _checked_defaults and _checked_defaults[0] is defaults:
        return True
    for name, value in defaults:
        if (
            HEADER_RE.search(name)
            or HEADER_VALUE_RE.search(value)
            or name != name.lower()
            or name in (b"content-length", b"transfer-encoding", b"connection")
        ):
            return False
    _checked_defaults[:] = [defaults]  # held, so that no other list can take its identity
    return True


class _Refused(Exception):
    def __init__(self, error: ERCError) -> None:
        super().__init__(error.message)
        self.error = error


class TurnedAway:
    """Connections turned away past the cap, told in one warning line at most every
    `AT_CAPACITY_LOG_EVERY_S` however many there are: how many since the last line, and
    since the start."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.total = 0
        self._logged_total = 0
        self._logged_at = -math.inf

    def note(self, now: float) -> None:
        self.total += 1
        if now - self._logged_at >= AT_CAPACITY_LOG_EVERY_S:
            log.warning(
                "connections_turned_away",
                count=self.total - self._logged_total,
                total=self.total,
                max_connections=self.max_connections,
            )
            self._logged_total = self.total
            self._logged_at = now


def malformed_request() -> ERCError:
    """For a request that is not HTTP/1.1 the server can read (a request line, header or
    framing it cannot parse, an unknown method): nothing of it is repeated back."""
    return ERCError(
        400,
        "invalid_request",
        "The request is not a well-formed HTTP request",
        description="Its request line, a header or its body framing could not be read",
    )


def request_timeout(seconds: float, part: str = "headers") -> ERCError:
    """`part`: the headers (counted from the request's first byte) or the body (from the
    headers' end)."""
    return ERCError(
        408,
        "request_timeout",
        "The request was not received in time",
        description=f"A request's {part} must arrive within {seconds:g} s",
    )


def at_capacity(max_connections: int) -> ERCError:
    return ERCError(
        503,
        "unavailable",
        "The bridge is serving as many connections as it takes",
        description=f"At most {max_connections} connections are open at once",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def raw_answer(error: ERCError, headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """The bytes the front door would write for `error`, for a connection no request of
    which reaches it."""
    response = error.response()
    lines = [*(headers or ()), *response.raw_headers, (b"connection", b"close")]
    return b"".join(
        [
            STATUS_LINE[error.status],
            *(name + b": " + value + b"\r\n" for name, value in lines),
            b"\r\n",
            response.body,
        ]
    )


def fit_descriptor_limit(max_connections: int) -> None:
    """Raises the soft limit on open descriptors to the hard one when the connection cap
    needs more than it allows, and warns when even the hard one is short."""
    needed = max_connections + DESCRIPTOR_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            pass
        else:
            log.info("descriptor_limit_raised", previous=soft, limit=target)
            soft = target
    if soft < needed:
        log.warning(
            "descriptor_limit_low",
            limit=soft,
            needed=needed,
            max_connections=max_connections,
            hint="raise the container's open-file limit (ulimit -n) "
            "or lower ERC_BRIDGE_MAX_CONNECTIONS",
        )
