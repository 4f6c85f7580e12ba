"""The front door, outermost of the application: every HTTP request gets an id (accepted
from `X-Request-Id` or generated, always echoed), is checked against the input limits
and for a well-formed `Host`, is counted and logged once, and any unexpected exception
becomes a 500 ERC body. The platform calls made while an ERC request is served are
counted for it.

A GET on an ERC route goes from here straight to its endpoint, which answers with its
own two messages; everything else (other methods, health, metrics, tokens, unknown
paths) goes on to the router, which knows the ERC routes too. Both match on the path's
segments as the caller sent them (`decode_path_by_segment`).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Sequence
from typing import Protocol, cast
from urllib.parse import unquote

import structlog
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.errors import ERCError
from bridge.limits import refusal
from bridge.logs import REQUEST_ID, access_log
from bridge.metrics import COUNTING, ERC_PREFIX, Metrics
from bridge.request import RESPONSE_STARTED_KEY, host_refusal, read_headers

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Ids only need to be unique, not secret: no system call for each one. A forked worker
# draws its own sequence.
_ids = random.Random()  # noqa: S311
os.register_at_fork(after_in_child=_ids.seed)

log = structlog.get_logger("erc_bridge.access")

CLIENT_CLOSED = 499
"""The status logged for a request whose caller left before it was answered (as nginx
logs it): nothing was sent, and it is no error of the bridge's."""


class Responder(Protocol):
    """An endpoint that sends its own answer, adding `extra` headers, and says its status."""

    async def respond(
        self, scope: Scope, receive: Receive, send: Send, *extra: tuple[bytes, bytes]
    ) -> int: ...


def decode_path_by_segment(scope: Scope) -> None:
    """Makes `path`, which every route is matched on, the sent path split where the
    caller put a `/` and each segment decoded on its own. The server decodes the whole
    path, a `%2F` into a `/` like any other, so that `customers/ana%2Forders` reached the
    orders of `ana`; here a `/` a segment decodes to is kept as `%2F`, the segment stays
    one id, and the id rules refuse it (they allow neither `%` nor `/`)."""
    raw: bytes | None = scope.get("raw_path")
    if not raw or b"%" not in raw:
        return  # nothing encoded: `path` is the raw path as it is
    try:
        sent = raw.decode("ascii")
    except UnicodeDecodeError:
        return  # not a path an HTTP/1.1 server reads; `path` is as the server made it
    scope["path"] = "/".join(unquote(segment).replace("/", "%2F") for segment in sent.split("/"))


def route_path(scope: Scope) -> str:
    """The path the routes see: without the `root_path` the server is mounted under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


class FrontDoor:
    """Pure ASGI. `erc_routes` are matched with their own patterns, and the scope is
    filled as the router would (`route`, `endpoint`, `path_params`), so both ways in
    behave alike."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        erc_routes: Sequence[Route] = (),
        erc_prefix: str = "/erc/",
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.erc_routes = tuple(erc_routes)
        self.erc_prefix = erc_prefix
        self.metrics = metrics
        self._by_depth = _by_depth(self.erc_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        decode_path_by_segment(scope)
        headers = read_headers(scope)
        offered = headers.get("x-request-id")
        if offered is not None and not _SAFE_REQUEST_ID.fullmatch(offered):
            offered = None
        request_id = offered or _ids.randbytes(16).hex()
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        context = REQUEST_ID.set(request_id)
        calls = [0]
        counting = COUNTING.set(calls)
        try:
            refused = refusal(scope) or host_refusal(headers)
            route = None if refused is not None else self._erc_route(scope)
            if refused is not None:
                status = await self._refuse(refused, scope, receive, send, id_header)
            elif route is not None:
                endpoint = cast(Responder, route.endpoint)
                status = await endpoint.respond(scope, receive, send, id_header)
            else:
                status = await self._forward(scope, receive, send, id_header)
        except Exception:
            log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            answered: int | None = scope.get(RESPONSE_STARTED_KEY)
            if answered is not None:
                status = answered  # what the client was told; nothing more can be sent
            else:
                error = ERCError(
                    500,
                    "internal_error",
                    "Internal error",
                    description=f"The error was logged with request id {request_id}",
                )
                response = error.response()
                response.raw_headers.append(id_header)
                await response(scope, receive, send)
        finally:
            COUNTING.reset(counting)
            REQUEST_ID.reset(context)
            seconds = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            if self.metrics is not None:
                self.metrics.observe_request(template, status, seconds)
                if calls[0] and template.startswith(ERC_PREFIX):
                    self.metrics.observe_platform_calls(template, calls[0])
            access_log.write(
                request_id=request_id,
                offered=offered is not None,
                method=scope["method"],
                route=template,
                status=status,
                ms=seconds * 1000,
            )

    async def _refuse(
        self,
        refused: ERCError,
        scope: Scope,
        receive: Receive,
        send: Send,
        id_header: tuple[bytes, bytes],
    ) -> int:
        response = refused.response()
        response.raw_headers += [(b"connection", b"close"), id_header]
        await response(scope, receive, send)
        return refused.status

    def _erc_route(self, scope: Scope) -> Route | None:
        if scope["method"] != "GET":
            return None
        path = route_path(scope)
        if not path.startswith(self.erc_prefix):
            return None
        routes = self.erc_routes if self._by_depth is None else self._by_depth.get(path.count("/"))
        for route in routes or ():
            match = route.path_regex.match(path)
            if match is not None:
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = match.groupdict()
                return route
        return None

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, id_header: tuple[bytes, bytes]
    ) -> int:
        status = CLIENT_CLOSED  # what is logged when nothing is sent: the caller had gone

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = scope[RESPONSE_STARTED_KEY] = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        await self.app(scope, receive, send_with_id)
        return status


def _by_depth(routes: Sequence[Route]) -> dict[int, tuple[Route, ...]] | None:
    """The routes by how many `/` their paths have, each group in matching order: a path
    parameter never holds a `/`, so a path is tried against its own group only. None when
    some parameter may hold one (`{name:path}`): then every route is tried."""
    if any(":path}" in route.path for route in routes):
        return None
    groups: dict[int, list[Route]] = {}
    for route in routes:
        groups.setdefault(route.path.count("/"), []).append(route)
    return {depth: tuple(group) for depth, group in groups.items()}
