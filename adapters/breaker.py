"""A circuit breaker per platform: stop calling a platform that keeps failing, and find
out, one call at a time, when it is back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType

from adapters.errors import CircuitOpen


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
    is never left waiting for a probe that is gone.
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
        if self._open_until is None:
            return Call(self, probe=False)
        left = self._open_until - self._clock()
        if left <= 0 and self._probe is None:
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
    """

    __slots__ = ("_breaker", "_ended", "probe", "sent")

    def __init__(self, breaker: CircuitBreaker, *, probe: bool) -> None:
        self._breaker = breaker
        self.probe = probe
        self.sent = False
        self._ended = False

    def sending(self) -> None:
        self.sent = True

    def succeeded(self) -> None:
        if not self._ended:
            self._ended = True
            self._breaker._succeeded(self)

    def failed(self) -> None:
        if not self._ended:
            self._ended = True
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
