"""The platform call budget: at most `rate` calls per second (SPEC §9,
`ERC_BRIDGE_PLATFORM_RATE`).

A token bucket holding one call: calls go out at most `1 / rate` seconds apart, and a
call that finds the bucket empty reserves the next free moment and waits for it. A call
whose moment comes after its request's deadline is not sent: `OverBudget`, answered 503
with `Retry-After`. With Redis the bucket is one for every replica of the store (one Lua
script refills it by Redis's own clock, so the replicas' clocks do not matter); without
Redis, or while Redis is unreachable, each process keeps its own at the same rate, so N
replicas may then reach N times the rate together.

A call that does not go out after all (cancelled while it waits, out of time for a call
slot, or failing before its request is written) gives its turn back (`Turn.give_back`):
the platform never saw it, and the next call may have its moment. Only the last turn
taken can be handed out again, since a call due then would otherwise go out too close to
the next turn still held; an earlier one given back waits until every turn after it is
back too, and they all return at once. So giving back never lets calls past the rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

import structlog
from redis.asyncio import Redis

from adapters.errors import OverBudget
from adapters.shared_state import SharedState

log = structlog.get_logger("erc_bridge.budget")

MARGIN_S = 0.05
"""Time a call still needs after its wait: a call due later than this before the deadline
would only be cut by it."""


class BudgetObserver(Protocol):
    def budget_waited(self, seconds: float) -> None:
        """A call waited `seconds` for its turn before it went out."""

    def budget_refused(self) -> None:
        """A call was not sent: its turn came after its deadline."""


class _NoObserver:
    def budget_waited(self, seconds: float) -> None:
        pass

    def budget_refused(self) -> None:
        pass


def _limit(within_s: float | None) -> float:
    """The longest wait a call may take, -1 for any."""
    return -1.0 if within_s is None else max(within_s - MARGIN_S, 0.0)


def _keep() -> None:
    pass


class Turn:
    """A call's turn, taken by `CallBudget.take`, for the call to give back if it will
    not go out after all."""

    __slots__ = ("_give_back",)

    def __init__(self, give_back: Callable[[], None] = _keep) -> None:
        self._give_back = give_back

    def give_back(self) -> None:
        """The call will not go out: its turn is free again, the first time only. Never
        waits (Redis is told in the background), so a cancellation goes on at once."""
        give_back, self._give_back = self._give_back, _keep
        give_back()


UNLIMITED = Turn()
"""The turn of a call no budget limits: nothing to give back."""


class Reserved(NamedTuple):
    """A turn `LocalBucket.reserve` took."""

    wait: float
    """Seconds before the call's turn."""
    turn: float
    """When the call may go out, by the bucket's clock."""


