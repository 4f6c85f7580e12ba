"""Liveness: the process is up and its event loop answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


health_routes = [Route("/healthz", healthz, methods=["GET"])]
