"""A context variable set for the length of a block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def set_within(variable: ContextVar[T], value: T) -> Iterator[T]:
    """`variable` is `value` inside the block, and in the tasks started there; after it,
    what it was before."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)
