"""A circuit breaker per platform: stop calling a platform that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from adapters.errors import CircuitOpen


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` consecutive failures and refuses calls for `cooldown`
    seconds; then lets one probe through, which closes it on success or reopens it."""

    def __init__(
        self,
        platform: str,
        *,
        threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.platform = platform
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def before_call(self) -> None:
        """Raise UpstreamUnavailable when the platform must not be called now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        assert self._opened_at is not None
        wait = max(self.cooldown - (self._clock() - self._opened_at), 1.0)
        raise CircuitOpen(
            f"{self.platform} is failing; calls are paused (circuit open)", retry_after=wait
        )

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False
