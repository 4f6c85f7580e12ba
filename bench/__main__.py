"""The bridge benchmark: `make bench` (or `python -m bench`).

Starts the platform (Elastic Path emulator with a fixed latency), the bridge and two
anchors on 127.0.0.1, drives each with the same load, and prints req/s, p50 and p99 with
every bridge figure as a ratio of its anchor measured in this same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform as host
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import load, replicas, session
from bench.platform import CUSTOMER, SMALL, order_id
from bench.processes import running
from bridge.logs import configure_logging
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET
from tests.processes import free_port

KEY = "bench-key-2e7a-4f19-b0c6-d83e5a91"
R = "/erc/ecommerce/connections"
R3 = f"{R}/customers/{CUSTOMER}/orders/{order_id(0)}"
R2 = f"{R}/customers/{SMALL}/orders"
SCENARIOS = ("anchored", "r3-miss", "session", "replicas")
"""`--only` picks among them: the hit, 0 ms miss, R2 100 ms and memory rows (each with its
anchor); R3 misses at 100 ms; the agent session's platform calls; two replicas sharing a
Redis against one."""
LITTLE_BOUND = 1000.0
"""100 connections each waiting one 100 ms platform round: at most 1,000 req/s."""
WARM_UP_S = 2.0
"""Before each timed run: the first second opens the platform connections and fetches the
first token, which is not what a bridge that has been running for a while spends."""
R3_MISS_ORDERS = 20_000
"""More distinct orders than one R3 miss run asks for: no answer comes from a cache."""


def r3_paths(orders: int) -> list[str]:
    return [f"{R}/customers/{CUSTOMER}/orders/{order_id(i)}" for i in range(orders)]


@contextlib.contextmanager
def platform(latency_ms: float, orders: int) -> Iterator[str]:
    port = free_port()
    env = {"BENCH_LATENCY_MS": str(latency_ms), "BENCH_ORDERS": str(orders)}
    with running(["bench.platform", "--port", str(port)], port, env=env):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def bridge(
    platform_url: str, *, cache_ttl: float, log_level: str, redis_url: str | None = None
) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ELASTICPATH_BASE_URL": platform_url,
        "ELASTICPATH_CLIENT_ID": CLIENT_ID,
        "ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
        "ERC_BRIDGE_API_KEYS": KEY,
        "ERC_BRIDGE_CURSOR_SECRET": "bench-cursor-secret-0123456789abcdef",
        "ERC_BRIDGE_CACHE_TTL_S": str(cache_ttl),
        "ERC_BRIDGE_LOG_LEVEL": log_level,
    }
    if redis_url is not None:
        env["ERC_BRIDGE_REDIS_URL"] = redis_url
    with running(["bridge.cli", "serve", "--port", str(port)], port, env=env) as process:
        yield f"http://127.0.0.1:{port}", process.pid


@contextlib.contextmanager
def bare_anchor(body: bytes) -> Iterator[tuple[str, int]]:
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(body)
    try:
        env = {"BENCH_BODY_FILE": handle.name}
        with running(["uvicorn", "bench.anchors:bare", "--port", str(port)], port, env=env) as p:
            yield f"http://127.0.0.1:{port}", p.pid
    finally:
        Path(handle.name).unlink()


@contextlib.contextmanager
def bare_one_write_anchor(body: bytes) -> Iterator[tuple[str, int]]:
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(body)
    try:
        env = {"BENCH_BODY_FILE": handle.name, "BENCH_ANCHOR": "bare-one-write"}
        env["BENCH_PORT"] = str(port)
        with running(["bench.anchors"], port, env=env) as process:
            yield f"http://127.0.0.1:{port}", process.pid
    finally:
        Path(handle.name).unlink()


@contextlib.contextmanager
def proxy_anchor(platform_url: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        "BENCH_PLATFORM": platform_url,
        "BENCH_CLIENT_ID": CLIENT_ID,
        "BENCH_CLIENT_SECRET": CLIENT_SECRET,
        "BENCH_PORT": str(port),
    }
    with running(["bench.anchors"], port, env=env) as process:
        yield f"http://127.0.0.1:{port}", process.pid


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """A load run and the CPU its server spent on each request."""

    load: load.Load
    cpu_us: float

    @property
    def rps(self) -> float:
        return self.load.rps


def measure(pid: int, base: str, paths: list[str], **options: Any) -> Measured:
    """A timed run after `WARM_UP_S` of the same load unmeasured (not before a run counted
    in requests). The warm-up starts half-way round `paths`, so that a run over distinct
    orders is not warmed up on the orders it then asks for."""
    if not options.get("limit"):
        half = len(paths) // 2
        load.generate(base, paths[half:] + paths[:half], **{**options, "seconds": WARM_UP_S})
    before = cpu_seconds(pid)
    result = load.generate(base, paths, **options)
    spent = cpu_seconds(pid) - before
    return Measured(result, spent / max(result.requests, 1) * 1e6)


@dataclass(frozen=True)
class Row:
    name: str
    measured: Measured
    anchor: Measured | None = None
    target: str = ""
    passed: bool | None = None


def print_table(rows: list[Row]) -> None:
    print(
        f"{'scenario':<52}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'cpu us/req':>12}  {'ratio':>6}  target"
    )
    for row in rows:
        result = row.measured.load
        ratio = f"{result.rps / row.anchor.load.rps:5.2f}x" if row.anchor else ""
        verdict = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        print(
            f"{row.name:<52}{result.rps:>9.0f}{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}"
            f"{result.errors:>8}{row.measured.cpu_us:>12.0f}  {ratio:>6}  {row.target} {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="length of each load run")
    parser.add_argument("--orders", type=int, default=10_000, help="distinct orders (memory run)")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--log-level", default="info", help="the bridge's ERC_BRIDGE_LOG_LEVEL")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCENARIOS,
        default=list(SCENARIOS),
        help="run these scenarios only (default: all)",
    )
    args = parser.parse_args()
    print(
        f"load generator: {'wrk' if load.WRK else 'python (aiohttp)'}; "
        f"{os.cpu_count()} cores; Python {host.python_version()}; bridge log level {args.log_level}"
    )
    rows: list[Row] = []
    memory: str | None = None
    if "anchored" in args.only:
        memory = anchored_rows(rows, args)
    if "r3-miss" in args.only:
        rows += r3_miss_rows(args)
    print_table(rows)
    if memory is not None:
        print(memory)
    if "session" in args.only:
        configure_logging("warning")
        print()
        print("\n".join(session.report(session.measure())))
    if "replicas" in args.only:
        print()
        print("\n".join(replica_lines(args)))


def anchored_rows(rows: list[Row], args: argparse.Namespace) -> str:
    """The hit, 0 ms miss, R2 100 ms and memory rows; the memory line."""
    run = dict(key=KEY, seconds=args.seconds)
    with platform(0, args.orders) as fast, platform(100, 1) as slow:
        with bridge(fast, cache_ttl=30, log_level=args.log_level) as (cached, bridge_pid):
            body = httpx.get(cached + R3, headers={"X-API-Key": KEY}).content
            with bare_anchor(body) as (bare, pid):
                a = measure(pid, bare, [R3], connections=64, **run)
                hit = measure(bridge_pid, cached, [R3], connections=64, **run)
            with bare_one_write_anchor(body) as (bare, pid):
                a1 = measure(pid, bare, [R3], connections=64, **run)
        rows += [
            Row("anchor (a): bare Starlette, pre-rendered R3, 64 conn", a),
            Row("R3 cache hit, 64 conn", hit, a, ">= 0.80x (a)", hit.rps >= 0.8 * a.rps),
            Row("anchor (a'): (a) on the bridge's one-write protocol", a1),
            Row("R3 cache hit, against (a')", hit, a1, "(for reading only)"),
        ]
        with (
            proxy_anchor(fast) as (proxy, proxy_pid),
            bridge(fast, cache_ttl=0, log_level=args.log_level) as (uncached, bridge_pid),
        ):
            b = measure(proxy_pid, proxy, [R2], connections=64, **run)
            miss64 = measure(bridge_pid, uncached, [R2], connections=64, **run)
            miss1 = measure(bridge_pid, uncached, [R2], connections=1, **run)
        rows += [
            Row("anchor (b): raw aiohttp proxy, R2 payload, 0 ms, 64 conn", b),
            Row(
                "R2 cache miss, platform 0 ms, 64 conn",
                miss64,
                b,
                ">= 0.50x (b)",
                miss64.rps >= 0.5 * b.rps,
            ),
            Row(
                "R2 cache miss, platform 0 ms, 1 conn",
                miss1,
                b,
                "64 conn >= 1 conn",
                miss64.rps >= miss1.rps,
            ),
        ]
        with (
            proxy_anchor(slow) as (proxy, proxy_pid),
            bridge(slow, cache_ttl=0, log_level=args.log_level) as (uncached, bridge_pid),
        ):
            b100 = measure(proxy_pid, proxy, [R2], connections=100, **run)
            miss100 = measure(bridge_pid, uncached, [R2], connections=100, **run)
        rows += [
            Row("anchor (b): raw aiohttp proxy, platform 100 ms, 100 conn", b100),
            Row(
                "R2 cache miss, platform 100 ms, 100 conn",
                miss100,
                b100,
                ">= 900 req/s",
                miss100.rps >= 900,
            ),
        ]
        paths = r3_paths(args.orders)
        with bridge(fast, cache_ttl=30, log_level=args.log_level) as (cached, pid):
            idle = rss_mb(pid)
            spread = measure(
                pid, cached, paths, key=KEY, connections=64, seconds=900, limit=args.memory_requests
            )
            after = rss_mb(pid)
        requests = spread.load.requests
        rows.append(Row(f"R3 over {args.orders:,} orders, {requests:,} requests", spread))
    verdict = "PASS" if after <= 150 else "FAIL"
    return (
        f"\nbridge resident memory: {idle:.0f} MB idle, {after:.0f} MB after "
        f"{requests:,} requests over {args.orders:,} orders (target <= 150 MB) {verdict}"
    )


def r3_miss_rows(args: argparse.Namespace) -> list[Row]:
    """R3 at 100 ms over distinct orders, each one a miss, against the raw proxy making
    one platform round (its Little's-law bound: 1,000 req/s at 100 connections)."""
    run = dict(key=KEY, seconds=args.seconds)
    with (
        platform(100, R3_MISS_ORDERS) as slow,
        proxy_anchor(slow) as (proxy, proxy_pid),
        bridge(slow, cache_ttl=0, log_level=args.log_level) as (uncached, bridge_pid),
    ):
        anchor = measure(proxy_pid, proxy, [R2], connections=100, **run)
        paths = r3_paths(R3_MISS_ORDERS)
        both = measure(proxy_pid, proxy, paths, connections=100, **run)
        miss = measure(bridge_pid, uncached, paths, connections=100, **run)
    return [
        Row("anchor (b): raw aiohttp proxy, one round of 100 ms, 100 conn", anchor),
        Row("anchor (b'): the proxy, R3's two calls in one round, 100 conn", both),
        Row(
            "R3 cache miss, platform 100 ms, 100 conn",
            miss,
            both,
            f">= 900 req/s ({miss.rps / LITTLE_BOUND:.2f}x the bound of 1,000)",
            miss.rps >= 900,
        ),
    ]


def replica_lines(args: argparse.Namespace) -> list[str]:
    """Two replicas sharing one Redis against one replica (bench/replicas.py)."""
    paths = r3_paths(replicas.ORDERS)
    with (
        platform(0, 1) as fast,
        platform(replicas.PLATFORM_LATENCY_MS, replicas.ORDERS) as slow,
    ):
        return replicas.report(
            bridge,
            fast,
            slow,
            paths,
            R3,
            key=KEY,
            seconds=args.seconds,
            log_level=args.log_level,
        )


if __name__ == "__main__":
    main()
