"""BigCommerce payloads → ERC models: statuses, money, dates, addresses, items, deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mappings import bigcommerce as bc
from mappings.errors import MappingError
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus, GenericStatus
from tests.emulators import bigcommerce_fixtures as fx

STORE = fx.default_store()


def raw_order(order_id: str, **changes: Any) -> dict[str, Any]:
    found = STORE.order(order_id)
    assert found is not None
    return {**found, **changes}


def parsed(order_id: str, **changes: Any) -> bc.BCOrder:
    return bc.parse(bc.BCOrder, raw_order(order_id, **changes))


def full_order(order_id: str) -> Any:
    return bc.order(
        parsed(order_id),
        products=bc.parse_list(bc.BCProduct, STORE.products[order_id]),
        shipping_addresses=bc.parse_list(bc.BCAddress, STORE.shipping_addresses[order_id]),
        shipments=bc.parse_list(bc.BCShipment, STORE.shipments[order_id]),
    )


def amounts(order: Any) -> tuple[Decimal, ...]:
    summary = order.price_summary
    return tuple(
        money.value
        for money in (
            summary.original_total_amount,
            summary.discounts_amount,
            summary.shipping_amount,
            summary.taxes_amount,
            summary.final_total_amount,
        )
    )


# Status


@pytest.mark.parametrize(
    ("status_id", "shipped", "detailed", "generic", "cancelled"),
    [
        (0, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, False),
        (1, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, False),
        (7, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, False),
        (11, False, DetailedStatus.CONFIRMED, GenericStatus.CONFIRMED, False),
        (9, False, DetailedStatus.CONFIRMED, GenericStatus.CONFIRMED, False),
        (12, False, DetailedStatus.CONFIRMED, GenericStatus.CONFIRMED, False),
        (8, False, DetailedStatus.READY_FOR_PICKUP, GenericStatus.CONFIRMED, False),
        (2, True, DetailedStatus.IN_TRANSIT, GenericStatus.ON_ITS_WAY, False),
        (3, True, DetailedStatus.IN_TRANSIT, GenericStatus.ON_ITS_WAY, False),
        (10, True, DetailedStatus.DELIVERED, GenericStatus.DELIVERED, False),
        (5, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, True),
        (6, False, DetailedStatus.FAILURE, GenericStatus.UNKNOWN, False),
        (4, True, DetailedStatus.IN_TRANSIT, GenericStatus.ON_ITS_WAY, False),
        (4, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, False),
        (13, True, DetailedStatus.IN_TRANSIT, GenericStatus.ON_ITS_WAY, False),
        (14, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, False),
        (99, False, DetailedStatus.UNKNOWN, GenericStatus.UNKNOWN, False),
    ],
)
def test_status_follows_the_status_id(
    status_id: int, shipped: bool, detailed: DetailedStatus, generic: GenericStatus, cancelled: bool
) -> None:
    changes: dict[str, Any] = {"status_id": status_id, "status": "Relabelled by the merchant"}
    if not shipped:
        changes.update(items_shipped=0, date_shipped="")
    order = bc.order(parsed(fx.ORDER_SHIPPED, **changes))
    assert order.status.detailed is detailed
    assert order.status.generic is generic
    assert order.cancellation_status is (CancellationStatus.CANCELED if cancelled else None)


def test_shipped_orders_say_when_they_shipped() -> None:
    order = bc.order(parsed(fx.ORDER_SHIPPED))
    assert order.status.at == datetime(2025, 5, 13, 9, 19, 58, tzinfo=UTC)
    completed = bc.order(parsed(fx.ORDER_COMPLETED))
    assert completed.status.detailed is DetailedStatus.DELIVERED
    assert completed.status.at is None
    assert [(e.detailed, e.at) for e in completed.status_history] == [
        (DetailedStatus.IN_TRANSIT, datetime(2025, 6, 11, 15, 0, tzinfo=UTC))
    ]


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [
        (fx.ORDER_SHIPPED, DeliveryType.SHIPPING),
        (fx.ORDER_AWAITING_FULFILLMENT, DeliveryType.SHIPPING),
        (fx.ORDER_PICKUP, DeliveryType.LOCAL_PICKUP),
        (fx.ORDER_DIGITAL, DeliveryType.UNKNOWN),
    ],
)
def test_delivery_type(order_id: str, expected: DeliveryType) -> None:
    assert bc.order(parsed(order_id)).delivery_type is expected


# Money


def test_price_summary_of_the_reference_order() -> None:
    # platforms.md §5.5: 80.00 + 9.95 shipping + 6.40 tax = 96.35
    order = bc.order(parsed(fx.ORDER_SHIPPED))
    assert amounts(order) == (
        Decimal("80"),
        Decimal("0"),
        Decimal("9.95"),
        Decimal("6.4"),
        Decimal("96.35"),
    )
    assert order.price_summary is not None
    assert order.price_summary.final_total_amount.currency == "USD"


def test_discounts_and_coupons_are_what_the_total_takes_off() -> None:
    order = bc.order(parsed(fx.ORDER_AWAITING_FULFILLMENT))
    original, discounts, shipping, taxes, final = amounts(order)
    assert (original, discounts, shipping) == (Decimal("138"), Decimal("15"), Decimal("0"))
    assert final == original - discounts + shipping + taxes


def test_discounts_hold_whether_or_not_the_coupon_is_inside_discount_amount() -> None:
    # A store whose discount_amount already counts the coupon reports the same totals.
    order = bc.order(parsed(fx.ORDER_AWAITING_FULFILLMENT, discount_amount="15.0000"))
    assert amounts(order)[1] == Decimal("15")


def test_handling_and_gift_wrapping_count_as_shipping() -> None:
    original, discounts, shipping, taxes, final = amounts(bc.order(parsed(fx.ORDER_COMPLETED)))
    assert shipping == Decimal("13")  # 7.50 + 2.00 + 3.50
    assert discounts == 0
    assert final == original - discounts + shipping + taxes


def test_tax_inclusive_prices_do_not_add_the_tax_again() -> None:
    order = bc.order(parsed(fx.ORDER_EUR))
    original, discounts, shipping, taxes, final = amounts(order)
    assert order.price_summary is not None
    assert order.price_summary.final_total_amount.currency == "EUR"
    assert (original, discounts, shipping) == (Decimal("178.7"), Decimal("10"), Decimal("4.9"))
    assert taxes > 0
    assert final == original - discounts + shipping


def test_a_charge_beyond_the_sum_leaves_no_negative_discount() -> None:
    order = bc.order(parsed(fx.ORDER_SHIPPED, total_inc_tax="100.3500"))
    original, discounts, shipping, taxes, final = amounts(order)
    assert discounts == 0
    assert final == Decimal("100.35")
    assert final == original - discounts + shipping + taxes


def test_four_decimal_strings_become_exact_amounts() -> None:
    order = bc.order(parsed(fx.ORDER_PENDING))
    assert amounts(order)[-1] == Decimal("0.3")
    assert str(amounts(order)[-1].normalize()) == "0.3"


def test_zero_decimal_currency() -> None:
    original, _, shipping, taxes, final = amounts(bc.order(parsed(fx.ORDER_JPY)))
    assert (original, shipping, taxes, final) == (
        Decimal("4800"),
        Decimal("800"),
        Decimal("480"),
        Decimal("6080"),
    )


def test_the_transactional_currency_is_used() -> None:
    order = bc.order(parsed(fx.ORDER_SHIPPED, currency_code="EUR", default_currency_code="USD"))
    assert order.price_summary is not None
    assert order.price_summary.final_total_amount.currency == "USD"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total_inc_tax": "lots"}, "total_inc_tax"),
        ({"total_inc_tax": None}, "total_inc_tax"),
        ({"subtotal_ex_tax": True}, "subtotal_ex_tax"),
        ({"date_created": "yesterday"}, "date_created"),
        ({"status_id": "shipped"}, "status_id"),
        ({"billing_address": "55 Pine Ave"}, "billing_address"),
    ],
)
def test_unreadable_order_fields_are_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(MappingError) as caught:
        bc.parse(bc.BCOrder, raw_order(fx.ORDER_SHIPPED, **changes))
    assert caught.value.path == field


@pytest.mark.parametrize("currency", ["", "XXX"])
def test_an_unknown_currency_is_named(currency: str) -> None:
    with pytest.raises(MappingError) as caught:
        bc.order(parsed(fx.ORDER_SHIPPED, currency_code=currency, default_currency_code=currency))
    assert caught.value.path == "default_currency_code"


def test_list_errors_name_the_element() -> None:
    orders = [raw_order(fx.ORDER_SHIPPED), raw_order(fx.ORDER_CANCELLED, total_inc_tax="?")]
    with pytest.raises(MappingError) as caught:
        bc.parse_list(bc.BCOrder, orders)
    assert caught.value.path == "1.total_inc_tax"


# Dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 13 May 2025 09:19:58 +0000", datetime(2025, 5, 13, 9, 19, 58, tzinfo=UTC)),
        ("Tue, 13 May 2025 11:19:58 +0200", datetime(2025, 5, 13, 9, 19, 58, tzinfo=UTC)),
        ("Tue, 13 May 2025 09:19:58 -0000", datetime(2025, 5, 13, 9, 19, 58, tzinfo=UTC)),
    ],
)
def test_rfc_2822_dates_become_utc(text: str, expected: datetime) -> None:
    assert bc.parse(bc.BCOrder, raw_order(fx.ORDER_SHIPPED, date_created=text)).date_created == (
        expected
    )


def test_a_date_that_has_not_happened_is_empty() -> None:
    assert parsed(fx.ORDER_AWAITING_FULFILLMENT).date_shipped is None


# Addresses and customers


def test_addresses_get_iso_codes() -> None:
    order = bc.order(
        parsed(fx.ORDER_SHIPPED),
        shipping_addresses=bc.parse_list(bc.BCAddress, STORE.shipping_addresses[fx.ORDER_SHIPPED]),
    )
    assert order.shipping_address is not None
    assert order.shipping_address.model_dump(exclude_none=True) == {
        "id": "102174",
        "first_name": "Ana",
        "last_name": "Ruiz",
        "phone_number": "512-555-0133",
        "address": "55 Pine Ave",
        "zip_code": "78701",
        "city": "Austin",
        "region_code": "US-TX",
        "country_code": "US",
    }
    assert order.billing_address is not None
    assert order.billing_address.id is None


def test_empty_and_anonymized_addresses_are_no_address() -> None:
    assert bc.address(bc.parse(bc.BCAddress, fx.EMPTY_ADDRESS)) is None
    anonymized = {key: "*" for key in fx.EMPTY_ADDRESS}
    assert bc.address(bc.parse(bc.BCAddress, anonymized)) is None


def test_customer() -> None:
    customer = bc.customer(bc.parse(bc.BCCustomer, STORE.customers[fx.ANA]))
    assert (customer.id, customer.first_name, customer.last_name) == ("58", "Ana", "Ruiz")
    assert customer.customer_since == datetime(2021, 8, 19, 16, 2, 11, tzinfo=UTC)
    assert [a.address for a in customer.shipping_addresses or []] == [
        "55 Pine Ave",
        "300 Congress Ave, Floor 12",
    ]
    assert customer.custom_fields == {"email": "ana.ruiz@example.com"}


def test_customer_without_addresses_or_names() -> None:
    customer = bc.customer(
        bc.parse(bc.BCCustomer, {"id": 7, "first_name": "", "last_name": " ", "email": ""})
    )
    assert customer.model_dump(exclude_none=True) == {"id": "7"}


def test_anonymized_names_email_and_company_are_dropped() -> None:
    customer = bc.customer(
        bc.parse(
            bc.BCCustomer,
            {"id": 7, "first_name": "*****", "last_name": "R*", "email": "*", "company": "**"},
        )
    )
    assert customer.model_dump(exclude_none=True) == {"id": "7"}


# Items and deliveries


def test_items_are_product_lines_with_their_shipments() -> None:
    order = full_order(fx.ORDER_PARTIAL)
    tent, footprint, stakes = order.items
    assert (tent.name, tent.sku, tent.quantity, tent.price.value) == (
        "Ultralight Tent 2P",
        "TNT-UL2",
        1,
        Decimal("349"),
    )
    assert footprint.deliveries is None
    assert [(d.id, d.delivery_quantity) for d in stakes.deliveries] == [("331", 2), ("332", 2)]
    first = tent.deliveries[0]
    assert (first.carrier, first.service_level) == ("fedex", "FedEx Home Delivery")
    assert first.shipping_date == datetime(2025, 6, 28, 9, 0, tzinfo=UTC)
    assert first.latest_status_info is not None
    assert first.latest_status_info.type is DetailedStatus.IN_TRANSIT
    assert first.tracking_info is not None
    assert first.tracking_info.tracking_number == "794698547301"
    assert first.tracking_info.external_url == "https://track.example-carrier.test/794698547301"


def test_the_merchants_tracking_link_wins_over_the_generated_one() -> None:
    item = full_order(fx.ORDER_SHIPPED).items[0]
    assert item.deliveries[0].tracking_info.external_url.startswith("https://tools.usps.com/")


def test_deliveries_of_a_completed_order_are_delivered() -> None:
    item = full_order(fx.ORDER_COMPLETED).items[0]
    assert item.deliveries[0].latest_status_info.type is DetailedStatus.DELIVERED


def test_a_shipment_without_tracking_number_has_no_tracking() -> None:
    shipment = {**STORE.shipments[fx.ORDER_SHIPPED][0], "tracking_number": ""}
    delivery = bc.delivery(
        bc.parse(bc.BCShipment, shipment), quantity=1, status=DetailedStatus.IN_TRANSIT
    )
    assert delivery.tracking_info is None


def test_item_options_and_ids_go_to_custom_fields() -> None:
    sweater = full_order(fx.ORDER_AWAITING_FULFILLMENT).items[0]
    assert sweater.custom_fields == {
        "product_id": 70,
        "variant_id": 701,
        "type": "physical",
        "options": {"Size": "M", "Color": "Heather Grey"},
    }


def test_tax_inclusive_items_show_the_price_with_tax() -> None:
    backpack = full_order(fx.ORDER_EUR).items[0]
    assert backpack.price is not None
    assert (backpack.price.value, backpack.price.currency) == (Decimal("119"), "EUR")
    assert STORE.products[fx.ORDER_EUR][0]["price_ex_tax"] == "100.0000"


def test_order_custom_fields_keep_the_platforms_own_values() -> None:
    order = bc.order(parsed(fx.ORDER_IMPORTED))
    assert order.custom_fields == {
        "status_id": 9,
        "status": "Awaiting Shipment",
        "payment_method": "Credit Card",
        "payment_status": "captured",
        "order_source": "external",
        "external_id": "AMZ-114-5531",
    }
    assert order.order_number == order.id == "2150"


def test_refunds_show_in_payment_details() -> None:
    refunded = bc.order(parsed(fx.ORDER_REFUNDED)).payment_details
    shipped = bc.order(parsed(fx.ORDER_SHIPPED)).payment_details
    assert refunded is not None and shipped is not None
    assert refunded.is_refunded is True
    assert shipped.is_refunded is False


# Error bodies


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        ([{"status": 404, "message": "The requested resource was not found."}], 404, "The"),
        ({"status": 422, "title": "The filter id:in is invalid"}, 422, "The filter"),
        ("<html>oops</html>", None, None),
        ([], None, None),
        ([{"status": "404", "message": 7}], None, None),
    ],
)
def test_error_bodies_are_read_for_the_log(
    raw: Any, status: int | None, message: str | None
) -> None:
    said = bc.problem(raw)
    assert said.status == status
    assert (said.message or "").startswith(message or "")
    if message is None:
        assert said.message is None
