"""The platform under the benchmark: Elastic Path payloads replayed after a fixed latency.

The payloads come from the Elastic Path test emulator and its fixtures, recorded once at
startup, then served as stored bytes so that the platform costs next to no CPU on the
machine that also runs the bridge and the load. `CUSTOMER` has `BENCH_ORDERS` copies
(default 1) of the order of platforms.md §2.11, each with its own id: an ERC order detail
costs the bridge two platform calls made together (the order with `include=items`, and
its shipping groups). `SMALL` has one order: its ERC order list costs one call
(`/v2/orders?...&include=items`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from typing import cast

import httptools
import httpx
import orjson
import uvloop

from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator

CUSTOMER = fx.MARIA
SMALL = fx.HANS
_ID_PREFIX = fx.ORDER_COMPLETE[:24]
_ORDER_PATH = re.compile(rf"^/v2/orders/{_ID_PREFIX}(\d{{12}})(/items|/shipping-groups)?$")
WITH_ITEMS = "?include=items"
_NOT_FOUND = orjson.dumps({"errors": [{"status": 404, "title": "Not Found"}]})


def order_id(index: int) -> str:
    return f"{_ID_PREFIX}{index:012d}"


async def _record() -> dict[str, bytes]:
    """Ask the emulator once for every payload the benchmark replays."""
    emulator = ElasticPathEmulator(fx.default_store(), token_lifetime=86_400)
    transport = httpx.ASGITransport(emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as http:
        grant = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        token = await http.post("/oauth/access_token", data=grant)
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        query: dict[str, str | int] = {
            "filter": f"eq(customer_id,{SMALL})",
            "sort": "-created_at",
            "include": "items",
            "page[limit]": 20,
            "page[offset]": 0,
        }
        listing = await http.get("/v2/orders", params=query)
        recorded = {"token": token.content, "list": listing.content}
        for suffix in ("", "/items", "/shipping-groups"):
            response = await http.get(f"/v2/orders/{fx.ORDER_COMPLETE}{suffix}")
            recorded[suffix] = response.content
        with_items = await http.get(f"/v2/orders/{fx.ORDER_COMPLETE}", params={"include": "items"})
        recorded[WITH_ITEMS] = with_items.content
    return recorded


class ReplayPlatform:
    def __init__(self, orders: int, latency: float) -> None:
        self.orders = orders
        self.latency = latency
        self.payloads = asyncio.run(_record())

    def _payload(self, path: str, query: bytes) -> tuple[int, bytes]:
        if path == "/oauth/access_token":
            return 200, self.payloads["token"]
        if path == "/v2/orders":
            return 200, self.payloads["list"]
        match = _ORDER_PATH.match(path)
        if match is None or int(match.group(1)) >= self.orders:
            return 404, _NOT_FOUND
        suffix = match.group(2) or ""
        body = self.payloads[WITH_ITEMS if not suffix and b"include=items" in query else suffix]
        return 200, body.replace(fx.ORDER_COMPLETE.encode(), order_id(int(match.group(1))).encode())

    def answer(self, path: str, query: bytes) -> bytes:
        """The whole HTTP/1.1 answer, head and body."""
        status, body = self._payload(path, query)
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: each request is answered `latency` after it arrived.
    Clients here send one request at a time, so answers leave in the order asked."""

    def __init__(self, platform: ReplayPlatform) -> None:
        self.platform = platform
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's transports are Transports; uvloop's do not subclass the ABC.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        url, self.url = httptools.parse_url(self.url), b""
        answer = self.platform.answer(url.path.decode(), url.query or b"")
        if self.platform.latency:
            asyncio.get_running_loop().call_later(self.platform.latency, self._send, answer)
        else:
            self._send(answer)

    def _send(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)


async def serve(platform: ReplayPlatform, port: int) -> None:
    """Serve `platform` on 127.0.0.1:`port` until the process is stopped. A bare asyncio
    protocol costs a fraction of what an ASGI server spends per request, and the
    benchmark's platform shares the machine with what it measures."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(platform), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    platform = ReplayPlatform(
        int(os.environ.get("BENCH_ORDERS", "1")),
        float(os.environ.get("BENCH_LATENCY_MS", "0")) / 1000,
    )
    uvloop.run(serve(platform, args.port))


if __name__ == "__main__":
    main()
