"""Request bodies read whole, piece by piece, within a bound: the write routes, the
platforms' webhook deliveries and the token endpoint each take theirs this way."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Receive, Scope


class ClientGone(Exception):
    """The caller disconnected before its body arrived: there is no one to answer."""


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(
    scope: Scope, receive: Receive, limit: int, too_large: Callable[[], Exception]
) -> bytes:
    """The body, given up with `too_large()` past `limit` bytes whatever `Content-Length`
    says, and at once when it declares more; ClientGone when the caller leaves first."""
    declared = header(scope, b"content-length")
    declared = declared.strip() if declared is not None else None
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
