"""CPAPI payloads → ERC models, without any I/O (SPEC §5, Adobe)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mappings import adobe_cpapi as mapping
from mappings.adobe_catalog import Offer, OfferCatalog
from mappings.errors import MappingError
from mappings.models import Address
from mappings.money import Money
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus, GenericStatus
from mappings.wire import render
from tests.emulators.adobe_fixtures import ACROBAT, STOCK, UNLISTED, customer, line, order

CATALOG = OfferCatalog(
    {
        ACROBAT: Offer(
            ACROBAT,
            name="Acrobat Pro for teams",
            price=Money(value=Decimal("239.88"), currency="USD"),
            image_url="https://cdn.example.com/acrobat.png",
        ),
        STOCK: Offer(STOCK, name="Stock for teams"),
    }
)
PLACED = datetime(2025, 6, 3, 9, 41, 27, tzinfo=UTC)


def cpapi_order(
    lines: list[dict[str, Any]], *, status: str = "1000", currency: str = "USD", **extra: Any
) -> mapping.CPAPIOrder:
    raw = order("5120008217", "1005831871", "NEW", status, PLACED, lines, currency=currency)
    return mapping.parse_order({**raw, **extra})


def mapped(lines: list[dict[str, Any]], **kwargs: Any) -> Any:
    return mapping.order(cpapi_order(lines, **kwargs), catalog=CATALOG)


# Status (SPEC §5 Adobe table, written out here rather than read from the module)

STATUS_TABLE: list[tuple[str, GenericStatus, DetailedStatus, CancellationStatus | None]] = [
    ("1008", GenericStatus.UNKNOWN, DetailedStatus.UNKNOWN, CancellationStatus.CANCELED),
    ("1000", GenericStatus.DELIVERED, DetailedStatus.DELIVERED, None),
    ("1002", GenericStatus.CONFIRMED, DetailedStatus.CONFIRMED, None),
    ("1004", GenericStatus.UNKNOWN, DetailedStatus.FAILURE, None),
    ("1020", GenericStatus.UNKNOWN, DetailedStatus.FAILURE, None),
    ("1022", GenericStatus.UNKNOWN, DetailedStatus.FAILURE, None),
    ("1024", GenericStatus.UNKNOWN, DetailedStatus.FAILURE, None),
    ("1026", GenericStatus.UNKNOWN, DetailedStatus.FAILURE, None),
    ("1030", GenericStatus.UNKNOWN, DetailedStatus.UNKNOWN, None),
]
"""A CPAPI status code for every row of the table (`1030` for "anything else"), with the
generic, detailed and cancellation status it maps to; the adapter tests read each row back
through the emulator too."""


@pytest.mark.parametrize(
    ("code", "generic", "detailed", "cancellation"),
    [
        *STATUS_TABLE,
        # another code the table does not name, no code, and a named code with spaces around it
        ("1009", GenericStatus.UNKNOWN, DetailedStatus.UNKNOWN, None),
        ("", GenericStatus.UNKNOWN, DetailedStatus.UNKNOWN, None),
        (" 1000 ", GenericStatus.DELIVERED, DetailedStatus.DELIVERED, None),
    ],
)
def test_every_status_row(
    code: str,
    generic: GenericStatus,
    detailed: DetailedStatus,
    cancellation: CancellationStatus | None,
) -> None:
    result = mapped([line(1, ACROBAT, 1, order_id="o")], status=code)

    assert result.status.generic is generic
    assert result.status.detailed is detailed
    assert result.cancellation_status is cancellation


def test_an_order_has_no_deliveries_and_an_unknown_delivery_type() -> None:
    result = mapped([line(1, ACROBAT, 2, order_id="o")])

    assert result.delivery_type is DeliveryType.UNKNOWN
    assert result.shipping_address is None
    assert all(entry.deliveries is None for entry in result.items or [])
    assert (result.id, result.order_number, result.customer_id) == (
        "5120008217",
        "5120008217",
        "1005831871",
    )
    assert result.purchase_datetime == PLACED


@pytest.mark.parametrize(
    ("order_type", "listable"),
    [
        ("NEW", True),
        ("RENEWAL", True),
        ("TRANSFER", True),
        ("SWITCH", True),
        ("RETURN", False),
        ("return", False),
        ("PREVIEW", False),
        ("PREVIEW_RENEWAL", False),
        ("preview_switch", False),
        ("PREVIEW_REVERT_SWITCH", False),
    ],
)
def test_returns_and_previews_are_not_listable(order_type: str, listable: bool) -> None:
    assert cpapi_order([], orderType=order_type).is_listable is listable


# Items and prices


def test_items_take_name_image_and_price_from_the_catalog_first() -> None:
    result = mapped([line(7, ACROBAT, 5, order_id="o", partner_price="219.90", remaining=4)])

    [item] = result.items or []
    assert item.id == "7"
    assert item.sku == ACROBAT
    assert item.name == "Acrobat Pro for teams"
    assert item.image_url == "https://cdn.example.com/acrobat.png"
    assert item.price == Money(value=Decimal("239.88"), currency="USD")
    assert item.quantity == 5
    assert item.custom_fields == {
        "subscription_id": line(7, ACROBAT, 5, order_id="o")["subscriptionId"],
        "cpapi_status": "1000",
        "remaining_quantity": 4,
    }


def test_an_offer_outside_the_catalog_uses_the_partner_price_and_its_id_as_name() -> None:
    result = mapped([line(1, UNLISTED, 3, order_id="o", partner_price="659.88")])

    [item] = result.items or []
    assert item.name == UNLISTED
    assert item.image_url is None
    assert item.price == Money(value=Decimal("659.88"), currency="USD")
    assert result.price_summary is not None
    assert render(result.price_summary) == (
        b'{"original_total_amount":{"value":1979.64,"currency":"USD"},'
        b'"discounts_amount":{"value":0,"currency":"USD"},'
        b'"shipping_amount":{"value":0,"currency":"USD"},'
        b'"taxes_amount":{"value":0,"currency":"USD"},'
        b'"final_total_amount":{"value":1979.64,"currency":"USD"}}'
    )


def test_a_catalog_price_in_another_currency_gives_way_to_the_partner_price() -> None:
    result = mapped(
        [line(1, ACROBAT, 2, order_id="o", currency="EUR", partner_price="221.76")],
        currency="EUR",
    )

    [item] = result.items or []
    assert item.name == "Acrobat Pro for teams"
    assert item.price == Money(value=Decimal("221.76"), currency="EUR")


def test_a_catalog_price_in_another_currency_and_no_partner_price_means_no_price() -> None:
    result = mapped([line(1, ACROBAT, 2, order_id="o", currency="EUR")], currency="EUR")

    [item] = result.items or []
    assert item.price is None
    assert result.price_summary is None


def test_no_catalog_price_and_no_partner_price_means_no_price_and_no_summary() -> None:
    result = mapped([line(1, ACROBAT, 3, order_id="o"), line(2, STOCK, 1, order_id="o")])

    acrobat, stock = result.items or []
    assert acrobat.price == Money(value=Decimal("239.88"), currency="USD")
    assert stock.name == "Stock for teams"
    assert stock.price is None
    assert result.price_summary is None
    assert b'"price"' not in render(stock)


def test_the_summary_adds_every_item_when_all_are_priced() -> None:
    result = mapped(
        [
            line(1, ACROBAT, 5, order_id="o"),
            line(2, UNLISTED, 2, order_id="o", partner_price="150.00"),
        ]
    )

    summary = result.price_summary
    assert summary is not None
    expected = Money(value=Decimal("1499.40"), currency="USD")
    assert summary.original_total_amount == expected
    assert summary.final_total_amount == expected
    assert summary.discounts_amount.value == summary.taxes_amount.value == 0
    assert summary.shipping_amount.value == 0


def test_items_priced_in_different_currencies_get_no_summary() -> None:
    result = mapped(
        [
            line(1, ACROBAT, 1, order_id="o"),
            line(2, UNLISTED, 1, order_id="o", currency="EUR", partner_price="10.00"),
        ]
    )

    assert [entry.price.currency for entry in result.items or [] if entry.price] == ["USD", "EUR"]
    assert result.price_summary is None


def test_an_order_without_line_items_has_no_summary() -> None:
    result = mapped([])

    assert result.items == []
    assert result.price_summary is None


def test_partner_prices_stay_exact_decimals() -> None:
    result = mapped([line(1, UNLISTED, 3, order_id="o", partner_price="0.10")])

    [item] = result.items or []
    assert item.price is not None and item.price.value == Decimal("0.1")
    assert result.price_summary is not None
    assert result.price_summary.final_total_amount.value == Decimal("0.3")


# custom_fields


def test_custom_fields_carry_type_reference_status_subscriptions_and_returns() -> None:
    lines = [line(1, ACROBAT, 1, order_id="o"), line(2, STOCK, 1, order_id="o")]
    lines[1]["subscriptionId"] = ""
    raw = cpapi_order(lines, externalReferenceId="PO-88413")

    result = mapping.order(raw, catalog=CATALOG, return_ids=["5120008390", "5120008391"])

    assert result.custom_fields == {
        "order_type": "NEW",
        "external_reference_id": "PO-88413",
        "cpapi_status": "1000",
        "subscription_ids": {"1": lines[0]["subscriptionId"]},
        "return_order_ids": ["5120008390", "5120008391"],
    }


def test_empty_platform_values_are_left_out_of_custom_fields() -> None:
    lines = [line(1, ACROBAT, 1, order_id="o")]
    lines[0]["subscriptionId"] = ""

    result = mapped(lines, externalReferenceId="", status="")

    assert result.custom_fields == {"order_type": "NEW"}


def test_returns_of_picks_the_return_orders_that_reference_the_order() -> None:
    def history_entry(order_id: str, order_type: str, reference: str) -> mapping.CPAPIOrder:
        raw = order(order_id, "c", order_type, "1000", PLACED, [], reference=reference)
        return mapping.parse_order(raw)

    candidates = [
        history_entry("r1", "RETURN", "5120008217"),
        history_entry("r2", "RETURN", "5120000000"),
        history_entry("n1", "NEW", "5120008217"),
        history_entry("r3", "RETURN", "5120008217"),
    ]

    assert mapping.returns_of("5120008217", candidates) == ["r1", "r3"]


# Customer (R1)


def company_address(**overrides: str) -> dict[str, str]:
    address = {
        "country": "US",
        "region": "OR",
        "city": "Portland",
        "addressLine1": "2200 NW Thurman St",
        "addressLine2": "Suite 400",
        "postalCode": "97210",
        "phoneNumber": "+1 503 555 0142",
    }
    return {**address, **overrides}


def test_a_customer_is_named_after_the_first_contact_and_ships_to_the_company() -> None:
    raw = customer(
        "1005831871",
        "Larkspur Design Studio LLC",
        company_address(),
        [{"firstName": "Maren", "lastName": "Okafor"}, {"firstName": "Teo", "lastName": "L"}],
        datetime(2021, 3, 15, 10, 20, tzinfo=UTC),
        external="LDS-0042",
    )

    result = mapping.customer(mapping.parse_customer(raw))

    assert (result.id, result.first_name, result.last_name) == ("1005831871", "Maren", "Okafor")
    assert result.customer_since == datetime(2021, 3, 15, 10, 20, tzinfo=UTC)
    assert result.shipping_addresses == [
        Address(
            first_name="Maren",
            last_name="Okafor",
            phone_number="+1 503 555 0142",
            address="2200 NW Thurman St, Suite 400",
            zip_code="97210",
            city="Portland",
            region_code="US-OR",
            country_code="US",
            default=True,
        )
    ]
    assert result.custom_fields == {
        "company_name": "Larkspur Design Studio LLC",
        "market_segment": "COM",
        "external_reference_id": "LDS-0042",
        "cpapi_status": "1000",
        "coterm_date": "2025-11-14",
    }


def test_a_customer_without_contacts_has_no_name_and_anonymized_values_are_dropped() -> None:
    raw = customer(
        "1005832000",
        "Stille Werkstatt GmbH",
        company_address(country="DE", region="DE-BY", addressLine2="", phoneNumber="***"),
        [],
        datetime(2024, 2, 29, tzinfo=UTC),
    )

    result = mapping.customer(mapping.parse_customer(raw))

    assert result.first_name is None and result.last_name is None
    [address] = result.shipping_addresses or []
    assert address.region_code == "DE-BY"
    assert address.address == "2200 NW Thurman St"
    assert address.phone_number is None
    assert address.first_name is None


def test_anonymized_names_are_dropped_from_the_customer_as_from_its_address() -> None:
    raw = customer(
        "1005832001",
        "*****",
        company_address(country="DE", region="DE-BY"),
        [{"firstName": "*****", "lastName": "*****"}],
        datetime(2024, 2, 29, tzinfo=UTC),
    )

    result = mapping.customer(mapping.parse_customer(raw))

    assert result.first_name is None and result.last_name is None
    assert "company_name" not in (result.custom_fields or {})
    [address] = result.shipping_addresses or []
    assert address.first_name is None and address.last_name is None


def test_a_customer_without_a_usable_address_has_no_shipping_addresses() -> None:
    raw = customer("c1", "Nowhere Ltd", {}, [{"firstName": "Ada"}], datetime(2024, 1, 1))
    raw["companyProfile"]["address"] = {"country": "", "city": "*****"}

    result = mapping.customer(mapping.parse_customer(raw))

    assert result.shipping_addresses is None
    assert result.first_name == "Ada"


# Malformed payloads name the failing field


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda raw: raw.pop("orderId"), "orderId"),
        (lambda raw: raw.pop("orderType"), "orderType"),
        (lambda raw: raw["lineItems"][0].update(quantity="many"), "lineItems.0.quantity"),
        (lambda raw: raw["lineItems"][0].pop("offerId"), "lineItems.0.offerId"),
        (lambda raw: raw.update(creationDate="yesterday"), "creationDate"),
        (lambda raw: raw.update(lineItems={"not": "a list"}), "lineItems"),
    ],
)
def test_a_malformed_order_names_the_field(change: Any, path: str) -> None:
    raw = order("5120008217", "c", "NEW", "1000", PLACED, [line(1, ACROBAT, 1, order_id="o")])
    change(raw)

    with pytest.raises(MappingError) as caught:
        mapping.parse_order(raw)

    assert caught.value.path == path


def test_a_malformed_history_entry_names_its_position() -> None:
    good = order("1", "c", "NEW", "1000", PLACED, [])
    bad = {**good, "orderId": None}

    with pytest.raises(MappingError) as caught:
        mapping.parse_history({"totalCount": 2, "items": [good, bad]})

    assert caught.value.path == "items.1.orderId"


def test_a_history_without_total_count_is_malformed() -> None:
    with pytest.raises(MappingError) as caught:
        mapping.parse_history({"items": []})

    assert caught.value.path == "totalCount"


@pytest.mark.parametrize(
    ("pricing", "currency", "path"),
    [
        ({"partnerPrice": "lots"}, "USD", "orders.o.lineItems.0.pricing.partnerPrice"),
        ({"partnerPrice": True}, "USD", "orders.o.lineItems.0.pricing.partnerPrice"),
        ({"partnerPrice": 10.0}, "XYZ", "orders.o.lineItems.0.currencyCode"),
    ],
)
def test_an_unusable_partner_price_names_the_field(
    pricing: dict[str, Any], currency: str, path: str
) -> None:
    raw_line = line(1, UNLISTED, 1, order_id="o", currency=currency)
    raw_line["pricing"] = pricing
    raw = cpapi_order([raw_line], currency=currency)

    with pytest.raises(MappingError) as caught:
        mapping.order(raw, catalog=CATALOG, path="orders.o")

    assert caught.value.path == path


def test_numeric_ids_are_read_as_text() -> None:
    raw = order("5120008217", "1005831871", "NEW", "1000", PLACED, [])

    parsed = mapping.parse_order({**raw, "orderId": 5120008217, "customerId": 1005831871})

    assert (parsed.order_id, parsed.customer_id) == ("5120008217", "1005831871")


@pytest.mark.parametrize(("number", "sent"), [(3, 3), ("3²", "3²"), ("٣", "٣")])
def test_a_return_sends_line_numbers_as_cpapi_numbers_only_when_they_are_ascii_digits(
    number: int | str, sent: int | str
) -> None:
    raw = order("5120009001", "1005832000", "NEW", "1000", datetime(2026, 11, 2, tzinfo=UTC), [])
    raw["lineItems"] = [{**line(1, STOCK, 2, order_id="5120009001"), "extLineItemNumber": number}]
    original = mapping.parse_order(raw)

    body = mapping.return_order(original, [(original.line_items[0], 1)])

    assert body["lineItems"][0]["extLineItemNumber"] == sent
