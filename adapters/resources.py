"""Platform resources as the platform sent them, kept for the cache lifetime (SPEC §9).

Besides the rendered bodies, the bridge keeps what it fetched (a customer, an order, its
lines, its shipping groups) so that the routes an agent opens one after the other build
on one fetch of each. What is kept is the platform's body, bytes as received, so what it
weighs is exact and no caller can change what another one reads.

Ownership is never cached: an adapter checks the customer on the resource every time it
uses one, cached or not. A resource is tagged with what it belongs to (`order`, `customer`)
so that a write or a webhook forgets everything about one order or one customer; a fetch
of something that was forgotten while it was under way is answered to its callers, but
neither kept nor shared with later ones. Forgetting one customer or order leaves every
other fetch alone: a failed request forgets what it read, and must not cost the requests
of other customers their shared fetches.

With Redis (`shared`), a local miss reads the replicas' shared copy before the platform
(adapters/shared_resources.py), and what is kept here from it lives a short while only.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass

from adapters.shared_resources import SharedResources
from adapters.tasks import SharedTasks

Tag = tuple[str, str]
"""What a resource belongs to: `("order", order_id)` or `("customer", customer_id)`."""

ENTRY_OVERHEAD_BYTES = 400
"""The bookkeeping of one entry besides its body and key: the entry, the index slots."""

FORGETS_REMEMBERED = 1024
"""How many of the most recently forgotten tags are remembered one by one (`Forgotten`).
Tags are ids from requests, so they are not kept without bound: a put begun before the
oldest forget given up is refused, whatever its tags (a refetch, never a stale keep)."""


ORDER = "order"
CUSTOMER = "customer"


def order_tag(order_id: str) -> Tag:
    return (ORDER, order_id)


def customer_tag(customer_id: str) -> Tag:
    return (CUSTOMER, customer_id)


def order_tags(order_id: str, customer_id: str) -> tuple[Tag, ...]:
    """What an order's resources belong to: the order and its customer, so that news of
    either forgets them."""
    return (order_tag(order_id), customer_tag(customer_id))


@dataclass(frozen=True, slots=True)
class Kept:
    body: bytes
    tags: frozenset[Tag]
    expires: float
    weight: int


class Forgotten:
    """When each recently forgotten tag was last forgotten, counted in forgets (`now`), so
    that what was fetched from `since = now` on is kept only when none of its tags was
    forgotten after. Only the `remembered` most recent tags are told apart; those before
    `floor` could be anything."""

    def __init__(self, remembered: int) -> None:
        self.now = 0
        self.floor = 0
        self._remembered = remembered
        self._when: OrderedDict[Tag, int] = OrderedDict()  # oldest forget first

    def tag(self, tag: Tag) -> None:
        self.now += 1
        self._when[tag] = self.now
        self._when.move_to_end(tag)
        if len(self._when) > self._remembered:
            _, self.floor = self._when.popitem(last=False)

    def everything(self) -> None:
        self.now += 1
        self.floor = self.now
        self._when.clear()

    def after(self, since: int, tags: Iterable[Tag]) -> bool:
        """Whether any of `tags` may have been forgotten after `since`."""
        return since < self.floor or any(self._when.get(tag, 0) > since for tag in tags)


@dataclass
class ResourceStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


class ResourceCache:
    """At most `max_entries` resources and `max_bytes` bytes, each for `ttl_s` seconds;
    the least recently used go first. Concurrent fetches of one key share one call, which
    carries the tags of all its callers."""

    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int = 10_000,
        max_bytes: int = 32 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        forgets_remembered: int = FORGETS_REMEMBERED,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.stats = ResourceStats()
        self._clock = clock
        self._entries: OrderedDict[Hashable, Kept] = OrderedDict()
        self._by_tag: dict[Tag, set[Hashable]] = {}
        self._bytes = 0
        self._forgotten = Forgotten(forgets_remembered)
        self._fetching: SharedTasks[Hashable, bytes] = SharedTasks()
        self._fetch_tags: dict[asyncio.Task[bytes], set[Tag]] = {}
        """The tags of each fetch under way, its callers' together: a forget of any drops
        it from sharing."""
        self.shared: SharedResources | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    async def fetch(
        self, key: Hashable, load: Callable[[], Awaitable[bytes]], tags: Iterable[Tag] = ()
    ) -> bytes:
        """The body kept under `key`, else `load()`'s, kept. Concurrent callers share one
        load, which runs on its own deadline and goes on when a caller goes away; its error
        reaches every caller and nothing is kept."""
        kept = self.get(key)
        if kept is not None:
            return kept
        self.stats.misses += 1
        tags = frozenset(tags)
        since = self.generation
        return await self._fetching.run(
            key,
            lambda: self._load(key, load, tags, since),
            joined=lambda fetch: self._tag(fetch, tags),
        )

    def _tag(self, fetch: asyncio.Task[bytes], tags: frozenset[Tag]) -> None:
        """`fetch` now answers a caller naming `tags` too."""
        if fetch.done():
            return
        known = self._fetch_tags.get(fetch)
        if known is None:
            known = self._fetch_tags[fetch] = set()
            fetch.add_done_callback(self._fetch_tags.pop)
        known.update(tags)

    async def _load(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[bytes]],
        tags: frozenset[Tag],
        since: int,
    ) -> bytes:
        ttl_s = None
        if self.shared is None:
            body = await load()
        else:
            body, ttl_s = await self.shared.fetch(key, tags, load, self.ttl_s)
        fetch = asyncio.current_task()
        joined = self._fetch_tags.get(fetch, ()) if fetch is not None else ()
        self.put(key, body, tags.union(joined), since=since, ttl_s=ttl_s)
        return body

    def __contains__(self, key: object) -> bool:
        """Whether `key` is kept and fresh; a look that counts as neither hit nor miss."""
        kept = self._entries.get(key)
        return kept is not None and kept.expires > self._clock()

    def get(self, key: Hashable) -> bytes | None:
        kept = self._entries.get(key)
        if kept is None:
            return None
        if kept.expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return kept.body

    @property
    def generation(self) -> int:
        """Changes whenever something is forgotten: read it before fetching what `put` will
        keep, and pass it as `since`."""
        return self._forgotten.now

    def put(
        self,
        key: Hashable,
        body: bytes,
        tags: Iterable[Tag] = (),
        *,
        since: int | None = None,
        ttl_s: float | None = None,
    ) -> None:
        """Keep `body` (a resource fetched as part of another answer, or by `fetch`) for
        `ttl_s` (default: the cache's); not when one of its tags was forgotten after
        `since` (it may be older than that)."""
        tags = frozenset(tags)
        if not self.enabled or (since is not None and self._forgotten.after(since, tags)):
            return
        weight = sys.getsizeof(body) + sys.getsizeof(key) + ENTRY_OVERHEAD_BYTES
        if weight > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        if ttl_s is None:
            ttl_s = self.ttl_s if self.shared is None else self.shared.local_ttl(self.ttl_s)
        kept = Kept(body, tags, self._clock() + ttl_s, weight)
        self._entries[key] = kept
        self._bytes += weight
        for tag in kept.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.stats.evictions += 1

    def forget(self, tag: Tag) -> int:
        """Drop every resource tagged `tag`, here and (without waiting) in Redis; fetches
        of it under way are not kept. How many were dropped here."""
        if self.shared is not None:
            self.shared.forget_soon((tag,))
        return self.forget_here(tag)

    def forget_here(self, tag: Tag) -> int:
        """`forget` in this process only."""
        self._forgotten.tag(tag)
        for key in self._fetching:
            fetch = self._fetching.running(key)
            if fetch is not None and tag in self._fetch_tags.get(fetch, ()):
                self._fetching.drop(key)  # it may bring what was just forgotten
        keys = self._by_tag.pop(tag, set())
        for key in keys:
            self._drop(key)
        return len(keys)

    def forget_untagged(self, kind: str) -> int:
        """Drop every resource with no tag of `kind`; fetches under way are not kept. How
        many were dropped. With `"order"`: customers and the lists of their orders, which
        may show an order whose customer is not known."""
        self._outdate_every_fetch()
        keys = [key for key, kept in self._entries.items() if all(t[0] != kind for t in kept.tags)]
        for key in keys:
            self._drop(key)
        return len(keys)

    def forget_all(self) -> None:
        self._outdate_every_fetch()
        self._entries.clear()
        self._by_tag.clear()
        self._bytes = 0

    def _outdate_every_fetch(self) -> None:
        """What any fetch under way brings may predate what was just forgotten: none is
        kept, and later callers fetch anew."""
        self._forgotten.everything()
        self._fetching.clear()

    def _drop(self, key: Hashable) -> None:
        kept = self._entries.pop(key, None)
        if kept is None:
            return
        self._bytes -= kept.weight
        for tag in kept.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
