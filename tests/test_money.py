from decimal import Decimal
from typing import Any

import pytest

from mappings.errors import MappingError
from mappings.money import (
    CURRENCY_EXPONENTS,
    Money,
    PriceSummary,
    currency_exponent,
    iso_currency,
    to_decimal,
)
from mappings.wire import render


def money_json(money: Money) -> bytes:
    return render(money)


def test_values_that_sum_to_three_tenths_render_without_float_noise() -> None:
    total = Money.of("0.1", "USD") + Money.of("0.2", "USD")
    assert money_json(total) == b'{"value":0.3,"currency":"USD"}'
    assert total.value == Decimal("0.3")


def test_float_input_is_read_through_its_shortest_text() -> None:
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (123456, "JPY", b'{"value":123456,"currency":"JPY"}'),
        (12345, "KWD", b'{"value":12.345,"currency":"KWD"}'),
        (1999, "EUR", b'{"value":19.99,"currency":"EUR"}'),
        (1000, "USD", b'{"value":10,"currency":"USD"}'),
        (7, "BHD", b'{"value":0.007,"currency":"BHD"}'),
        (0, "USD", b'{"value":0,"currency":"USD"}'),
        (-250, "EUR", b'{"value":-2.5,"currency":"EUR"}'),
        (10000, "CLF", b'{"value":1,"currency":"CLF"}'),
    ],
)
def test_minor_units_use_the_iso_4217_exponent(minor: int, currency: str, expected: bytes) -> None:
    assert money_json(Money.from_minor(minor, currency)) == expected


def test_large_amounts_keep_every_digit() -> None:
    assert money_json(Money.of("123456789012.345", "KWD")) == (
        b'{"value":123456789012.345,"currency":"KWD"}'
    )


def test_exponent_table_covers_the_common_and_the_unusual_currencies() -> None:
    assert len(CURRENCY_EXPONENTS) > 150
    assert [currency_exponent(c) for c in ("JPY", "KRW", "USD", "EUR", "KWD", "TND", "UYW")] == [
        0,
        0,
        2,
        2,
        3,
        3,
        4,
    ]


@pytest.mark.parametrize("raw", ["abc", None, True, "NaN", "Infinity", ""])
def test_unreadable_amounts_raise_mapping_errors_with_the_path(raw: object) -> None:
    with pytest.raises(MappingError) as caught:
        to_decimal(raw, "data.amount")
    assert caught.value.path == "data.amount"


def test_unknown_currency_is_a_mapping_error() -> None:
    with pytest.raises(MappingError):
        Money.from_minor(100, "XYZ")


def test_minor_units_must_be_integers() -> None:
    with pytest.raises(MappingError):
        Money.from_minor("100", "USD")


def test_mixing_currencies_is_refused() -> None:
    with pytest.raises(MappingError):
        Money.of("1", "USD") + Money.of("1", "EUR")


def test_price_summary_from_final_derives_the_original_total() -> None:
    summary = PriceSummary.from_final(
        final=Money.of("110.00", "EUR"),
        discounts=Money.of("-10.00", "EUR"),
        shipping=Money.of("5.00", "EUR"),
        taxes=Money.of("15.00", "EUR"),
    )
    assert summary.original_total_amount.value == Decimal("100.00")
    assert summary.discounts_amount.value == Decimal("10.00")


def test_tax_inclusive_prices_do_not_add_tax_twice() -> None:
    summary = PriceSummary.from_original(
        original=Money.of("100", "EUR"),
        discounts=Money.of("0", "EUR"),
        shipping=Money.of("5", "EUR"),
        taxes=Money.of("18.70", "EUR"),
        tax_inclusive=True,
    )
    assert summary.final_total_amount.value == Decimal("105")
    assert summary.taxes_amount.value == Decimal("18.70")


@pytest.mark.parametrize("part", ["discounts", "shipping", "taxes"])
@pytest.mark.parametrize("tax_inclusive", [False, True])
@pytest.mark.parametrize("build", [PriceSummary.from_final, PriceSummary.from_original])
def test_a_summary_part_in_another_currency_is_refused(
    part: str, tax_inclusive: bool, build: Any
) -> None:
    parts = {name: Money.of("1.00", "EUR") for name in ("discounts", "shipping", "taxes")}
    parts[part] = Money.of("1.00", "USD")
    total = "final" if build == PriceSummary.from_final else "original"
    with pytest.raises(MappingError, match="cannot combine EUR with USD"):
        build(**{total: Money.of("50.00", "EUR")}, **parts, tax_inclusive=tax_inclusive)


@pytest.mark.parametrize("discount", ["-7.50", "7.50"])
def test_summaries_hold_whichever_way_the_platform_signs_its_discount(discount: str) -> None:
    parts = {
        "discounts": Money.of(discount, "USD"),
        "shipping": Money.of("4.99", "USD"),
        "taxes": Money.of("3.10", "USD"),
    }
    from_final = PriceSummary.from_final(final=Money.of("60.59", "USD"), **parts)
    from_original = PriceSummary.from_original(original=Money.of("60.00", "USD"), **parts)
    assert from_final == from_original
    assert from_final.discounts_amount == Money.of("7.50", "USD")
    assert render(from_final) == (
        b'{"original_total_amount":{"value":60,"currency":"USD"},'
        b'"discounts_amount":{"value":7.5,"currency":"USD"},'
        b'"shipping_amount":{"value":4.99,"currency":"USD"},'
        b'"taxes_amount":{"value":3.1,"currency":"USD"},'
        b'"final_total_amount":{"value":60.59,"currency":"USD"}}'
    )


def test_currencies_are_read_as_iso_codes_in_capitals() -> None:
    assert iso_currency("eur") == "EUR"
    assert Money.of("1", "jpy").currency == "JPY"
    with pytest.raises(MappingError):
        iso_currency("EURO")
