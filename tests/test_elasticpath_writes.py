"""Elastic Path writes (SPEC §7 W1, W2) against the emulator over real HTTP on 127.0.0.1.

Every test proves from the emulator's request log which writes reached the platform: one
when the change is made, none when it is refused or already in place. What every
platform's writes do alike (other customers' orders, timeouts, errors, cancelled
requests) is in `test_platform_writes`, with the names this module gives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from adapters.base import WriteResult
from adapters.deadline import within
from adapters.elasticpath import ElasticPathAdapter
from adapters.errors import NotAllowed, UpstreamError
from mappings.status import CancellationStatus
from mappings.writes import CancelOrder, NewShippingAddress, RefundMethod
from tests import test_conformance_elasticpath as conformance
from tests.conftest import FAST
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator, error_body
from tests.emulators.write_faults import WriteFault, until
from tests.platform_settings import elasticpath_settings
from tests.write_cases import WRITES, cancelled, send, shows

pytestmark = pytest.mark.anyio

CUSTOMER, ORDER = fx.MARIA, fx.ORDER_PROCESSING
"""Maria's order that nothing has happened to yet."""
NEW_ADDRESS = NewShippingAddress(
    address="500 Court St NE",
    city="Salem",
    country_code="US",
    region_code="US-OR",
    zip_code="97301",
    first_name="Maria",
)
SAME_ADDRESS = NewShippingAddress(  # fx.MARIA_WORK, where ORDER_PROCESSING ships
    address="1200 NW Naito Pkwy",
    city="Portland",
    country_code="US",
    region_code="US-OR",
    zip_code="97209",
)
TEXT_WITH_SPACES = NewShippingAddress(
    address="500 Court St NE ", city=" Salem", country_code="US", region_code="US-OR", zip_code=""
)
ZUG = NewShippingAddress(
    address="Bahnhofstrasse 1", city="Zug", country_code="CH", region_code="CH-ZG", zip_code="6300"
)

