"""Two bridge replicas sharing one Redis against one replica (SPEC §9).

The same request mix (R3 over `ORDERS` orders, spread evenly over the replicas) is sent
to one replica alone and to two replicas sharing a Redis; the platform calls of each run
are summed from the replicas' `/metrics`. Sharing, the two together should make about
the calls one makes alone (target <= 1.1x). Then the hit path: one R3 served from the
in-process cache with Redis configured, against the same without (target >= 0.7x): the
local cache stays in front of Redis.

The redis-server is started here, on a free loopback port, and keeps nothing on disk.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import httpx

from bench import load
from tests.redis_server import RedisServer

ORDERS = 300
PLATFORM_LATENCY_MS = 20
CONNECTIONS = 64

Bridge = Callable[..., AbstractContextManager[tuple[str, int]]]
"""`bridge(platform_url, cache_ttl=, log_level=, redis_url=)`: its base URL and pid."""


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory, RedisServer(Path(directory)) as server:
        yield server.url


def platform_calls(base: str, key: str) -> float:
    """The platform calls one replica made so far, whatever their outcome."""
    text = httpx.get(f"{base}/metrics", headers={"X-API-Key": key}).text
    prefix = "erc_bridge_platform_calls_total{"
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def _spread(bases: list[str], paths: list[str], key: str, seconds: float) -> list[load.Load]:
    """The mix sent to every replica at once, the connections split between them."""
    connections = CONNECTIONS // len(bases)
    with ThreadPoolExecutor(len(bases)) as pool:
        runs = [
            pool.submit(
                load.generate, base, paths, key=key, connections=connections, seconds=seconds
            )
            for base in bases
        ]
        return [run.result() for run in runs]


def report(
    bridge: Bridge,
    platform_url: str,
    slow_platform_url: str,
    paths: list[str],
    hit_path: str,
    *,
    key: str,
    seconds: float,
    log_level: str,
) -> list[str]:
    """The scenario's lines: platform calls of one replica and of two sharing Redis, and
    the hit path with and without Redis. `slow_platform_url` answers the mix (many
    orders, some latency); `platform_url` the hit path."""
    options = {"cache_ttl": 30, "log_level": log_level}
    with redis_server() as redis_url:
        with bridge(slow_platform_url, **options) as (alone, _):
            runs = _spread([alone], paths, key, seconds)
            one = platform_calls(alone, key)
        with (
            bridge(slow_platform_url, redis_url=redis_url, **options) as (a, _),
            bridge(slow_platform_url, redis_url=redis_url, **options) as (b, _),
        ):
            shared_runs = _spread([a, b], paths, key, seconds)
            two = platform_calls(a, key) + platform_calls(b, key)
        with bridge(platform_url, **options) as (plain, _):
            httpx.get(plain + hit_path, headers={"X-API-Key": key})
            without = load.generate(
                plain, [hit_path], key=key, connections=CONNECTIONS, seconds=seconds
            )
        with bridge(platform_url, redis_url=redis_url, **options) as (sharing, _):
            httpx.get(sharing + hit_path, headers={"X-API-Key": key})
            with_redis = load.generate(
                sharing, [hit_path], key=key, connections=CONNECTIONS, seconds=seconds
            )
    calls_ratio = two / max(one, 1)
    hit_ratio = with_redis.rps / max(without.rps, 1)
    errors = sum(r.errors for r in runs + shared_runs)
    return [
        f"replicas: R3 over {len(paths)} orders, platform {PLATFORM_LATENCY_MS} ms, "
        f"{CONNECTIONS} connections, {seconds:g} s ({errors} errors)",
        f"  platform calls, one replica:            {one:8.0f}"
        f"  ({sum(r.requests for r in runs):,} requests)",
        f"  platform calls, two replicas + Redis:   {two:8.0f}"
        f"  ({sum(r.requests for r in shared_runs):,} requests)"
        f"  {calls_ratio:.2f}x (target <= 1.10x) {'PASS' if calls_ratio <= 1.1 else 'FAIL'}",
        f"  R3 cache hit, no Redis:                 {without.rps:8.0f} req/s"
        f"  p99 {without.p99_ms:.2f} ms",
        f"  R3 cache hit, Redis configured:         {with_redis.rps:8.0f} req/s"
        f"  p99 {with_redis.p99_ms:.2f} ms"
        f"  {hit_ratio:.2f}x (target >= 0.70x) {'PASS' if hit_ratio >= 0.7 else 'FAIL'}",
    ]
