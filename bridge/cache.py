"""The response cache: rendered bodies, per-resource TTL, shared misses, stale-if-error,
and per-customer invalidation after a write. With Redis, a tier the replicas share sits
behind it (bridge/shared_cache.py)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum

from cachetools import TLRUCache

from adapters.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from adapters.tasks import SharedTasks
from bridge.shared_cache import SharedBodies

# A platform failure, not an answer: a recent body is better than an error.
STALE_WORTHY = (UpstreamError, UpstreamUnavailable, UpstreamTimeout, TimeoutError)
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""A quarter of the 256 MiB the shipped pod may use: bodies, keys and bookkeeping."""
ENTRY_OVERHEAD_BYTES = 320
"""What the cache's own bookkeeping costs per entry besides the key and the body (about
260 bytes measured with tracemalloc on CPython 3.11, rounded up)."""


class CacheStatus(StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    STALE = "STALE"


Fill = tuple[bytes, CacheStatus]
"""A body and where it came from: made here (MISS) or found in Redis (HIT)."""


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    fresh_until: float
    stale_until: float
    size: int
    owner: str | None = None


def weight(key: Hashable, body: bytes) -> int:
    """The bytes an entry holds: its body, its key and the cache's bookkeeping."""
    return sys.getsizeof(body) + _size_of(key) + ENTRY_OVERHEAD_BYTES


def _size_of(part: object) -> int:
    if isinstance(part, tuple):
        return sys.getsizeof(part) + sum(_size_of(item) for item in part)
    return sys.getsizeof(part)


class ResponseCache:
    """Keeps rendered bodies for `ttl` seconds and, while the platform fails, up to
    `stale` seconds longer. Concurrent misses for one key share a single fetch.

    At most `max_entries` entries and `max_bytes` bytes (`weight`) are held; past
    either, the least recently used go first. A body larger than the whole cache is
    answered and not kept.

    An entry may name its `owner` (the customer it shows): `forget_owner` drops every
    entry of that owner (`forget`, every entry a predicate picks), and a fill that began
    before it is not kept, so that no body from before a write or a webhook is served,
    fresh or stale, afterwards.

    With `shared` (Redis), a local miss asks Redis before producing: a body found there is
    a hit, and is kept here for a short while only (`LOCAL_TTL_S`), as are the ones this
    process shares."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int = DEFAULT_MAX_BYTES,
        stale: float,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._max_entries = max_entries
        self._stale = stale
        self._clock = clock
        self._entries: TLRUCache[Hashable, Entry] = TLRUCache(
            maxsize=max_bytes,
            ttu=lambda _key, entry, _now: entry.stale_until,
            timer=clock,
            getsizeof=lambda entry: entry.size,
        )
        self._fills: SharedTasks[tuple[Hashable, str | None], Fill] = SharedTasks()
        self._outdated: set[asyncio.Task[Fill]] = set()
        self.shared: SharedBodies | None = None
        self.hits = self.misses = self.stale_served = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held_bytes(self) -> int:
        """What the entries held weigh together."""
        return int(self._entries.currsize)

    async def refresh(
        self,
        key: Hashable,
        ttl: float,
        produce: Callable[[], Awaitable[bytes]],
        *,
        owner: str | None = None,
    ) -> tuple[bytes, CacheStatus]:
        """A new body from `produce` (one call for concurrent misses of `key`), kept for
        `ttl` seconds; a stale one while `produce` fails on the platform's account."""
        if not self.enabled or ttl <= 0:
            return await produce(), CacheStatus.MISS
        try:
            body, status = await self._fills.run(
                (key, owner), lambda: self._store(key, ttl, produce, owner)
            )
        except STALE_WORTHY:
            entry = self._held(key)
            stale = entry.body if entry is not None else await self._shared_stale(key, owner)
            if stale is None:
                raise
            self.stale_served += 1
            return stale, CacheStatus.STALE
        if status is CacheStatus.HIT:
            self.hits += 1
        else:
            self.misses += 1
        return body, status

    async def _shared_stale(self, key: Hashable, owner: str | None) -> bytes | None:
        return None if self.shared is None else await self.shared.stale(key, owner)

    def fresh(self, key: Hashable) -> bytes | None:
        """The body kept for `key` if it is still fresh (counted as a hit), else None."""
        entry = self._held(key)
        if entry is not None and self._clock() < entry.fresh_until:
            self.hits += 1
            return entry.body
        return None

    def _held(self, key: Hashable) -> Entry | None:
        try:
            return self._entries[key]  # one lookup; `get` would take two
        except KeyError:
            return None

    def forget_owner(self, owner: str) -> None:
        """Drop every entry of `owner`; fills under way for it will not be kept, and later
        requests do not wait for them."""
        self.forget(lambda _key, of: of == owner)

    def forget(self, matches: Callable[[Hashable, str | None], bool]) -> None:
        """Drop every entry whose key and owner `matches`; fills under way for such a key
        will not be kept, and later requests do not wait for them."""
        entries = self._entries
        for key in list(entries):
            entry = entries.get(key)
            if entry is not None and matches(key, entry.owner):
                entries.pop(key, None)
        for fill in [fill for fill in self._fills if matches(*fill)]:
            task = self._fills.drop(fill)
            if task is not None:
                self._outdated.add(task)
                task.add_done_callback(self._outdated.discard)

    async def _store(
        self,
        key: Hashable,
        ttl: float,
        produce: Callable[[], Awaitable[bytes]],
        owner: str | None,
    ) -> Fill:
        status, lifetime = CacheStatus.MISS, ttl
        if self.shared is None:
            body = await produce()
        else:
            body, from_shared, lifetime = await self.shared.fill(
                key, owner, produce, ttl_s=ttl, stale_s=self._stale
            )
            status = CacheStatus.HIT if from_shared else CacheStatus.MISS
        if asyncio.current_task() in self._outdated:
            return body, status  # a write for its owner came meanwhile: it may predate it
        now = self._clock()
        stale_until = now + lifetime + self._stale
        entry = Entry(body, now + lifetime, stale_until, weight(key, body), owner)
        entries = self._entries
        if entry.size <= entries.maxsize:
            entries[key] = entry
            while len(entries) > self._max_entries:
                entries.popitem()
        return body, status
