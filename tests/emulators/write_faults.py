"""Faults of a platform's write endpoints: a slow answer, a change made or not, an error.

A write is the one call whose fault must say what happened to the data, not only what the
caller heard: a platform may apply a change and then fail to answer in time, or time out
before touching anything. Emulators hand each write's change to `WriteFaults.answer`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class WriteFault:
    """How the next write goes: `applies` says when its change is made (on arrival, only
    after the hang, or never), `status` and `body` replace the platform's answer, and
    `meanwhile` changes the store just before (someone else acting on the order)."""

    hang: float = 0.0
    applies: Literal["first", "last", "never"] = "first"
    status: int | None = None
    body: bytes = b""
    meanwhile: Callable[[], None] | None = None


class WriteFaults:
    """Queued write faults, first added first served; `arrived` counts writes on arrival
    (the request log has them only once answered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[WriteFault] = deque()
        self.arrived = 0

    def add(self, fault: WriteFault) -> None:
        with self._lock:
            self._queue.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.arrived = 0

    async def answer(self, apply: Callable[[], Response]) -> Response:
        """`apply()` makes the change and answers as the platform does; a queued fault
        decides when it runs and what the caller hears."""
        with self._lock:
            self.arrived += 1
            fault = self._queue.popleft() if self._queue else None
        if fault is None:
            return apply()
        if fault.meanwhile is not None:
            fault.meanwhile()
        answer = apply() if fault.applies == "first" else None
        if fault.hang:
            await asyncio.sleep(fault.hang)
        if fault.applies == "last":
            answer = apply()
        if fault.status is not None:
            return Response(fault.body, status_code=fault.status, media_type="application/json")
        return answer or Response(b"", status_code=504)


async def sent_json(request: Request) -> Any:
    """The JSON body a request carried, for the request log; None for none or another kind."""
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        return None
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait for what an emulator does after its caller gave up (a slow write answering)."""
    async with asyncio.timeout(within_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)
