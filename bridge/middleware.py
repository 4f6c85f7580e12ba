"""Pure ASGI middleware: request id, access log, and the last line of defence for errors."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.errors import ERCError
from bridge.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = structlog.get_logger("erc_bridge.access")


def _request_id(scope: Scope) -> str:
    offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if offered and _SAFE_REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Gives every request an id (accepted from `X-Request-Id` or generated), echoes it,
    writes one access line, counts it in `metrics`, and turns any unexpected exception
    into a 500 ERC body."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled_error", method=scope["method"], path=scope["path"])
                if not response_started:
                    error = ERCError(
                        500,
                        "internal_error",
                        "Internal error",
                        description=f"The error was logged with request id {request_id}",
                    )
                    await error.response()(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                template = getattr(scope.get("route"), "path", None) or "unmatched"
                if self.metrics is not None:
                    self.metrics.observe_request(template, status, seconds)
                log.info(
                    "request",
                    method=scope["method"],
                    route=template,
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
