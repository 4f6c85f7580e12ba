"""Adobe CPAPI writes (W1 cancel, W3 cancel items) as licence returns, against the CPAPI
emulator over real HTTP on loopback: the emulator's request log proves which platform
calls were made, and its stored orders prove what the platform now holds."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from adapters.base import Capability, WriteResult
from adapters.deadline import within
from adapters.errors import (
    NotAllowed,
    NotFound,
    UnservableRequest,
    UpstreamError,
    WriteNotConfirmed,
)
from bridge.app import create_app
from mappings.models import Order
from mappings.status import CancellationStatus
from mappings.writes import CancelItems, CancelOrder
from tests.conftest import AUTH, IMPATIENT, R, settings
from tests.emulators.adobe_cpapi import TOKEN_PATH, CPAPIEmulator, Exchange
from tests.emulators.adobe_fixtures import (
    ACROBAT,
    CREDIT_PACK,
    LARKSPUR,
    PARTLY_RETURNED,
    PAST_WINDOW,
    PENDING,
    PHOTOSHOP,
    RECENT_LINES,
    RECENT_NEW,
    RECENT_RENEWAL,
    RECENT_TRANSFER,
    RETURNED,
    RETURNS,
    TODAY,
    UNLISTED,
)
from tests.emulators.faults import BreaksFirstWrite
from tests.outage import Outage, before_writes
from tests.platform_settings import adobe_settings
from tests.servers import serve

pytestmark = pytest.mark.anyio

HANG_S = 1.0
"""Longer than IMPATIENT's read timeout, short enough to keep the module quick."""
DEADLINE_S = 5.0
"""The request deadline the bridge would give the write."""
OTHER_CUSTOMERS_ORDER = "5120008217"
"""LARKSPUR's, recent enough but not RETURNS's."""


def make_emulator() -> CPAPIEmulator:
    """What `served` (tests/conftest.py) serves for this module; its `emulator` restores the
    fixtures too, which the returns here change."""
    return CPAPIEmulator()


@pytest.fixture
async def adapter(
    served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator
) -> AsyncIterator[AdobeCPAPIAdapter]:
    settings = adobe_settings(emulator, served[1])
    adapter = AdobeCPAPIAdapter(settings, http=IMPATIENT, now=lambda: emulator.today)
    await adapter.open()
    await adapter.authenticate()  # the token, before the log counts platform calls
    yield adapter
    await adapter.close()


async def cancel(adapter: AdobeCPAPIAdapter, order_id: str, **body: Any) -> WriteResult:
    async with within(DEADLINE_S):
        return await adapter.cancel_order(RETURNS, order_id, CancelOrder(**body))


async def cancel_items(adapter: AdobeCPAPIAdapter, order_id: str, *ids: str) -> WriteResult:
    async with within(DEADLINE_S):
        return await adapter.cancel_items(RETURNS, order_id, CancelItems(ids=list(ids)))


Write = Callable[[AdobeCPAPIAdapter], Awaitable[WriteResult]]
EACH_WRITE = pytest.mark.parametrize(
    ("order_id", "write"),
    [
        pytest.param(RECENT_NEW, lambda adapter: cancel(adapter, RECENT_NEW), id="cancel_order"),
        pytest.param(
            RECENT_LINES,
            lambda adapter: cancel_items(adapter, RECENT_LINES, "1"),
            id="cancel_items",
        ),
    ],
)
"""W1 and W3, for the cases they share: the same RETURN order under them."""


def writes(emulator: CPAPIEmulator) -> list[Exchange]:
    return emulator.write_exchanges


def returned_lines(exchange: Exchange) -> dict[int, int]:
    """extLineItemNumber → quantity of the RETURN order a POST asked for."""
    return {line["extLineItemNumber"]: line["quantity"] for line in exchange.body["lineItems"]}


def remaining(order: Order) -> dict[str, Any]:
    return {
        item.id: (item.custom_fields or {}).get("remaining_quantity") for item in order.items or []
    }


