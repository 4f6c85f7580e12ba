"""The application factory."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from adapters.base import Adapter, HTTPAdapter
from adapters.budget import CallBudget
from adapters.http import PlatformLimits
from adapters.resources import ResourceCache
from adapters.shared_state import SharedState, store_namespace
from bridge.auth import Authenticator
from bridge.cache import ResponseCache
from bridge.config import build_adapter
from bridge.cursors import CursorCodec
from bridge.errors import ERCError
from bridge.forgetting import CacheForgetting
from bridge.health import health_routes
from bridge.idempotency import IdempotencyStore, MemoryIdempotencyStore
from bridge.idempotency_redis import RUNNING_MARGIN_S, RedisIdempotencyStore
from bridge.landing import landing_routes
from bridge.logs import access_log
from bridge.methods import MethodGate
from bridge.metrics import Metrics, metrics_routes
from bridge.middleware import FrontDoor
from bridge.oauth import AccessTokens, ClientRegistry, TokenEndpoint
from bridge.openapi import build_document, openapi_route
from bridge.ratelimit import FailedAuthLimiter
from bridge.readiness import Readiness
from bridge.redaction import register_secrets, secret_values
from bridge.routes import erc_routes
from bridge.service import Bridge
from bridge.settings import BridgeSettings
from bridge.sharing import share_caches
from bridge.webhooks import WebhookEndpoint
from bridge.writes import write_routes

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


def secrets_to_redact(settings: BridgeSettings, adapter: Adapter) -> list[str]:
    """Every configured credential, whole and in parts, for the log redaction."""
    values = secret_values(settings) + secret_values(adapter.settings)
    for entry in settings.basic_users:
        values.append(entry.get_secret_value().partition(":")[2])
    for entry in settings.oauth_clients:
        values.append(entry.get_secret_value().split(":", 2)[1])
    if settings.redis_url is not None:
        # The URL is logged without its password (`redacted_url`): only the password is hunted.
        url = settings.redis_url.get_secret_value()
        values.remove(url)
        password = urlsplit(url).password
        if password:
            values.append(unquote(password))
    return values


def _log_metrics_access(settings: BridgeSettings, *, open_access: bool) -> None:
    if settings.metrics_key is not None:
        log.info("metrics_access", protected_by="ERC_BRIDGE_METRICS_KEY")
    elif open_access:
        log.warning("metrics_access", protected_by="nothing", detail="/metrics answers anyone")
    else:
        log.info("metrics_access", protected_by="the inbound credentials of the ERC routes")


def _resource_cache(settings: BridgeSettings, clock: Callable[[], float] | None) -> ResourceCache:
    """Platform resources kept for the response cache's lifetime (SPEC §9)."""
    return ResourceCache(
        ttl_s=settings.cache_ttl_s,
        max_entries=settings.resource_cache_max_entries,
        max_bytes=settings.resource_cache_max_bytes,
        clock=clock or time.monotonic,
    )


def _shared_state(
    settings: BridgeSettings, adapter: Adapter, clock: Callable[[], float] | None
) -> SharedState | None:
    if settings.redis_url is None:
        return None
    return SharedState(
        settings.redis_url.get_secret_value(),
        namespace=store_namespace(adapter.name, adapter.settings),
        timeout_s=settings.redis_timeout_s,
        clock=clock or time.monotonic,
    )


