"""How `erc-bridge serve` runs the app under uvicorn.

uvicorn writes a response's status line and headers as soon as the app sends them, and
the body as a second write: two system calls for every answer, and on a sandboxed or
virtualized host a socket write is among the dearest things a request does. The
protocol below holds what uvicorn writes to a connection and passes it on in one write
when the event loop's turn ends, so a whole answer goes out at once, and the answers of
one turn go out together, just before the loop looks for more requests. A long turn
(many answers rendered back to back) must not hold the first of them back until the
last is done: what has waited `MAX_HOLD_S` goes out at the next write.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HOLD_S = 0.001


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
    """uvicorn's httptools protocol, writing each answer to the socket in one piece."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        held = TurnWrites(cast(asyncio.Transport, transport), write_batch(self.loop))
        super().connection_made(held)
