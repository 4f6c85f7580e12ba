"""Load generation: wrk when it is installed, else a small aiohttp load generator."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

WRK = shutil.which("wrk")


@dataclass(frozen=True)
class Load:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float


# Rotates over `paths`, each thread from its own share of them: two threads asking for the
# same order at the same moment would share one platform fetch. (wrk runs for a duration:
# a request count needs the Python one.)
_WRK_SCRIPT = """
local paths = {%(paths)s}
local headers = {["X-API-Key"] = "%(key)s"}
local started = 0
setup = function(thread)
  thread:set("first", started * math.floor(#paths / %(threads)d))
  started = started + 1
end
init = function(args)
  counter = first
end
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], headers)
end
"""

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(base: str, paths: list[str], key: str, connections: int, seconds: float) -> Load:
    threads = min(2, connections)
    quoted = ", ".join(f'"{p}"' for p in paths)
    script = _WRK_SCRIPT % {"paths": quoted, "key": key, "threads": threads}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            [
                WRK or "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                handle.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds * 4 + 60,
        ).stdout
    finally:
        Path(handle.name).unlink()
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (int(bad.group(1)) if bad else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0
    )
    return Load(
        requests=total,
        errors=errors,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
    )


async def _python(
    base: str, paths: list[str], key: str, connections: int, seconds: float, limit: int
) -> Load:
    latencies: list[float] = []
    errors = 0
    issued = 0
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers={"X-API-Key": key}) as session:

        async def worker() -> None:
            nonlocal errors, issued
            while time.perf_counter() < stop_at and (not limit or issued < limit):
                path = paths[issued % len(paths)]
                issued += 1
                started = time.perf_counter()
                try:
                    async with session.get(base + path) as response:
                        await response.read()
                        errors += response.status >= 400
                except aiohttp.ClientError:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return Load(len(latencies), errors, len(latencies) / elapsed, cuts[49], cuts[98])


def generate(
    base: str, paths: list[str], *, key: str = "", connections: int, seconds: float, limit: int = 0
) -> Load:
    """Drive `base` + `paths` (rotating) for `seconds`, or until `limit` responses."""
    if WRK and not limit:
        return _wrk(base, paths, key, connections, seconds)
    return asyncio.run(_python(base, paths, key, connections, seconds, limit))
