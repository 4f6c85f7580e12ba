"""The application factory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from adapters.base import Adapter
from bridge.auth import Authenticator
from bridge.config import build_adapter
from bridge.cursors import CursorCodec
from bridge.errors import ERCError
from bridge.health import health_routes
from bridge.middleware import RequestContextMiddleware
from bridge.routes import erc_routes
from bridge.service import Bridge
from bridge.settings import BridgeSettings

log = structlog.get_logger("erc_bridge")

_HTTP_ERRORS = {
    404: ("not_found", "No such route"),
    405: ("method_not_allowed", "Method not allowed on this route"),
}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = _HTTP_ERRORS.get(exc.status_code, ("invalid_request", str(exc.detail)))
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette keeps methods in a set: give clients a stable order
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
    return ERCError(exc.status_code, code, message, headers=headers).response()


def _signing_secrets(configured: tuple[object, ...], variable: str) -> list[bytes]:
    secrets = [s.get_secret_value().encode() for s in configured]  # type: ignore[attr-defined]
    if secrets:
        return secrets
    log.warning(
        "signing_secret_generated",
        variable=variable,
        detail="random per process: replicas will not accept each other's cursors or tokens",
    )
    return [os.urandom(32)]


def create_app(settings: BridgeSettings, adapter: Adapter | None = None) -> Starlette:
    adapter = adapter if adapter is not None else build_adapter(settings)
    open_access = adapter.name == "demo" and not settings.has_inbound_credentials
    bridge = Bridge(
        settings=settings,
        adapter=adapter,
        auth=Authenticator(
            api_keys=[k.get_secret_value() for k in settings.api_keys],
            basic_users=[u.get_secret_value() for u in settings.basic_users],
            open_access=open_access,
        ),
        cursors=CursorCodec(_signing_secrets(settings.cursor_secret, "ERC_BRIDGE_CURSOR_SECRET")),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if open_access:
            log.warning(
                "authentication_disabled",
                detail="no inbound credentials configured: the demo store answers anyone",
            )
        await adapter.open()
        log.info("bridge_started", adapter=adapter.name)
        try:
            yield
        finally:
            await adapter.close()
            log.info("bridge_stopped", adapter=adapter.name)

    app = Starlette(
        routes=[*health_routes, *erc_routes()],
        middleware=[Middleware(RequestContextMiddleware)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.bridge = bridge
    return app
