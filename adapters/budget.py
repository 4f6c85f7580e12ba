"""The platform call budget: at most `rate` calls per second (SPEC §9,
`ERC_BRIDGE_PLATFORM_RATE`).

A token bucket holding one call: calls go out at most `1 / rate` seconds apart, and a
call that finds the bucket empty reserves the next free moment and waits for it. A call
whose moment comes after its request's deadline is not sent: `OverBudget`, answered 503
with `Retry-After`. With Redis the bucket is one for every replica of the store (one Lua
script refills it by Redis's own clock, so the replicas' clocks do not matter); without
Redis, or while Redis is unreachable, each process keeps its own at the same rate, so N
replicas may then reach N times the rate together.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Protocol

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


class LocalBucket:
    """The bucket of one process."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = clock()
        """When the next call may go out."""

    def reserve(self, max_wait_s: float) -> float | None:
        """The wait before this call's turn, its turn taken; None (nothing taken) when the
        wait would pass `max_wait_s` (-1: any wait is fine)."""
        now = self._clock()
        turn = max(self._next, now)
        wait = turn - now
        if 0 <= max_wait_s < wait:
            return None
        self._next = turn + 1 / self.rate
        return wait

    def wait_for_turn(self) -> float:
        """Seconds until a call could go out."""
        return max(self._next - self._clock(), 0.0)


# KEYS[1] the bucket; ARGV rate, longest wait (-1: any). The bucket holds when its next
# call may go out, in seconds of Redis's clock; it expires once that moment has passed.
_RESERVE = """
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
redis.call('SET', KEYS[1], tostring(after), 'PX', math.ceil((after - now) * 1000) + 1000)
return {1, tostring(wait)}
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
        self._key = shared.key("platform-budget") if shared is not None else ""
        self._shared_before = True

    async def take(self, within_s: float | None) -> None:
        """Wait for this call's turn, or raise OverBudget when it comes after `within_s`
        seconds (None: no deadline)."""
        wait, refused_for = await self._reserve(_limit(within_s))
        if wait is None:
            self._observer.budget_refused()
            raise OverBudget(
                "the platform call budget has no turn for this call before its deadline",
                retry_after=max(math.ceil(refused_for), 1),
            )
        if wait > 0:
            self._observer.budget_waited(wait)
            await asyncio.sleep(wait)

    async def _reserve(self, max_wait_s: float) -> tuple[float | None, float]:
        """The wait granted (None: refused) and, refused, how long until a turn is free."""
        if self._shared is not None and self._script is not None:
            script = self._script

            async def reserve(client: Redis) -> tuple[float | None, float]:
                granted, wait = await script(keys=[self._key], args=[self.rate, max_wait_s])
                seconds = float(wait)
                return (seconds if granted == 1 else None), seconds

            answer = await self._shared.run(reserve, otherwise=None)
            self._note_shared(answer is not None)
            if answer is not None:
                return answer
        wait = self.local.reserve(max_wait_s)
        return wait, self.local.wait_for_turn()

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
