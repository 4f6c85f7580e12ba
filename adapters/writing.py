"""Sending a write at most once (SPEC §7, "Never twice").

EP and BigCommerce have no idempotency keys: a write that timed out, or that a gateway
answered with an error of its own, may or may not have been applied, and sending it again
could cancel twice or move a parcel twice. So a write is sent once, with part of the
request's time, and such an answer is judged by re-reading the order with the time kept
back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

from adapters.deadline import deadline_after, remaining
from adapters.errors import (
    AdapterError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    WriteNotConfirmed,
)
from adapters.scoped import set_within

WRITE_SHARE = 2 / 3
"""The part of the time left that the write itself may take; the rest is for the re-read."""


class Sends:
    """Whether a write of the attempt under watch went out to the platform."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


_watched: ContextVar[Sends | None] = ContextVar("erc_bridge_write_sends", default=None)


@contextlib.contextmanager
def watching_sends() -> Iterator[Sends]:
    """Notes whether the block sends a write: until it does, a failure cannot have changed
    anything on the platform, and the request may be tried again as new."""
    sends = Sends()
    with set_within(_watched, sends):
        yield sends


def going_out() -> None:
    """The write is about to be sent: from now it may reach the platform, whatever the
    answer says."""
    sends = _watched.get()
    if sends is not None:
        sends.started = True


async def write_once(
    send: Callable[[], Awaitable[object]],
    shows_change: Callable[[], Awaitable[bool]],
    *,
    platform: str,
) -> None:
    """Await `send()` once; when it ends without a clear answer, `shows_change()` decides.

    After a timeout the change is there (return) or it is not, or cannot be read
    (WriteNotConfirmed); unless the write was never sent (a timeout waiting for its turn,
    `may_have_arrived` False), which is raised as it is. After an error answer
    (UpstreamError: a 5xx, maybe a gateway's own, or a body the bridge cannot use), or
    the platform unavailable once the write may have reached it (a gateway's 503, the
    connection lost after the write went out), the change is there (return) or the error
    stands: a gateway may answer 502 or 503 for a platform that made the change.
    """
    left = remaining()
    going_out()
    try:
        if left is None:
            await send()
        else:
            with deadline_after(left * WRITE_SHARE):
                await send()
    except UpstreamTimeout as exc:
        if not exc.may_have_arrived:  # never sent: there is nothing to confirm
            raise
        if not await confirmed(shows_change):
            raise WriteNotConfirmed(
                f"{platform} did not confirm the change in time; it may still be applied"
            ) from None
    except (UpstreamError, UpstreamUnavailable) as exc:
        if not exc.may_have_arrived or not await confirmed(shows_change):
            raise


async def confirmed(shows_change: Callable[[], Awaitable[bool]]) -> bool:
    """Whether the order, read afresh, shows the change; not when it cannot be read."""
    try:
        return await shows_change()
    except AdapterError:
        return False
