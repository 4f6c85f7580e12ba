"""Adapters and helpers shared by the write-route tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from adapters.base import WriteResult
from adapters.errors import AdapterError
from adapters.writing import going_out
from bridge.app import create_app
from mappings.writes import CancelItems, CancelOrder, NewShippingAddress
from tests.conformance import suite as conformance
from tests.conftest import AUTH, RecordingDemoAdapter, settings

WRITE_CALLS = ("cancel_order", "change_shipping_address", "cancel_items")
R = "/erc/ecommerce/connections"
CANCELLABLE = ("cus_ana", "ord_1005")
"""Confirmed, nothing shipped."""
SHIPPED = ("cus_ana", "ord_1002")
"""One parcel delivered, one in transit."""
CANCELLED = ("cus_ana", "ord_1003")
"""Cancelled in the store's data."""
OPEN_LINES = ("cus_john", "ord_us_004", ("itm_us_004_a", "itm_us_004_b"))
"""Confirmed, two lines, nothing shipped."""
NEW_ADDRESS = {**conformance.NEW_ADDRESS, "phone_number": "+351 900 000 001"}


def path(customer: str, order: str, action: str) -> str:
    suffix = {
        "cancel_order": "cancel",
        "change_shipping_address": "change-shipping-address",
        "cancel_items": "items/cancel",
    }[action]
    return f"{R}/customers/{customer}/orders/{order}/{suffix}"


class RecordingWrites(RecordingDemoAdapter):
    """The demo store, noting every read and write the bridge asks of it; `fail_with`
    makes the next writes raise instead, and `gate` holds them until it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_with: AdapterError | None = None
        self.gate: asyncio.Event | None = None
        self.entered: asyncio.Event | None = None

    @property
    def writes(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [call for call in self.calls if call[0] in WRITE_CALLS]

    async def _before_write(self, name: str, *args: Any) -> None:
        going_out()  # as a platform's write: what follows may have changed the store
        self.calls.append((name, args))
        if self.entered is not None:
            self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with

    async def cancel_order(self, customer_id: str, order_id: str, body: CancelOrder) -> WriteResult:
        await self._before_write("cancel_order", customer_id, order_id, body)
        return await super().cancel_order(customer_id, order_id, body)

    async def change_shipping_address(
        self, customer_id: str, order_id: str, address: NewShippingAddress
    ) -> WriteResult:
        await self._before_write("change_shipping_address", customer_id, order_id, address)
        return await super().change_shipping_address(customer_id, order_id, address)

    async def cancel_items(self, customer_id: str, order_id: str, body: CancelItems) -> WriteResult:
        await self._before_write("cancel_items", customer_id, order_id, body)
        return await super().cancel_items(customer_id, order_id, body)


def held() -> RecordingWrites:
    """A demo store whose writes wait for `gate`, saying when one has begun."""
    adapter = RecordingWrites()
    adapter.gate, adapter.entered = asyncio.Event(), asyncio.Event()
    return adapter


async def opened(adapter: RecordingWrites, **overrides: Any) -> httpx.AsyncClient:
    """A client of the bridge with writes on, in this event loop, its adapter open."""
    app = create_app(settings(writes=True, **overrides), adapter=adapter)
    await adapter.open()
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=AUTH
    )


CANCEL = path(*CANCELLABLE, "cancel_order")


async def started(
    client: httpx.AsyncClient, adapter: RecordingWrites, key: str | None = None
) -> asyncio.Task[httpx.Response]:
    """A cancel (under `key`), sent and held inside the adapter's write."""
    assert adapter.entered is not None
    headers = {"Idempotency-Key": key} if key else {}
    request = asyncio.create_task(client.post(CANCEL, headers=headers))
    await asyncio.wait_for(adapter.entered.wait(), 5)
    return request
