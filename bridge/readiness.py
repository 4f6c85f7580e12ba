"""Readiness: whether the platform serves this bridge now, asked at most every few seconds.

The answer names the failing part in words safe for anyone to read: never a URL, an id or
a credential. The details go to the log, once per change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from adapters.base import Adapter
from adapters.deadline import within
from adapters.errors import AdapterError, CircuitOpen, UpstreamTimeout, UpstreamUnavailable

CHECK_EVERY_S = 5.0

log = structlog.get_logger("erc_bridge.readiness")


def reason_for(exc: AdapterError) -> str:
    """Which part failed, from the adapter error the probe raised."""
    if isinstance(exc, UpstreamUnavailable) and exc.credentials_rejected:
        return "platform rejected the credentials"
    if isinstance(exc, CircuitOpen):
        return "platform calls paused after repeated failures"
    if isinstance(exc, UpstreamUnavailable):
        if isinstance(exc.__cause__, ConnectionError):
            return "platform unreachable"
        return "platform busy or unavailable"
    if isinstance(exc, UpstreamTimeout):
        return "platform did not answer in time"
    return "platform answered with an error"


class Readiness:
    """Runs the adapter's probe when the last outcome is older than `every_s` seconds;
    concurrent askers share one probe."""

    def __init__(
        self,
        adapter: Adapter,
        *,
        deadline_s: float,
        every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._adapter = adapter
        self._deadline_s = deadline_s
        self._every_s = every_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._checked_at: float | None = None
        self._reason: str | None = None

    def _known(self) -> bool:
        return self._checked_at is not None and self._clock() - self._checked_at < self._every_s

    async def problem(self) -> str | None:
        """None when ready, else the reason it is not."""
        if self._known():
            return self._reason
        async with self._lock:
            if not self._known():
                reason, detail = await self._probe()
                if self._checked_at is None or reason != self._reason:
                    self._log_change(reason, detail)
                self._reason, self._checked_at = reason, self._clock()
        return self._reason

    async def _probe(self) -> tuple[str | None, str | None]:
        """The reason the probe failed, if it did, and the adapter's own words about it."""
        try:
            async with within(self._deadline_s):
                await self._adapter.probe()
        except AdapterError as exc:
            return reason_for(exc), exc.message
        except TimeoutError:
            return "platform did not answer in time", None
        except Exception:
            log.exception("readiness_probe_crashed", adapter=self._adapter.name)
            return "readiness check failed", None
        return None, None

    def _log_change(self, reason: str | None, detail: str | None) -> None:
        if reason is None:
            log.info("ready", adapter=self._adapter.name)
        else:
            log.warning("not_ready", adapter=self._adapter.name, reason=reason, detail=detail)
