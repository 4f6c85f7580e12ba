"""A platform emulator turned hostile on demand: the next answer for one path is rewritten.

Wraps any emulator's ASGI app. `arm(suffix, tamper)` makes the next request whose path
ends with `suffix` get the emulator's own JSON answer passed through `tamper` (which
changes it in place, or returns the body to send instead); every other request, and every
one after it, is answered by the emulator unchanged. `calls(suffix)` counts the requests
that reached the platform.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Tamper = Callable[[Any], Any]


class Hostile:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: Counter[str] = Counter()
        self._armed: tuple[str, Tamper] | None = None

    def arm(self, suffix: str, tamper: Tamper) -> None:
        self._armed = (suffix, tamper)

    def reset(self) -> None:
        self.paths.clear()
        self._armed = None

    def calls(self, suffix: str) -> int:
        return sum(count for path, count in self.paths.items() if path.endswith(suffix))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.paths[path] += 1
        armed = self._armed
        if armed is None or not path.endswith(armed[0]):
            await self.app(scope, receive, send)
            return
        self._armed = None
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        original = orjson.loads(b"".join(chunks))
        replaced = armed[1](original)
        body = orjson.dumps(original if replaced is None else replaced)
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def put(dotted: str, value: Any) -> Tamper:
    """A tamper that sets one field, addressed like `data.0.first_name`."""
    *parents, last = [int(part) if part.isdigit() else part for part in dotted.split(".")]

    def tamper(body: Any) -> None:
        target = body
        for part in parents:
            target = target[part]
        target[last] = value

    return tamper
