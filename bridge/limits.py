"""Input limits, checked before any route runs: path, query string and header sizes, and
no bodies on GET or HEAD (every ERC route is a read)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.errors import ERCError

MAX_PATH_BYTES = 1024
MAX_QUERY_BYTES = 8192
MAX_HEADER_BYTES = 8192
MAX_HEADER_COUNT = 64
BODYLESS_METHODS = frozenset({"GET", "HEAD"})


def _refusal(scope: Scope) -> ERCError | None:
    path = scope.get("raw_path") or scope["path"].encode()
    if len(path) > MAX_PATH_BYTES or len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
        return ERCError(
            414,
            "uri_too_long",
            "The request URI is too long",
            description=f"Paths are limited to {MAX_PATH_BYTES} bytes "
            f"and query strings to {MAX_QUERY_BYTES} bytes",
        )
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if (
        len(headers) > MAX_HEADER_COUNT
        or sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES
    ):
        return ERCError(
            431,
            "headers_too_large",
            "The request headers are too large",
            description=f"At most {MAX_HEADER_COUNT} headers "
            f"and {MAX_HEADER_BYTES} bytes in all are accepted",
        )
    if scope["method"] in BODYLESS_METHODS and _has_body(headers):
        return ERCError(
            400,
            "invalid_request",
            f"A {scope['method']} request must not carry a body",
        )
    return None


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() != b"0":
            return True
    return False


class InputLimitsMiddleware:
    """Pure ASGI: refuses oversized or malformed requests without reading their bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _refusal(scope)
            if refusal is not None:
                response = refusal.response()
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
