"""`Idempotency-Key` records every replica sees (SPEC §7, §9): kept in Redis.

The process's own `MemoryIdempotencyStore` stays in front: a repeat on the replica that
answered first is served without Redis, and while Redis is unreachable it is the only
store (writes keep their per-process idempotency, as one process alone would).

In Redis a record is a hash under the store's namespace and the caller: the request's
fingerprint and a random token while it runs, then its answer. Claiming is one script
(the record is created only when none exists), and finishing or releasing acts only on
the record holding this request's token, so a request never settles another's claim.
A running record expires after `running_ttl_s` (the write's deadline and a margin): a
replica that died mid-write holds the key no longer than that. An answer is kept for
`TTL_S` (24 h).

An answer Redis does not take at once (slow, unreachable) is not given up: it is stored
again in the background, waiting longer each time, until Redis takes it, the answer's
24 h are over or the bridge closes; meanwhile other replicas answer 409 (running). A
running record that expired meanwhile (or was evicted, or lost with Redis) is made
again with the answer, unless another request has claimed the key since: a claim is
never overwritten. At most `MAX_RETRYING` answers wait so; past that, an answer is kept
only in this process and its record in Redis expires as a dead replica's would.

A claim Redis does not answer in time, or whose connection is lost once it was sent, may
still have been taken there: the request is refused (503, to be repeated) rather than
written. Written anyway, its answer could not be kept in Redis, and a repeat on another
replica would write a second time. Only a Redis known to be out of reach (it refused the
connection, or failed a moment ago) leaves the key to this process.

The record of a request that wrote nothing (refused so, or whose order's turn never
came) is released at once, even in Redis's quiet period after a failure, so that the
repeat it is told to make finds the key free; while Redis does not answer, it is
released in the background, tried again every `retry_after_s` until Redis answers or
the record has expired anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.shared_state import SharedState, never_ran
from bridge.idempotency import TTL_S, Answer, Claim, Lookup, MemoryIdempotencyStore

log = structlog.get_logger("erc_bridge.idempotency")

Argument = bytes | str | int

RUNNING_MARGIN_S = 30.0
"""Past the write's deadline, how long a running record may wait for its answer: the
write settles its record after the deadline cut it (a re-read, the audit line)."""
MAX_RETRYING = 1_000
"""Answers Redis did not take that are stored again in the background at once: bounds
what an outage holds in memory."""
RETRY_FIRST_S = 0.05
"""The least first wait before an answer is stored again. The wait is Redis's quiet
period after a failure (no command goes to Redis before it ends), doubling each time up
to `RETRY_MAX_S`."""
RETRY_MAX_S = 10.0

# KEYS[1] the record; ARGV fingerprint, token, running expiry (ms). Nothing when the
# record was created for this request, else its fingerprint, status, body and headers.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return false
end
return redis.call('HMGET', KEYS[1], 'fingerprint', 'status', 'body', 'headers')
"""

