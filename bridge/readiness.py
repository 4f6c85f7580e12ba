"""Readiness: whether this process can serve, and how its platform is doing.

Ready means the configuration is valid (the process started), the adapter is open and the
platform has not rejected the bridge's credentials, so that a bad secret fails a rollout.
A platform that is slow, failing or unreachable leaves the bridge ready: every replica
shares it, and replicas taken out of the Service together would turn the bridge's own
answers (503 with `Retry-After`, stale bodies from the cache) into connection errors.
The platform's health is reported beside readiness instead.

The platform is asked at most every few seconds. Answers name what is wrong in words safe
for anyone to read: never a URL, an id or a credential. The details go to the log, once
per change.

Redis (SPEC §9) is reported beside readiness too: the bridge serves without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import structlog

from adapters.base import Adapter
from adapters.breaker import BreakerState, CircuitBreaker
from adapters.deadline import within
from adapters.errors import (
    AdapterError,
    CircuitOpen,
    OverBudget,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.shared_state import SharedState

CHECK_EVERY_S = 5.0
CREDENTIALS_REJECTED = "platform rejected the credentials"
NOT_OPEN = "adapter not open"

log = structlog.get_logger("erc_bridge.readiness")


class PlatformHealth(StrEnum):
    UNKNOWN = "unknown"
    """Not asked yet, or the check itself broke."""
    OK = "ok"
    SLOW = "slow"
    """No answer within the request deadline."""
    FAILING = "failing"
    """Answers with errors, or calls are paused after repeated failures."""
    UNREACHABLE = "unreachable"
    CREDENTIALS_REJECTED = "credentials_rejected"


_UNHEALTHY = frozenset({PlatformHealth.SLOW, PlatformHealth.FAILING, PlatformHealth.UNREACHABLE})


def health_of(exc: AdapterError, before: PlatformHealth) -> PlatformHealth:
    """What the error a platform call raised says of the platform; `before` is what the
    last check found."""
    if isinstance(exc, UpstreamUnavailable) and exc.credentials_rejected:
        return PlatformHealth.CREDENTIALS_REJECTED
    if isinstance(exc, OverBudget):  # not asked: the call budget had no turn for the check
        return before
    if isinstance(exc, CircuitOpen):  # not asked now: as it was when its calls were paused
        return before if before in _UNHEALTHY else PlatformHealth.FAILING
    if isinstance(exc, UpstreamUnavailable) and isinstance(exc.__cause__, ConnectionError):
        return PlatformHealth.UNREACHABLE
    if isinstance(exc, UpstreamTimeout):
        return PlatformHealth.SLOW
    return PlatformHealth.FAILING


@dataclass(frozen=True)
class Report:
    platform: PlatformHealth
    reason: str | None = None
    """Why this process cannot serve; None when it is ready."""

    @property
    def ready(self) -> bool:
        return self.reason is None


_WORST_FIRST = (BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED)


class Readiness:
    """Checks the platform when the last check is older than `every_s` seconds; concurrent
    askers share one check. `breakers` are the adapter's circuit breakers, by platform."""

    def __init__(
        self,
        adapter: Adapter,
        *,
        deadline_s: float,
        breakers: Mapping[str, CircuitBreaker] | None = None,
        every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedState | None = None,
    ) -> None:
        self._adapter = adapter
        self._shared = shared
        self._deadline_s = deadline_s
        self._breakers = breakers if breakers is not None else {}
        self._every_s = every_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._open = False
        self._checked_at: float | None = None
        self.last: Report | None = None
        """The outcome of the last check, None before the first."""

    def opened(self) -> None:
        """The adapter is open: the bridge can serve once the platform takes its credentials."""
        self._open = True

    def closing(self) -> None:
        self._open = False

    @property
    def breaker(self) -> BreakerState:
        """The worst state of the adapter's circuit breakers."""
        states = {breaker.state for breaker in self._breakers.values()}
        return next((state for state in _WORST_FIRST if state in states), BreakerState.CLOSED)

    async def redis(self) -> str | None:
        """`reachable` or `unreachable` for the Redis the replicas share, asked now (at
        most every second while it is unreachable); None without Redis."""
        shared = self._shared
        if shared is None:
            return None
        await shared.run(lambda client: client.ping(), otherwise=False)
        return "reachable" if shared.reachable else "unreachable"

    async def report(self) -> Report:
        if not self._open:
            return Report(self.last.platform if self.last else PlatformHealth.UNKNOWN, NOT_OPEN)
        if self._known():
            assert self.last is not None
            return self.last
        async with self._lock:
            if not self._known():
                report, detail = await self._check()
                if report != self.last:
                    self._log_change(report, detail)
                self.last, self._checked_at = report, self._clock()
        assert self.last is not None
        return self.last

    def _known(self) -> bool:
        return self._checked_at is not None and self._clock() - self._checked_at < self._every_s

    async def _check(self) -> tuple[Report, str | None]:
        """What the adapter's probe found, and the adapter's own words about a failure."""
        before = self.last.platform if self.last else PlatformHealth.UNKNOWN
        try:
            async with within(self._deadline_s):
                await self._adapter.probe()
        except AdapterError as exc:
            health = health_of(exc, before)
            if health is PlatformHealth.CREDENTIALS_REJECTED:
                return Report(health, CREDENTIALS_REJECTED), exc.message
            return Report(health), exc.message
        except TimeoutError:
            return Report(PlatformHealth.SLOW), None
        except Exception:
            log.exception("readiness_probe_crashed", adapter=self._adapter.name)
            return Report(PlatformHealth.UNKNOWN), None
        return Report(PlatformHealth.OK), None

    def _log_change(self, report: Report, detail: str | None) -> None:
        fields = {"adapter": self._adapter.name, "platform": report.platform.value}
        if not report.ready:
            log.warning("not_ready", reason=report.reason, detail=detail, **fields)
        elif report.platform is PlatformHealth.OK:
            log.info("ready", **fields)
        else:
            log.warning("ready_platform_unhealthy", detail=detail, **fields)