class BridgeApp(Starlette):
    """Starlette with the front door outermost. The front door already answers any
    unexpected error with a 500 ERC body and logs it, so Starlette's own error page
    layer is not stacked around it."""

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {
            key: handler
            for key, handler in self.exception_handlers.items()
            if key not in (500, Exception)
        }
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(
    settings: BridgeSettings,
    adapter: Adapter | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> BridgeApp:
    """The service; `clock` replaces wall and monotonic time for tokens, rate limits,
    readiness checks and the response cache."""
    adapter = adapter if adapter is not None else build_adapter(settings)
    register_secrets(secrets_to_redact(settings, adapter))
    open_access = adapter.name == "demo" and not settings.has_inbound_credentials
    limiter = FailedAuthLimiter(
        limit=settings.auth_failure_limit,
        window_s=settings.auth_failure_window_s,
        clock=clock or time.monotonic,
    )
    clients = ClientRegistry(c.get_secret_value() for c in settings.oauth_clients)
    token_secrets = (
        _signing_secrets(settings.token_secret, "ERC_BRIDGE_TOKEN_SECRET")
        if clients
        else [os.urandom(32)]  # no client can obtain a token: nothing to warn about
    )
    tokens = AccessTokens(
        token_secrets,
        clients,
        ttl_s=settings.token_ttl_s,
        clock=clock or time.time,
    )
    bridge = Bridge(
        settings=settings,
        adapter=adapter,
        auth=Authenticator(
            api_keys=[k.get_secret_value() for k in settings.api_keys],
            basic_users=[u.get_secret_value() for u in settings.basic_users],
            tokens=tokens if clients else None,
            limiter=limiter,
            open_access=open_access,
        ),
        cursors=CursorCodec(_signing_secrets(settings.cursor_secret, "ERC_BRIDGE_CURSOR_SECRET")),
        cache=ResponseCache(
            max_entries=settings.cache_max_entries,
            max_bytes=settings.cache_max_bytes,
            stale=settings.stale_s,
            enabled=settings.cache_ttl_s > 0,
            clock=clock or time.monotonic,
        ),
        shared=_shared_state(settings, adapter, clock),
    )

    resources = None
    if isinstance(adapter, HTTPAdapter):
        if settings.cache_ttl_s > 0:
            resources = _resource_cache(settings, clock)
        adapter.resources = resources  # None when the caches are off
    metrics = Metrics(bridge.cache, adapter=adapter.name, resources=resources)
    share_caches(bridge, resources, metrics)
    adapter.observer = metrics
    adapter.platform_limits = PlatformLimits(
        idle_timeout=settings.platform_idle_s, max_answer_bytes=settings.platform_max_answer_bytes
    )
    adapter.breaker_periods = (settings.breaker_open_s, settings.breaker_open_max_s)
    # Replicas (SPEC §9): Redis shown in metrics, the fleet's idempotency keys, the budget.
    metrics.report_replicas(bridge.shared)
    idempotency: IdempotencyStore = MemoryIdempotencyStore(clock=clock or time.monotonic)
    if bridge.shared is not None:
        idempotency = RedisIdempotencyStore(
            bridge.shared,
            running_ttl_s=settings.deadline_s + RUNNING_MARGIN_S,
            clock=clock or time.monotonic,
        )
    if settings.platform_rate is not None:
        adapter.budget = CallBudget(settings.platform_rate, shared=bridge.shared, observer=metrics)
    readiness = Readiness(
        adapter,
        deadline_s=settings.deadline_s,
        breakers=metrics.breakers,
        clock=clock or time.monotonic,
        shared=bridge.shared,
    )
    metrics.report_readiness(readiness)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if open_access:
            log.warning(
                "authentication_disabled",
                detail="no inbound credentials configured: the demo store answers anyone",
            )
        _log_metrics_access(settings, open_access=open_access)
        if bridge.shared is not None:
            await bridge.shared.open()
            log.info("redis_shared", url=bridge.shared.url, namespace=bridge.shared.namespace)
        await adapter.open()
        readiness.opened()
        log.info("bridge_started", adapter=adapter.name)
        try:
            yield
        finally:
            readiness.closing()
            try:
                await adapter.close()
                if bridge.shared is not None:
                    await bridge.shared.close()
            finally:
                access_log.flush()
                log.info("bridge_stopped", adapter=adapter.name)

    erc_routes_of_bridge = erc_routes(bridge)
    routes = [
        *health_routes,
        *metrics_routes,
        *erc_routes_of_bridge,
        *write_routes(bridge, metrics, idempotency),
        TokenEndpoint(clients, tokens, limiter).route(),
        WebhookEndpoint(
            adapter, CacheForgetting.of(bridge), observe=metrics.observe_webhook
        ).route(),
        openapi_route(build_document(settings, open_access=open_access)),
        *landing_routes(adapter.name),
    ]
    app = BridgeApp(
        routes=routes,
        middleware=[
            Middleware(MethodGate, routes=routes),
            Middleware(FrontDoor, erc_routes=erc_routes_of_bridge, metrics=metrics),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    # A trailing slash is an unknown path (404), never a redirect: Starlette's would go
    # to whatever Host the caller sent, before any authentication.
    app.router.redirect_slashes = False
    app.state.bridge = bridge
    app.state.metrics = metrics
    app.state.readiness = readiness
    return app
