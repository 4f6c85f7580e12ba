"""Input limits, checked before any route runs: path, query string and header sizes, and
no bodies on GET or HEAD (every ERC route is a read). Nothing is read from the body.

The server (`bridge/server.py`) stops reading a request head that outgrows all of them
together, with the same answers, so a head that never ends is never held whole."""

from __future__ import annotations

from starlette.types import Scope

from bridge.errors import ERCError

MAX_PATH_BYTES = 1024
MAX_QUERY_BYTES = 8192
MAX_HEADER_BYTES = 8192
MAX_HEADER_COUNT = 64
BODYLESS_METHODS = frozenset({"GET", "HEAD"})

MAX_TARGET_BYTES = MAX_PATH_BYTES + MAX_QUERY_BYTES + 1024
"""Past this the server stops reading a request line and answers 414: room for a path and
a query at their limits, and for the scheme and host of an absolute-form target."""
MAX_HEAD_BYTES = MAX_TARGET_BYTES + 2 * MAX_HEADER_BYTES
"""Past this the server stops reading a request head and answers 431: room for a request
line and headers at their limits, with their separators and optional whitespace."""


def refusal(scope: Scope) -> ERCError | None:
    """The error a request gets for exceeding a limit, or None when it is within them."""
    path = scope.get("raw_path") or scope["path"].encode()
    if len(path) > MAX_PATH_BYTES or len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
        return uri_too_long()
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    size = 0
    has_body = False
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            has_body = True
    if len(headers) > MAX_HEADER_COUNT or size > MAX_HEADER_BYTES:
        return headers_too_large()
    if has_body and scope["method"] in BODYLESS_METHODS:
        return ERCError(
            400,
            "invalid_request",
            f"A {scope['method']} request must not carry a body",
        )
    return None


def uri_too_long() -> ERCError:
    return ERCError(
        414,
        "uri_too_long",
        "The request URI is too long",
        description=f"Paths are limited to {MAX_PATH_BYTES} bytes "
        f"and query strings to {MAX_QUERY_BYTES} bytes",
    )


def headers_too_large() -> ERCError:
    return ERCError(
        431,
        "headers_too_large",
        "The request headers are too large",
        description=f"At most {MAX_HEADER_COUNT} headers "
        f"and {MAX_HEADER_BYTES} bytes in all are accepted",
    )
