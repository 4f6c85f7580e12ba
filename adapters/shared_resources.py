"""Platform resources every replica reads: the Redis tier behind `ResourceCache` (SPEC §9).

A resource is the platform's bytes, and its ownership is checked by the adapter every time
it is used, so sharing it between replicas is as safe as keeping it in one. It depends on
its tags, and one with no order tag on every order (`ANY_ORDER`: a customer, a list of
orders), as `ResourceCache.forget_untagged` has it.

A failed request's forget goes to Redis without its request waiting (`forget_soon`).
Until it has landed, Redis still holds what was forgotten, so a fetch of those tags
meanwhile asks the platform rather than Redis: the next request must not get back the
very resource that may be why the last one failed.
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
        self._unlanded: dict[Dependency, int] = {}
        """Tags whose forget is on its way to Redis, with how many such forgets: an entry
        lives no longer than its task, which Redis's timeout bounds."""

    async def fetch(
        self,
        key: Hashable,
        tags: Iterable[Dependency],
        load: Callable[[], Awaitable[bytes]],
        ttl_s: float,
    ) -> tuple[bytes, float]:
        """The resource, and how long this process may keep it."""
        tags = tuple(tags)
        if any(tag in self._unlanded for tag in tags):
            # Redis may still hold what was just forgotten here: neither read nor filled.
            return await load(), self.local_ttl(ttl_s)
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

    async def landed(self) -> None:
        """Once every forget on its way to Redis has landed (or failed)."""
        await asyncio.gather(*self._forgetting)

    def forget_soon(self, tags: Iterable[Dependency]) -> None:
        """Forget `tags` in Redis without waiting (a failed request's resources); until
        that has landed (or failed), fetches of them do not read Redis."""
        tags = frozenset(tags)
        for tag in tags:
            self._unlanded[tag] = self._unlanded.get(tag, 0) + 1
        task = asyncio.get_running_loop().create_task(self._forget(tags))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget(self, tags: frozenset[Dependency]) -> bool:
        try:
            return await self.entries.forget(tags)
        finally:  # here rather than in a done callback: the task is done only once it ran
            for tag in tags:
                left = self._unlanded.pop(tag) - 1
                if left:
                    self._unlanded[tag] = left
