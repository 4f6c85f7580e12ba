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

    What `asyncio.timeout` does, on one timer and without its state machine: every request
    enters it, and the standard one costs several times more.
    """

    __slots__ = ("_cancelling", "_expired", "_seconds", "_task", "_timer", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("within() must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        seconds = self._seconds
        if seconds > 0:
            self._timer: asyncio.Handle = loop.call_at(loop.time() + seconds, self._expire)
        else:
            self._timer = loop.call_soon(self._expire)
        self._token = _deadline.set(time.monotonic() + seconds)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _deadline.reset(self._token)
        self._timer.cancel()
        # As `asyncio.timeout`: the cancellation is this block's own unless someone else
        # asked for one meanwhile, and then it stays a cancellation.
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError from error

    def _expire(self) -> None:
        self._task.cancel()
        self._expired = True


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None outside a request."""
    moment = _deadline.get()
    return None if moment is None else moment - time.monotonic()
