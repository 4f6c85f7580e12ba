"""What every platform emulator shares: JSON answers, the raw path, a queue of injected
faults, a request log and a clock tests can move.

An emulator subclasses `Emulator`, routes requests in its own handler, appends what it saw
with `log()` and answers injected faults with `faults.take(path)` before anything else.
Error bodies are platform-specific: each emulator writes its own envelope and hands the
bytes to `faults.add` or `json_response`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Entry = TypeVar("Entry")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def raw_path(request: Request) -> str:
    """The path as it arrived, percent-encoding kept and without the query."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("latin-1").split("?")[0]


@dataclass
class Fault:
    """An injected answer, given to the next `remaining` requests under `path` (or to
    `path` alone, when `exact`)."""

    status: int
    body: bytes
    path: str | None = None
    remaining: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    exact: bool = False

    def applies_to(self, path: str, default_prefix: str) -> bool:
        wanted = self.path if self.path is not None else default_prefix
        return path == wanted if self.exact else path.startswith(wanted)

    def response(self, headers: dict[str, str] | None = None) -> Response:
        """The fault as an answer; its own headers win over `headers`."""
        return Response(
            self.body,
            status_code=self.status,
            headers={**(headers or {}), **self.headers},
            media_type=self.content_type,
        )


class FaultQueue:
    """Injected faults, first added first served; thread-safe.

    A fault without a path applies to every path that starts with `default_prefix`.
    """

    def __init__(self, default_prefix: str = "") -> None:
        self.default_prefix = default_prefix
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        status: int,
        body: Any,
        *,
        times: int = 1,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        exact: bool = False,
    ) -> None:
        """`body` is sent as is when it is bytes, else as JSON; `exact` spares the paths
        below `path`, which a platform may be asked at the same moment."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        fault = Fault(status, raw, path, times, dict(headers or {}), content_type, exact)
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str) -> Fault | None:
        """The first fault that applies to `path`, counted as used."""
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(path, self.default_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class Emulator(Generic[Entry]):
    """A platform emulator: `app` is what a test serves, `requests` what it received.

    `now()` is the emulator's clock (`clock` plus whatever `advance` added); `reset()`
    forgets requests, faults and the clock's advance.
    """

    fault_prefix = ""

    def __init__(
        self,
        routes: Sequence[BaseRoute] | None = None,
        *,
        handler: Callable[[Request], Any] | None = None,
        methods: Sequence[str] = ("GET", "POST"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._offset = 0.0
        self.faults = FaultQueue(self.fault_prefix)
        self.requests: list[Entry] = []
        if routes is None:
            assert handler is not None, "an emulator needs routes or one handler"
            routes = [Route("/{path:path}", handler, methods=list(methods))]
        self.app = Starlette(routes=list(routes))

    def reset(self) -> None:
        with self._lock:
            self.requests = []
            self._offset = 0.0
        self.faults.clear()

    def log(self, entry: Entry) -> Entry:
        with self._lock:
            self.requests.append(entry)
        return entry

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward."""
        with self._lock:
            self._offset += seconds