class LocalBucket:
    """The bucket of one process."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = clock()
        """When the next call may go out."""
        self._given_back: dict[float, float] = {}
        """Turns given back while a later one was held, by the moment the turn after each
        was due (that turn's `_next`)."""

    def reserve(self, max_wait_s: float) -> Reserved | None:
        """This call's turn, taken; None (nothing taken) when its wait would pass
        `max_wait_s` (-1: any wait is fine)."""
        now = self._clock()
        turn = max(self._next, now)
        wait = turn - now
        if 0 <= max_wait_s < wait:
            return None
        self._next = turn + 1 / self.rate
        return Reserved(wait, turn)

    def give_back(self, turn: float) -> None:
        """`turn`, taken by `reserve`, is not used: while the last turn taken is one given
        back, the next call may have it."""
        now = self._clock()
        after = turn + 1 / self.rate  # as `reserve` computed it: the same float
        self._given_back = {due: back for due, back in self._given_back.items() if due > now}
        if after <= now or self._next <= now:
            return  # its moment and the next are gone: the bucket is free already
        self._given_back[after] = turn
        while (last := self._given_back.pop(self._next, None)) is not None:
            self._next = last

    def wait_for_turn(self) -> float:
        """Seconds until a call could go out."""
        return max(self._next - self._clock(), 0.0)


# KEYS[1] the bucket; ARGV rate, longest wait (-1: any). The bucket holds when its next
# call may go out, in seconds of Redis's clock; it expires once that moment has passed.
# Moments are kept to the microsecond, Redis's own precision (Lua's `tostring` would keep
# a tenth of a millisecond). A turn granted is answered as the bucket held it and with the
# moment after it, the strings `_GIVE_BACK` needs to recognise it.
_RESERVE = """
local function moment(seconds) return string.format('%.6f', seconds) end
local rate = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local turn = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
local wait = turn - now
if max_wait >= 0 and wait > max_wait then
  return {0, tostring(wait)}
end
local after = turn + 1 / rate
redis.call('SET', KEYS[1], moment(after), 'PX', math.ceil((after - now) * 1000) + 1000)
return {1, tostring(wait), moment(turn), moment(after)}
"""

# KEYS[1] the bucket, KEYS[2] the turns given back while a later one was held (each turn
# by the moment the turn after it was due); ARGV the turn given back and that moment, as
# `_RESERVE` answered them. While the bucket's next moment is that of a turn given back,
# the bucket moves back to it: the last turn held is free for the next call.
_GIVE_BACK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local after = redis.call('GET', KEYS[1])
if not after or tonumber(after) <= now or tonumber(ARGV[2]) <= now then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local moved = false
while true do
  local last = redis.call('ZRANGEBYSCORE', KEYS[2], after, after, 'LIMIT', 0, 1)[1]
  if not last then
    break
  end
  redis.call('ZREM', KEYS[2], last)
  after = last
  moved = true
end
local ends = tonumber(after)
if ends <= now then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
if moved then
  redis.call('SET', KEYS[1], after, 'PX', math.ceil((ends - now) * 1000) + 1000)
end
redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1]))
return 1
"""


class CallBudget:
    """What every platform call takes before it goes out (`take`): the fleet's bucket in
    Redis when `shared` is given and answers, else this process's."""

    def __init__(
        self,
        rate: float,
        *,
        shared: SharedState | None = None,
        observer: BudgetObserver | None = None,
    ) -> None:
        self.rate = rate
        self.local = LocalBucket(rate)
        self._shared = shared
        self._observer: BudgetObserver = observer or _NoObserver()
        self._script = shared.client.register_script(_RESERVE) if shared is not None else None
        self._give_back_script = (
            shared.client.register_script(_GIVE_BACK) if shared is not None else None
        )
        self._key = shared.key("platform-budget") if shared is not None else ""
        self._given_back_key = (
            shared.key("platform-budget-given-back") if shared is not None else ""
        )
        self._giving_back: set[asyncio.Task[None]] = set()
        self._shared_before = True

    async def take(self, within_s: float | None) -> Turn:
        """Wait for this call's turn, or raise OverBudget when it comes after `within_s`
        seconds (None: no deadline). Cancelled meanwhile, the turn is given back."""
        wait, refused_for, turn = await self._reserve(_limit(within_s))
        if wait is None:
            self._observer.budget_refused()
            raise OverBudget(
                "the platform call budget has no turn for this call before its deadline",
                retry_after=max(math.ceil(refused_for), 1),
            )
        if wait > 0:
            self._observer.budget_waited(wait)
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                turn.give_back()
                raise
        return turn

    async def _reserve(self, max_wait_s: float) -> tuple[float | None, float, Turn]:
        """The wait granted (None: refused), how long until a turn is free, and the turn."""
        await self.given_back()  # a turn this process gave back a moment ago may be the one
        if self._shared is not None and self._script is not None:
            script = self._script

            async def reserve(client: Redis) -> tuple[float | None, float, Turn]:
                answer = await script(keys=[self._key], args=[self.rate, max_wait_s])
                seconds = float(answer[1])
                if answer[0] != 1:
                    return None, seconds, UNLIMITED
                turn, after = (moment.decode() for moment in answer[2:])
                return seconds, seconds, Turn(lambda: self._give_back_shared(turn, after))

            answer = await self._shared.run(reserve, otherwise=None)
            self._note_shared(answer is not None)
            if answer is not None:
                return answer
        reserved = self.local.reserve(max_wait_s)
        if reserved is None:
            return None, self.local.wait_for_turn(), UNLIMITED
        return reserved.wait, reserved.wait, Turn(lambda: self.local.give_back(reserved.turn))

    async def given_back(self) -> None:
        """Return once every turn this process has given back has reached Redis (or could
        not): Redis answers each within its timeout."""
        if self._giving_back:
            await asyncio.wait(set(self._giving_back))

    def _give_back_shared(self, turn: str, after: str) -> None:
        """Give `turn` back to the fleet's bucket in the background; Redis unreachable, it
        stays taken (never more calls than the rate, only fewer for a moment)."""
        assert self._shared is not None and self._give_back_script is not None
        script, keys = self._give_back_script, [self._key, self._given_back_key]

        async def give_back(client: Redis) -> None:
            await script(keys=keys, args=[turn, after])

        task = self._shared.until_closed(self._shared.run(give_back, otherwise=None))
        self._giving_back.add(task)
        task.add_done_callback(self._giving_back.discard)

    def _note_shared(self, shared: bool) -> None:
        if shared != self._shared_before:
            self._shared_before = shared
            if shared:
                log.info("platform_budget_shared", rate=self.rate)
            else:
                log.warning(
                    "platform_budget_local",
                    rate=self.rate,
                    detail="Redis unreachable: this process keeps its own budget meanwhile",
                )
