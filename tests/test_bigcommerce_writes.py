"""BigCommerce writes (SPEC §7 W1, W2) against the emulator over real HTTP on 127.0.0.1.

BigCommerce itself accepts any status on any order, so every refusal here is the
adapter's. Each test proves from the emulator's request log which writes reached the
platform: one when the change is made, none when it is refused or already in place. What
every platform's writes do alike (other customers' orders, timeouts, errors, cancelled
requests) is in `test_platform_writes`, with the names this module gives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import WriteResult
from adapters.bigcommerce import BigCommerceAdapter
from adapters.deadline import within
from adapters.errors import NotAllowed, UpstreamUnavailable
from bridge.idempotency import unsent
from mappings.writes import CancelOrder, NewShippingAddress, RefundMethod
from tests import test_conformance_bigcommerce as conformance
from tests.conftest import FAST
from tests.emulators import bigcommerce_fixtures as fx
from tests.emulators.bigcommerce import BigCommerceEmulator, v2_error
from tests.emulators.write_faults import WriteFault, until
from tests.platform_settings import bigcommerce_settings
from tests.write_cases import cancelled

pytestmark = pytest.mark.anyio

CUSTOMER, ORDER = fx.ANA, fx.ORDER_AWAITING_FULFILLMENT
"""Ana's order that nothing has happened to yet: one destination (her office)."""
DESTINATION = str(int(ORDER) + 100_000)
NEW_ADDRESS = NewShippingAddress(
    address="1100 Congress Ave",
    city="Austin",
    country_code="US",
    region_code="US-TX",
    zip_code="78701",
    phone_number="512-555-0199",
)
SAME_ADDRESS = NewShippingAddress(  # fx.ANA_HOME, where ORDER_PENDING ships
    address="55 Pine Ave", city="Austin", country_code="US", region_code="US-TX", zip_code="78701"
)
ZUG = NewShippingAddress(  # BigCommerce keeps the state "Zug", a name as short as a code
    address="Bahnhofstrasse 1", city="Zug", country_code="CH", region_code="CH-ZG", zip_code="6300"
)
REGION_OF_A_SHORT_NAME = NewShippingAddress(  # "Goa"
    address="Rua de Ourem 5", city="Panaji", country_code="IN", region_code="IN-GA"
)
TEXT_WITH_SPACES = NewShippingAddress(
    address=" 1100 Congress Ave",
    city="Austin ",
    country_code="US",
    region_code="US-TX",
    zip_code="",
)

MANIFEST = conformance.TestBigCommerceConformance.manifest
SOMEONE_ELSES = (fx.ORDER_EUR, fx.ORDER_GUEST)
SERVER_ERROR = v2_error(500, "Internal server error.")
WRITE_MARKER = b"PUT /stores/"
"""What the head of a write to the platform holds."""


def make_emulator() -> BigCommerceEmulator:
    """What `served` (tests/conftest.py) serves for this module, and `test_platform_writes`
    for BigCommerce."""
    return BigCommerceEmulator(fx.default_store())


def make_adapter(url: str) -> BigCommerceAdapter:
    settings = bigcommerce_settings(url)
    return BigCommerceAdapter(settings, http=FAST)


@pytest.fixture
def emulator(emulator: BigCommerceEmulator) -> BigCommerceEmulator:
    """The emulator, reset, with a fresh store too: writes change it."""
    emulator.store = fx.default_store()
    return emulator


@pytest.fixture
async def adapter(
    served: tuple[BigCommerceEmulator, str], emulator: BigCommerceEmulator
) -> AsyncIterator[BigCommerceAdapter]:
    adapter = make_adapter(served[1])
    await adapter.open()
    yield adapter
    await adapter.close()


def writes(emulator: BigCommerceEmulator) -> list[tuple[str, str, Any]]:
    return [(r.method, r.resource, r.sent) for r in emulator.writes]


def store_order(emulator: BigCommerceEmulator, order_id: str) -> dict[str, Any]:
    found = emulator.store.order(order_id)
    assert found is not None
    return found


# W1 cancel order


