"""Tasks that start at once.

A task made with `create_task` takes its first step only after everything already queued
on the event loop has run. Under load that queue holds a whole wave of answers to map and
render, and a platform call made ahead of need, or the one fetch other requests share,
goes out several milliseconds late. From Python 3.12 a task can instead run up to its
first wait as soon as it is made; before 3.12 it is queued as usual.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from contextvars import Context
from typing import Any, TypeVar

T = TypeVar("T")

EAGER = sys.version_info >= (3, 12)

if sys.version_info >= (3, 12):

    def start_task(
        coroutine: Coroutine[Any, Any, T], *, context: Context | None = None
    ) -> asyncio.Task[T]:
        """A task for `coroutine` on the running loop (in `context`, else a copy of the
        current one), run up to its first wait now: it may even be done on return."""
        loop = asyncio.get_running_loop()
        return asyncio.Task(coroutine, loop=loop, context=context, eager_start=True)

else:

    def start_task(
        coroutine: Coroutine[Any, Any, T], *, context: Context | None = None
    ) -> asyncio.Task[T]:
        """A task for `coroutine` on the running loop (in `context`, else a copy of the
        current one), queued: the interpreter cannot start it at once."""
        return asyncio.get_running_loop().create_task(coroutine, context=context)
