"""One fill for concurrent identical misses on different replicas (SPEC §9).

The first replica to miss takes a short lock in Redis and fills the entry; the others
poll for the entry within their deadline. A holder that fails releases the lock, one that
dies leaves it to expire: a waiter that finds the lock free takes it over, and one whose
patience runs out makes the value itself rather than fail. Each process keeps its own
single flight in front, so at most one caller per replica waits here.

A body and the platform resources it is made of each have their flight. A request that
waited out its patience for a body does not wait again for a resource: what is left of
its deadline goes to the platform.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from adapters.deadline import remaining
from adapters.shared_entries import Dependency, Seen, SharedEntries
from adapters.tasks import of_one_request

FIRST_PAUSE_S = 0.005
LONGEST_PAUSE_S = 0.05
LOCK_S = 10.0
"""The longest a fill holds its lock (less when its request has less time left): past it,
another replica may fill the entry too."""

LOCAL_TTL_S = 2.0
"""The longest a process keeps for itself what it shares: the bound of a stale read should
an invalidation not reach it (SPEC §9; docs/redis.md)."""

_waited_out: ContextVar[bool | None] = of_one_request(
    ContextVar("erc_bridge_waited_out", default=None)
)
"""True once the current request has spent its patience waiting for another replica's
fill: its next fills do not wait again. Not carried into work requests share."""


@dataclass
class FlightStats:
    shared_hits: int = 0
    shared_misses: int = 0
    waits: int = 0
    fallbacks: int = 0


@dataclass(frozen=True, slots=True)
class Flight:
    """How one kind of entry is filled: kept `ttl_s` (+ `stale_s`) in Redis, waited for at
    most `patience_s` (and half of what is left of the request's deadline), locked for at
    most `lock_s`."""

    ttl_s: float
    patience_s: float
    stale_s: float = 0.0
    lock_s: float = LOCK_S


@dataclass(frozen=True, slots=True)
class Filled:
    value: bytes
    from_shared: bool
    """Read from Redis rather than made here."""
    shared: bool
    """Redis answered: whatever was made here went there too."""
    fresh_s: float = 0.0
    """How much longer a value read from Redis stays fresh."""

    def kept_here(self, ttl_s: float) -> float:
        """How long this process may keep the value: a short while when the replicas share
        it (`LOCAL_TTL_S`), else as long as a lone process would."""
        if not self.shared:
            return ttl_s
        if self.from_shared:
            return min(ttl_s, LOCAL_TTL_S, self.fresh_s)
        return min(ttl_s, LOCAL_TTL_S)


async def fill_once(
    entries: SharedEntries,
    entry: str,
    depends: Iterable[Dependency],
    make: Callable[[], Awaitable[bytes]],
    flight: Flight,
    stats: FlightStats,
) -> Filled:
    """The fresh value of `entry` from Redis, or `make()`'s, made by one replica at a time
    and kept in Redis for the next."""
    depends = tuple(depends)
    left = remaining()
    patience_s = 0.0 if _waited_out.get() else flight.patience_s
    if left is not None:
        patience_s = min(patience_s, left / 2)
    lock_ms = int(1000 * (flight.lock_s if left is None else min(flight.lock_s, max(left, 0.05))))
    give_up = time.monotonic() + patience_s
    pause, waited, token = FIRST_PAUSE_S, False, secrets.token_hex(8)
    while True:
        seen = await entries.read(entry, depends, lock=token, lock_ms=lock_ms)
        if seen is None:
            return Filled(await make(), from_shared=False, shared=False)
        if seen.fresh is not None:
            stats.shared_hits += 1
            return Filled(seen.fresh, True, True, seen.fresh_ms / 1000)
        lock = token if seen.locked else None
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
        if waited:
            _waited_out.set(True)
    value = await _made(entries, entry, depends, seen, make, flight, lock)
    return Filled(value, from_shared=False, shared=True)


async def _made(
    entries: SharedEntries,
    entry: str,
    depends: tuple[Dependency, ...],
    seen: Seen,
    make: Callable[[], Awaitable[bytes]],
    flight: Flight,
    lock: str | None,
) -> bytes:
    try:
        value = await make()
    except Exception:
        if lock is not None:
            await entries.unlock(entry, lock)
        raise
    await entries.store(
        entry, depends, seen.stamp, value, ttl_s=flight.ttl_s, stale_s=flight.stale_s, lock=lock
    )
    return value
