"""The bridge's CPU per request on its own request path: `python -m bench.front`.

Starts the replayed platform at 0 ms and the bridge as `make bench` does, then drives an
R3 cache hit and an R2 cache miss with 64 connections, each after a warm-up, and prints
the CPU time the bridge spent per request (from /proc/<pid>/stat): the figure that does
not depend on how busy the machine is. Run it from a checkout (or with it first on
PYTHONPATH) to measure that checkout's bridge; `--rounds` repeats each run and prints
every figure and their median.
"""

from __future__ import annotations

import argparse
import statistics

import httpx

from bench.__main__ import KEY, R2, R3, Measured, bridge, measure, platform


def _median(name: str, runs: list[Measured]) -> str:
    figures = [run.cpu_us for run in runs]
    each = ", ".join(f"{figure:.0f}" for figure in figures)
    errors = sum(run.load.errors for run in runs)
    return (
        f"{name:<32}{statistics.median(figures):>8.1f} us/req  ({each}; "
        f"{statistics.median(run.rps for run in runs):.0f} req/s, {errors} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4, help="length of each timed run")
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each scenario")
    parser.add_argument("--log-level", default="info", help="the bridge's ERC_BRIDGE_LOG_LEVEL")
    parser.add_argument(
        "--only", nargs="+", choices=("hit", "miss"), default=["hit", "miss"], help="scenarios"
    )
    args = parser.parse_args()
    run = dict(key=KEY, connections=64, seconds=args.seconds)
    lines = []
    with platform(0, 1) as fast:
        if "hit" in args.only:
            with bridge(fast, cache_ttl=30, log_level=args.log_level) as (cached, pid):
                httpx.get(cached + R3, headers={"X-API-Key": KEY}).raise_for_status()
                hits = [measure(pid, cached, [R3], **run) for _ in range(args.rounds)]
            lines.append(_median("R3 cache hit, 64 conn", hits))
        if "miss" in args.only:
            with bridge(fast, cache_ttl=0, log_level=args.log_level) as (uncached, pid):
                misses = [measure(pid, uncached, [R2], **run) for _ in range(args.rounds)]
            lines.append(_median("R2 cache miss, 0 ms, 64 conn", misses))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
