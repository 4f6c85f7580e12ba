"""Liveness (`/healthz`: the process is up and its event loop answers) and readiness
(`/readyz`: the platform accepts this bridge). Neither needs credentials or tells more."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.readiness import Readiness


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    readiness: Readiness = request.app.state.readiness
    reason = await readiness.problem()
    if reason is None:
        return Response(b'{"status":"ready"}', media_type="application/json")
    return Response(
        orjson.dumps({"status": "not_ready", "reason": reason}),
        status_code=503,
        media_type="application/json",
    )


health_routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
