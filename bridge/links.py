"""Absolute `_links` hrefs: the request as received, or under ERC_BRIDGE_PUBLIC_URL."""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.types import Scope


def base_url(scope: Scope, host: str | None, public_url: str | None) -> str:
    """Where the caller reached us: the public URL when configured, else scheme and Host."""
    if public_url:
        return public_url
    return f"{scope.get('scheme', 'http')}://{host or 'localhost'}"


def _path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def self_href(scope: Scope, base: str) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    href = base + _path(scope)
    return f"{href}?{query}" if query else href


def next_href(scope: Scope, base: str, cursor: str) -> str:
    """The same request with `cursor` replaced; every other parameter kept as sent."""
    query = scope.get("query_string", b"").decode("latin-1")
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.partition("=")[0]) != "cursor"
    ]
    kept.append(f"cursor={cursor}")
    return f"{base}{_path(scope)}?{'&'.join(kept)}"
