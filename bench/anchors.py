"""The two anchors every bridge figure is compared with, measured in the same run.

(a) `bare`: a bare Starlette route returning the bridge's own pre-rendered body — what
    serving a cached answer costs at the least.
(a') `bare` served with the bridge's one-write protocol (`bridge/server.py`), for
    reading the cache-hit ratio without what that protocol saves.
(b) `proxy`: a minimal raw-aiohttp proxy making the same platform call as the bridge
    for a customer's order list and returning the platform's payload as it came — what
    fetching costs at the least, with no mapping, validation or auth. For an order
    detail it makes the bridge's two Elastic Path calls together (the order with its
    lines, and its shipping groups) and returns the order's payload.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ.get("BENCH_BODY_FILE", "/dev/null")).read_bytes()


async def rendered(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


bare = Starlette(routes=[Route("/{path:path}", rendered)])


def proxy_app(platform: str, client_id: str, client_secret: str) -> web.Application:
    state: dict[str, object] = {}

    async def start(app: web.Application) -> None:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        grant = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        async with session.post(f"{platform}/oauth/access_token", data=grant) as response:
            token = (await response.json())["access_token"]
        state["session"] = session
        state["headers"] = {"Authorization": f"Bearer {token}"}

    async def stop(app: web.Application) -> None:
        await state["session"].close()  # type: ignore[attr-defined]

    async def orders(request: web.Request) -> web.Response:
        session: aiohttp.ClientSession = state["session"]  # type: ignore[assignment]
        headers: dict[str, str] = state["headers"]  # type: ignore[assignment]
        query = {
            "filter": f"eq(customer_id,{request.match_info['customer_id']})",
            "sort": "-created_at",
            "include": "items",
            "page[limit]": "20",
            "page[offset]": "0",
        }
        async with session.get(f"{platform}/v2/orders", params=query, headers=headers) as reply:
            body = await reply.read()
        return web.Response(body=body, content_type="application/json")

    async def order(request: web.Request) -> web.Response:
        session: aiohttp.ClientSession = state["session"]  # type: ignore[assignment]
        headers: dict[str, str] = state["headers"]  # type: ignore[assignment]
        path = f"{platform}/v2/orders/{request.match_info['order_id']}"

        async def fetch(url: str, **query: str) -> bytes:
            async with session.get(url, params=query, headers=headers) as reply:
                return await reply.read()

        calls = fetch(path, include="items"), fetch(f"{path}/shipping-groups")
        body, _ = await asyncio.gather(*calls)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    customer = "/erc/ecommerce/connections/customers/{customer_id}"
    app.router.add_get(f"{customer}/orders", orders)
    app.router.add_get(f"{customer}/orders/{{order_id}}", order)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


if __name__ == "__main__" and os.environ.get("BENCH_ANCHOR") == "bare-one-write":
    import uvicorn

    from bridge.server import OneWriteHttpProtocol

    uvicorn.run(
        bare,
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        http=OneWriteHttpProtocol,
        ws="none",
        log_config=None,
        access_log=False,
    )
elif __name__ == "__main__":
    web.run_app(
        proxy_app(
            os.environ["BENCH_PLATFORM"],
            os.environ["BENCH_CLIENT_ID"],
            os.environ["BENCH_CLIENT_SECRET"],
        ),
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        access_log=None,
        print=None,
    )