def test_cpapi_declares_the_returns_and_not_the_address_change() -> None:
    assert Capability.CANCEL_ORDER in AdobeCPAPIAdapter.capabilities
    assert Capability.CANCEL_ITEMS in AdobeCPAPIAdapter.capabilities
    assert Capability.CHANGE_SHIPPING_ADDRESS not in AdobeCPAPIAdapter.capabilities


# W1: cancel the order


@pytest.mark.parametrize("order_id", [RECENT_NEW, RECENT_RENEWAL])
async def test_cancel_returns_every_line_in_one_return_order(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, order_id: str
) -> None:
    before = emulator.fixtures.order(order_id)
    wanted = {line["extLineItemNumber"]: line["quantity"] for line in before["lineItems"]}

    result = await cancel(adapter, order_id)

    assert result == WriteResult("applied")
    (write,) = writes(emulator)
    assert write.path == f"/v3/customers/{RETURNS}/orders"
    assert write.status == 201
    assert write.body["orderType"] == "RETURN"
    assert write.body["referenceOrderId"] == order_id
    assert returned_lines(write) == wanted
    assert write.correlation_id and write.request_id
    (created,) = emulator.returns_of(order_id)
    assert created["status"] == "1002"  # open: Adobe finishes returns asynchronously

    order = await adapter.get_order(RETURNS, order_id)

    assert order.cancellation_status is CancellationStatus.CANCELED
    assert order.custom_fields is not None
    assert order.custom_fields["cpapi_status"] == "1008"
    assert order.custom_fields["return_order_ids"] == [created["orderId"]]
    assert set(remaining(order).values()) == {0}


async def test_cancel_of_a_partly_returned_order_returns_what_remains(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    result = await cancel(adapter, PARTLY_RETURNED)

    assert result.outcome == "applied"
    (write,) = writes(emulator)
    assert returned_lines(write) == {2: 2}
    order = await adapter.get_order(RETURNS, PARTLY_RETURNED)
    assert order.cancellation_status is CancellationStatus.CANCELED
    assert len(order.custom_fields["return_order_ids"]) == 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("order_id", "reason"),
    [
        (PAST_WINDOW, "more than 14 days old"),
        (RECENT_TRANSFER, "only new and renewal orders"),
        (PENDING, "still processing"),
    ],
)
async def test_cancel_refused_by_the_platform_rules_sends_nothing(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, order_id: str, reason: str
) -> None:
    with pytest.raises(NotAllowed, match=reason) as refused:
        await cancel(adapter, order_id)

    assert refused.value.field is None
    assert writes(emulator) == []
    assert emulator.returns_of(order_id) == []


async def test_the_window_is_fourteen_days_from_the_order(
    served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator
) -> None:
    settings = adobe_settings(emulator, served[1])
    later = TODAY.replace(day=TODAY.day + 14)  # RECENT_NEW is 17 days old by then
    adapter = AdobeCPAPIAdapter(settings, http=IMPATIENT, now=lambda: later)
    await adapter.open()
    try:
        with pytest.raises(NotAllowed, match="14 days"):
            await adapter.cancel_order(RETURNS, RECENT_NEW, CancelOrder())
    finally:
        await adapter.close()

    assert writes(emulator) == []


