"""The whole-request deadline, visible to every platform call made for the request."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("erc_bridge_deadline", default=None)


@contextlib.contextmanager
def deadline_after(seconds: float) -> Iterator[None]:
    """Everything awaited inside the block shares one deadline, `seconds` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextlib.asynccontextmanager
async def within(seconds: float) -> AsyncIterator[None]:
    """Share a deadline `seconds` from now with every platform call inside the block, and
    cancel the block (TimeoutError) if it is still running then."""
    with deadline_after(seconds):
        async with asyncio.timeout(seconds):
            yield


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None outside a request."""
    moment = _deadline.get()
    return None if moment is None else moment - time.monotonic()
