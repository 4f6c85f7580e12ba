"""One platform call for concurrent identical misses on different replicas (SPEC §9).

The first replica to miss takes a short lock in Redis and fills the entry; the others
poll for the entry within their deadline. A holder that fails releases the lock, one that
dies leaves it to expire: a waiter that finds the lock free takes it over, and one whose
patience runs out calls the platform itself rather than fail. Each process keeps its own
single flight in front, so at most one caller per replica waits here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from adapters.deadline import remaining
from adapters.shared_entries import Dependency, Seen, SharedEntries

FIRST_PAUSE_S = 0.005
LONGEST_PAUSE_S = 0.05
LOCK_S = 10.0
"""The longest a fill holds its lock (less when its request has less time left): past it,
another replica may fill the entry too."""


@dataclass
class FlightStats:
    shared_hits: int = 0
    shared_misses: int = 0
    waits: int = 0
    fallbacks: int = 0


@dataclass(frozen=True, slots=True)
class Filled:
    value: bytes
    from_shared: bool
    """Read from Redis rather than made here."""
    shared: bool
    """Redis answered: whatever was made here went there too."""


async def fill_once(
    entries: SharedEntries,
    entry: str,
    depends: Iterable[Dependency],
    make: Callable[[], Awaitable[bytes]],
    *,
    ttl_s: float,
    patience_s: float,
    stats: FlightStats,
) -> Filled:
    """The fresh value of `entry` from Redis, or `make()`'s, made by one replica at a time
    and kept there for `ttl_s`. Waits for another replica's fill at most `patience_s` (and
    half of what is left of the request's deadline)."""
    depends = tuple(depends)
    left = remaining()
    if left is not None:
        patience_s = min(patience_s, left / 2)
    give_up = time.monotonic() + patience_s
    pause, waited = FIRST_PAUSE_S, False
    while True:
        seen = await entries.read(entry, depends)
        if seen is None:
            return Filled(await make(), from_shared=False, shared=False)
        if seen.fresh is not None:
            stats.shared_hits += 1
            return Filled(seen.fresh, from_shared=True, shared=True)
        lock = await entries.lock(entry, _lock_ms(left))
        if lock is not None or time.monotonic() + pause > give_up:
            break
        if not waited:
            stats.waits += 1
            waited = True
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_S)
    stats.shared_misses += 1
    if lock is None:
        stats.fallbacks += 1
    return Filled(await _made(entries, entry, depends, seen, make, ttl_s, lock), False, True)


async def _made(
    entries: SharedEntries,
    entry: str,
    depends: tuple[Dependency, ...],
    seen: Seen,
    make: Callable[[], Awaitable[bytes]],
    ttl_s: float,
    lock: str | None,
) -> bytes:
    try:
        value = await make()
    except Exception:
        if lock is not None:
            await entries.unlock(entry, lock)
        raise
    await entries.store(entry, depends, seen.stamp, value, ttl_s=ttl_s, lock=lock)
    return value


def _lock_ms(left: float | None) -> int:
    seconds = LOCK_S if left is None else min(LOCK_S, max(left, 0.05))
    return int(seconds * 1000)
