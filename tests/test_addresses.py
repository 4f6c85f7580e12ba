import pycountry
import pytest
from pydantic import Field

from mappings.addresses import (
    AddressRecord,
    address_of,
    addresses_of,
    billing_address_of,
    region_code,
    same_region,
)
from mappings.bounds import SHORT_MAX, Short
from mappings.errors import MappingError
from mappings.models import Address
from mappings.records import parse


def test_lines_are_joined_and_codes_normalized() -> None:
    address = AddressRecord(
        line1="1200 NW Naito Pkwy",
        line2="Apt 4B",
        zip_code="97209",
        city="Portland",
        region="OR",
        country="US",
    ).normalized()
    assert address is not None
    assert address.address == "1200 NW Naito Pkwy, Apt 4B"
    assert (address.region_code, address.country_code) == ("US-OR", "US")


@pytest.mark.parametrize(
    ("region", "country", "expected"),
    [
        ("US-OR", "US", "US-OR"),
        ("or", "us", "US-OR"),
        ("Oregon", "US", "US-OR"),
        ("11", "PT", "PT-11"),
        ("Atlantis", "US", None),
        ("OR", None, None),
        ("Lisboa", "PRT", "PT-11"),
        ("Zug", "CH", "CH-ZG"),
        ("Goa", "IN", "IN-GA"),
        ("Var", "FR", "FR-83"),
        ("ZZ", "US", "US-ZZ"),
        ("Sao Paulo", "BR", "BR-SP"),  # pycountry: "São Paulo"
        ("são paulo", "BR", "BR-SP"),
        ("Maharashtra", "IN", "IN-MH"),  # pycountry: "Mahārāshtra"
        ("Zurich", "CH", "CH-ZH"),  # pycountry: "Zürich"
        ("Nuevo Leon", "MX", "MX-NLE"),  # pycountry: "Nuevo León"
        ("Texas", "UK", None),  # no region of GB
    ],
)
def test_region_codes_are_iso_3166_2(
    region: str, country: str | None, expected: str | None
) -> None:
    address = AddressRecord(city="x", region=region, country=country).normalized()
    assert address is not None
    assert address.region_code == expected


@pytest.mark.parametrize(
    ("country", "expected"),
    [("us", "US"), ("UK", "GB"), ("uk", "GB"), ("XX", None), ("EU", None)],
)
def test_two_letters_are_a_country_only_when_iso_3166_1_knows_them(
    country: str, expected: str | None
) -> None:
    address = AddressRecord(city="x", country=country).normalized()
    assert address is not None
    assert address.country_code == expected


def test_alpha3_and_names_become_alpha2() -> None:
    assert AddressRecord(country="DEU").normalized().country_code == "DE"  # type: ignore[union-attr]
    assert AddressRecord(country="Portugal").normalized().country_code == "PT"  # type: ignore[union-attr]


def test_anonymized_values_are_omitted() -> None:
    address = AddressRecord(
        line1="***", zip_code="***", city="Portland", first_name="J***"
    ).normalized()
    assert address is not None
    assert address.address is None and address.zip_code is None and address.first_name is None
    assert address.city == "Portland"


@pytest.mark.parametrize(
    "fields",
    [{}, {"line1": "", "city": "  "}, {"line1": "*****", "zip_code": "***", "city": "***"}],
)
def test_an_address_left_empty_is_no_address(fields: dict[str, str]) -> None:
    assert AddressRecord(**fields).normalized() is None


class ShopAddress(AddressRecord):
    """A platform that spells two parts its own way."""

    line1: Short | None = Field(default=None, alias="street")
    zip_code: Short | None = Field(default=None, alias="postcode")


def test_a_platform_record_renames_only_the_parts_it_spells_otherwise() -> None:
    raw = {"id": "7", "street": "Rua Augusta 10", "postcode": "1100-053", "city": "Lisboa"}
    record = parse(ShopAddress, {**raw, "country": "PRT", "line1": "not this platform's key"})
    assert address_of(record) == Address(
        id="7", address="Rua Augusta 10", zip_code="1100-053", city="Lisboa", country_code="PT"
    )


def test_a_part_the_record_cannot_read_is_named_by_the_platform_key() -> None:
    with pytest.raises(MappingError) as raised:
        parse(ShopAddress, {"postcode": "9" * (SHORT_MAX + 1)}, "data.0")
    assert raised.value.path == "data.0.postcode"


def test_the_default_flag_is_kept_with_the_address() -> None:
    record = parse(ShopAddress, {"city": "Porto", "default": True})
    assert address_of(record) == Address(city="Porto", default=True)


def test_missing_and_empty_addresses_are_left_out() -> None:
    empty = parse(ShopAddress, {"street": "  ", "city": "***"})
    porto = parse(ShopAddress, {"city": "Porto"})
    assert address_of(None) is None
    assert address_of(empty) is None
    assert addresses_of([empty, porto, empty]) == [Address(city="Porto")]
    assert addresses_of([empty]) is None


@pytest.mark.parametrize(
    ("line1", "line2", "expected"),
    [
        ("Rua Augusta 10", "3º Esq", "Rua Augusta 10, 3º Esq"),
        ("Rua Augusta 10", " ", "Rua Augusta 10"),
        (None, "3º Esq", "3º Esq"),
        ("***", "3º Esq", "3º Esq"),
        ("", None, None),
    ],
)
def test_the_street_is_the_usable_lines_joined(
    line1: str | None, line2: str | None, expected: str | None
) -> None:
    address = AddressRecord(line1=line1, line2=line2, city="Lisboa").normalized()
    assert address is not None
    assert address.address == expected


def test_a_billing_address_that_is_the_shipping_one_is_not_normalized_again() -> None:
    shipping = parse(ShopAddress, {"street": "Rua Augusta 10", "city": "Lisboa"})
    same = parse(ShopAddress, {"street": "Rua Augusta 10", "city": "Lisboa"})
    shipped_to = address_of(shipping)
    billed_to = billing_address_of(same, shipping, shipped_to)
    assert billed_to is shipped_to
    assert billed_to == address_of(same)


def test_a_billing_address_of_its_own_is_normalized_on_its_own() -> None:
    shipping = parse(ShopAddress, {"street": "Rua Augusta 10", "city": "Lisboa"})
    billing = parse(ShopAddress, {"street": "Rua do Ouro 2", "city": "Lisboa"})
    shipped_to = address_of(shipping)
    assert billing_address_of(billing, shipping, shipped_to) == address_of(billing)
    assert billing_address_of(None, shipping, shipped_to) is None
    assert billing_address_of(billing, None, None) == address_of(billing)


def test_a_short_name_is_read_as_the_region_it_names_not_as_a_code() -> None:
    short_names = [s for s in pycountry.subdivisions if len(str(s.name)) <= 3]
    assert len(short_names) > 40
    assert [region_code(str(s.name), s.country_code) for s in short_names] == [
        s.code for s in short_names
    ]


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("US-OR", "US-OR", True),
        (None, None, True),
        ("BD-13", "BD-C", True),
        ("ES-CB", "ES-S", True),
        ("US-OR", "US-WA", False),
        ("US-OR", None, False),
        ("US-ZZ", "US-OR", False),
    ],
)
def test_regions_of_one_country_and_one_name_are_the_same_region(
    first: str | None, second: str | None, same: bool
) -> None:
    assert same_region(first, second) is same
    assert same_region(second, first) is same