# KEYS[1] the record; ARGV token, fingerprint, status, body, headers (JSON), expiry (ms).
# 1 when the answer is kept, 0 when another request holds the key. A record that is gone
# (its running expiry passed while Redis did not take the answer, or it was evicted) is
# made again: the key is still this write's, no other has claimed it since.
_FINISH = """
local token = redis.call('HGET', KEYS[1], 'token')
if not token then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[2], 'token', ARGV[1])
elseif token ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'body', ARGV[4], 'headers', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""

# KEYS[1] the record; ARGV token.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _headers_json(headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
    return orjson.dumps(
        [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]
    )


def _headers_of(stored: bytes) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in orjson.loads(stored)
    )


@dataclass(frozen=True)
class _Claimed:
    """A claim this process holds in Redis: its token proves it its own."""

    token: str
    fingerprint: str


@dataclass(frozen=True)
class _Finished:
    """An answer to keep in Redis under `claimed`, until `kept_until` (the store's clock)."""

    record: str
    claimed: _Claimed
    answer: Answer
    kept_until: float


def _not_kept(reason: str) -> None:
    log.error(
        "idempotency_answer_not_kept",
        reason=reason,
        detail="a write's answer is kept in this process only: a repeat on another "
        "replica may write again once the claim in Redis expires",
    )


def _superseded() -> None:
    log.warning(
        "idempotency_answer_superseded",
        detail="a write's answer is not kept in Redis: its claim expired and another "
        "request has claimed the key since, whose answer a repeat gets",
    )


def _lookup_of(found: list[bytes | None], fingerprint: str) -> Lookup:
    """What a record another request claimed means for this one."""
    stored_fingerprint, status, body, headers = found
    if stored_fingerprint is None or stored_fingerprint.decode() != fingerprint:
        return Lookup(Claim.REUSED)
    if status is None:
        return Lookup(Claim.RUNNING)
    answer = Answer(int(status), body or b"", _headers_of(headers or b"[]"))
    return Lookup(Claim.REPLAY, answer)


class RedisIdempotencyStore:
    """Records in `shared`, with `memory` in front and in its stead while Redis is down."""

    def __init__(
        self,
        shared: SharedState,
        *,
        running_ttl_s: float,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
        max_retrying: int = MAX_RETRYING,
    ) -> None:
        self.shared = shared
        self.memory = MemoryIdempotencyStore(ttl_s=ttl_s, clock=clock)
        self._running_ms = round(running_ttl_s * 1000)
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_retrying = max_retrying
        self.retrying: set[asyncio.Task[None]] = set()
        """Answers being stored again in the background (see the module docstring)."""
        self._claim = shared.client.register_script(_CLAIM)
        self._finish = shared.client.register_script(_FINISH)
        self._release = shared.client.register_script(_RELEASE)
        self._claims: dict[tuple[str, str], _Claimed] = {}
        """This process's claims in Redis, by caller and key."""

    def _key(self, owner: str, key: str) -> str:
        digest = hashlib.sha256(b"%d:%s%s" % (len(owner), owner.encode(), key.encode()))
        return self.shared.key("idempotency", digest.hexdigest())

    async def claim(self, owner: str, key: str, fingerprint: str) -> Lookup:
        local = await self.memory.claim(owner, key, fingerprint)
        if local.claim is not Claim.NEW:
            return local
        token = secrets.token_hex(16)
        record = self._key(owner, key)
        script = self._claim
        unanswered = False

        async def claim(client: Redis) -> tuple[list[bytes | None] | None]:
            nonlocal unanswered
            unanswered = True  # until Redis says otherwise, the script may have run
            try:
                found = await script(keys=[record], args=[fingerprint, token, self._running_ms])
            except RedisError as error:
                unanswered = not never_ran(error)
                raise
            unanswered = False
            return (found,)

        answer = await self.shared.run(claim, otherwise=None)
        if answer is None and unanswered:
            return await self._unconfirmed(owner, key, record, token)
        if answer is None:
            log.warning("idempotency_local", detail="Redis unreachable: the key is this process's")
            return local
        [found] = answer
        if found is None:
            self._claims[(owner, key)] = _Claimed(token, fingerprint)
            return local
        await self.memory.release(owner, key)
        return _lookup_of(found, fingerprint)

    async def _unconfirmed(self, owner: str, key: str, record: str, token: str) -> Lookup:
        """Refuse a write whose claim Redis may hold: see the module docstring."""
        await self.memory.release(owner, key)
        log.warning(
            "idempotency_unconfirmed",
            detail="Redis did not confirm the claim: the write is refused, to repeat",
        )
        await self._free(record, token)
        return Lookup(Claim.UNCONFIRMED)

    async def finish(self, owner: str, key: str, answer: Answer) -> None:
        await self.memory.finish(owner, key, answer)
        claimed = self._claims.pop((owner, key), None)
        if claimed is None:
            return
        finished = _Finished(
            self._key(owner, key), claimed, answer, kept_until=self._clock() + self._ttl_s
        )
        kept = await self._keep(finished)
        if kept is None:
            self._keep_trying(finished)
        elif not kept:
            _superseded()

    async def release(self, owner: str, key: str) -> None:
        await self.memory.release(owner, key)
        claimed = self._claims.pop((owner, key), None)
        if claimed is None:
            return
        await self._free(self._key(owner, key), claimed.token)

    async def _free(self, record: str, token: str) -> None:
        """Delete the running record `token` holds, for a request that wrote nothing: a
        repeat then writes. At once, although Redis may have failed a moment ago (often
        for this very request, whose order's turn it answered late): else the key is
        refused everywhere (409) until the record expires. Tried again in the
        background while Redis does not answer."""

        async def release(client: Redis) -> None:
            await self._release(keys=[record], args=[token])

        if not await self.shared.sent_now(release):
            lasting_s = self._running_ms / 1000
            self.shared.until_closed(
                self.shared.until_answered(release, within_s=lasting_s, tried=True)
            )

    async def _keep(self, finished: _Finished) -> bool | None:
        """Store `finished`'s answer in Redis: True when Redis took it, False when another
        request holds the key (its claim is never overwritten), None when Redis did not
        answer."""
        answer = finished.answer
        arguments: list[Argument] = [
            finished.claimed.token,
            finished.claimed.fingerprint,
            answer.status,
            answer.body,
            _headers_json(answer.headers),
            max(1, round((finished.kept_until - self._clock()) * 1000)),
        ]

        async def keep(client: Redis) -> bool:
            return bool(await self._finish(keys=[finished.record], args=arguments))

        return await self.shared.run(keep, otherwise=None)

    def _keep_trying(self, finished: _Finished) -> None:
        """Store `finished`'s answer in the background (see the module docstring)."""
        if len(self.retrying) >= self._max_retrying:
            _not_kept("too many answers wait for Redis")
            return
        log.warning(
            "idempotency_answer_deferred",
            detail="Redis did not take a write's answer: stored again in the background",
        )
        task = self.shared.until_closed(self._keep_until_taken(finished))
        self.retrying.add(task)
        task.add_done_callback(self._stopped_trying)

    async def _keep_until_taken(self, finished: _Finished) -> None:
        wait_s = max(self.shared.retry_after_s, RETRY_FIRST_S)
        while self._clock() + wait_s < finished.kept_until:
            await asyncio.sleep(wait_s)
            kept = await self._keep(finished)
            if kept:
                log.info("idempotency_answer_kept", detail="Redis took a deferred answer")
                return
            if kept is False:
                _superseded()
                return
            wait_s = min(wait_s * 2, RETRY_MAX_S)
        _not_kept("Redis did not take it for a day")

    def _stopped_trying(self, task: asyncio.Task[None]) -> None:
        self.retrying.discard(task)
        # Said here, not in the task: a task cancelled before it began never runs.
        if task.cancelled():
            _not_kept("closed before Redis took it")
