"""Absolute `_links` hrefs under ERC_BRIDGE_PUBLIC_URL or the request's own scheme and Host.

A cached body carries the canonical self href (the path as sent, the query parameters the
route knows in canonical form), so that one entry serves every spelling of a request and
nothing a caller pads a query with is kept. `as_requested` puts the caller's own path and
query back into the answer, as SPEC §5 wants; next links stay canonical."""

from __future__ import annotations

from urllib.parse import quote

import orjson
from starlette.types import Scope

from bridge.params import Given


def base_url(scope: Scope, host: str | None, public_url: str | None) -> str:
    """Where the caller reached us: the public URL when configured, else scheme and Host
    (validated by the front door)."""
    if public_url:
        return public_url
    return f"{scope.get('scheme', 'http')}://{host or 'localhost'}"


def path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def _query(given: Given) -> str:
    return "&".join(f"{name}={quote(value, safe=':')}" for name, value in given)


def self_href(scope: Scope, base: str, given: Given) -> str:
    href = base + path(scope)
    return f"{href}?{_query(given)}" if given else href


def request_href(scope: Scope, base: str) -> str:
    """The request's path and query exactly as sent."""
    query: bytes = scope.get("query_string", b"")
    href = base + path(scope)
    return f"{href}?{query.decode('latin-1')}" if query else href


def as_requested(body: bytes, canonical: str, requested: str) -> bytes:
    """`body` with its self href `canonical` replaced by `requested`."""
    if canonical == requested:
        return body
    return body.replace(_self_field(canonical), _self_field(requested), 1)


def _self_field(href: str) -> bytes:
    return b'"self":{"href":' + orjson.dumps(href) + b"}"


def next_href(scope: Scope, base: str, given: Given, cursor: str) -> str:
    """The same request with `cursor` replaced."""
    kept = tuple(pair for pair in given if pair[0] != "cursor")
    return f"{base}{path(scope)}?{_query((*kept, ('cursor', cursor)))}"
