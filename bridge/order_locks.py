"""One write at a time on an order (SPEC §7: never twice, a change in place is 200, the
state rules).

A write reads the order's state, sends its change and confirms it; two writes on one
order whose steps interleave both pass the state checks, and both write (the same
cancel twice, or an address changed on an order being cancelled). So a write takes its
order's turn before the first read and gives it up once its change is confirmed or
refused: the next one then reads the order as the first left it (already done, or
cancelled).

In the process the turn is an `asyncio.Lock` per order, kept only while a write holds it
or waits for it. With Redis (`ERC_BRIDGE_REDIS_URL`) it is also a key every replica of
the store sees, `SET NX PX` with a random token, and deleted by a script only while it
still holds that token; it expires `hold_s` after it was taken (the write's deadline and
a margin), so a replica that died holding it frees it by itself.

A write waits for its turn rather than being refused at once: the first is usually done
in well under a second, and the agent then hears what the order's state says (the change
is already made, or why it cannot be) instead of a conflict to repeat. It waits at most
`patience_s` (half its deadline, the other half is for the write itself), then is
refused 409 `conflict` with nothing written.

Every `SET` goes to Redis, even in the quiet period after another command of the
replica failed: a slow read says nothing of whether another replica holds the turn.
When Redis does not say in time whether the turn was taken (slow, or the connection
lost once the command was sent), it may have been: the write asks again under the same
token, which finds the turn its own if the lost try took it, until its patience runs
out; then it is refused 503 `unavailable` with nothing written, as an `Idempotency-Key`
claim Redis does not confirm is (bridge/idempotency_redis.py). So a stall shorter than
the patience delays a write, and a longer one refuses it. A turn is deleted in the
background, tried again every `retry_after_s` until Redis answers or the turn has
expired anyway. Only a Redis that refused the connection leaves the turn to this
process's lock, and only to a write that has not seen the turn held: that one is refused
503 instead, as the write holding the turn may be under way.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from adapters.shared_state import FAILURES, SharedState, never_ran
from adapters.single_flight import FIRST_PAUSE_S, LONGEST_PAUSE_S
from bridge.errors import ERCError

log = structlog.get_logger("erc_bridge.writes")

HOLD_MARGIN_S = 5.0
"""Past the write's deadline, how long its turn in Redis lasts: the write gives it up
when its deadline cuts it short, with one Redis call bounded by `ERC_BRIDGE_REDIS_TIMEOUT_S`."""

# KEYS[1] the turn; ARGV the token asking for it, its life (ms). 1 when the token holds
# the turn now: taken, or taken by an earlier try of the same write whose answer was lost.
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""

# KEYS[1] the turn; ARGV the token that took it.
_GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class NoTurn(Exception):
    """The write did not get its order's turn; nothing was sent. `error` is its answer."""

    def __init__(self, error: ERCError) -> None:
        super().__init__(error.message)
        self.error = error


def _busy() -> NoTurn:
    return NoTurn(
        ERCError(
            409,
            "conflict",
            "Another change to this order is still being made, and nothing was written",
            description="Repeat the request once the other change has been answered",
        )
    )


def _unconfirmed() -> NoTurn:
    return NoTurn(
        ERCError(
            503,
            "unavailable",
            "The order could not be reserved for this change in time, and nothing was written",
            description="Repeat the request",
            headers={"Retry-After": "1"},
        )
    )


def _out_of_reach(error: BaseException) -> bool:
    """Whether no connection to Redis could be had. A Redis answering an error (out of
    memory, a failed save, a replica read-only after a failover) is up, and may hold
    another write's turn: that is no reason to go on alone."""
    return isinstance(error, RedisConnectionError) and never_ran(error)


