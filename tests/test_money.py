from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from mappings.errors import MappingError
from mappings.money import (
    CURRENCY_EXPONENTS,
    Charges,
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


@pytest.mark.parametrize(
    "raw",
    [
        "1E+9999999",  # past Decimal's exponent range: rendering it would overflow
        "1E+999999",  # nine characters for a number a million digits long
        "1000000000000000",  # 10**15
        "-1E+15",
        "1234567890123456789012345.6789",  # more digits than the arithmetic keeps
        "1E-9999999",
        "0.00000000001",  # 11 decimals
        10**15,
    ],
)
def test_amounts_outside_the_bounds_raise_mapping_errors_with_the_path(raw: object) -> None:
    with pytest.raises(MappingError) as caught:
        to_decimal(raw, "data.amount")
    assert caught.value.path == "data.amount"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("999999999999999.9999999999", Decimal("999999999999999.9999999999")),
        ("-999999999999999", Decimal("-999999999999999")),
        ("1E+14", Decimal(10**14)),
        ("12.5000000000000000", Decimal("12.5")),  # trailing zeros are no decimals
        ("0E+9999999", Decimal(0)),
        ("-0.000000000000000000", Decimal(0)),
    ],
)
def test_amounts_within_the_bounds_are_read_exactly(raw: str, expected: Decimal) -> None:
    assert to_decimal(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.1 + 0.2, Decimal("0.3")),
        (488.22 + 0.1, Decimal("488.32")),
        (100 / 3, Decimal("33.3333333333")),
        (1000000.1 + 0.2, Decimal("1000000.3")),
        (7500000.449999999, Decimal("7500000.45")),
        (123456789012.34, Decimal("123456789012.34")),
    ],
)
def test_a_json_number_is_read_without_its_float_noise(raw: float, expected: Decimal) -> None:
    """Platforms that compute amounts in floats send their noise too: a float holds 15
    significant digits, and the amount is what they say."""
    assert to_decimal(raw) == expected


@pytest.mark.parametrize("raw", [1e15, -1e300, float("inf"), float("nan")])
def test_a_json_number_outside_the_bounds_is_still_refused(raw: float) -> None:
    with pytest.raises(MappingError):
        to_decimal(raw, "data.amount")


def test_sums_of_amounts_at_the_bounds_stay_exact() -> None:
    largest, finest = Money.of("999999999999999", "USD"), Money.of("0.0000000001", "USD")
    total = largest * 100 + finest
    assert total.value - largest.value * 100 == finest.value


def test_minor_units_at_or_above_the_bound_raise_mapping_errors_with_the_path() -> None:
    assert Money.from_minor(10**17 - 1, "USD").value == Decimal("999999999999999.99")
    with pytest.raises(MappingError) as caught:
        Money.from_minor(10**17, "USD", path="unit_price.amount")
    assert caught.value.path == "unit_price.amount"


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
    parts: Charges = {
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


@pytest.mark.parametrize("currency", ["usd", "Usd", "USD"])
def test_a_code_in_capitals_and_one_to_put_in_capitals_read_alike(currency: str) -> None:
    assert iso_currency(currency) == "USD"
    assert currency_exponent(currency) == 2
    assert Money.from_minor(1999, currency) == Money(value=Decimal("19.99"), currency="USD")


@pytest.mark.parametrize("currency", ["XYZ", "xyz", "", "US D", "\uff35\uff33\uff24"])
def test_a_currency_that_is_no_iso_code_is_refused_with_its_name(currency: str) -> None:
    with pytest.raises(MappingError) as caught:
        iso_currency(currency)
    assert caught.value.reason == f"unknown ISO 4217 currency {currency!r}"
    with pytest.raises(ValidationError, match="unknown ISO 4217 currency"):
        Money.zero(currency)


def test_sums_differences_products_and_absolutes_are_money_as_the_constructor_builds_it() -> None:
    ten, three = Money.of("10.50", "EUR"), Money.of("3.25", "EUR")
    assert ten + three == Money(value=Decimal("13.75"), currency="EUR")
    assert three - ten == Money(value=Decimal("-7.25"), currency="EUR")
    assert three * 3 == Money(value=Decimal("9.75"), currency="EUR")
    assert abs(three - ten) == Money(value=Decimal("7.25"), currency="EUR")
    assert abs(ten) is ten
    assert money_json(abs(three - ten)) == b'{"value":7.25,"currency":"EUR"}'


def test_a_summary_builds_its_derived_total_as_money_of_the_total_currency() -> None:
    parts: dict[str, Any] = {
        "discounts": Money.of("5", "EUR"),
        "shipping": Money.of("2", "EUR"),
        "taxes": Money.of("1", "EUR"),
    }
    from_final = PriceSummary.from_final(final=Money.of("20", "EUR"), **parts)
    from_original = PriceSummary.from_original(original=Money.of("22", "EUR"), **parts)
    assert from_final.original_total_amount == Money(value=Decimal("22"), currency="EUR")
    assert from_original.final_total_amount == Money(value=Decimal("20"), currency="EUR")
    assert isinstance(from_final.original_total_amount, Money)
