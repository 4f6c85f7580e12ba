"""The whole-request deadline, visible to every platform call made for the request."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from types import TracebackType

_deadline: ContextVar[float | None] = ContextVar("erc_bridge_deadline", default=None)


@contextlib.contextmanager
def deadline_after(seconds: float) -> Iterator[None]:
    """Everything awaited inside the block shares one deadline, `seconds` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


class within:
    """Share a deadline `seconds` from now with every platform call inside the block, and
    cancel the block (TimeoutError) if it is still running then.

    A class rather than two stacked generator context managers: every request enters it.
    """

    __slots__ = ("_seconds", "_timeout", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def __aenter__(self) -> None:
        self._timeout = asyncio.timeout(self._seconds)
        await self._timeout.__aenter__()
        self._token = _deadline.set(time.monotonic() + self._seconds)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _deadline.reset(self._token)
        await self._timeout.__aexit__(kind, error, traceback)


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None outside a request."""
    moment = _deadline.get()
    return None if moment is None else moment - time.monotonic()