async def test_cancel_is_one_put_and_the_next_read_shows_it(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    result = await adapter.cancel_order(fx.ANA, ORDER, CancelOrder())

    assert result == WriteResult("applied")
    assert writes(emulator) == [("PUT", f"/v2/orders/{ORDER}", {"status_id": 5})]
    assert cancelled(await adapter.get_order(fx.ANA, ORDER))


async def test_reason_and_note_are_added_below_the_staff_notes(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    store_order(emulator, ORDER)["staff_notes"] = "Gift: no invoice in the parcel"
    body = CancelOrder(
        cancel_reason="ordered twice",
        staff_note="customer called",
        restock=True,
        notify_customer=False,
        custom_fields={"ticket": "T-9"},
    )

    result = await adapter.cancel_order(fx.ANA, ORDER, body)

    assert result == WriteResult("applied", ignored=("restock", "notify_customer", "custom_fields"))
    notes = "Gift: no invoice in the parcel\nCancellation reason: ordered twice\ncustomer called"
    assert writes(emulator) == [
        ("PUT", f"/v2/orders/{ORDER}", {"status_id": 5, "staff_notes": notes})
    ]
    assert store_order(emulator, ORDER)["staff_notes"] == notes


@pytest.mark.parametrize(
    ("order_id", "reason"),
    [
        (fx.ORDER_SHIPPED, "the order has shipped"),
        (fx.ORDER_PARTIAL, "part of the order has shipped"),
        (fx.ORDER_COMPLETED, "the order is completed"),
        (fx.ORDER_REFUNDED, "the order has been refunded"),
        (fx.ORDER_DECLINED, "the order's payment was declined"),
        (fx.ORDER_DIGITAL, "the order is completed"),
    ],
    ids=["shipped", "partially_shipped", "completed", "refunded", "declined", "digital"],
)
async def test_an_order_past_shipping_is_not_cancelled(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, order_id: str, reason: str
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await adapter.cancel_order(fx.ANA, order_id, CancelOrder())

    assert refused.value.message == reason
    assert refused.value.field is None
    assert writes(emulator) == []


async def test_an_order_with_a_shipped_line_is_not_cancelled_whatever_its_status(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    store_order(emulator, ORDER)["items_shipped"] = 1  # a merchant's status left behind

    with pytest.raises(NotAllowed, match="part of the order has shipped"):
        await adapter.cancel_order(fx.ANA, ORDER, CancelOrder())

    assert writes(emulator) == []


async def test_a_cancelled_order_is_already_done_without_a_write(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    result = await adapter.cancel_order(fx.ANA, fx.ORDER_CANCELLED, CancelOrder())

    assert result == WriteResult("already_done")
    assert writes(emulator) == []


@pytest.mark.parametrize(
    "refund",
    [{"original_payment_method": True}, {"store_credit": {"expires_at": "2027-01-01"}}],
    ids=["original_payment_method", "store_credit"],
)
async def test_a_refund_bigcommerce_does_not_make_is_refused_naming_the_field(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, refund: dict[str, Any]
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await adapter.cancel_order(
            fx.ANA, ORDER, CancelOrder(refund_method=RefundMethod.model_validate(refund))
        )

    assert refused.value.field == "refund_method"
    assert writes(emulator) == []


# W2 change the shipping address


async def test_address_change_is_one_put_and_the_next_read_shows_it(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    result = await adapter.change_shipping_address(fx.ANA, ORDER, NEW_ADDRESS)

    assert result == WriteResult("applied")
    sent = {
        "first_name": "Ana",
        "last_name": "Ruiz",
        "phone": "512-555-0199",
        "street_1": "1100 Congress Ave",
        "street_2": "",
        "city": "Austin",
        "state": "Texas",
        "zip": "78701",
        "country": "United States",
        "country_iso2": "US",
    }
    assert writes(emulator) == [
        ("PUT", f"/v2/orders/{ORDER}/shipping_addresses/{DESTINATION}", sent)
    ]
    shown = (await adapter.get_order(fx.ANA, ORDER)).shipping_address
    assert shown is not None
    assert shown.model_dump(exclude_none=True, exclude={"id"}) == {
        "first_name": "Ana",
        "last_name": "Ruiz",
        "phone_number": "512-555-0199",
        "address": "1100 Congress Ave",
        "city": "Austin",
        "zip_code": "78701",
        "region_code": "US-TX",
        "country_code": "US",
    }


async def test_the_same_address_is_already_done_without_a_write(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    result = await adapter.change_shipping_address(fx.ANA, fx.ORDER_PENDING, SAME_ADDRESS)

    assert result == WriteResult("already_done")
    assert writes(emulator) == []


@pytest.mark.parametrize(
    "address", [ZUG, REGION_OF_A_SHORT_NAME, TEXT_WITH_SPACES], ids=["zug", "goa", "spaces"]
)
async def test_an_address_sent_again_is_already_done_in_whatever_form_bigcommerce_keeps_it(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator, address: NewShippingAddress
) -> None:
    first = await adapter.change_shipping_address(fx.ANA, ORDER, address)
    again = await adapter.change_shipping_address(fx.ANA, ORDER, address)

    assert (first, again) == (WriteResult("applied"), WriteResult("already_done"))
    assert [(method, resource) for method, resource, _ in writes(emulator)] == [
        ("PUT", f"/v2/orders/{ORDER}/shipping_addresses/{DESTINATION}")
    ]


async def test_a_put_applied_then_timed_out_is_confirmed_for_a_region_kept_by_name(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.write_faults.add(WriteFault(hang=2.8, applies="first"))

    async with within(2.0):
        result = await adapter.change_shipping_address(fx.ANA, ORDER, ZUG)

    assert result == WriteResult("applied")
    await until(lambda: len(emulator.writes) == 1)
    assert len(writes(emulator)) == 1


@pytest.mark.parametrize(
    ("customer_id", "order_id", "reason"),
    [
        (fx.ANA, fx.ORDER_SHIPPED, "the order has shipped"),
        (fx.ANA, fx.ORDER_CANCELLED, "the order is cancelled"),
        (fx.ANA, fx.ORDER_PICKUP, "the order has no shipping address"),
        (fx.MEI, fx.ORDER_TWO_DESTINATIONS, "the order ships to more than one address"),
    ],
    ids=["shipped", "cancelled", "pickup", "two_addresses"],
)
async def test_address_change_the_order_does_not_allow_is_refused(
    adapter: BigCommerceAdapter,
    emulator: BigCommerceEmulator,
    customer_id: str,
    order_id: str,
    reason: str,
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await adapter.change_shipping_address(customer_id, order_id, NEW_ADDRESS)

    assert refused.value.message == reason
    assert writes(emulator) == []


async def test_a_token_without_the_modify_scope_is_reported_as_the_operators_to_fix(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    emulator.write_faults.add(
        WriteFault(
            applies="never",
            status=403,
            body=v2_error(403, "You don't have a required scope to access the endpoint"),
        )
    )

    with pytest.raises(UpstreamUnavailable) as caught:
        await adapter.cancel_order(fx.ANA, ORDER, CancelOrder())

    assert caught.value.credentials_rejected
    assert "Orders: modify" in caught.value.message
    assert len(writes(emulator)) == 1


async def test_bigcommerce_itself_takes_any_status_so_the_guard_is_the_adapters(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    """The platform's own rule, met directly: the adapter never sends this."""
    response = await adapter._http.send(
        "PUT", f"/v2/orders/{fx.ORDER_SHIPPED}", json={"status_id": 5}, retry=False
    )

    assert response.status_code == 200
    assert store_order(emulator, fx.ORDER_SHIPPED)["status"] == "Cancelled"


async def test_the_emulator_refuses_read_only_fields_as_bigcommerce_does(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    response = await adapter._http.send(
        "PUT",
        f"/v2/orders/{ORDER}/shipping_addresses/{DESTINATION}",
        json={"items_shipped": 0},
        retry=False,
    )

    assert response.status_code == 400


async def test_a_write_the_used_up_quota_keeps_back_is_marked_as_never_sent(
    served: tuple[BigCommerceEmulator, str], emulator: BigCommerceEmulator
) -> None:
    """The quota is waited for before the PUT: when it runs past the deadline, the PUT was
    not sent, so its Idempotency-Key may be used again (`idempotency.unsent`)."""
    await _cancel_with_a_new_adapter(served[1])  # counts the calls a cancel makes
    reads_before_the_put = len(emulator.requests) - 1
    emulator.reset()
    emulator.store = fx.default_store()
    emulator.limit_rate(quota=reads_before_the_put, window_ms=30_000)
    with pytest.raises(UpstreamUnavailable) as caught:
        await _cancel_with_a_new_adapter(served[1])
    assert "quota" in caught.value.message
    assert not caught.value.may_have_arrived
    assert unsent(caught.value)
    assert len(emulator.requests) == reads_before_the_put
    assert writes(emulator) == []


async def _cancel_with_a_new_adapter(url: str) -> None:
    adapter = make_adapter(url)  # nothing kept from an earlier read
    await adapter.open()
    try:
        async with within(8.0):
            await adapter.cancel_order(CUSTOMER, ORDER, CancelOrder())
    finally:
        await adapter.close()
