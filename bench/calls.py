"""What one platform call costs the bridge in CPU, and one Elastic Path read around it.

Starts the bench platform at 0 ms in its own process, builds the Elastic Path adapter as
`erc-bridge serve` does (`create_app` with the benchmark bridge's settings: the bridge's
metrics as its observer, its limits, resources when `--cache-ttl` is above 0), and
measures this process's CPU time per call: `get_order` (R3: two platform calls together),
`list_orders` (R2: one call) and a bare `UpstreamClient.send`, each one at a time and 64
at a time, inside the request deadline as a route runs them. Prints the median of
`--rounds` rounds of `--calls` calls, in microseconds.

Usage: python -m bench.calls [--calls N] [--rounds N] [--cache-ttl S] [--log-level L]
[--platform URL]; `--platform` names a bench platform already running (started with
`BENCH_ORDERS=20000`), so that runs taken one after the other share it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

import uvloop

from adapters.base import OrderListRequest
from adapters.deadline import within
from adapters.elasticpath import ORDER_ENDPOINT, WITH_ITEMS, ElasticPathAdapter
from bench.__main__ import KEY
from bench.platform import CUSTOMER, SMALL, order_id
from bench.processes import running
from bridge.app import create_app
from bridge.config import build_adapter
from bridge.logs import configure_logging
from bridge.settings import BridgeSettings
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET
from tests.processes import free_port

CONCURRENCY = (1, 64)
ORDERS = 20_000
"""Distinct orders the R3 calls rotate over: none comes from the resources."""

Call = Callable[[], Awaitable[Any]]


def _configured(platform_url: str, cache_ttl: float, log_level: str) -> ElasticPathAdapter:
    """The Elastic Path adapter as `erc-bridge serve` builds it (its settings from the
    environment) and `create_app` prepares it (observer, limits, breaker periods,
    resources), with the benchmark bridge's settings."""
    os.environ["ELASTICPATH_BASE_URL"] = platform_url
    os.environ["ELASTICPATH_CLIENT_ID"] = CLIENT_ID
    os.environ["ELASTICPATH_CLIENT_SECRET"] = CLIENT_SECRET
    settings = BridgeSettings(
        _env_file=None,
        adapter="elasticpath",
        api_keys=KEY,
        cache_ttl_s=cache_ttl,
        log_level=log_level,
    )
    adapter = build_adapter(settings)
    assert isinstance(adapter, ElasticPathAdapter)
    create_app(settings, adapter)
    return adapter


async def _cpu_per_call(call: Call, calls: int, concurrency: int, deadline_s: float) -> float:
    """Microseconds of this process's CPU per call, `concurrency` calls at a time."""

    async def one() -> None:
        async with within(deadline_s):
            await call()

    started = time.process_time()
    for _ in range(calls // concurrency):
        if concurrency == 1:
            await one()
        else:
            await asyncio.gather(*(one() for _ in range(concurrency)))
    return (time.process_time() - started) / (calls // concurrency * concurrency) * 1e6


def _calls(adapter: ElasticPathAdapter, token: str) -> dict[str, Call]:
    orders = count()

    def r3() -> Awaitable[Any]:
        return adapter.get_order(CUSTOMER, order_id(next(orders) % ORDERS))

    def r2() -> Awaitable[Any]:
        return adapter.list_orders(OrderListRequest(customer_id=SMALL, limit=20))

    def send() -> Awaitable[Any]:
        return adapter._http.send(
            "GET",
            f"/v2/orders/{order_id(next(orders) % ORDERS)}",
            params=WITH_ITEMS,
            headers={"Authorization": f"Bearer {token}"},
            endpoint=ORDER_ENDPOINT,
        )

    return {"R3 get_order": r3, "R2 list_orders": r2, "UpstreamClient.send": send}


async def measure(
    adapter: ElasticPathAdapter, calls: int, rounds: int
) -> dict[tuple[str, int], list[float]]:
    deadline_s = BridgeSettings.model_fields["deadline_s"].default
    await adapter.open()
    try:
        token = await adapter.token.get()
        scenarios = _calls(adapter, token)
        for call in scenarios.values():  # connections opened, the store seen using groups
            await _cpu_per_call(call, 256, 64, deadline_s)
        results: dict[tuple[str, int], list[float]] = {}
        for _ in range(rounds):
            for name, call in scenarios.items():
                for concurrency in CONCURRENCY:
                    cpu = await _cpu_per_call(call, calls, concurrency, deadline_s)
                    results.setdefault((name, concurrency), []).append(cpu)
        return results
    finally:
        await adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-ttl", type=float, default=0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--platform", help="the URL of a bench platform already running")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.platform
        if url is None:
            port = free_port()
            env = {"BENCH_LATENCY_MS": "0", "BENCH_ORDERS": str(ORDERS)}
            stack.enter_context(running(["bench.platform", "--port", str(port)], port, env=env))
            url = f"http://127.0.0.1:{port}"
        configure_logging(args.log_level, final=True)
        adapter = _configured(url, args.cache_ttl, args.log_level)
        results = uvloop.run(measure(adapter, args.calls, args.rounds))
    print(f"CPU us per call, median of {args.rounds} rounds of {args.calls} calls")
    print("call".ljust(22) + "".join(f"{c:>8} at a time" for c in CONCURRENCY))
    for name in dict.fromkeys(name for name, _ in results):
        cells = "".join(f"{statistics.median(results[name, c]):>18.1f}" for c in CONCURRENCY)
        print(name.ljust(22) + cells)


if __name__ == "__main__":
    main()
