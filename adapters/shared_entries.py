"""Cached bytes every replica reads, in the Redis they share (SPEC §9).

An entry is kept under the generations of what it depends on (a customer, an order, …):
forgetting something gives it a new generation, so every entry made under the old one,
and every fill that read the old one before it began, is refused from then on, on every
replica, without finding the entries. Generations are random tokens, never counters: one
that expires or is evicted comes back as a new token, so nothing old turns valid again.

The checks are Lua scripts, atomic in Redis. Redis unreachable: every call answers as if
nothing were kept (`None`, `False`), and the caller goes on as one process would. So does
a read while this replica forgot something Redis did not take (`SharedState.unheard`): an
entry made before it may still be kept under generations Redis thinks current, until
everything is made old (EVERYTHING's generation renewed).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from adapters.shared_state import SharedState

Dependency = tuple[str, str]
"""What an entry depends on, as a resource's tags say it: `("order", id)`, …"""

EVERYTHING: Dependency = ("all", "*")
"""Every entry depends on it: forgotten when a replica could not forget something in Redis."""

GENERATION_LIFETIME_MS = 3_600_000
"""A generation outlives every entry made under it (`store` extends it as needed); one
that expires only costs the next read of its entries a miss."""

_READ = """
local entry = redis.call('HMGET', KEYS[1], 'v', 'g', 's')
local current = {}
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2])
  current[i - 2] = redis.call('GET', KEYS[i])
end
local stamp = table.concat(current, ' ')
local fresh = false
if entry[1] and entry[2] == stamp then
  fresh = redis.call('PTTL', KEYS[1]) - tonumber(entry[3])
  if fresh > 0 then return {stamp, 0, entry[1], fresh} end
end
local locked = 0
if ARGV[3] ~= '' and redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  locked = 1
end
if fresh then return {stamp, locked, entry[1], fresh} end
return {stamp, locked}
"""
"""KEYS: the entry, its fill lock, its generations (made when missing); ARGV: a new
generation token and its lifetime, a lock token ('' for none) and its lifetime. The
generations now (what a fill is made under); the lock when asked for and the entry has
nothing fresh (taken in the same step, so that no fill can end in between); the entry
and how long it stays fresh (ms) when it was made under those generations."""

_STORE = """
local current = {}
for i = 3, #KEYS do current[i - 2] = redis.call('GET', KEYS[i]) or '' end
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
if table.concat(current, ' ') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'g', ARGV[2], 's', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local keep = tonumber(ARGV[4]) + 60000
for i = 3, #KEYS do
  if redis.call('PTTL', KEYS[i]) < keep then redis.call('PEXPIRE', KEYS[i], keep) end
end
return 1
"""
"""KEYS: the entry, its fill lock, its generations; ARGV: value, the generations the fill
began under, stale ms, lifetime ms, the lock's token. Kept only when no generation changed
since; the lock is released if it is still the caller's."""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Seen:
    """What Redis holds for a key: the generations a fill would be made under, whether
    the caller got the lock, and the value when one was made under those generations
    (`fresh_ms` > 0 while it is fresh)."""

    stamp: bytes
    locked: bool = False
    value: bytes | None = None
    fresh_ms: int = 0

    @property
    def fresh(self) -> bytes | None:
        return self.value if self.fresh_ms > 0 else None


def digest(key: Hashable) -> str:
    """The same for the same key in every process (`repr` of strings, numbers, tuples)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:32]


class SharedEntries:
    """Entries of one `kind` (`body`, `resource`) under the store's namespace."""

    def __init__(self, state: SharedState, kind: str) -> None:
        self.state = state
        self.kind = kind
        client = state.client
        self._read = client.register_script(_READ)
        self._store = client.register_script(_STORE)
        self._unlock = client.register_script(_UNLOCK)

    def entry_key(self, key: Hashable) -> str:
        return self.state.key(self.kind, digest(key))

    def _lock_key(self, entry: str) -> str:
        return f"{entry}:lock"

    def _generations(self, depends: Iterable[Dependency]) -> list[str]:
        unique = sorted({EVERYTHING, *depends})
        return [self.state.key("gen", kind, name) for kind, name in unique]

    async def read(
        self, entry: str, depends: Iterable[Dependency], *, lock: str = "", lock_ms: int = 0
    ) -> Seen | None:
        """What is kept under `entry`, taking its fill lock with the token `lock` when
        nothing fresh is; None when Redis cannot say, or may hold what this replica
        forgot."""
        if self.state.unheard.any:
            return None
        keys = [entry, self._lock_key(entry), *self._generations(depends)]
        args: list[Any] = [secrets.token_hex(8), GENERATION_LIFETIME_MS, lock, lock_ms]

        async def read(_: Redis) -> Seen:
            answer: Sequence[Any] = await self._read(keys=keys, args=args)
            stamp, locked = bytes(answer[0]), bool(answer[1])
            if len(answer) == 2:
                return Seen(stamp, locked)
            return Seen(stamp, locked, bytes(answer[2]), int(answer[3]))

        return await self.state.run(read, otherwise=None)

    async def store(
        self,
        entry: str,
        depends: Iterable[Dependency],
        stamp: bytes,
        value: bytes,
        *,
        ttl_s: float,
        stale_s: float = 0.0,
        lock: str | None = None,
    ) -> bool:
        """Keep `value` for `ttl_s` (+ `stale_s`) unless something it depends on was
        forgotten since `stamp` was read; release `lock`. Whether it was kept."""
        keys = [entry, self._lock_key(entry), *self._generations(depends)]
        stale_ms = int(stale_s * 1000)
        args: list[Any] = [value, stamp, stale_ms, max(1, int(ttl_s * 1000)) + stale_ms, lock or ""]

        async def store(_: Redis) -> bool:
            return bool(await self._store(keys=keys, args=args))

        return await self.state.run(store, otherwise=False)

    async def forget(self, depends: Iterable[Dependency]) -> bool:
        """New generations for `depends`: what was kept under the old ones is refused
        everywhere from now on. False when Redis could not take it."""
        names = [self.state.key("gen", kind, name) for kind, name in set(depends)]

        async def forget(client: Redis) -> bool:
            async with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.set(name, secrets.token_hex(8), px=GENERATION_LIFETIME_MS)
                await pipe.execute()
            return True

        return await self.state.run(forget, otherwise=False)

    async def unlock(self, entry: str, token: str) -> None:
        async def unlock(_: Redis) -> None:
            await self._unlock(keys=[self._lock_key(entry)], args=[token])

        await self.state.run(unlock, otherwise=None)
