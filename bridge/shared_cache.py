"""Rendered bodies every replica reads: the Redis tier behind `ResponseCache` (SPEC §9).

The in-process cache stays in front: a local hit never reaches Redis. On a local miss the
body is looked up in Redis before it is produced; a produced body goes to Redis for its
lifetime and the stale period after it. Replicas that miss together each render the body,
but the platform resources it is made of are fetched by one of them
(adapters/single_flight.py): waiting here too would spend the request's deadline twice.

The Redis key is a digest of the local cache key, which carries the customer: a body of
one customer is never another's. A body depends on its owner, its
order and, for the routes that list orders, on every order (`depends`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Hashable

from adapters.shared_entries import Dependency, SharedEntries
from adapters.shared_resources import LOCAL_TTL_S
from adapters.shared_state import SharedState
from adapters.single_flight import FlightStats

Dependencies = Callable[[Hashable, str | None], list[Dependency]]
"""What the body under a key, shown to an owner, depends on (bridge/forgetting.py)."""


class SharedBodies:
    def __init__(self, state: SharedState, depends: Dependencies) -> None:
        self.entries = SharedEntries(state, "body")
        self.depends = depends
        self.stats = FlightStats()
        self.stale_served = 0
        self.unsettled = False
        """Something was forgotten here that Redis did not hear (bridge/forgetting.py)."""
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
        entry, depends = self.entries.entry_key(key), self.depends(key, owner)
        seen = await self.entries.read(entry, depends)
        if seen is None:
            return await produce(), False, ttl_s
        local_ttl = min(ttl_s, LOCAL_TTL_S)
        if seen.fresh is not None:
            self.stats.shared_hits += 1
            return seen.fresh, True, min(local_ttl, seen.fresh_ms / 1000)
        self.stats.shared_misses += 1
        body = await produce()
        await self.entries.store(entry, depends, seen.stamp, body, ttl_s=ttl_s, stale_s=stale_s)
        return body, False, local_ttl

    async def stale(self, key: Hashable, owner: str | None) -> bytes | None:
        """The body Redis still holds for `key`, fresh or stale, if nothing it depends
        on was forgotten since it was made."""
        seen = await self.entries.read(self.entries.entry_key(key), self.depends(key, owner))
        if seen is None or seen.value is None:
            return None
        self.stale_served += 1
        return seen.value
