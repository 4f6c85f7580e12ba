"""A platform that goes away and comes back, for the calls that cannot have reached it.

`Outage` is a TCP relay on 127.0.0.1 in front of a platform. `down()` stops it listening:
new connections are refused, as by a host whose service is down, while exchanges under
way end normally. `up()` listens again on the same port. Every request gets a connection
of its own (the relay asks the platform to close it after answering), so that no kept-alive
connection outlives an outage and a call made during one is refused before it is sent.
`before_writes` times an outage (or anything else) to the moment a write goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.base import HTTPAdapter
from tests.proxy import pipe


class Outage:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.requests: list[bytes] = []
        """The request line of every request relayed."""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        await self.up()
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *exc: object) -> None:
        self.down()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        try:
            head = await client.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            to_client.close()
            return
        self.requests.append(head.split(b"\r\n", 1)[0])
        platform, to_platform = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        to_platform.write(head[:-2] + b"Connection: close\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pipe(client, to_platform), pipe(platform, to_client))


def before_writes(
    adapter: HTTPAdapter,
    monkeypatch: pytest.MonkeyPatch,
    happen: Callable[[], object],
    *,
    after: int = 0,
) -> None:
    """`happen()` (awaited if it gives an awaitable) just as `adapter` is about to send a
    write (any call but a read), once `after` writes went out untouched: the platform
    going down, say, or someone else changing the order."""
    upstream = adapter._http
    send: Callable[..., Awaitable[Any]] = upstream.send
    writes = 0

    async def first_happen(method: str, path: str, **options: Any) -> Any:
        nonlocal writes
        if method != "GET":
            writes += 1
            if writes == after + 1:
                done = happen()
                if inspect.isawaitable(done):
                    await done
        return await send(method, path, **options)

    monkeypatch.setattr(upstream, "send", first_happen)
