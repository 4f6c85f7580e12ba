"""The few request headers the bridge reads, read once per request by the front door and
kept in the scope for the endpoint."""

from __future__ import annotations

import re

from starlette.types import Scope

from bridge.errors import ERCError
from mappings.bodies import ErrorField

HEADERS_KEY = "erc_bridge.headers"
RESPONSE_STARTED_KEY = "erc_bridge.response_started"
"""Set to the status once an answer has begun: after that, nothing else can be sent."""
_READ = {name.encode(): name for name in ("host", "x-api-key", "authorization", "x-request-id")}


def read_headers(scope: Scope) -> dict[str, str]:
    """Each header the bridge reads, first occurrence, in one pass (ASGI names are lower
    case already)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = _READ.get(name)
        if key is not None and key not in found:
            found[key] = value.decode("latin-1")
    scope[HEADERS_KEY] = found
    return found


def request_headers(scope: Scope) -> dict[str, str]:
    """The headers the front door read, or read now for an endpoint reached another way."""
    found: dict[str, str] | None = scope.get(HEADERS_KEY)
    return found if found is not None else read_headers(scope)


# RFC 3986 §3.2.2-3: a name (the characters DNS names and IPv4 addresses use) or an IPv6
# literal, and an optional port. Links repeat the Host, so nothing else may reach them.
_HOST = re.compile(r"(?:[A-Za-z0-9._~-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


_KNOWN_HOSTS: set[str] = set()
"""Hosts already found valid: callers send the same few, and a set lookup is cheaper
than the pattern on every request. Bounded: past it, the pattern decides."""
_MAX_KNOWN_HOSTS = 64


def valid_host(host: str) -> bool:
    if host in _KNOWN_HOSTS:
        return True
    if _HOST.fullmatch(host) is None:
        return False
    if len(_KNOWN_HOSTS) < _MAX_KNOWN_HOSTS:
        _KNOWN_HOSTS.add(host)
    return True


def host_refusal(headers: dict[str, str]) -> ERCError | None:
    """The 400 a request gets for a malformed `Host` header (RFC 9112 §3.2), or None."""
    host = headers.get("host")
    if host is None or valid_host(host):
        return None
    return ERCError(
        400,
        "invalid_request",
        "The Host header is not a valid host",
        fields=[ErrorField(name="Host", description="must be a host name or address[:port]")],
    )
