"""Liveness (`/healthz`: the process is up and its event loop answers) and readiness
(`/readyz`: this process can serve, with how its platform is doing). Neither needs
credentials or tells more."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.readiness import Readiness


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    readiness: Readiness = request.app.state.readiness
    report = await readiness.report()
    body: dict[str, Any] = {"status": "ready" if report.ready else "not_ready"}
    if report.reason is not None:
        body["reason"] = report.reason
    body["platform"] = report.platform
    body["breaker"] = readiness.breaker
    redis = await readiness.redis()
    if redis is not None:
        body["redis"] = redis
    return Response(
        orjson.dumps(body),
        status_code=200 if report.ready else 503,
        media_type="application/json",
    )


health_routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
