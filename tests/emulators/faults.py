"""A scripted platform for fault tests: each request takes the next scripted behaviour."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

OK_BODY = b'{"data":{"id":"x"}}'


class Hang:
    """Wraps an emulator's app: while `on` is set, API requests are held for `seconds`,
    like a platform that stopped answering (the token endpoint still answers)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.on = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.on and scope["type"] == "http" and scope["path"] != "/oauth/access_token":
            await asyncio.sleep(self.seconds)
            # Long abandoned by the bridge: never logged as a call a later test could count.
            await PlainTextResponse("gave up", status_code=504)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class Step:
    status: int = 200
    body: bytes = OK_BODY
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass
class FaultPlatform:
    """Answers from `script` first, then with 200 OK; records every request it sees: its
    headers (names in lower case), `path` and the `url` it was sent to."""

    script: deque[Step] = field(default_factory=deque)
    requests: list[dict[str, str]] = field(default_factory=list)

    def then(self, *steps: Step) -> FaultPlatform:
        self.script.extend(steps)
        return self

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def handle(self, request: Request) -> Response:
        self.requests.append(
            {**dict(request.headers), "path": request.scope["path"], "url": str(request.url)}
        )
        step = self.script.popleft() if self.script else Step()
        if step.hang:
            await asyncio.sleep(step.hang)
        return Response(
            step.body, status_code=step.status, headers=step.headers, media_type="application/json"
        )

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])


@contextlib.contextmanager
def resetting_server() -> Iterator[tuple[str, list[int]]]:
    """A TCP server that resets every connection; yields its URL and a connection count."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            with contextlib.suppress(OSError):
                connection.recv(65536)
            # Linger 0: close() sends RST instead of FIN, like a crashed peer.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        listener.close()


class BreaksFirstWrite:
    """A TCP relay on 127.0.0.1 in front of a platform that breaks the connection of the
    first request whose head holds `marker` (say `b"POST /v3/"`): before passing it on
    (`delivered=False`: the platform never sees it), or after the platform answered it
    (`delivered=True`: the answer is lost). Everything else is relayed untouched."""

    def __init__(self, upstream_port: int, marker: bytes, *, delivered: bool) -> None:
        self.upstream_port = upstream_port
        self.marker = marker
        self.delivered = delivered
        self.broken = False
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        upstream, to_upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            while True:
                head = await client.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                body = await client.readexactly(length)
                breaking = not self.broken and self.marker in head
                if breaking:
                    self.broken = True
                    if not self.delivered:
                        return
                to_upstream.write(head + body)
                answer_head = await upstream.readuntil(b"\r\n\r\n")
                answer = answer_head + await upstream.readexactly(_content_length(answer_head))
                if breaking:
                    return  # processed upstream; the answer never reaches the caller
                to_client.write(answer)
                await to_client.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            to_upstream.close()
            # Linger 0: the caller sees a reset, as after a crash, not a polite close.
            raw = to_client.get_extra_info("socket")
            if raw is not None:
                with contextlib.suppress(OSError):
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            to_client.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0