async def test_a_return_the_platform_refuses_is_not_allowed_and_creates_nothing(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with pytest.raises(NotAllowed, match="does not take back these products"):
        await cancel(adapter, CREDIT_PACK)

    (write,) = writes(emulator)
    assert (write.status, write.code) == (422, "RETURN_NOT_SUPPORTED_MOQ_SKU")
    assert emulator.returns_of(CREDIT_PACK) == []


async def test_cancelling_a_returned_order_is_already_done_without_a_write(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    result = await cancel(adapter, RETURNED)

    assert result == WriteResult("already_done")
    assert writes(emulator) == []
    assert len(emulator.returns_of(RETURNED)) == 1  # only the one the fixtures hold


async def test_cancelling_twice_writes_once(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    first = await cancel(adapter, RECENT_NEW)
    second = await cancel(adapter, RECENT_NEW)

    assert (first.outcome, second.outcome) == ("applied", "already_done")
    assert len(writes(emulator)) == 1
    assert len(emulator.returns_of(RECENT_NEW)) == 1


async def test_a_return_found_already_made_drops_the_cached_order(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    order_path = f"{R}/customers/{RETURNS}/orders/{RECENT_NEW}"
    app = create_app(settings(writes=True), adapter=adapter)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bridge", headers=AUTH
    ) as bridge:
        before = await bridge.get(order_path)  # cached, with the order's resources
        await cancel(adapter, RECENT_NEW)  # not through the bridge: its cache is unaware
        done = await bridge.post(f"{order_path}/cancel")
        after = await bridge.get(order_path)

    assert "cancellation_status" not in before.json()
    assert done.status_code == 200
    assert len(writes(emulator)) == 1
    assert after.json()["cancellation_status"] == "CANCELED"
    (created,) = emulator.returns_of(RECENT_NEW)
    assert after.json()["custom_fields"]["return_order_ids"] == [created["orderId"]]


@pytest.mark.parametrize("order_id", [RECENT_NEW, PAST_WINDOW, RECENT_TRANSFER])
async def test_cancelling_an_order_cpapi_marks_cancelled_is_already_done_without_a_write(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, order_id: str
) -> None:
    emulator.fixtures.order(order_id)["status"] = "1008"  # though its lines show licences

    cancelled = await cancel(adapter, order_id)
    lines_cancelled = await cancel_items(adapter, order_id, "1")

    assert cancelled == lines_cancelled == WriteResult("already_done")
    assert writes(emulator) == []


async def test_two_cancels_at_once_return_the_licences_once_and_both_succeed(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    results = await asyncio.gather(cancel(adapter, RECENT_NEW), cancel(adapter, RECENT_NEW))

    assert sorted(result.outcome for result in results) == ["already_done", "applied"]
    assert len(emulator.returns_of(RECENT_NEW)) == 1


@pytest.mark.parametrize(
    ("order_id", "ids", "meanwhile", "refusal"),
    [
        (RECENT_NEW, None, [(1, ACROBAT, 5), (2, PHOTOSHOP, 2)], "2118"),
        (RECENT_LINES, ["1"], [(1, ACROBAT, 3)], "2133"),
    ],
    ids=["whole-order", "the-line-asked-for"],
)
async def test_licences_returned_meanwhile_make_the_return_already_done(
    served: tuple[CPAPIEmulator, str],
    adapter: AdobeCPAPIAdapter,
    emulator: CPAPIEmulator,
    monkeypatch: pytest.MonkeyPatch,
    order_id: str,
    ids: list[str] | None,
    meanwhile: list[tuple[int, str, int]],
    refusal: str,
) -> None:
    """Someone else returns the licences between the order's read and the POST: CPAPI
    refuses ours, and the order, read afresh, has nothing left to return."""
    lines = [{"extLineItemNumber": n, "offerId": o, "quantity": q} for n, o, q in meanwhile]
    before_writes(adapter, monkeypatch, lambda: post_return(served, order_id, lines))

    if ids is None:
        result = await cancel(adapter, order_id)
    else:
        result = await cancel_items(adapter, order_id, *ids)

    assert result == WriteResult("already_done")
    theirs, ours = writes(emulator)
    assert (theirs.status, ours.status, ours.code) == (201, 400, refusal)
    assert len(emulator.returns_of(order_id)) == 1
    assert emulator.cpapi_exchanges[-1].method == "GET"  # the order, read afresh


async def test_licences_partly_returned_meanwhile_leave_the_refusal(
    served: tuple[CPAPIEmulator, str],
    adapter: AdobeCPAPIAdapter,
    emulator: CPAPIEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One licence of five returned meanwhile: the return asked for is refused, and the
    order still has licences to return, so the refusal stands."""
    one = [{"extLineItemNumber": 1, "offerId": ACROBAT, "quantity": 1}]
    before_writes(adapter, monkeypatch, lambda: post_return(served, RECENT_NEW, one))

    with pytest.raises(NotAllowed, match="already returned"):
        await cancel(adapter, RECENT_NEW)

    theirs, ours = writes(emulator)
    assert (theirs.status, ours.status, ours.code) == (201, 422, "RETURN_QTY_EXCEEDS_REMAINING")
    assert len(emulator.returns_of(RECENT_NEW)) == 1


@pytest.mark.parametrize(
    ("customer_id", "order_id"),
    [(RETURNS, OTHER_CUSTOMERS_ORDER), (LARKSPUR, RECENT_NEW), (RETURNS, "0000000000")],
)
async def test_cancelling_someone_elses_order_is_not_found_and_sends_nothing(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, customer_id: str, order_id: str
) -> None:
    before = emulator.returns_of(order_id)

    with pytest.raises(NotFound):
        async with within(DEADLINE_S):
            await adapter.cancel_order(customer_id, order_id, CancelOrder())

    assert writes(emulator) == []
    assert emulator.returns_of(order_id) == before


async def test_ownership_is_checked_before_the_body(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with pytest.raises(NotFound):
        await cancel(adapter, OTHER_CUSTOMERS_ORDER, refund_method={"store_credit": {}})

    assert writes(emulator) == []


@pytest.mark.parametrize(
    "refund_method",
    [
        {"store_credit": {"expires_at": "2026-01-01"}},
        {"store_credit": {}},
        {"original_payment_method": False},
        {"original_payment_method": True, "store_credit": {}},
    ],
)
async def test_a_refund_adobe_cannot_give_is_refused_naming_the_field(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, refund_method: dict[str, Any]
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await cancel(adapter, RECENT_NEW, refund_method=refund_method)

    assert refused.value.field == "refund_method"
    assert writes(emulator) == []


@pytest.mark.parametrize("refund_method", [{"original_payment_method": True}, {}])
async def test_the_credit_against_the_original_order_is_what_a_return_gives(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, refund_method: dict[str, Any]
) -> None:
    result = await cancel(adapter, RECENT_NEW, refund_method=refund_method)

    assert result == WriteResult("applied")  # honoured, so not listed as ignored
    assert len(writes(emulator)) == 1


async def test_options_a_return_has_no_place_for_are_ignored_and_not_sent(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    result = await cancel(
        adapter,
        RECENT_NEW,
        cancel_reason="customer-reason-text",
        restock=False,
        notify_customer=False,
        staff_note="staff-note-text",
        custom_fields={"ticket": "custom-field-text"},
    )

    assert result.outcome == "applied"
    assert result.ignored == (
        "cancel_reason",
        "restock",
        "notify_customer",
        "staff_note",
        "custom_fields",
    )
    (write,) = writes(emulator)
    assert set(write.body) == {"referenceOrderId", "orderType", "currencyCode", "lineItems"}
    assert "text" not in str(write.body)


# Never twice


@EACH_WRITE
async def test_a_timed_out_return_is_repeated_under_the_same_correlation_id(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, order_id: str, write: Write
) -> None:
    emulator.hang_writes(HANG_S)  # processed, but answered too late

    result = await write(adapter)

    assert result.outcome == "applied"
    first, repeat = writes(emulator)
    assert first.correlation_id == repeat.correlation_id
    assert first.request_id != repeat.request_id
    assert first.body == repeat.body
    assert repeat.replayed and repeat.status == 201  # the stored answer, not a new return
    assert len(emulator.returns_of(order_id)) == 1


async def test_a_lost_return_is_sent_again_under_the_same_correlation_id(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.hang_writes(HANG_S, processed=False)

    result = await cancel(adapter, RECENT_NEW)

    assert result.outcome == "applied"
    first, repeat = writes(emulator)
    assert first.correlation_id == repeat.correlation_id
    assert not repeat.replayed and repeat.status == 201
    assert len(emulator.returns_of(RECENT_NEW)) == 1


@pytest.mark.parametrize("delivered", [True, False])
async def test_a_return_whose_connection_broke_is_sent_again_as_the_same_intent(
    served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator, delivered: bool
) -> None:
    port = urlsplit(served[1]).port
    assert port is not None
    relay = BreaksFirstWrite(port, b"POST /v3/", delivered=delivered)
    async with relay as relayed:
        settings = adobe_settings(emulator, relayed)
        adapter = AdobeCPAPIAdapter(settings, http=IMPATIENT, now=lambda: emulator.today)
        await adapter.open()
        try:
            result = await cancel(adapter, RECENT_NEW)
        finally:
            await adapter.close()

    assert relay.broken
    assert result.outcome == "applied"
    sent = writes(emulator)
    assert len(sent) == (2 if delivered else 1)
    assert sent[-1].replayed is delivered  # the stored answer to the broken attempt
    assert len(emulator.returns_of(RECENT_NEW)) == 1


async def test_a_return_never_answered_is_confirmed_by_reading_the_order(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.hang_writes(HANG_S, times=10)  # the first is processed, no answer comes back

    result = await cancel(adapter, RECENT_NEW)

    assert result.outcome == "applied"
    sent = writes(emulator)
    assert 2 <= len(sent) <= 3
    assert len({write.correlation_id for write in sent}) == 1
    assert len(emulator.returns_of(RECENT_NEW)) == 1


async def test_a_return_never_processed_is_not_confirmed(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.hang_writes(HANG_S, times=10, processed=False)

    with pytest.raises(WriteNotConfirmed):
        await cancel(adapter, RECENT_NEW)

    sent = writes(emulator)
    assert len({write.correlation_id for write in sent}) == 1
    assert emulator.returns_of(RECENT_NEW) == []


async def test_a_token_renewed_between_attempts_keeps_the_correlation_id(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.hang_writes(HANG_S)
    task = asyncio.create_task(cancel(adapter, RECENT_NEW))
    assert await asyncio.to_thread(emulator.wait_for_write)
    emulator.expire_tokens()  # the repeat is refused with 401 and sent again

    result = await task

    assert result.outcome == "applied"
    first, refused, repeat = writes(emulator)
    assert refused.status == 401
    assert first.correlation_id == refused.correlation_id == repeat.correlation_id
    assert repeat.replayed
    assert len(emulator.returns_of(RECENT_NEW)) == 1


@EACH_WRITE
async def test_a_platform_error_on_the_return_is_not_retried(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, order_id: str, write: Write
) -> None:
    emulator.fail_writes(500, "1124")

    with pytest.raises(UpstreamError):
        await write(adapter)

    (sent,) = writes(emulator)
    assert sent.status == 500
    assert emulator.returns_of(order_id) == []


@dataclass
class Gateway:
    """A gateway in front of CPAPI that answers some order POSTs with an error page of its
    own: `errors` maps a POST's number (1 for the first) to the status it gets, and
    `forwards` says whether CPAPI is given (and processes) those POSTs all the same."""

    app: ASGIApp
    errors: dict[int, int]
    forwards: bool = False
    posts: int = 0
    """The order POSTs that reached the gateway."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] == TOKEN_PATH:
            await self.app(scope, receive, send)
            return
        self.posts += 1
        status = self.errors.get(self.posts)
        if status is None:
            await self.app(scope, receive, send)
            return
        if self.forwards:

            async def unheard(message: Message) -> None:
                pass

            await self.app(scope, receive, unheard)
        page = b"<html><body>Bad Gateway</body></html>"
        headers = [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(page))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": page})


@pytest.fixture
async def behind_gateway(
    emulator: CPAPIEmulator,
) -> AsyncIterator[Callable[[Gateway], Awaitable[AdobeCPAPIAdapter]]]:
    """Serves CPAPI behind a `Gateway` and gives an adapter calling it (closed after)."""
    with contextlib.ExitStack() as stack:
        adapters: list[AdobeCPAPIAdapter] = []

        async def through(gateway: Gateway) -> AdobeCPAPIAdapter:
            url = stack.enter_context(serve(gateway))
            settings = adobe_settings(emulator, url)
            adapter = AdobeCPAPIAdapter(settings, http=IMPATIENT, now=lambda: emulator.today)
            adapters.append(adapter)
            await adapter.open()
            await adapter.authenticate()
            return adapter

        try:
            yield through
        finally:
            for adapter in adapters:
                await adapter.close()


@pytest.mark.parametrize(
    "errors",
    [{2: 502}, {2: 504}, {2: 502, 3: 504}],
    ids=["502-then-replayed", "504-then-replayed", "errors-to-the-last-attempt"],
)
async def test_a_gateway_error_after_an_unanswered_return_is_no_answer_either(
    behind_gateway: Callable[[Gateway], Awaitable[AdobeCPAPIAdapter]],
    emulator: CPAPIEmulator,
    errors: dict[int, int],
) -> None:
    """The first POST is processed but answered too late; the gateway answers the repeats
    under its id with an error of its own, which says nothing about the first."""
    gateway = Gateway(emulator.app, errors)
    adapter = await behind_gateway(gateway)
    emulator.hang_writes(HANG_S)

    result = await cancel(adapter, RECENT_NEW)

    assert result.outcome == "applied"
    assert len(emulator.returns_of(RECENT_NEW)) == 1
    assert gateway.posts == 3
    sent = writes(emulator)  # what reached CPAPI: the gateway kept its errors to itself
    assert len({write.correlation_id for write in sent}) == 1
    if len(errors) == 1:  # the third attempt, under the same id, gets the stored answer
        assert [write.replayed for write in sent] == [False, True]
    else:  # no attempt left: the order, read afresh, shows the return
        assert len(sent) == 1
        assert emulator.cpapi_exchanges[-1].method == "GET"


@pytest.mark.parametrize("forwards", [True, False], ids=["processed", "not-processed"])
async def test_a_gateway_error_on_the_return_is_judged_by_reading_the_order(
    behind_gateway: Callable[[Gateway], Awaitable[AdobeCPAPIAdapter]],
    emulator: CPAPIEmulator,
    forwards: bool,
) -> None:
    gateway = Gateway(emulator.app, {1: 502}, forwards=forwards)
    adapter = await behind_gateway(gateway)

    if forwards:
        assert (await cancel(adapter, RECENT_NEW)).outcome == "applied"
    else:
        with pytest.raises(UpstreamError, match="internal error"):
            await cancel(adapter, RECENT_NEW)

    assert gateway.posts == 1  # sent once, never repeated
    assert len(emulator.returns_of(RECENT_NEW)) == (1 if forwards else 0)
    read = ("GET", f"/v3/customers/{RETURNS}/orders/{RECENT_NEW}")
    posted = [("POST", f"/v3/customers/{RETURNS}/orders")] if forwards else []
    assert [(e.method, e.path) for e in emulator.cpapi_exchanges] == [read, *posted, read]


async def test_a_cancelled_write_leaves_one_return_and_the_next_attempt_sees_it(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    emulator.hang_writes(HANG_S, times=10)
    task = asyncio.create_task(cancel(adapter, RECENT_NEW))
    assert await asyncio.to_thread(emulator.wait_for_write)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sent = writes(emulator)

    again = await cancel(adapter, RECENT_NEW)

    assert again.outcome == "already_done"
    assert writes(emulator) == sent  # nothing sent by the second attempt
    assert len({write.correlation_id for write in sent}) == 1
    assert len(emulator.returns_of(RECENT_NEW)) == 1


# A return that cannot have arrived


@contextlib.asynccontextmanager
async def bridge_behind(
    outage: Outage, emulator: CPAPIEmulator, key: str
) -> AsyncIterator[tuple[AdobeCPAPIAdapter, httpx.AsyncClient]]:
    """An adapter calling CPAPI through `outage`, and a client of a bridge in front of it
    sending `key` as the `Idempotency-Key`."""
    async with outage as relayed:
        platform = adobe_settings(emulator, relayed)
        adapter = AdobeCPAPIAdapter(platform, http=IMPATIENT, now=lambda: emulator.today)
        await adapter.open()
        try:
            await adapter.authenticate()
            async with bridge_of(adapter, key) as bridge:
                yield adapter, bridge
        finally:
            await adapter.close()


@contextlib.asynccontextmanager
async def bridge_of(adapter: AdobeCPAPIAdapter, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a bridge with writes on in front of `adapter`, sending `key` as the
    `Idempotency-Key`."""
    app = create_app(settings(writes=True), adapter=adapter)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bridge",
        headers={**AUTH, "Idempotency-Key": key},
    ) as bridge:
        yield bridge


CANCEL_PATH = f"{R}/customers/{RETURNS}/orders/{RECENT_NEW}/cancel"


async def test_a_return_refused_its_connection_leaves_its_key_to_the_repeat(
    served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = Outage(urlsplit(served[1]).port or 80)
    async with bridge_behind(outage, emulator, "refused") as (adapter, bridge):
        before_writes(adapter, monkeypatch, outage.down)
        first = await bridge.post(CANCEL_PATH)
        await outage.up()
        repeat = await bridge.post(CANCEL_PATH)

    assert (first.status_code, first.json()["code"]) == (503, "upstream_unavailable")
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    (write,) = writes(emulator)  # the repeat's: the first was never sent
    assert write.status == 201
    assert len(emulator.returns_of(RECENT_NEW)) == 1


async def test_a_repeat_refused_after_an_unanswered_return_is_not_confirmed_and_kept(
    served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first POST is processed but its answer is late; the platform is gone before
    the repeat under its id, and before the re-read: the return may have been made."""
    emulator.hang_writes(HANG_S)
    outage = Outage(urlsplit(served[1]).port or 80)
    async with bridge_behind(outage, emulator, "unanswered") as (adapter, bridge):
        before_writes(adapter, monkeypatch, outage.down, after=1)
        first = await bridge.post(CANCEL_PATH)
        await outage.up()
        repeat = await bridge.post(CANCEL_PATH)

    assert (first.status_code, first.json()["message"]) == (504, "The change was not confirmed")
    assert (repeat.status_code, repeat.content) == (504, first.content)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(writes(emulator)) == 1
    assert len(emulator.returns_of(RECENT_NEW)) == 1


async def test_a_return_without_a_token_for_it_leaves_its_key_to_the_repeat(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPAPI refuses the POST's token unread (401), and IMS grants no new one."""

    def token_revoked_and_ims_down() -> None:
        emulator.expire_tokens()
        emulator.fail_token(503, times=IMPATIENT.attempts)  # every attempt of one grant

    before_writes(adapter, monkeypatch, token_revoked_and_ims_down)
    async with bridge_of(adapter, "no-token") as bridge:
        first = await bridge.post(CANCEL_PATH)
        repeat = await bridge.post(CANCEL_PATH)

    assert (first.status_code, first.json()["code"]) == (503, "upstream_unavailable")
    assert repeat.status_code == 200
    assert "idempotent-replayed" not in repeat.headers
    assert [write.status for write in writes(emulator)] == [401, 201]
    assert len(emulator.returns_of(RECENT_NEW)) == 1


# W3: cancel items


async def test_cancel_items_returns_the_listed_lines(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    result = await cancel_items(adapter, RECENT_LINES, "3", "2")

    assert result == WriteResult("applied")
    (write,) = writes(emulator)
    assert write.body["referenceOrderId"] == RECENT_LINES
    assert returned_lines(write) == {3: 2, 2: 1}  # line 3 has no remainingQuantity: all of it
    assert [line["offerId"] for line in write.body["lineItems"]] == [UNLISTED, PHOTOSHOP]
    (created,) = emulator.returns_of(RECENT_LINES)

    order = await adapter.get_order(RETURNS, RECENT_LINES)

    assert order.cancellation_status is None  # line 1 is still the customer's
    assert remaining(order) == {"1": 3, "2": 0, "3": 0}
    statuses = {
        item.id: (item.custom_fields or {}).get("cpapi_status") for item in order.items or []
    }
    assert statuses == {"1": "1000", "2": "1008", "3": "1008"}
    assert order.custom_fields["return_order_ids"] == [created["orderId"]]  # type: ignore[index]
    items = await adapter.list_items(RETURNS, RECENT_LINES)
    assert [item.sku for item in items] == [ACROBAT, PHOTOSHOP, UNLISTED]


async def test_cancelling_returned_lines_is_already_done_without_a_write(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    result = await cancel_items(adapter, PARTLY_RETURNED, "1")

    assert result == WriteResult("already_done")
    assert writes(emulator) == []


async def test_only_the_listed_lines_not_yet_returned_are_returned(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    result = await cancel_items(adapter, PARTLY_RETURNED, "1", "2")

    assert result.outcome == "applied"
    (write,) = writes(emulator)
    assert returned_lines(write) == {2: 2}


async def test_an_id_that_is_not_a_line_of_the_order_is_named_and_nothing_is_sent(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with pytest.raises(UnservableRequest) as refused:
        await cancel_items(adapter, RECENT_LINES, "1", "9")

    assert refused.value.field == "ids[1]"
    assert writes(emulator) == []


@pytest.mark.parametrize("order_id", [PAST_WINDOW, PENDING])
async def test_cancel_items_refused_by_the_platform_rules_sends_nothing(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator, order_id: str
) -> None:
    with pytest.raises(NotAllowed):
        await cancel_items(adapter, order_id, "1")

    assert writes(emulator) == []


async def test_cancel_items_of_someone_elses_order_is_not_found(
    adapter: AdobeCPAPIAdapter, emulator: CPAPIEmulator
) -> None:
    with pytest.raises(NotFound):
        await cancel_items(adapter, OTHER_CUSTOMERS_ORDER, "1")

    assert writes(emulator) == []


# The emulator's own rules, met directly: what the adapter's pre-checks keep it from asking


async def post_return(
    served: tuple[CPAPIEmulator, str], order_id: str, lines: list[dict[str, Any]], **headers: str
) -> httpx.Response:
    emulator, url = served
    async with httpx.AsyncClient(base_url=url) as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "scope": ",".join(sorted(emulator.scopes)),
        }
        token = (await client.post(TOKEN_PATH, data=form)).json()["access_token"]
        sent = {
            "Authorization": f"Bearer {token}",
            "X-Api-Key": emulator.client_id,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "X-Request-Id": str(uuid.uuid4()),
            "X-Correlation-Id": str(uuid.uuid4()),
            **headers,
        }
        body = {"referenceOrderId": order_id, "orderType": "RETURN", "lineItems": lines}
        return await client.post(f"/v3/customers/{RETURNS}/orders", json=body, headers=sent)


@pytest.mark.parametrize(
    ("order_id", "line", "status", "code"),
    [
        (
            RECENT_NEW,
            {"extLineItemNumber": 1, "offerId": ACROBAT, "quantity": 6},
            422,
            "RETURN_QTY_EXCEEDS_REMAINING",
        ),
        (RECENT_NEW, {"extLineItemNumber": 1, "offerId": PHOTOSHOP, "quantity": 1}, 400, "2130"),
        (RECENT_NEW, {"extLineItemNumber": 7, "offerId": ACROBAT, "quantity": 1}, 400, "2131"),
        (
            PARTLY_RETURNED,
            {"extLineItemNumber": 1, "offerId": PHOTOSHOP, "quantity": 1},
            400,
            "2133",
        ),
        (PAST_WINDOW, {"extLineItemNumber": 1, "offerId": ACROBAT, "quantity": 1}, 400, "2134"),
        (
            OTHER_CUSTOMERS_ORDER,
            {"extLineItemNumber": 1, "offerId": ACROBAT, "quantity": 1},
            404,
            "2115",
        ),
    ],
)
async def test_the_emulator_refuses_returns_as_cpapi_does(
    served: tuple[CPAPIEmulator, str],
    emulator: CPAPIEmulator,
    order_id: str,
    line: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = emulator.returns_of(order_id)

    response = await post_return(served, order_id, [line])

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert emulator.returns_of(order_id) == before


async def test_the_emulator_replays_a_return_for_its_correlation_id(
    served: tuple[CPAPIEmulator, str], emulator: CPAPIEmulator
) -> None:
    line = {"extLineItemNumber": 1, "offerId": ACROBAT, "quantity": 2}
    correlation = str(uuid.uuid4())

    first = await post_return(served, RECENT_NEW, [line], **{"X-Correlation-Id": correlation})
    again = await post_return(served, RECENT_NEW, [line], **{"X-Correlation-Id": correlation})
    other = await post_return(served, RECENT_NEW, [line])

    assert first.status_code == again.status_code == other.status_code == 201
    assert first.json() == again.json()
    assert other.json()["orderId"] != first.json()["orderId"]  # a new id is a new return
    assert [write.replayed for write in writes(emulator)] == [False, True, False]
    assert len(emulator.returns_of(RECENT_NEW)) == 2
    assert emulator.fixtures.order(RECENT_NEW)["lineItems"][0]["remainingQuantity"] == 1
