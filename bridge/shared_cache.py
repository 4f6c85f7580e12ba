"""Rendered bodies every replica reads: the Redis tier behind `ResponseCache` (SPEC §9).

The in-process cache stays in front: a local hit never reaches Redis. On a local miss the
body is looked up in Redis before it is produced, by one replica at a time
(adapters/single_flight.py); a produced body goes to Redis for its lifetime and the
stale period after it.

The Redis key is a digest of the local cache key, which carries the customer: a body of
one customer is never another's. A body depends on its owner, its
order and, for the routes that list orders, on every order (`depends`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Hashable

from adapters.shared_entries import Dependency, SharedEntries
from adapters.shared_state import SharedState
from adapters.single_flight import Flight, FlightStats, fill_once

Dependencies = Callable[[Hashable, str | None], list[Dependency]]
"""What the body under a key, shown to an owner, depends on (bridge/forgetting.py)."""


class SharedBodies:
    def __init__(self, state: SharedState, depends: Dependencies, *, deadline_s: float) -> None:
        self.entries = SharedEntries(state, "body")
        self.depends = depends
        self.deadline_s = deadline_s
        self.stats = FlightStats()
        self.stale_served = 0
        self.settling: asyncio.Task[None] | None = None
        """Making everything in Redis old, after something was forgotten here that Redis
        did not take (bridge/forgetting.py)."""
        self.origin = secrets.token_hex(8)
        """This process in what it publishes, so that it does not forget twice."""

    async def fill(
        self,
        key: Hashable,
        owner: str | None,
        produce: Callable[[], Awaitable[bytes]],
        *,
        ttl_s: float,
        stale_s: float,
    ) -> tuple[bytes, bool, float]:
        """The body, whether it came from Redis, and how long this process may keep it."""
        # Half the request's deadline, at most, waiting for another replica's body: the
        # other half is left to make it here. Its lock lasts as long as a request may.
        deadline_s = self.deadline_s
        flight = Flight(ttl_s, patience_s=deadline_s / 2, stale_s=stale_s, lock_s=deadline_s)
        filled = await fill_once(
            self.entries,
            self.entries.entry_key(key),
            self.depends(key, owner),
            produce,
            flight,
            self.stats,
        )
        return filled.value, filled.from_shared, filled.kept_here(ttl_s)

    async def stale(self, key: Hashable, owner: str | None) -> bytes | None:
        """The body Redis still holds for `key`, fresh or stale, if nothing it depends
        on was forgotten since it was made."""
        seen = await self.entries.read(self.entries.entry_key(key), self.depends(key, owner))
        if seen is None or seen.value is None:
            return None
        self.stale_served += 1
        return seen.value
