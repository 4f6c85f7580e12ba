"""Logging for everything the process writes, uvicorn's own lines included: JSON lines, or
readable lines for a person at a terminal."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson
import structlog

from bridge.redaction import redact

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


LogFormat = Literal["json", "console"]


def log_format(setting: str, stream: TextIO) -> LogFormat:
    """`auto` is readable lines when the log goes to a terminal, JSON lines otherwise
    (a container, a file, a pipe, a test)."""
    if setting == "auto":
        return "console" if stream.isatty() else "json"
    return "console" if setting == "console" else "json"


class _CurrentStdout:
    """Writes to whatever `sys.stdout` is at the time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# Frame locals would put request headers and credentials into every logged traceback.
_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


REQUEST_ID: ContextVar[str | None] = ContextVar("erc_bridge_request_id", default=None)
"""The id of the request being answered, added to every line logged while answering it."""


def _add_request_id(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


class AccessLog:
    """The one line per request. It is written directly rather than through structlog's
    chain: it comes on every request, and its only caller-given values (method, offered
    request id) are scrubbed here like any other.

    With `flush_after_s` set, lines are gathered and written together at most that long
    after the first of them (or once `MAX_PENDING` wait), as a web server's buffered
    access log is: one write for many requests instead of one each. `flush` writes
    whatever waits; the service calls it when it stops."""

    MAX_PENDING = 512

    def __init__(self) -> None:
        self.enabled = True
        self.flush_after_s = 0.0
        self.render: Callable[[dict[str, Any]], str] = _json_access_line
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def write(
        self, *, request_id: str, offered: bool, method: str, route: str, status: int, ms: float
    ) -> None:
        if not self.enabled:
            return
        line = {
            "event": "request",
            "request_id": redact.text(request_id) if offered else request_id,
            "method": method if method in _METHODS else redact.text(method),
            "route": route,
            "status": status,
            "duration_ms": round(ms, 2),
            "level": "info",
            "timestamp": datetime.now(UTC),
        }
        self._pending.append(self.render(line))
        if self.flush_after_s <= 0 or len(self._pending) >= self.MAX_PENDING:
            self.flush()
            return
        loop = asyncio.get_running_loop()
        # A timer set on another loop (one that has ended, say) will not fire here.
        if self._timer is None or self._timer_loop is not loop:
            self._timer = loop.call_later(self.flush_after_s, self.flush)
            self._timer_loop = loop

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None
        if self._pending:
            out = sys.stdout
            out.write("".join(self._pending))
            self._pending.clear()
            out.flush()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LINE = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE


def _json_access_line(line: dict[str, Any]) -> str:
    return orjson.dumps(line, option=_LINE).decode()


access_log = AccessLog()
"""The process's access log (logging is process-wide)."""


def _json_line(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


def _shared_processors() -> list[Any]:
    return [
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _console_renderer(stream: TextIO) -> structlog.dev.ConsoleRenderer:
    colors = stream.isatty() and "NO_COLOR" not in os.environ  # https://no-color.org
    return structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )


def _console_access_line(renderer: structlog.dev.ConsoleRenderer) -> Callable[..., str]:
    def render(line: dict[str, Any]) -> str:
        stamp = line["timestamp"].isoformat().replace("+00:00", "Z")
        return str(renderer(None, "info", {**line, "timestamp": stamp})) + "\n"

    return render


def configure_logging(
    level: str = "info",
    *,
    fmt: LogFormat = "json",
    stream: TextIO | None = None,
    access_flush_s: float = 0.0,
    final: bool = False,
) -> None:
    """Log lines on stdout at `level`, as JSON or (`fmt="console"`) readable lines; access
    lines gathered for up to `access_flush_s`. Credentials are redacted either way;
    console lines have colours when `stream`, where they end up, is a terminal.

    `final` is for a process that will not configure logging again (the server): each
    module's logger is then built once, on first use, instead of on every call, and a
    call below `level` costs nothing.
    """
    numeric = LEVELS.get(level, logging.INFO)
    access_log.enabled = numeric <= logging.INFO
    access_log.flush_after_s = access_flush_s
    renderer: Any
    if fmt == "console":
        renderer = _console_renderer(stream or sys.stdout)
        # Tracebacks as text, redacted like every other value.
        tracebacks: Any = structlog.processors.format_exc_info
        access_log.render = _console_access_line(renderer)
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_json_line)
        tracebacks = _tracebacks
        access_log.render = _json_access_line
    structlog.configure(
        processors=[
            *_shared_processors(),
            tracebacks,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=final,
    )
    handler = logging.StreamHandler(_CurrentStdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                tracebacks,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Access lines come from the bridge's own middleware, with the request id.
    logging.getLogger("uvicorn.access").disabled = True


def emit_warning(event: str, message: str) -> None:
    """One JSON line on stderr, before logging is configured."""
    line = {"event": event, "level": "warning", "detail": message}
    sys.stderr.write(orjson.dumps(line).decode() + "\n")
    sys.stderr.flush()


def emit_startup_failure(message: str) -> None:
    """A startup failure is exactly one JSON line on stderr."""
    sys.stderr.write(
        orjson.dumps({"event": "startup_failed", "level": "error", "error": message}).decode()
        + "\n"
    )
    sys.stderr.flush()
