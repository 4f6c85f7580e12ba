"""Platform resources every replica reads: the Redis tier behind `ResourceCache` (SPEC §9).

A resource is the platform's bytes, and its ownership is checked by the adapter every time
it is used, so sharing it between replicas is as safe as keeping it in one. It depends on
its tags, and one with no order tag on every order (`ANY_ORDER`: a customer, a list of
orders), as `ResourceCache.forget_untagged` has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable

from adapters.shared_entries import Dependency, SharedEntries
from adapters.shared_state import SharedState
from adapters.single_flight import LOCAL_TTL_S, Flight, FlightStats, fill_once

ANY_ORDER: Dependency = ("orders", "*")
"""What may show an order without naming it: forgotten with an order whose customer is not
known."""


def resource_dependencies(tags: Iterable[Dependency]) -> list[Dependency]:
    tags = list(tags)
    if all(kind != "order" for kind, _ in tags):
        tags.append(ANY_ORDER)
    return tags


class SharedResources:
    """`fetch` reads Redis on a local miss and fills it, one replica at a time."""

    def __init__(self, state: SharedState, *, patience_s: float) -> None:
        self.entries = SharedEntries(state, "resource")
        self.patience_s = patience_s
        self.stats = FlightStats()
        self._forgetting: set[asyncio.Task[bool]] = set()

    async def fetch(
        self,
        key: Hashable,
        tags: Iterable[Dependency],
        load: Callable[[], Awaitable[bytes]],
        ttl_s: float,
    ) -> tuple[bytes, float]:
        """The resource, and how long this process may keep it."""
        filled = await fill_once(
            self.entries,
            self.entries.entry_key(key),
            resource_dependencies(tags),
            load,
            Flight(ttl_s=ttl_s, patience_s=self.patience_s),
            self.stats,
        )
        return filled.value, filled.kept_here(ttl_s)

    def local_ttl(self, ttl_s: float) -> float:
        """How long this process may keep what it fetched: a short while when Redis is
        reachable (the replicas share it), else as long as alone."""
        return min(ttl_s, LOCAL_TTL_S) if self.entries.state.reachable else ttl_s

    def forget_soon(self, tags: Iterable[Dependency]) -> None:
        """Forget `tags` in Redis without waiting (a failed request's resources)."""
        task = asyncio.get_running_loop().create_task(self.entries.forget(tags))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)
