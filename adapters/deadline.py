"""The whole-request deadline, visible to every platform call made for the request."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from contextvars import Context, ContextVar
from types import TracebackType

from adapters.scoped import set_within

_deadline: ContextVar[float | None] = ContextVar("erc_bridge_deadline", default=None)
_request_s: ContextVar[float | None] = ContextVar("erc_bridge_request_s", default=None)
"""The seconds the request as a whole was given: those of its outermost `within`."""


def deadline_after(seconds: float) -> AbstractContextManager[float | None]:
    """Everything awaited inside the block shares one deadline, `seconds` from now."""
    return set_within(_deadline, time.monotonic() + seconds)


def request_given(seconds: float) -> AbstractContextManager[float | None]:
    """A request given `seconds` in all, whatever deadlines its steps then run on one after
    the other: work a step starts that other requests share runs that long
    (`on_its_own_deadline`), not as long as the step that happened to start it."""
    return set_within(_request_s, seconds)


class within:
    """Share a deadline `seconds` from now with every platform call inside the block, and
    cancel the block (TimeoutError) if it is still running then. The outermost block is
    the request's: work it starts that other requests wait on too runs as long
    (`on_its_own_deadline`).

    What `asyncio.timeout` does, on one timer and without its state machine: every request
    enters it, and the standard one costs several times more.
    """

    __slots__ = ("_cancelling", "_expired", "_request", "_seconds", "_task", "_timer", "_token")

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
        self._request = _request_s.set(seconds) if _request_s.get() is None else None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _deadline.reset(self._token)
        if self._request is not None:
            _request_s.reset(self._request)
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


def on_its_own_deadline(context: Context) -> Context:
    """`context` made fit for work that several requests wait on (a token grant, a fetch
    they share): in it, platform calls run on a deadline of the work's own, as long as the
    current request was given in all and counted from now (none outside a request).

    Not on what is left of the caller's: whichever request happens to start the work may
    have almost no time left, and its deadline would cut the work short, a timeout counted
    against the platform, for every other request waiting with time to spare. Each caller
    still waits only as long as its own deadline allows."""
    seconds = context.get(_request_s)
    context.run(_deadline.set, None if seconds is None else time.monotonic() + seconds)
    return context


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None outside a request."""
    moment = _deadline.get()
    return None if moment is None else moment - time.monotonic()
