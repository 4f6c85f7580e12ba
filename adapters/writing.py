"""Sending a write at most once (SPEC §7, "Never twice").

EP and BigCommerce have no idempotency keys: a write that timed out may or may not have
been applied, and sending it again could cancel twice or move a parcel twice. So a write
is sent once, with part of the request's time, and a timeout is answered by re-reading the
order with the time kept back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapters.deadline import deadline_after, remaining
from adapters.errors import AdapterError, UpstreamTimeout, WriteNotConfirmed

WRITE_SHARE = 2 / 3
"""The part of the time left that the write itself may take; the rest is for the re-read."""


async def write_once(
    send: Callable[[], Awaitable[object]],
    shows_change: Callable[[], Awaitable[bool]],
    *,
    platform: str,
) -> None:
    """Await `send()` once; after a timeout, `shows_change()` decides: the change is there
    (return) or it is not, or cannot be read (WriteNotConfirmed)."""
    left = remaining()
    try:
        if left is None:
            await send()
        else:
            with deadline_after(left * WRITE_SHARE):
                await send()
    except UpstreamTimeout:
        try:
            confirmed = await shows_change()
        except AdapterError:
            confirmed = False
        if not confirmed:
            raise WriteNotConfirmed(
                f"{platform} did not confirm the change in time; it may still be applied"
            ) from None
