"""How `erc-bridge serve` runs the app under uvicorn.

uvicorn writes a response's status line and headers as soon as the app sends them, and
the body as a second write: two system calls for every answer, and on a sandboxed or
virtualized host a socket write is among the dearest things a request does. The
protocol below holds what uvicorn writes during one turn of the event loop and hands it
to the socket at the end of that turn, so a whole answer goes out in one write.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TurnWrites(asyncio.Transport):
    """A transport that passes on, at the end of the event loop's turn, everything
    written to it during that turn, in one write. Closing passes on what is held first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.release)
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


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each answer to the socket in one piece."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(TurnWrites(cast(asyncio.Transport, transport), self.loop))
