"""What every platform write must do alike (SPEC §7), over real HTTP with each emulator.

A write reaches the platform at most once: never for another customer's order, never
again after a timeout, a platform error or a cancelled request, nor when it is repeated
through the bridge under its `Idempotency-Key`. After a timeout the order, read afresh,
decides the answer. Each platform's module (`test_<platform>_writes`)
makes its emulator and adapter (`make_emulator()`, `make_adapter(url)`) and names the order
(`CUSTOMER`, `ORDER`) and address (`NEW_ADDRESS`) that `tests.write_cases` writes with.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.base import Capability, HTTPAdapter, WriteResult
from adapters.deadline import within
from adapters.errors import NotAllowed, NotFound, NotSupported, UpstreamError, WriteNotConfirmed
from bridge.app import create_app
from mappings.writes import CancelItems, CancelOrder, NewShippingAddress
from tests import test_bigcommerce_writes, test_elasticpath_writes, write_cases
from tests.conftest import AUTH, settings
from tests.emulators.faults import BreaksFirstWrite
from tests.emulators.write_faults import WriteFault, until
from tests.outage import Outage, before_writes
from tests.servers import serve
from tests.write_cases import WRITES
from tests.write_support import R, path

pytestmark = pytest.mark.anyio

PLATFORMS = {"elasticpath": test_elasticpath_writes, "bigcommerce": test_bigcommerce_writes}
DEADLINE_S = 2.0
"""The request's deadline in the timeout tests: the write may take two thirds of it."""
HANG_S = 2.8
"""How long a slow write keeps the platform's answer back: past the deadline."""


@dataclass(frozen=True)
class Platform:
    module: ModuleType
    emulator: Any
    url: str

    def writes(self) -> list[Any]:
        return list(self.emulator.writes)


@pytest.fixture(scope="module", params=list(PLATFORMS))
def served(request: pytest.FixtureRequest) -> Iterator[Platform]:
    module = PLATFORMS[request.param]
    emulator = module.make_emulator()
    with serve(emulator.app) as url:
        yield Platform(module, emulator, url)


@pytest.fixture
def platform(served: Platform) -> Platform:
    """The platform with a fresh store: writes change it."""
    served.emulator.reset()
    served.emulator.store = served.module.fx.default_store()
    return served


@pytest.fixture
async def adapter(platform: Platform) -> AsyncIterator[HTTPAdapter]:
    adapter = platform.module.make_adapter(platform.url)
    await adapter.open()
    await adapter.authenticate()  # a token now, so that no write waits for one
    yield adapter
    await adapter.close()


