"""A method a path does not serve is 405 with `Allow`, whatever the request carries.

The front door refuses a GET or HEAD that carries a body (400) before any route runs. On
a path that does not serve that method at all the answer must be 405 instead (the write
routes and `POST /oauth/token` take bodies but not GET). This layer, outermost, shows
such a request to the front door without its body framing headers, so that the router
answers it 405; the body itself is never read.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.limits import BODYLESS_METHODS

_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


class MethodGate:
    """Pure ASGI, in front of the front door."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in BODYLESS_METHODS
            and not _FRAMING.isdisjoint(dict(scope["headers"]))
            and self._method_not_served(scope)
        ):
            headers = [(name, value) for name, value in scope["headers"] if name not in _FRAMING]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)

    def _method_not_served(self, scope: Scope) -> bool:
        """Whether some route has the path but none has it with this method."""
        matches = {route.matches(scope)[0] for route in self.routes}
        return Match.PARTIAL in matches and Match.FULL not in matches