@dataclass
class _Local:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Writes holding the lock or waiting for it: at none, the entry goes."""


class OrderLocks:
    """The turns of one store's orders, in this process and, with `shared`, in Redis."""

    def __init__(self, shared: SharedState | None, *, hold_s: float) -> None:
        self.shared = shared
        self._hold_s = hold_s
        self._hold_ms = round(hold_s * 1000)
        self._local: dict[str, _Local] = {}
        self._take_script = shared.client.register_script(_TAKE) if shared is not None else None
        self._give_up_script = (
            shared.client.register_script(_GIVE_UP) if shared is not None else None
        )

    def __len__(self) -> int:
        """Orders some write holds or waits for in this process."""
        return len(self._local)

    @asynccontextmanager
    async def turn(self, order_id: str, *, patience_s: float) -> AsyncIterator[None]:
        """The order's turn for the block, waited for at most `patience_s` (else NoTurn)."""
        give_up_at = time.monotonic() + patience_s
        async with self._local_turn(order_id, patience_s):
            token = await self._shared_turn(order_id, give_up_at)
            try:
                yield
            finally:
                if token is not None:
                    # Awaited for one Redis timeout at most: the next write on the order
                    # then finds the turn free, and this answer is not held up longer.
                    # Outside the write's deadline (bridge/writes.py): a deadline passing
                    # meanwhile would make a write confirmed in time a timeout.
                    assert self.shared is not None
                    giving_up = self._give_up(order_id, token)
                    await asyncio.wait({giving_up}, timeout=self.shared.timeout_s)

    @asynccontextmanager
    async def _local_turn(self, order_id: str, patience_s: float) -> AsyncIterator[None]:
        local = self._local.setdefault(order_id, _Local())
        local.users += 1
        try:
            try:
                # A waiter cancelled here never holds the lock: `acquire` sees to it.
                async with asyncio.timeout(patience_s):
                    await local.lock.acquire()
            except TimeoutError:
                raise _busy() from None
            try:
                yield
            finally:
                local.lock.release()
        finally:
            local.users -= 1
            if local.users == 0:
                del self._local[order_id]

    def _key(self, order_id: str) -> str:
        assert self.shared is not None
        return self.shared.key("order-turn", hashlib.sha256(order_id.encode()).hexdigest())

    async def _shared_turn(self, order_id: str, give_up_at: float) -> str | None:
        """The token of the turn taken in Redis; None without Redis or when Redis refused
        the connection (the process's lock alone then)."""
        shared = self.shared
        if shared is None:
            return None
        token = secrets.token_hex(16)
        held_elsewhere = unconfirmed = False
        pause = FIRST_PAUSE_S
        try:
            while True:
                try:
                    taken = await self._taken(order_id, token)
                except FAILURES as error:
                    shared.failed(error)
                    if _out_of_reach(error) and not held_elsewhere:
                        log.warning(
                            "order_turn_local", detail="Redis unreachable: the turn is local"
                        )
                        return None
                    # Its holder may write still, or a try whose answer was late or lost
                    # may have taken the turn: asked again under the same token (`_TAKE`),
                    # within the write's patience, before the write is refused.
                    unconfirmed = True
                    taken = False
                else:
                    shared.answered()
                    if taken:
                        return token
                    held_elsewhere, unconfirmed = True, False
                if time.monotonic() + pause > give_up_at:
                    if unconfirmed:
                        log.warning(
                            "order_turn_unconfirmed", detail="Redis did not confirm the turn"
                        )
                        self._give_up(order_id, token)
                        raise _unconfirmed()
                    raise _busy()
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_S)
        except asyncio.CancelledError:
            self._give_up(order_id, token)  # the SET under way may have taken it
            raise

    async def _taken(self, order_id: str, token: str) -> bool:
        """Take the turn under `token` if it is free: whether it was. Straight to Redis,
        even in its quiet period after another command failed (a slow read, say): that
        failure says nothing of who holds the turn, and a turn taken locally meanwhile
        writes alongside another replica's."""
        assert self.shared is not None and self._take_script is not None
        async with asyncio.timeout(self.shared.timeout_s):
            taken = await self._take_script(keys=[self._key(order_id)], args=[token, self._hold_ms])
        return bool(taken)

    def _give_up(self, order_id: str, token: str) -> asyncio.Task[None]:
        """Delete the turn if `token` still holds it, in the background: at once, even in
        Redis's quiet period after a failure (else the order stays reserved on every
        replica until the turn expires), and tried again while Redis does not answer (a
        Redis slow for one command is often slow for the next). A write cancelled
        meanwhile still gives its turn up."""
        assert self.shared is not None and self._give_up_script is not None
        script, keys = self._give_up_script, [self._key(order_id)]

        async def give_up(client: Redis) -> None:
            await script(keys=keys, args=[token])

        return self.shared.until_closed(self.shared.until_answered(give_up, within_s=self._hold_s))