@contextlib.asynccontextmanager
async def bridge_of(
    adapter: HTTPAdapter, key: str | None = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a bridge with writes on in front of `adapter`, sending `key` as the
    `Idempotency-Key` when given."""
    app = create_app(settings(writes=True, **overrides), adapter=adapter)
    headers = AUTH if key is None else {**AUTH, "Idempotency-Key": key}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bridge", headers=headers
    ) as bridge:
        yield bridge


async def send_through(
    bridge: httpx.AsyncClient, platform: Platform, write: str, query: str = ""
) -> httpx.Response:
    """`write` of the order through the bridge's route, with `query` after its path (the
    address change with the body `send` gives the adapter)."""
    module = platform.module
    route = path(module.CUSTOMER, module.ORDER, write)
    body = None if write == "cancel_order" else module.NEW_ADDRESS.model_dump(exclude_none=True)
    return await bridge.post(route + query, json=body)


async def send(platform: Platform, adapter: HTTPAdapter, write: str) -> WriteResult:
    module = platform.module
    return await write_cases.send(adapter, write, module.CUSTOMER, module.ORDER, module.NEW_ADDRESS)


async def shows_change(platform: Platform, adapter: HTTPAdapter, write: str) -> bool:
    module = platform.module
    order = await adapter.get_order(module.CUSTOMER, module.ORDER)
    return write_cases.shows(order, write, module.NEW_ADDRESS)


@pytest.mark.parametrize("nth", [0, 1])
@pytest.mark.parametrize("write", WRITES)
async def test_an_order_of_someone_else_is_not_found_and_not_written(
    platform: Platform, adapter: HTTPAdapter, write: str, nth: int
) -> None:
    module = platform.module
    order_id = module.SOMEONE_ELSES[nth]
    with pytest.raises(NotFound):
        await write_cases.send(adapter, write, module.CUSTOMER, order_id, module.NEW_ADDRESS)

    assert platform.writes() == []


@pytest.mark.parametrize("write", WRITES)
async def test_timeout_after_the_platform_applied_the_change_is_confirmed_by_a_fresh_read(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    platform.emulator.write_faults.add(WriteFault(hang=HANG_S, applies="first"))

    async with within(DEADLINE_S):
        result = await send(platform, adapter, write)

    assert result.outcome == "applied"
    await until(lambda: len(platform.writes()) == 1)
    assert len(platform.writes()) == 1
    assert await shows_change(platform, adapter, write)


@pytest.mark.parametrize("applies", ["never", "last"])
@pytest.mark.parametrize("write", WRITES)
async def test_timeout_without_the_change_in_place_is_not_confirmed_and_not_resent(
    platform: Platform,
    adapter: HTTPAdapter,
    write: str,
    applies: Literal["never", "last"],
) -> None:
    platform.emulator.write_faults.add(WriteFault(hang=HANG_S, applies=applies, status=504))

    with pytest.raises(WriteNotConfirmed):
        async with within(DEADLINE_S):
            await send(platform, adapter, write)

    await until(lambda: len(platform.writes()) == 1)
    assert len(platform.writes()) == 1
    # The platform applying it late is what the answer warns of ("it may still be applied").
    assert await shows_change(platform, adapter, write) is (applies == "last")


@pytest.mark.parametrize("write", WRITES)
async def test_a_failure_before_the_write_was_sent_leaves_its_key_to_the_repeat(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    async with bridge_of(adapter, f"unread-{write}") as bridge:
        # The platform answers 503 to everything: the order is not even read.
        platform.emulator.faults.add(503, {"errors": [{"title": "down"}]}, times=100)
        first = await send_through(bridge, platform, write)
        platform.emulator.faults.clear()
        repeat = await send_through(bridge, platform, write)

    assert (first.status_code, first.json()["code"]) == (503, "upstream_unavailable")
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    assert len(platform.writes()) == 1


@pytest.mark.parametrize("write", WRITES)
async def test_a_write_refused_its_connection_leaves_its_key_to_the_repeat(
    platform: Platform, write: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform goes down between the order's read and the write: the write cannot
    have arrived, so the key is free, and the repeat writes once the platform is back."""
    outage = Outage(urlsplit(platform.url).port or 80)
    async with outage as relayed:
        adapter = platform.module.make_adapter(relayed)
        await adapter.open()
        try:
            await adapter.authenticate()
            before_writes(adapter, monkeypatch, outage.down)
            async with bridge_of(adapter, f"refused-{write}") as bridge:
                granted = len(outage.requests)
                first = await send_through(bridge, platform, write)
                relayed_before = outage.requests[granted:]
                await outage.up()
                repeat = await send_through(bridge, platform, write)
        finally:
            await adapter.close()

    assert (first.status_code, first.json()["code"]) == (503, "upstream_unavailable")
    assert all(line.startswith(b"GET ") for line in relayed_before)
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    assert platform.emulator.write_faults.arrived == 1
    assert len(platform.writes()) == 1


