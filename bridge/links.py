"""Absolute `_links` hrefs: the request's path under ERC_BRIDGE_PUBLIC_URL or its own
scheme and Host, with the query parameters the route knows in canonical form. Anything
else the caller sent is left out: it changes nothing in the answer, so it is not repeated
in it (nor kept in the cache with it)."""

from __future__ import annotations

from urllib.parse import quote

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


def next_href(scope: Scope, base: str, given: Given, cursor: str) -> str:
    """The same request with `cursor` replaced."""
    kept = tuple(pair for pair in given if pair[0] != "cursor")
    return f"{base}{path(scope)}?{_query((*kept, ('cursor', cursor)))}"
