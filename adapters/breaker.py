"""A circuit breaker per platform: stop calling a platform that keeps failing, and find
out, one call at a time, when it is back."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from contextvars import Context, ContextVar, copy_context
from enum import StrEnum
from types import TracebackType
from typing import Generic, TypeVar

from adapters.errors import CircuitOpen
from adapters.tasks import Together, calls_together_now, of_one_request, start_task

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed, every call goes through, and `threshold` consecutive failures open it.

    Open, no call goes through for the open period: `open_s` at first, doubled by each
    failed probe up to `open_max_s`, and back to `open_s` once a call succeeds. Past the
    period the breaker is half open: one call at a time goes through as its probe, and
    the probe's outcome closes the breaker or opens it again.

    Every call let through is a `Call` that ends however its attempt ends, so the breaker
    is never left waiting for a probe that is gone. A call made ahead of need (`Ahead`)
    goes through only while the breaker is closed, and its outcome counts only if the
    request uses its answer. Calls made together (`adapters.tasks.together`) that the
    request's deadline cuts count one failure between them.
    """

    def __init__(
        self,
        platform: str,
        *,
        threshold: int = 5,
        open_s: float = 5.0,
        open_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < open_s <= open_max_s:
            raise ValueError("the open periods must satisfy 0 < open_s <= open_max_s")
        self.platform = platform
        self.threshold = threshold
        self.open_s = open_s
        self.open_max_s = open_max_s
        self._clock = clock
        self._failures = 0
        self._open_period = open_s
        self._open_until: float | None = None
        self._probe: Call | None = None

    @property
    def state(self) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        if self._clock() < self._open_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def open_period(self) -> float:
        """How long the breaker stays open this time (or will, the next time it opens)."""
        return self._open_period

    def call(self) -> Call:
        """Let one call through, or raise CircuitOpen saying how long calls stay paused."""
        ahead = _ahead.get()
        if self._open_until is None:
            return Call(self, probe=False, ahead=ahead)
        left = self._open_until - self._clock()
        if left <= 0 and self._probe is None and ahead is None:
            self._probe = Call(self, probe=True)
            return self._probe
        # While a probe is out, the answer is due within one call's time.
        raise CircuitOpen(
            f"{self.platform} is failing; calls are paused (circuit open)",
            retry_after=max(math.ceil(left), 1),
        )

    def _succeeded(self, call: Call) -> None:
        self._failures = 0
        self._open_period = self.open_s
        self._open_until = None
        self._probe = None

    def _failed(self, call: Call) -> None:
        if call.probe:
            if call is self._probe:  # else the breaker closed meanwhile: the probe is moot
                self._probe = None
                self._open_period = min(self._open_period * 2, self.open_max_s)
                self._open_until = self._clock() + self._open_period
            return
        if self._open_until is not None:
            return  # a call that began before the breaker opened: nothing new to learn
        self._failures += 1
        if self._failures >= self.threshold:
            self._open_until = self._clock() + self._open_period

    def _abandoned(self, call: Call) -> None:
        """A call that ended with no outcome: cancelled, or never sent for want of time or
        of a free slot. Only a probe matters: sent, it failed; unsent, the next call probes."""
        if call is not self._probe:
            return
        if call.sent:
            self._failed(call)
        else:
            self._probe = None


class Call:
    """One call the breaker let through, used as `with breaker.call() as call:`.

    Inside the block, `sending()` says the request is leaving for the platform, and
    `succeeded()` or `failed()` give the outcome; a block left without an outcome, by
    any exception or cancellation, abandons the call. The first of these ends it.

    A call the request's deadline cut (`failed(cut=True)`) is one of the calls in flight
    then. Of calls made together, the first cut to count is their failure and any other
    is abandoned: a sequential read would have had only one of them in flight.
    """

    __slots__ = ("_ahead", "_breaker", "_cut", "_ended", "_together", "probe", "sent")

    def __init__(
        self, breaker: CircuitBreaker, *, probe: bool, ahead: HeldOutcomes | None = None
    ) -> None:
        self._breaker = breaker
        self.probe = probe
        self.sent = False
        self._ended = False
        self._ahead = ahead
        self._cut = False
        self._together: Together | None = calls_together_now()
        if probe and self._together is not None:
            self._together.probes += 1

    def sending(self) -> None:
        self.sent = True

    def succeeded(self) -> None:
        self._end(succeeded=True)

    def failed(self, *, cut: bool = False) -> None:
        """The call failed; `cut`: the request's deadline ended it, not the platform."""
        self._cut = cut
        self._end(succeeded=False)

    def _end(self, *, succeeded: bool) -> None:
        if self._ended:
            return
        self._ended = True
        if self.probe and self._together is not None:
            self._together.probes -= 1
        if self._ahead is None:
            self._count(succeeded=succeeded)
        else:
            self._ahead._outcome(self, succeeded)

    def _count(self, *, succeeded: bool) -> None:
        if succeeded:
            self._breaker._succeeded(self)
        elif self._cut and self._together is not None:
            if self._together.cut_counted:
                self._breaker._abandoned(self)  # the same cut, counted with another call
            else:
                self._together.cut_counted = True
                self._breaker._failed(self)
        else:
            self._breaker._failed(self)

    def __enter__(self) -> Call:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._ended:
            self._ended = True
            self._breaker._abandoned(self)


class HeldOutcomes:
    """The outcomes of calls made ahead of need, held until the answer is needed (`use`)
    and counted from then on; forgotten (`forget`) when it is not. Also what other calls
    made ahead of need waited on: their outcomes count once these are used."""

    __slots__ = ("_held", "_used", "_waited_on")

    def __init__(self) -> None:
        self._held: list[tuple[Call, bool]] | None = []
        self._used = False
        self._waited_on: list[HeldOutcomes] = []

    def use(self) -> None:
        held, self._held, self._used = self._held, None, True
        for call, succeeded in held or ():
            call._count(succeeded=succeeded)
        waited_on, self._waited_on = self._waited_on, []
        for outcomes in waited_on:
            outcomes.use()

    def forget(self) -> None:
        self._held = None
        self._waited_on = []

    def _outcome(self, call: Call, succeeded: bool) -> None:
        if self._used:
            call._count(succeeded=succeeded)
        elif self._held is not None:
            self._held.append((call, succeeded))

    def _waits_on(self, outcomes: HeldOutcomes) -> None:
        if self._used:
            outcomes.use()
        elif self._held is not None:  # else forgotten: nothing it waited on was needed
            self._waited_on.append(outcomes)


def _held_for_shared_work(_starters: HeldOutcomes) -> HeldOutcomes:
    """Work that requests share, started ahead of need, holds its calls' outcomes for all
    of them: they count once any one of them needs the answer."""
    return HeldOutcomes()


def _joined_shared_work(outcomes: HeldOutcomes) -> None:
    waiting = _ahead.get()
    if waiting is None:
        outcomes.use()  # a caller that needs the answer
    else:
        waiting._waits_on(outcomes)


_ahead: ContextVar[HeldOutcomes | None] = of_one_request(
    ContextVar("erc_bridge_call_ahead", default=None),
    carried=_held_for_shared_work,
    joined=_joined_shared_work,
)


def needed_context() -> Context:
    """A copy of the current context in which platform calls are needed ones, not made
    ahead of need: for work every caller waits on, such as a new token, whoever starts it."""
    context = copy_context()
    context.run(_ahead.set, None)
    return context


class Ahead(HeldOutcomes, Generic[T]):
    """Platform calls made ahead of need, alongside the ones they may turn out to follow
    (Elastic Path's shipping groups beside the order): one round instead of two.

    `work()` runs in a task of its own from the start. The breaker lets its calls through
    only while it is closed (never as a probe) and holds their outcomes until the request
    knows whether it needs the answer: `result()` counts them as if the calls had been made
    then, `settle()` stops the work and forgets them. So a failing request counts the
    failures of the calls it waited for, however many went out together, exactly as its
    sequential read would have; CircuitOpen from `result()` means the breaker was not
    closed and the call is still to be made.

    Work that `work()` shares with other requests (`adapters.tasks.SharedTasks`, a
    resource's fetch) holds the outcomes of its calls for all of them: they count once any
    request needs the answer, this one or another, and are forgotten only if none does.
    """

    __slots__ = ("_task",)

    def __init__(self, work: Callable[[], Awaitable[T]]) -> None:
        super().__init__()
        self._task = start_task(self._run(work))

    async def _run(self, work: Callable[[], Awaitable[T]]) -> T:
        _ahead.set(self)  # in the task's own context: its calls, and the tasks they start
        return await work()

    async def result(self) -> T:
        """The answer, now needed: what its calls did counts from here on."""
        self.use()
        return await self._task

    def settle(self) -> None:
        """The request is over: work it did not use is stopped and its outcomes forgotten."""
        self.forget()
        if not self._task.done():
            self._task.cancel()
        elif not self._task.cancelled():
            self._task.exception()  # seen: a failure nobody used is no error
