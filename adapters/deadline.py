"""The whole-request deadline, visible to every platform call made for the request."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
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


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None outside a request."""
    moment = _deadline.get()
    return None if moment is None else moment - time.monotonic()
