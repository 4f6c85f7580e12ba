"""The one exception tree adapters raise; the bridge turns each class into an ERC error."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound="AdapterError")


class AdapterError(Exception):
    may_have_arrived = True
    """Whether the platform call this error ended may have reached the platform. False
    only when it was raised before any byte of the request was written (`not_sent`): a
    write that cannot have arrived may be sent again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AdapterError):
    """The customer or order does not exist, or the order belongs to someone else."""


class NotSupported(AdapterError):
    """This adapter cannot serve the route (501)."""


class UnservableRequest(AdapterError):
    """A well-formed request the platform cannot answer, e.g. a page past its offset cap (400)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotAllowed(AdapterError):
    """The order's state does not allow the change (422 `not_allowed`); nothing was written.

    The message is a sentence an agent can read out ("the order has shipped"); `field`
    names the body field the platform cannot honour, when one is to blame.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UpstreamError(AdapterError):
    """The platform answered with an error or a body we cannot use (502)."""


class UpstreamUnavailable(AdapterError):
    """The platform is unreachable, refuses our credentials, or its circuit is open (503)."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        credentials_rejected: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.credentials_rejected = credentials_rejected
        """The platform refuses the bridge's own credentials: an operator must fix them."""


class UpstreamTimeout(AdapterError):
    """The platform did not answer in time (504)."""


class CircuitOpen(UpstreamUnavailable):
    """The platform kept failing; the bridge answers at once without calling it (503)."""

    may_have_arrived = False


class WriteNotConfirmed(UpstreamTimeout):
    """A write timed out and the re-read order does not show the change (504)."""


class OverBudget(UpstreamUnavailable):
    """The platform call budget has no turn for the call before its deadline: it was not
    sent (503 with `Retry-After`)."""

    may_have_arrived = False


def not_sent(error: E) -> E:
    """`error`, marked as raised before its call was sent: a connection refused, a wait
    for a turn or a connection that ran out, no time left, no token to send it with."""
    error.may_have_arrived = False
    return error
