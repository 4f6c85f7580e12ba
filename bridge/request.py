"""The few request headers the bridge reads, read once per request by the front door and
kept in the scope for the endpoint."""

from __future__ import annotations

from starlette.types import Scope

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
