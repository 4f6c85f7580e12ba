"""Absolute `_links` hrefs: the request as received, or under ERC_BRIDGE_PUBLIC_URL."""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.requests import Request


def _base(request: Request, public_url: str | None) -> str:
    if public_url:
        return public_url
    host = request.headers.get("host") or "localhost"
    return f"{request.scope.get('scheme', 'http')}://{host}"


def _path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


def self_href(request: Request, public_url: str | None) -> str:
    query = request.scope.get("query_string", b"").decode("latin-1")
    href = _base(request, public_url) + _path(request)
    return f"{href}?{query}" if query else href


def next_href(request: Request, public_url: str | None, cursor: str) -> str:
    """The same request with `cursor` replaced; every other parameter kept as sent."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.partition("=")[0]) != "cursor"
    ]
    kept.append(f"cursor={cursor}")
    return f"{_base(request, public_url)}{_path(request)}?{'&'.join(kept)}"