MANIFEST = conformance.TestElasticPathConformance.manifest
SOMEONE_ELSES = (fx.ORDER_EUR, fx.ORDER_GUEST)
SERVER_ERROR = orjson.dumps(error_body(500, "Internal Error"))
WRITE_MARKER = b"PUT /v2/orders/"
"""What the head of a write to the platform holds."""


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module, and `test_platform_writes`
    for Elastic Path."""
    return ElasticPathEmulator(fx.default_store())


def make_adapter(url: str) -> ElasticPathAdapter:
    settings = elasticpath_settings(url)
    return ElasticPathAdapter(settings, http=FAST)


@pytest.fixture
def emulator(emulator: ElasticPathEmulator) -> ElasticPathEmulator:
    """The emulator, reset, with a fresh store too: writes change it."""
    emulator.store = fx.default_store()
    return emulator


@pytest.fixture
async def adapter(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> AsyncIterator[ElasticPathAdapter]:
    adapter = make_adapter(served[1])
    await adapter.open()
    yield adapter
    await adapter.close()


def writes(emulator: ElasticPathEmulator) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.sent) for r in emulator.writes]


def order_path(order_id: str) -> str:
    return f"/v2/orders/{order_id}"


# W1 cancel order


async def test_cancel_is_one_put_and_the_next_read_shows_it(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    result = await adapter.cancel_order(fx.MARIA, fx.ORDER_PROCESSING, CancelOrder())

    assert result == WriteResult("applied")
    assert writes(emulator) == [
        (
            "PUT",
            order_path(fx.ORDER_PROCESSING),
            {"data": {"type": "order", "status": "cancelled"}},
        )
    ]
    assert cancelled(await adapter.get_order(fx.MARIA, fx.ORDER_PROCESSING))


@pytest.mark.parametrize(
    ("body", "ignored"),
    [
        (
            CancelOrder(
                cancel_reason="customer changed their mind",
                restock=True,
                notify_customer=True,
                staff_note="called in",
                custom_fields={"ticket": "T-1"},
            ),
            ("cancel_reason", "notify_customer", "staff_note", "custom_fields"),
        ),
        (CancelOrder(restock=False), ("restock",)),
        (CancelOrder(refund_method=RefundMethod(original_payment_method=False)), ()),
    ],
    ids=["every_option", "no_restock", "no_refund"],
)
async def test_options_ep_has_no_place_for_are_named_as_ignored(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    body: CancelOrder,
    ignored: tuple[str, ...],
) -> None:
    result = await adapter.cancel_order(fx.MARIA, fx.ORDER_PROCESSING, body)

    assert result == WriteResult("applied", ignored=ignored)
    assert [sent for _, _, sent in writes(emulator)] == [
        {"data": {"type": "order", "status": "cancelled"}}
    ]


async def test_a_fulfilled_order_is_not_cancelled(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await adapter.cancel_order(fx.MARIA, fx.ORDER_FULFILLED, CancelOrder())

    assert refused.value.message == "the order has shipped"
    assert refused.value.field is None
    assert writes(emulator) == []


async def test_a_cancelled_order_is_already_done_without_a_write(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    result = await adapter.cancel_order(fx.MARIA, fx.ORDER_CANCELLED, CancelOrder())

    assert result == WriteResult("already_done")
    assert writes(emulator) == []


async def test_a_cancelled_order_marked_fulfilled_is_already_done_as_the_reads_show_it(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    order = emulator.store.order(fx.ORDER_CANCELLED)
    assert order is not None
    order["shipping"] = "fulfilled"

    result = await adapter.cancel_order(fx.MARIA, fx.ORDER_CANCELLED, CancelOrder())

    assert result == WriteResult("already_done")
    assert writes(emulator) == []
    read = await adapter.get_order(fx.MARIA, fx.ORDER_CANCELLED)
    assert read.cancellation_status == CancellationStatus.CANCELED


@pytest.mark.parametrize(
    "refund",
    [{"original_payment_method": True}, {"store_credit": {"expires_at": None}}],
    ids=["original_payment_method", "store_credit"],
)
async def test_a_refund_ep_cannot_make_is_refused_naming_the_field(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, refund: dict[str, Any]
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await adapter.cancel_order(
            fx.MARIA,
            fx.ORDER_PROCESSING,
            CancelOrder(refund_method=RefundMethod.model_validate(refund)),
        )

    assert refused.value.field == "refund_method"
    assert writes(emulator) == []
    assert not cancelled(await adapter.get_order(fx.MARIA, fx.ORDER_PROCESSING))


# W2 change the shipping address


async def test_address_change_is_one_put_and_the_next_read_shows_it(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    result = await adapter.change_shipping_address(fx.MARIA, fx.ORDER_PROCESSING, NEW_ADDRESS)

    assert result == WriteResult("applied")
    expected = {
        "first_name": "Maria",
        "last_name": "",
        "phone_number": "",
        "line_1": "500 Court St NE",
        "line_2": "",
        "city": "Salem",
        "county": "",
        "region": "OR",
        "postcode": "97301",
        "country": "US",
        "instructions": "",
    }
    assert writes(emulator) == [
        (
            "PUT",
            order_path(fx.ORDER_PROCESSING),
            {"data": {"type": "order", "shipping_address": expected}},
        )
    ]
    shown = (await adapter.get_order(fx.MARIA, fx.ORDER_PROCESSING)).shipping_address
    assert shown is not None
    assert shown.model_dump(exclude_none=True) == {
        "first_name": "Maria",
        "address": "500 Court St NE",
        "city": "Salem",
        "zip_code": "97301",
        "region_code": "US-OR",
        "country_code": "US",
    }


async def test_the_recipient_is_kept_when_only_the_place_changes(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    place = NewShippingAddress(address="1 Main St", city="Bend", country_code="US")

    await adapter.change_shipping_address(fx.MARIA, fx.ORDER_COMPLETE, place)

    shown = (await adapter.get_order(fx.MARIA, fx.ORDER_COMPLETE)).shipping_address
    assert shown is not None
    assert (shown.first_name, shown.last_name, shown.phone_number) == (
        "Maria",
        "Santos",
        "+1 415 555 0142",
    )
    assert (shown.address, shown.zip_code, shown.region_code) == ("1 Main St", None, None)
    assert len(writes(emulator)) == 1


async def test_the_same_address_is_already_done_without_a_write(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    result = await adapter.change_shipping_address(fx.MARIA, fx.ORDER_PROCESSING, SAME_ADDRESS)

    assert result == WriteResult("already_done")
    assert writes(emulator) == []


@pytest.mark.parametrize("address", [TEXT_WITH_SPACES, ZUG], ids=["spaces_and_empty_zip", "zug"])
async def test_an_address_sent_again_is_already_done_in_whatever_form_it_was_sent(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, address: NewShippingAddress
) -> None:
    first = await adapter.change_shipping_address(CUSTOMER, ORDER, address)
    again = await adapter.change_shipping_address(CUSTOMER, ORDER, address)

    assert (first, again) == (WriteResult("applied"), WriteResult("already_done"))
    assert [(method, path) for method, path, _ in writes(emulator)] == [("PUT", order_path(ORDER))]


async def test_a_put_applied_then_timed_out_is_confirmed_for_text_sent_with_spaces(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.write_faults.add(WriteFault(hang=2.8, applies="first"))

    async with within(2.0):
        result = await adapter.change_shipping_address(CUSTOMER, ORDER, TEXT_WITH_SPACES)

    assert result == WriteResult("applied")
    await until(lambda: len(emulator.writes) == 1)
    assert len(writes(emulator)) == 1


@pytest.mark.parametrize(
    ("customer_id", "order_id", "reason"),
    [
        (fx.MARIA, fx.ORDER_FULFILLED, "the order has shipped"),
        (fx.MARIA, fx.ORDER_CANCELLED, "the order is cancelled"),
        (
            fx.SOFIA,
            fx.ORDER_TWO_GROUPS,
            "the order ships in several shipping groups, each to its own address",
        ),
    ],
    ids=["fulfilled", "cancelled", "two_shipping_groups"],
)
async def test_address_change_the_order_does_not_allow_is_refused(
    adapter: ElasticPathAdapter,
    emulator: ElasticPathEmulator,
    customer_id: str,
    order_id: str,
    reason: str,
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await adapter.change_shipping_address(customer_id, order_id, NEW_ADDRESS)

    assert refused.value.message == reason
    assert writes(emulator) == []


async def test_a_token_ep_revoked_before_the_write_is_renewed_once(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    await adapter.cancel_order(fx.MARIA, fx.ORDER_CANCELLED, CancelOrder())  # a token, no write
    emulator.expire_tokens_after(1)  # the ownership read; the PUT is refused with 401

    result = await adapter.cancel_order(fx.MARIA, fx.ORDER_PROCESSING, CancelOrder())

    assert result.outcome == "applied"
    assert [(r.method, r.status) for r in emulator.writes] == [("PUT", 401), ("PUT", 200)]
    assert emulator.grants == 2


async def test_ep_refusing_the_write_is_an_upstream_error(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    emulator.write_faults.add(
        WriteFault(
            applies="never",
            status=422,
            body=orjson.dumps(error_body(422, "Failed Validation", "The order has been fulfilled")),
        )
    )

    with pytest.raises(UpstreamError):
        await adapter.cancel_order(fx.MARIA, fx.ORDER_PROCESSING, CancelOrder())

    assert len(writes(emulator)) == 1


@pytest.mark.parametrize("write", WRITES)
async def test_an_order_fulfilled_since_it_was_read_is_refused_as_shipped(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator, write: str
) -> None:
    order = emulator.store.order(ORDER)
    assert order is not None
    emulator.write_faults.add(WriteFault(meanwhile=lambda: order.update(shipping="fulfilled")))

    with pytest.raises(NotAllowed, match="the order has shipped"):
        await send(adapter, write, CUSTOMER, ORDER, NEW_ADDRESS)

    assert [(r.method, r.status) for r in emulator.writes] == [("PUT", 422)]
    assert not shows(await adapter.get_order(CUSTOMER, ORDER), write, NEW_ADDRESS)


async def test_the_emulator_refuses_to_cancel_a_fulfilled_order_as_ep_does(
    emulator: ElasticPathEmulator, adapter: ElasticPathAdapter
) -> None:
    """The platform's own rule, met directly: the adapter never sends this."""
    await adapter.authenticate()
    order = emulator.store.order(fx.ORDER_FULFILLED)
    assert order is not None

    response = await adapter.request(
        "PUT",
        order_path(fx.ORDER_FULFILLED),
        endpoint="/v2/orders/{id}",
        json={"data": {"type": "order", "status": "cancelled"}},
        retry=False,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["detail"] == "The order has been fulfilled"
    assert order["status"] == "complete"
