"""JSON-line logging for everything the process writes, uvicorn's own lines included."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

from bridge.redaction import redact

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


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


def _json_line(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "info") -> None:
    numeric = LEVELS.get(level, logging.INFO)
    renderer = structlog.processors.JSONRenderer(serializer=_json_line)
    structlog.configure(
        processors=[
            *_shared_processors(),
            _tracebacks,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _tracebacks,
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


def emit_startup_failure(message: str) -> None:
    """A startup failure is exactly one JSON line on stderr."""
    sys.stderr.write(
        orjson.dumps({"event": "startup_failed", "level": "error", "error": message}).decode()
        + "\n"
    )
    sys.stderr.flush()