@pytest.mark.parametrize("write", WRITES)
async def test_an_unconfirmed_write_repeated_under_its_key_is_replayed_not_sent_again(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    platform.emulator.write_faults.add(WriteFault(hang=HANG_S, applies="last", status=504))
    async with bridge_of(adapter, f"unconfirmed-{write}", deadline_s=DEADLINE_S) as bridge:
        first = await send_through(bridge, platform, write)
        # The platform applies the first write only after this repeat.
        repeat = await send_through(bridge, platform, write)

    assert (first.status_code, first.json()["message"]) == (504, "The change was not confirmed")
    assert (repeat.status_code, repeat.content) == (504, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    await until(lambda: len(platform.writes()) == 1)
    assert platform.emulator.write_faults.arrived == 1
    assert len(platform.writes()) == 1


@pytest.mark.parametrize("write", WRITES)
async def test_a_server_error_on_the_write_is_an_upstream_error_without_a_retry(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    platform.emulator.write_faults.add(
        WriteFault(applies="never", status=500, body=platform.module.SERVER_ERROR)
    )

    with pytest.raises(UpstreamError):
        await send(platform, adapter, write)

    assert platform.emulator.write_faults.arrived == 1
    assert len(platform.writes()) == 1
    assert not await shows_change(platform, adapter, write)


@pytest.mark.parametrize("status", [502, 503])
@pytest.mark.parametrize("write", WRITES)
async def test_a_server_error_after_the_change_was_made_is_confirmed_by_a_fresh_read(
    platform: Platform, adapter: HTTPAdapter, write: str, status: int
) -> None:
    """A gateway's 502 or 503 for a write the platform applied: the order, read afresh,
    shows it."""
    platform.emulator.write_faults.add(WriteFault(applies="first", status=status))

    result = await send(platform, adapter, write)

    assert result.outcome == "applied"
    assert len(platform.writes()) == 1
    assert await shows_change(platform, adapter, write)


@pytest.mark.parametrize("write", WRITES)
async def test_a_connection_lost_after_the_change_was_made_is_confirmed_by_a_fresh_read(
    platform: Platform, write: str
) -> None:
    """The platform made the change and answered; the connection broke before the answer
    came back. Through the bridge under a key: 200, and the repeat replays it."""
    relay = BreaksFirstWrite(
        urlsplit(platform.url).port or 80, platform.module.WRITE_MARKER, delivered=True
    )
    async with relay as relayed:
        adapter = platform.module.make_adapter(relayed)
        await adapter.open()
        try:
            async with bridge_of(adapter, f"lost-{write}") as bridge:
                first = await send_through(bridge, platform, write)
                repeat = await send_through(bridge, platform, write)
        finally:
            await adapter.close()

    assert relay.broken
    assert first.status_code == 200, first.text
    assert (repeat.status_code, repeat.headers["idempotent-replayed"]) == (200, "true")
    assert len(platform.writes()) == 1


async def read_through(bridge: httpx.AsyncClient, platform: Platform, write: str) -> bool:
    """Whether the order, as the bridge's R3 shows it, has `write` made."""
    module = platform.module
    answer = await bridge.get(f"{R}/customers/{module.CUSTOMER}/orders/{module.ORDER}")
    assert answer.status_code == 200
    order = answer.json()
    if write == "cancel_order":
        return bool(order.get("cancellation_status") == "CANCELED")
    return bool((order.get("shipping_address") or {}).get("address") == module.NEW_ADDRESS.address)


@pytest.mark.parametrize("write", WRITES)
async def test_a_change_found_already_made_drops_the_cached_order(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    """The platform has the change the bridge's cache has not seen (an earlier attempt
    whose answer was lost, someone else): the write is already done, and reads show it."""
    async with bridge_of(adapter) as bridge:
        assert not await read_through(bridge, platform, write)  # now cached
        await send(platform, adapter, write)  # not through the bridge: its cache is unaware
        done = await send_through(bridge, platform, write)
        shown = await read_through(bridge, platform, write)

    assert done.status_code == 200
    assert len(platform.writes()) == 1
    assert shown


@pytest.mark.parametrize("write", WRITES)
async def test_a_write_that_may_still_be_applied_drops_the_cached_order(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    platform.emulator.write_faults.add(WriteFault(hang=HANG_S, applies="last", status=504))
    async with bridge_of(adapter, deadline_s=DEADLINE_S) as bridge:
        assert not await read_through(bridge, platform, write)  # now cached
        unconfirmed = await send_through(bridge, platform, write)
        await until(lambda: len(platform.writes()) == 1)  # the platform made it after all
        shown = await read_through(bridge, platform, write)

    assert unconfirmed.status_code == 504
    assert shown


@pytest.mark.parametrize("write", WRITES)
async def test_a_request_cancelled_mid_write_sends_nothing_more(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    platform.emulator.write_faults.add(WriteFault(hang=0.8, applies="first"))
    task = asyncio.ensure_future(send(platform, adapter, write))
    await until(lambda: platform.emulator.write_faults.arrived == 1)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await until(lambda: len(platform.writes()) == 1)
    await asyncio.sleep(0.1)
    assert len(platform.writes()) == 1


async def test_the_orders_named_for_the_conformance_write_cases_behave_as_named(
    platform: Platform, adapter: HTTPAdapter
) -> None:
    cases = platform.module.conformance.WRITE_CASES
    customer = platform.module.MANIFEST.customer
    in_place = NewShippingAddress.model_validate(cases["current_shipping_address"])
    cancellable, shipped = cases["cancellable_order"], cases["shipped_order"]

    moved = await adapter.change_shipping_address(customer, cancellable, in_place)
    done = await adapter.cancel_order(customer, cases["cancelled_order"], CancelOrder())
    with pytest.raises(NotAllowed):
        await adapter.cancel_order(customer, shipped, CancelOrder())
    applied = await adapter.cancel_order(customer, cancellable, CancelOrder())

    assert (moved.outcome, done.outcome, applied.outcome) == ("already_done",) * 2 + ("applied",)
    assert len(platform.writes()) == 1


async def test_cancelling_items_is_not_supported(platform: Platform, adapter: HTTPAdapter) -> None:
    assert Capability.CANCEL_ITEMS not in adapter.capabilities
    assert {Capability.CANCEL_ORDER, Capability.CHANGE_SHIPPING_ADDRESS} <= adapter.capabilities
    with pytest.raises(NotSupported):
        await adapter.cancel_items(
            platform.module.CUSTOMER, platform.module.ORDER, CancelItems(ids=["1"])
        )

    assert platform.writes() == []


@pytest.mark.parametrize("write", WRITES)
async def test_a_write_naming_another_brand_is_not_found_and_not_sent(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    """SPEC §1: a request naming a brand this store is not is 404, writes too."""
    async with bridge_of(adapter, brand="Acme") as bridge:
        before = len(platform.emulator.requests)
        elsewhere = await send_through(bridge, platform, write, query="?brand=Other")
        requests_for_refusal = len(platform.emulator.requests) - before
        here = await send_through(bridge, platform, write, query="?brand=acme")

    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "not_found")
    assert requests_for_refusal == 0
    assert here.status_code == 200
    assert len(platform.writes()) == 1


@pytest.mark.parametrize("write", WRITES)
async def test_a_repeat_naming_another_brand_is_not_found_rather_than_replayed(
    platform: Platform, adapter: HTTPAdapter, write: str
) -> None:
    """The brand is checked before the key: a repeat for another brand learns nothing of
    the first answer. Spelling the served brand or none is the same request."""
    async with bridge_of(adapter, f"brand-{write}", brand="Acme") as bridge:
        first = await send_through(bridge, platform, write, query="?brand=Acme")
        elsewhere = await send_through(bridge, platform, write, query="?brand=Other")
        repeat = await send_through(bridge, platform, write)

    assert first.status_code == 200
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "not_found")
    assert "idempotent-replayed" not in elsewhere.headers
    assert (repeat.status_code, repeat.headers["idempotent-replayed"]) == (200, "true")
    assert len(platform.writes()) == 1
