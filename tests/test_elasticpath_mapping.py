"""Elastic Path JSON → ERC models: statuses, money, addresses, items, deliveries (pure)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest

from mappings import elasticpath as ep
from mappings.errors import MappingError
from mappings.models import Order
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus, GenericStatus
from mappings.wire import render
from tests.emulators import elasticpath_fixtures as fx

STORE = fx.default_store()


def raw_order(order_id: str) -> dict[str, Any]:
    found = STORE.order(order_id)
    assert found is not None
    return copy.deepcopy(found)


def raw_items(order_id: str) -> list[dict[str, Any]]:
    return copy.deepcopy(STORE.items[order_id])


def mapped(order_id: str, *, groups: bool = True) -> Order:
    return ep.order(
        ep.parse(ep.EPOrder, raw_order(order_id)),
        items=[ep.parse(ep.EPItem, item) for item in raw_items(order_id)],
        shipping_groups=[
            ep.parse(ep.EPShippingGroup, group) for group in STORE.shipping_groups[order_id]
        ]
        if groups
        else (),
    )


def with_status(status: str | None, payment: str | None, shipping: str | None) -> Order:
    raw = raw_order(fx.ORDER_COMPLETE)
    raw.update(status=status, payment=payment, shipping=shipping)
    return ep.order(ep.parse(ep.EPOrder, raw), items=None)


def summary(order: Order) -> dict[str, Decimal]:
    assert order.price_summary is not None
    return {
        name: getattr(order.price_summary, f"{name}_amount").value
        for name in ("original_total", "discounts", "shipping", "taxes", "final_total")
    }


# Statuses (SPEC §5, Elastic Path): the first matching row wins.

UNKNOWN, CONFIRMED, IN_TRANSIT = (
    DetailedStatus.UNKNOWN,
    DetailedStatus.CONFIRMED,
    DetailedStatus.IN_TRANSIT,
)
CANCELED = CancellationStatus.CANCELED


@pytest.mark.parametrize(
    ("status", "payment", "shipping", "detailed", "generic", "cancellation"),
    [
        # row 1: cancelled, whatever else is set
        ("cancelled", "unpaid", "unfulfilled", UNKNOWN, GenericStatus.UNKNOWN, CANCELED),
        ("cancelled", "paid", "unfulfilled", UNKNOWN, GenericStatus.UNKNOWN, CANCELED),
        ("cancelled", "refunded", "fulfilled", UNKNOWN, GenericStatus.UNKNOWN, CANCELED),
        # row 2: shipping fulfilled, before the payment rows
        ("complete", "paid", "fulfilled", IN_TRANSIT, GenericStatus.ON_ITS_WAY, None),
        ("incomplete", "unpaid", "fulfilled", IN_TRANSIT, GenericStatus.ON_ITS_WAY, None),
        # row 3: processing/complete, or a payment that is authorized/paid/partially_*
        ("processing", "authorized", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        ("complete", "paid", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        ("complete", "refunded", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        ("processing", "unpaid", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        ("incomplete", "authorized", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        ("incomplete", "paid", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        (
            "incomplete",
            "partially_authorized",
            "unfulfilled",
            CONFIRMED,
            GenericStatus.CONFIRMED,
            None,
        ),
        ("incomplete", "partially_paid", "unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        # row 4: otherwise
        ("incomplete", "unpaid", "unfulfilled", UNKNOWN, GenericStatus.UNKNOWN, None),
        ("incomplete", "refunded", "unfulfilled", UNKNOWN, GenericStatus.UNKNOWN, None),
        # values EP may add later, and missing ones, are UNKNOWN: they never raise
        ("on_hold", "pending_review", "in_progress", UNKNOWN, GenericStatus.UNKNOWN, None),
        (None, None, None, UNKNOWN, GenericStatus.UNKNOWN, None),
        (" Complete", "PAID ", "Unfulfilled", CONFIRMED, GenericStatus.CONFIRMED, None),
        ("Cancelled", "paid", "FULFILLED", UNKNOWN, GenericStatus.UNKNOWN, CANCELED),
    ],
)
def test_status_table(
    status: str | None,
    payment: str | None,
    shipping: str | None,
    detailed: DetailedStatus,
    generic: GenericStatus,
    cancellation: CancellationStatus | None,
) -> None:
    order = with_status(status, payment, shipping)
    assert order.status.detailed is detailed
    assert order.status.generic is generic
    assert order.cancellation_status is cancellation


@pytest.mark.parametrize(
    ("order_id", "detailed", "cancellation"),
    [
        (fx.ORDER_CANCELLED, UNKNOWN, CANCELED),
        (fx.ORDER_FULFILLED, IN_TRANSIT, None),
        (fx.ORDER_PROCESSING, CONFIRMED, None),
        (fx.ORDER_COMPLETE, CONFIRMED, None),
        (fx.ORDER_PARTIAL, CONFIRMED, None),
        (fx.ORDER_DIGITAL, CONFIRMED, None),
        (fx.ORDER_UNPAID, UNKNOWN, None),
    ],
    ids=fx.fixture_name,
)
def test_fixture_orders_cover_every_status_row(
    order_id: str, detailed: DetailedStatus, cancellation: CancellationStatus | None
) -> None:
    order = mapped(order_id)
    assert (order.status.detailed, order.cancellation_status) == (detailed, cancellation)


# Money: integer minor units by ISO 4217 exponent; price_summary by the SPEC invariant.


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [
        # platforms.md §2.11: 8 % tax added, a 9.00 promotion, 7.50 shipping
        (
            fx.ORDER_COMPLETE,
            {
                "original_total": Decimal("115.97"),
                "discounts": Decimal("9.00"),
                "shipping": Decimal("7.50"),
                "taxes": Decimal("8.56"),
                "final_total": Decimal("123.03"),
            },
        ),
        # EUR prices include 19 % VAT: the taxes are shown but not added a second time
        (
            fx.ORDER_EUR,
            {
                "original_total": Decimal("178.70"),
                "discounts": Decimal("11.90"),
                "shipping": Decimal("4.90"),
                "taxes": Decimal("26.63"),
                "final_total": Decimal("171.70"),
            },
        ),
        # JPY has no minor unit
        (
            fx.ORDER_JPY,
            {
                "original_total": Decimal("14100"),
                "discounts": Decimal("0"),
                "shipping": Decimal("800"),
                "taxes": Decimal("1410"),
                "final_total": Decimal("16310"),
            },
        ),
        # KWD has three decimals
        (
            fx.ORDER_KWD,
            {
                "original_total": Decimal("29.000"),
                "discounts": Decimal("0.000"),
                "shipping": Decimal("1.500"),
                "taxes": Decimal("0.000"),
                "final_total": Decimal("30.500"),
            },
        ),
        # a legacy promotion line: its 5.00 stays in the discounts, next to the 7.90 rule
        (
            fx.ORDER_PROMO,
            {
                "original_total": Decimal("103.00"),
                "discounts": Decimal("12.90"),
                "shipping": Decimal("0.00"),
                "taxes": Decimal("7.61"),
                "final_total": Decimal("97.71"),
            },
        ),
        # no `shipping` price at all (the store does not use shipping groups): 0
        (
            fx.ORDER_PARTIAL,
            {
                "original_total": Decimal("0.30"),
                "discounts": Decimal("0"),
                "shipping": Decimal("0"),
                "taxes": Decimal("0"),
                "final_total": Decimal("0.30"),
            },
        ),
    ],
    ids=fx.fixture_name,
)
def test_price_summary(order_id: str, expected: dict[str, Decimal]) -> None:
    order = mapped(order_id)
    assert summary(order) == expected
    currencies = {getattr(order.price_summary, f"{name}_amount").currency for name in expected}
    assert currencies == {raw_order(order_id)["meta"]["display_price"]["with_tax"]["currency"]}


@pytest.mark.parametrize(
    "order_id",
    [fx.ORDER_COMPLETE, fx.ORDER_JPY, fx.ORDER_KWD, fx.ORDER_PROMO, fx.ORDER_EUR],
    ids=fx.fixture_name,
)
def test_original_total_is_the_sum_of_product_lines_before_discounts(order_id: str) -> None:
    order = mapped(order_id)
    assert order.items is not None
    lines = Decimal(0)
    for item in order.items:
        assert item.price is not None and item.quantity is not None
        lines += item.price.value * item.quantity
    assert summary(order)["original_total"] == lines


def test_money_json_carries_no_float_noise() -> None:
    order = mapped(fx.ORDER_PARTIAL)
    assert order.price_summary is not None
    body = orjson.loads(render(order.price_summary))
    assert body["final_total_amount"] == {"value": 0.3, "currency": "USD"}
    assert b'"value":0.3,' in render(order.price_summary)


@pytest.mark.parametrize(
    ("order_id", "prices"),
    [
        (fx.ORDER_COMPLETE, [Decimal("89.99"), Decimal("12.99")]),
        (fx.ORDER_JPY, [Decimal("12800"), Decimal("650")]),
        (fx.ORDER_KWD, [Decimal("12.750"), Decimal("8.125")]),
        (fx.ORDER_EUR, [Decimal("119.00"), Decimal("19.90")]),
    ],
    ids=fx.fixture_name,
)
def test_item_price_is_the_unit_price_before_discounts(
    order_id: str, prices: list[Decimal]
) -> None:
    items = mapped(order_id).items or []
    assert [item.price.value for item in items if item.price] == prices


def test_discounts_are_positive_whatever_sign_ep_uses() -> None:
    raw = raw_order(fx.ORDER_COMPLETE)
    raw["meta"]["display_price"]["discount"]["amount"] = 900
    order = ep.order(ep.parse(ep.EPOrder, raw), items=None, includes_tax=False)
    assert summary(order)["discounts"] == Decimal("9.00")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            lambda o: o["meta"]["display_price"]["with_tax"].update(amount="12303"),
            "meta.display_price.with_tax.amount",
        ),
        (
            lambda o: o["meta"]["display_price"]["with_tax"].update(amount=123.03),
            "meta.display_price.with_tax.amount",
        ),
        (
            lambda o: o["meta"]["display_price"]["tax"].update(currency="XXY"),
            "meta.display_price.tax.currency",
        ),
        (lambda o: o["meta"]["display_price"].pop("with_tax"), "meta.display_price.with_tax"),
        (lambda o: o.pop("id"), "id"),
        (
            lambda o: o["meta"]["timestamps"].update(created_at="yesterday"),
            "meta.timestamps.created_at",
        ),
        (lambda o: o.update(status=3), "status"),
    ],
)
def test_unreadable_order_names_the_field(change: Any, path: str) -> None:
    raw = raw_order(fx.ORDER_COMPLETE)
    change(raw)
    with pytest.raises(MappingError) as caught:
        ep.parse(ep.EPOrder, raw)
    assert caught.value.path == path


def test_mixed_currencies_are_unreadable() -> None:
    raw = raw_order(fx.ORDER_COMPLETE)
    raw["meta"]["display_price"]["shipping"]["currency"] = "EUR"
    with pytest.raises(MappingError) as caught:
        ep.order(ep.parse(ep.EPOrder, raw), items=None, includes_tax=False)
    assert caught.value.path == "meta.display_price"


def test_order_without_a_customer_is_unreadable() -> None:
    raw = raw_order(fx.ORDER_GUEST)
    with pytest.raises(MappingError) as caught:
        ep.order(ep.parse(ep.EPOrder, raw), items=None)
    assert caught.value.path == "relationships.customer.data.id"


# Orders, addresses and custom fields.


def test_order_fields() -> None:
    order = mapped(fx.ORDER_COMPLETE)
    assert order.id == fx.ORDER_COMPLETE
    assert order.order_number == "EP-100234"
    assert order.customer_id == fx.MARIA
    assert order.purchase_datetime is not None
    assert order.purchase_datetime.isoformat() == "2025-03-14T18:22:05+00:00"
    assert order.delivery_type is DeliveryType.SHIPPING
    assert order.shipping_address is not None
    assert order.shipping_address.model_dump(exclude_none=True) == {
        "first_name": "Maria",
        "last_name": "Santos",
        "phone_number": "+1 415 555 0142",
        "address": "742 Alder Street, Apt 5",
        "zip_code": "97205",
        "city": "Portland",
        "region_code": "US-OR",
        "country_code": "US",
    }
    assert order.billing_address == order.shipping_address
    assert order.custom_fields == {
        "status": "complete",
        "payment": "paid",
        "shipping": "unfulfilled",
        "order_number": "EP-100234",
    }


def test_custom_fields_carry_external_ref_and_drop_empty_values() -> None:
    assert mapped(fx.ORDER_FULFILLED).custom_fields == {
        "status": "complete",
        "payment": "paid",
        "shipping": "fulfilled",
        "order_number": "EP-100391",
        "external_ref": "OMS-55120",
    }


def test_order_without_order_number_is_known_by_its_id() -> None:
    order = mapped(fx.ORDER_PARTIAL)
    assert order.order_number == fx.ORDER_PARTIAL
    assert order.custom_fields is not None
    assert "order_number" not in order.custom_fields


@pytest.mark.parametrize(
    ("order_id", "region"),
    [(fx.ORDER_EUR, "DE-BE"), (fx.ORDER_JPY, "JP-13"), (fx.ORDER_KWD, "KW-KU")],
    ids=fx.fixture_name,
)
def test_subdivision_gets_the_country_prefix(order_id: str, region: str) -> None:
    order = mapped(order_id)
    assert order.shipping_address is not None
    assert order.shipping_address.region_code == region


def test_anonymized_order_keeps_only_what_is_not_personal() -> None:
    order = mapped(fx.ORDER_ANONYMIZED)
    assert order.shipping_address is not None
    assert order.shipping_address.model_dump(exclude_none=True) == {"country_code": "GB"}
    assert order.delivery_type is DeliveryType.SHIPPING
    assert order.custom_fields is not None
    assert order.custom_fields["anonymized"] is True


def test_fully_anonymized_address_is_no_address() -> None:
    raw = raw_order(fx.ORDER_ANONYMIZED)
    raw["shipping_address"]["country"] = "*"
    raw["billing_address"]["country"] = "*"
    order = ep.order(ep.parse(ep.EPOrder, raw), items=None)
    assert order.shipping_address is None
    assert order.billing_address is None
    assert order.delivery_type is DeliveryType.UNKNOWN


def test_order_without_shipping_address_has_unknown_delivery_type() -> None:
    order = mapped(fx.ORDER_DIGITAL)
    assert order.shipping_address is None
    assert order.delivery_type is DeliveryType.UNKNOWN
    assert order.billing_address is not None


def test_missing_address_objects_are_no_address() -> None:
    raw = raw_order(fx.ORDER_COMPLETE)
    del raw["shipping_address"], raw["billing_address"]
    order = ep.order(ep.parse(ep.EPOrder, raw), items=None)
    assert (order.shipping_address, order.billing_address) == (None, None)
    assert order.delivery_type is DeliveryType.UNKNOWN


def test_a_billing_address_of_its_own_is_not_the_shipping_one() -> None:
    raw = raw_order(fx.ORDER_COMPLETE)
    billing = {"line_1": "1 Market Street", "line_2": "", "postcode": "94105"}
    raw["billing_address"] = {**raw["billing_address"], **billing}
    order = ep.order(ep.parse(ep.EPOrder, raw), items=None)
    assert order.shipping_address is not None and order.billing_address is not None
    assert order.shipping_address.address == "742 Alder Street, Apt 5"
    assert (order.billing_address.address, order.billing_address.zip_code) == (
        "1 Market Street",
        "94105",
    )


def test_an_order_renders_as_its_parts_built_one_by_one_would() -> None:
    """The order is validated once, its inner parts given as dicts: what it holds is what
    building each part with its own constructor gives."""
    order = mapped(fx.ORDER_COMPLETE)
    rebuilt = Order(**dict(order))
    assert render(order) == render(rebuilt)
    assert order.items is not None
    delivery = order.items[0].deliveries[0] if order.items[0].deliveries else None
    assert delivery is not None and delivery.latest_status_info is not None
    assert delivery.latest_status_info.type is DetailedStatus.CONFIRMED
    assert order.status.detailed is DetailedStatus.CONFIRMED


# Items, promotion lines and shipping groups.


def test_promotion_lines_are_not_items() -> None:
    order = mapped(fx.ORDER_PROMO)
    assert [item.sku for item in order.items or []] == ["TRK-PLS", "DRY-20"]
    assert len(STORE.items[fx.ORDER_PROMO]) == 3


def item(**fields: Any) -> ep.EPItem:
    base = raw_items(fx.ORDER_COMPLETE)[1]
    base.update(fields)
    return ep.parse(ep.EPItem, base)


@pytest.mark.parametrize(
    ("fields", "promotion"),
    [
        ({}, False),
        ({"unit_price": {"amount": 0, "currency": "USD", "includes_tax": False}}, False),
        ({"unit_price": {"amount": -500, "currency": "USD", "includes_tax": False}}, True),
        ({"type": "promotion_item"}, True),
        ({"promotion_source": "rule-promotion"}, False),
    ],
)
def test_promotion_line_detection(fields: dict[str, Any], promotion: bool) -> None:
    assert ep.is_promotion_line(item(**fields)) is promotion


def test_item_fields() -> None:
    first = (mapped(fx.ORDER_COMPLETE).items or [])[1]
    assert first.model_dump(exclude_none=True, exclude={"deliveries"}) == {
        "id": "5d2b8f60-1c7e-4a3d-9b45-c8e1f0a2d376",
        "name": "Merino Hiking Socks",
        "price": {"value": Decimal("12.99"), "currency": "USD"},
        "quantity": 2,
        "sku": "MHS-GRY-M",
        "custom_fields": {"product_id": fx.uid("product:MHS-GRY-M")},
    }


def test_shipping_group_becomes_a_delivery_of_each_of_its_lines() -> None:
    items = mapped(fx.ORDER_COMPLETE).items or []
    for line in items:
        assert line.deliveries is not None
        (delivery,) = line.deliveries
        assert delivery.model_dump(exclude_none=True, mode="json") == {
            "id": fx.GROUP_COMPLETE,
            "delivery_quantity": line.quantity,
            "carrier": "UPS Ground",
            "delivery_date_start": "2025-03-18T00:00:00Z",
            "delivery_date_end": "2025-03-20T23:59:59Z",
            "latest_status_info": {"type": "CONFIRMED"},
            "tracking_info": {"tracking_number": "1Z84X7E90312345678"},
            "last_update": "2025-03-15T09:02:17.508000Z",
        }


def test_split_shipment_gives_each_line_its_own_group() -> None:
    tent, mug = mapped(fx.ORDER_FULFILLED).items or []
    assert tent.deliveries is not None and mug.deliveries is not None
    assert tent.deliveries[0].carrier == "FedEx Home Delivery"
    assert tent.deliveries[0].tracking_info is not None
    assert tent.deliveries[0].tracking_info.tracking_number == "794698547301"
    assert tent.deliveries[0].latest_status_info is not None
    assert tent.deliveries[0].latest_status_info.type is DetailedStatus.IN_TRANSIT
    # no tracking reference and no estimate: those fields are left out
    assert mug.deliveries[0].carrier == "USPS Ground Advantage"
    assert mug.deliveries[0].tracking_info is None
    assert mug.deliveries[0].delivery_date_start is None
    assert mug.deliveries[0].delivery_quantity == 2


def test_lines_without_a_known_group_have_no_deliveries() -> None:
    order = mapped(fx.ORDER_COMPLETE, groups=False)
    assert all(line.deliveries is None for line in order.items or [])


def test_cancelled_order_deliveries_carry_unknown_status() -> None:
    raw = raw_order(fx.ORDER_COMPLETE)
    raw["status"] = "cancelled"
    order = ep.order(
        ep.parse(ep.EPOrder, raw),
        items=[ep.parse(ep.EPItem, i) for i in raw_items(fx.ORDER_COMPLETE)],
        shipping_groups=[
            ep.parse(ep.EPShippingGroup, g) for g in STORE.shipping_groups[fx.ORDER_COMPLETE]
        ],
    )
    statuses = {
        d.latest_status_info.type
        for i in order.items or []
        for d in i.deliveries or []
        if d.latest_status_info
    }
    assert statuses == {DetailedStatus.UNKNOWN}


def test_included_items_are_used_only_when_complete() -> None:
    order = ep.parse(ep.EPOrder, raw_order(fx.ORDER_PROMO))
    lines = {i["id"]: ep.parse(ep.EPItem, i) for i in raw_items(fx.ORDER_PROMO)}
    found = ep.included_items(order, lines)
    assert found is not None
    assert [line.id for line in found] == [ref.id for ref in order.relationships.items.data]
    missing_one = dict(list(lines.items())[1:])
    assert ep.included_items(order, missing_one) is None
    # unknown item count: the list view then leaves items_number out
    assert ep.order(order, items=None).items is None


def test_tax_inclusive_prices_are_read_from_the_product_lines() -> None:
    eur = [ep.parse(ep.EPItem, i) for i in raw_items(fx.ORDER_EUR)]
    usd = [ep.parse(ep.EPItem, i) for i in raw_items(fx.ORDER_COMPLETE)]
    promo = [ep.parse(ep.EPItem, i) for i in raw_items(fx.ORDER_PROMO)]
    assert ep.prices_include_tax(eur) is True
    assert ep.prices_include_tax(eur[1:]) is True  # one line is enough to tell
    assert ep.prices_include_tax(usd) is False
    assert ep.prices_include_tax([line for line in promo if ep.is_promotion_line(line)]) is None
    assert ep.prices_include_tax([]) is None


def test_without_word_on_tax_an_order_with_taxes_has_no_price_summary() -> None:
    taxed = ep.parse(ep.EPOrder, raw_order(fx.ORDER_EUR))
    assert taxed.meta.display_price.tax is not None and taxed.meta.display_price.tax.amount
    assert ep.order(taxed, items=None).price_summary is None
    assert (
        ep.order(taxed, items=None, includes_tax=True).price_summary
        == (
            ep.order(taxed, items=[ep.parse(ep.EPItem, i) for i in raw_items(fx.ORDER_EUR)])
        ).price_summary
    )
    untaxed = raw_order(fx.ORDER_EUR)
    untaxed["meta"]["display_price"]["tax"]["amount"] = 0
    summary = ep.order(ep.parse(ep.EPOrder, untaxed), items=None).price_summary
    assert summary is not None and summary.taxes_amount.value == 0


# Customers.


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Maria Santos", "Maria", "Santos"),
        ("Hans Peter Müller", "Hans", "Peter Müller"),
        ("Noah", "Noah", None),
        ("  Ana  Silva ", "Ana", "Silva"),
        ("", None, None),
        (None, None, None),
        ("*", None, None),
    ],
)
def test_name_split(name: str | None, first: str | None, last: str | None) -> None:
    assert ep.split_name(name) == (first, last)


def test_customer_fields() -> None:
    raw = ep.parse(ep.EPCustomer, STORE.customers[fx.MARIA])
    addresses = [ep.parse(ep.EPAddress, a) for a in STORE.addresses[fx.MARIA]]
    found = ep.customer(raw, addresses)
    assert (found.id, found.first_name, found.last_name) == (fx.MARIA, "Maria", "Santos")
    assert found.customer_since is not None
    assert found.customer_since.isoformat() == "2019-03-04T10:15:00+00:00"
    assert found.custom_fields == {"email": "maria.santos@example.org"}
    assert [a.model_dump(exclude_none=True) for a in found.shipping_addresses or []] == [
        {
            "id": fx.uid("address:maria:home"),
            "first_name": "Maria",
            "last_name": "Santos",
            "phone_number": "+1 415 555 0142",
            "address": "742 Alder Street, Apt 5",
            "zip_code": "97205",
            "city": "Portland",
            "region_code": "US-OR",
            "country_code": "US",
        },
        {
            "id": fx.uid("address:maria:work"),
            "address": "1200 NW Naito Pkwy",
            "zip_code": "97209",
            "city": "Portland",
            "region_code": "US-OR",
            "country_code": "US",
        },
    ]


def test_customer_without_addresses() -> None:
    found = ep.customer(ep.parse(ep.EPCustomer, STORE.customers[fx.NOAH]), [])
    assert (found.first_name, found.last_name, found.shipping_addresses) == ("Noah", None, None)


# Error bodies and token grants.


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        ({"errors": [{"status": 404, "title": "Not Found", "detail": "gone"}]}, 404, "Not Found"),
        ({"errors": [{"status": "404", "title": "Not Found"}]}, 404, "Not Found"),
        ({"errors": {"status": 401, "title": "Unauthorized"}}, 401, "Unauthorized"),
        ({"errors": [{"title": "Bad Request", "detail": "Could not parse"}]}, None, "Bad Request"),
        ({"errors": [{"status": "teapot", "title": 7}]}, None, None),
        ({"errors": []}, None, None),
        ({"message": "something else"}, None, None),
        (["not", "an", "object"], None, None),
        (None, None, None),
    ],
)
def test_error_bodies_are_understood_in_every_shape(
    body: Any, status: int | None, title: str | None
) -> None:
    said = ep.problem(body)
    assert (said.status, said.title) == (status, title)


def test_token_grant_at_top_level_or_under_data() -> None:
    grant = {"access_token": "abc", "expires_in": 3600, "expires": 2_000_003_600}
    for body in (grant, {"data": grant}):
        parsed = ep.parse_token_grant(body)
        assert parsed.access_token == "abc"
        assert parsed.lifetime(now=2_000_000_000) == 3600


def test_token_lifetime_takes_the_earlier_expiry() -> None:
    grant = ep.parse_token_grant({"access_token": "abc", "expires_in": 3600, "expires": 1000})
    assert grant.lifetime(now=400) == 600
    only_expires = ep.parse_token_grant({"access_token": "abc", "expires": 1000})
    assert only_expires.lifetime(now=400) == 600


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"access_token": "abc"}, "expires"),
        ({"access_token": "", "expires_in": 3600}, "access_token"),
        ({"expires_in": 3600}, "access_token"),
    ],
)
def test_unusable_token_grant_names_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(MappingError) as caught:
        ep.parse_token_grant(body).lifetime(now=0)
    assert caught.value.path == path
