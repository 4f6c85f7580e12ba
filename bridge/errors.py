"""ERC error responses: one exception type, one renderer, one table for adapter errors."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from adapters import errors as upstream
from mappings.bodies import ErrorBody, ErrorField
from mappings.wire import render


class ERCError(Exception):
    """An error the bridge answers with an ERC error body (SPEC §2 Errors)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        description: str | None = None,
        fields: list[ErrorField] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.description = description
        self.fields = fields
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(
            self.status,
            ErrorBody(
                code=self.code,
                message=self.message,
                description=self.description,
                fields=self.fields or None,
            ),
            self.headers,
        )


def error_response(
    status: int, body: ErrorBody, headers: Mapping[str, str] | None = None
) -> Response:
    """An error body no cache may keep, unless `headers` say otherwise: it may name a
    customer, an order or the caller's own input."""
    response = Response(
        render(body), status_code=status, headers=headers, media_type="application/json"
    )
    if "cache-control" not in response.headers:
        response.raw_headers.append(PRIVATE)
    return response


PRIVATE = (b"cache-control", b"private, no-store")
"""On every answer of an ERC route, errors too: a shared cache keeps answers to X-API-Key
and Basic callers unless told not to (RFC 9111 §3.5 spares only `Authorization`)."""


def invalid_request(fields: list[ErrorField]) -> ERCError:
    names = ", ".join(f.name for f in fields)
    return ERCError(400, "invalid_request", f"Invalid request parameters: {names}", fields=fields)


def invalid_cursor(reason: str) -> ERCError:
    return ERCError(
        400,
        "invalid_cursor",
        "The cursor is not valid for this request",
        description=reason,
        fields=[ErrorField(name="cursor", description=reason)],
    )


def not_found(what: str = "The requested resource was not found") -> ERCError:
    return ERCError(404, "not_found", what)


def _retry_after(seconds: float | None) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))} if seconds is not None else {}


ANSWERED = (ERCError, upstream.AdapterError, TimeoutError)
"""What a route turns into its ERC error answer (`error_of`); anything else is a bug."""


def error_of(exc: BaseException) -> ERCError:
    """The ERC answer to one of `ANSWERED`."""
    if isinstance(exc, ERCError):
        return exc
    if isinstance(exc, upstream.AdapterError):
        return from_adapter_error(exc)
    return ERCError(504, "upstream_timeout", "The platform did not answer in time")


def _blaming(exc: upstream.UnservableRequest | upstream.NotAllowed) -> list[ErrorField] | None:
    return [ErrorField(name=exc.field, description=exc.message)] if exc.field else None


def from_adapter_error(exc: upstream.AdapterError) -> ERCError:
    """Each adapter error class has exactly one ERC answer."""
    if isinstance(exc, upstream.NotFound):
        return not_found(exc.message)
    if isinstance(exc, upstream.NotSupported):
        return ERCError(501, "not_supported", exc.message)
    if isinstance(exc, upstream.UnservableRequest):
        return ERCError(400, "invalid_request", exc.message, fields=_blaming(exc))
    if isinstance(exc, upstream.NotAllowed):
        return ERCError(422, "not_allowed", exc.message, fields=_blaming(exc))
    if isinstance(exc, upstream.WriteNotConfirmed):
        return ERCError(
            504, "upstream_timeout", "The change was not confirmed", description=exc.message
        )
    if isinstance(exc, upstream.UpstreamUnavailable):
        return ERCError(
            503, "upstream_unavailable", exc.message, headers=_retry_after(exc.retry_after)
        )
    if isinstance(exc, upstream.UpstreamTimeout):
        return ERCError(504, "upstream_timeout", exc.message)
    return ERCError(502, "upstream_error", exc.message)


def _adapter_error_statuses() -> frozenset[int]:
    """Each adapter error class's status: a subclass defined elsewhere is answered as the
    class of this table it derives from."""
    kinds = [
        kind
        for kind in vars(upstream).values()
        if isinstance(kind, type) and issubclass(kind, upstream.AdapterError)
    ]
    return frozenset(from_adapter_error(kind("")).status for kind in kinds)


ANSWERED_STATUSES = _adapter_error_statuses() | {error_of(TimeoutError()).status}
"""Every status `error_of` gives an adapter error or a timeout (an `ERCError` carries its
own)."""
