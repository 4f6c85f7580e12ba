"""One write at a time on an order (SPEC §7), through the bridge over real HTTP with each
emulator: a write sent while another on the same order is on its way reads the order as
that one leaves it. The request log says which writes reached the platform.

The first write's change is held inside the platform (`WriteFault(hang=…)`, made only
once the hang is over) while the second is sent: without a turn per order, the second
reads the order as it was and writes too."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests import write_cases
from tests.emulators.write_faults import WriteFault, until
from tests.test_platform_writes import (
    Platform,
    adapter,
    bridge_of,
    platform,
    send_through,
    served,
    shows_change,
)
from tests.write_cases import WRITES
from tests.write_support import path

__all__ = ["adapter", "platform", "served"]

pytestmark = pytest.mark.anyio

DEADLINE_S = 3.0
HELD_S = 0.3
"""How long the platform holds the first write: well within the second's patience."""


def _audited(logs: list[MutableMapping[str, Any]]) -> list[tuple[str, str]]:
    return [(line["action"], line["outcome"]) for line in logs if line["event"] == "order_write"]


async def _while_the_first_is_held(
    bridge: httpx.AsyncClient, platform: Platform, first: str, second: str, hold_s: float
) -> tuple[httpx.Response, httpx.Response]:
    """`first` sent and held `hold_s` inside the platform (its change made after), then
    `second` sent meanwhile: both answers."""
    faults = platform.emulator.write_faults
    faults.add(WriteFault(hang=hold_s, applies="last"))
    held = asyncio.create_task(send_through(bridge, platform, first))
    await until(lambda: faults.arrived == 1)
    meanwhile = await send_through(bridge, platform, second)
    return await held, meanwhile


@pytest.mark.parametrize("write", WRITES)
async def test_the_same_write_sent_while_the_first_is_on_its_way_is_done_once(
    platform: Platform, adapter: Any, write: str
) -> None:
    with capture_logs() as logs:
        async with bridge_of(adapter, deadline_s=DEADLINE_S) as bridge:
            first, second = await _while_the_first_is_held(bridge, platform, write, write, HELD_S)

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(platform.writes()) == 1
    assert _audited(logs) == [(write, "applied"), (write, "already_done")]
    assert await shows_change(platform, adapter, write)


async def test_an_address_change_sent_while_the_order_is_being_cancelled_is_refused(
    platform: Platform, adapter: Any
) -> None:
    module = platform.module
    with capture_logs() as logs:
        async with bridge_of(adapter, deadline_s=DEADLINE_S) as bridge:
            cancel, move = await _while_the_first_is_held(
                bridge, platform, "cancel_order", "change_shipping_address", HELD_S
            )

    assert cancel.status_code == 200
    assert (move.status_code, move.json()["code"]) == (422, "not_allowed")
    assert move.json()["message"] == "the order is cancelled"
    assert len(platform.writes()) == 1  # the cancel's
    order = await adapter.get_order(module.CUSTOMER, module.ORDER)
    assert write_cases.cancelled(order)
    assert not write_cases.ships_to(order, module.NEW_ADDRESS)
    assert _audited(logs) == [
        ("cancel_order", "applied"),
        ("change_shipping_address", "refused"),
    ]


async def test_a_write_that_waits_out_its_patience_is_409_and_its_key_stays_free(
    platform: Platform, adapter: Any
) -> None:
    """The first write hangs past the half of the deadline the second may wait: the
    second is refused, nothing of it written, and its key is not kept with the 409."""
    faults = platform.emulator.write_faults
    faults.add(WriteFault(hang=DEADLINE_S * 2, applies="never", status=504))
    key = {"Idempotency-Key": "waited-out"}
    async with bridge_of(adapter, deadline_s=DEADLINE_S) as bridge:
        held = asyncio.create_task(send_through(bridge, platform, "cancel_order"))
        await until(lambda: faults.arrived == 1)
        route = path(platform.module.CUSTOMER, platform.module.ORDER, "cancel_order")
        refused = await bridge.post(route, headers=key)
        arrived_while_refused = faults.arrived
        assert (await held).status_code == 504  # not confirmed: the platform never made it
        repeat = await bridge.post(route, headers=key)

    assert (refused.status_code, refused.json()["code"]) == (409, "conflict")
    assert arrived_while_refused == 1
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    assert faults.arrived == 2  # the held write's, then the repeat's
