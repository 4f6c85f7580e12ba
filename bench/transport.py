"""Which upstream client holds up when many requests are in flight?

Runs a platform stand-in in its own process and drives it through each candidate client
at rising concurrency, on uvloop as `erc-bridge serve` runs, and prints req/s with the
ratio to raw aiohttp. Usage: python -m bench.transport [--requests N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import httpx2
import uvloop
from httpx_aiohttp import AiohttpTransport

from adapters.http import HTTPConfig, Outgoing, _HTTP1Wire
from bench.platform import order_id
from bench.processes import running
from tests.processes import free_port

Fetch = Callable[[], Awaitable[Any]]
CONCURRENCY = (1, 10, 50, 100)


async def drive(fetch: Fetch, total: int, concurrency: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await fetch()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def measure(url: str, total: int) -> dict[str, list[float]]:
    limits = dict(max_connections=128, max_keepalive_connections=128)
    results: dict[str, list[float]] = {}

    async with httpx.AsyncClient(limits=httpx.Limits(**limits)) as plain:
        results["httpx"] = [await drive(lambda: plain.get(url), total, c) for c in CONCURRENCY]

    async with httpx2.AsyncClient(limits=httpx2.Limits(**limits)) as second:
        results["httpx2"] = [await drive(lambda: second.get(url), total, c) for c in CONCURRENCY]

    transport = AiohttpTransport(
        client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128))
    )
    async with httpx.AsyncClient(transport=transport) as bridged:
        results["httpx+aiohttp"] = [
            await drive(lambda: bridged.get(url), total, c) for c in CONCURRENCY
        ]

    base, path = url.rsplit("/v2/", 1)
    wire = _HTTP1Wire(base, {}, HTTPConfig(max_connections=128))

    async def own() -> None:
        await wire.exchange(Outgoing("GET", f"/v2/{path}"), 10.0)

    results["bridge http1"] = [await drive(own, total, c) for c in CONCURRENCY]
    await wire.close()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as session:

        async def raw() -> None:
            async with session.get(url) as response:
                await response.read()

        results["aiohttp (anchor)"] = [await drive(raw, total, c) for c in CONCURRENCY]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    port = free_port()
    env = {"BENCH_LATENCY_MS": str(args.latency_ms)}
    with running(["bench.platform", "--port", str(port)], port, env=env):
        url = f"http://127.0.0.1:{port}/v2/orders/{order_id(0)}"
        results = uvloop.run(measure(url, args.requests))
    anchor = results["aiohttp (anchor)"]
    header = "client".ljust(18) + "".join(f"{c:>10} in flight" for c in CONCURRENCY)
    print(f"req/s over {args.requests} requests, platform latency {args.latency_ms} ms")
    print(header)
    for name, rates in results.items():
        cells = "".join(f"{r:>10.0f} ({r / a:4.2f}x)" for r, a in zip(rates, anchor, strict=True))
        print(name.ljust(18) + cells)


if __name__ == "__main__":
    main()
