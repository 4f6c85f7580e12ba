import pytest

from mappings.addresses import normalize_address


def test_lines_are_joined_and_codes_normalized() -> None:
    address = normalize_address(
        line1="1200 NW Naito Pkwy",
        line2="Apt 4B",
        zip_code="97209",
        city="Portland",
        region="OR",
        country="US",
    )
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
    ],
)
def test_region_codes_are_iso_3166_2(
    region: str, country: str | None, expected: str | None
) -> None:
    address = normalize_address(city="x", region=region, country=country)
    assert address is not None
    assert address.region_code == expected


def test_alpha3_and_names_become_alpha2() -> None:
    assert normalize_address(country="DEU").country_code == "DE"  # type: ignore[union-attr]
    assert normalize_address(country="Portugal").country_code == "PT"  # type: ignore[union-attr]


def test_anonymized_values_are_omitted() -> None:
    address = normalize_address(line1="***", zip_code="***", city="Portland", first_name="J***")
    assert address is not None
    assert address.address is None and address.zip_code is None and address.first_name is None
    assert address.city == "Portland"


@pytest.mark.parametrize(
    "fields",
    [{}, {"line1": "", "city": "  "}, {"line1": "*****", "zip_code": "***", "city": "***"}],
)
def test_an_address_left_empty_is_no_address(fields: dict[str, str]) -> None:
    assert normalize_address(**fields) is None  # type: ignore[arg-type]
