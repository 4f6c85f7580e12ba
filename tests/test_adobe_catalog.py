"""The offer catalog CSV: parsed and checked at startup, every bad row named by file and line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.adobe_cpapi import AdobeCPAPIAdapter, AdobeSettings, load_catalog
from mappings.adobe_catalog import CatalogError, parse_catalog
from mappings.money import Money
from tests.emulators.adobe_fixtures import ACROBAT, CATALOG_CSV, STOCK, SUBSTANCE, UNLISTED

pytestmark = pytest.mark.anyio

HEADER = "offer_id,name,price,currency,image_url\n"


def test_the_sample_catalog_gives_names_prices_and_images() -> None:
    catalog = parse_catalog(CATALOG_CSV.read_text(encoding="utf-8"), "offers.csv")

    acrobat = catalog.get(ACROBAT)
    assert acrobat is not None
    assert acrobat.name == "Acrobat Pro for teams"
    assert acrobat.price == Money(value=Decimal("239.88"), currency="USD")
    assert acrobat.image_url == "https://cdn.example.com/offers/acrobat-pro.png"
    stock = catalog.get(STOCK)
    assert stock is not None
    assert (stock.name, stock.price, stock.image_url) == ("Stock for teams (10 assets)", None, None)
    substance = catalog.get(SUBSTANCE)
    assert substance is not None and substance.price is not None
    assert substance.price.currency == "EUR"
    assert catalog.get(UNLISTED) is None
    assert len(catalog) == 4


def test_offer_ids_match_whatever_their_case_and_spacing() -> None:
    catalog = parse_catalog(HEADER + "65304479ca01a12,Acrobat,1.00,usd,\n", "c.csv")

    found = catalog.get(f" {ACROBAT} ")
    assert found is not None
    assert found.price == Money(value=Decimal("1.00"), currency="USD")


def test_columns_may_come_in_any_order_with_blank_lines_between_rows() -> None:
    text = "Currency, Price ,OFFER_ID,image_url,name\nJPY,1200,A1,,Fonts\n\n,,,,\nEUR,3.5,B2,,\n"

    catalog = parse_catalog(text, "c.csv")

    first, second = catalog.get("A1"), catalog.get("B2")
    assert first is not None and second is not None
    assert first.price == Money(value=Decimal(1200), currency="JPY")
    assert first.name == "Fonts"
    assert second.name is None  # the adapter falls back to the offer id


def test_a_header_only_catalog_is_empty() -> None:
    assert len(parse_catalog(HEADER, "c.csv")) == 0


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "the file is empty"),
        ("offer,name,price,currency,image\n", 1, "the header must be"),
        ("offer_id,name,price,currency\n", 1, "the header must be"),
        ("offer_id,name,price,currency,image_url,offer_id\n", 1, "the header must be"),
        (HEADER + "A1,Ok,1.00,USD,\nA2,Short,1.00\n", 3, "expected 5 fields, found 3"),
        (HEADER + "A1,Long,1.00,USD,,extra\n", 2, "expected 5 fields, found 6"),
        (HEADER + " ,No id,1.00,USD,\n", 2, "offer_id is empty"),
        (HEADER + "A1,Bad,abc,USD,\n", 2, "expected an amount, got 'abc'"),
        (HEADER + "A1,Bad,NaN,USD,\n", 2, "expected a finite amount"),
        (HEADER + "A1,Bad,-1.00,USD,\n", 2, "price -1.00 is negative"),
        (HEADER + "A1,Bad,1.234,USD,\n", 2, "more decimals than USD allows (2)"),
        (HEADER + "A1,Bad,100.5,JPY,\n", 2, "more decimals than JPY allows (0)"),
        (HEADER + "A1,Bad,1.00,XYZ,\n", 2, "unknown ISO 4217 currency 'XYZ'"),
        (HEADER + "A1,Bad,,USD,\n", 2, "price and currency must be given together"),
        (HEADER + "A1,Bad,1.00,,\n", 2, "price and currency must be given together"),
        (HEADER + "A1,Bad,,,ftp://cdn.example.com/a.png\n", 2, "is not an http(s) URL"),
        (HEADER + "A1,Bad,,,cdn.example.com/a.png\n", 2, "is not an http(s) URL"),
        (HEADER + "A1,One,,,\nB1,Two,,,\na1,Three,,,\n", 4, "listed twice (first on line 2)"),
        (HEADER + 'A1,"never closed,1.00,USD,\n', 2, "not valid CSV"),
    ],
)
def test_a_bad_catalog_names_the_file_the_line_and_the_problem(
    text: str, line: int | None, reason: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "offers.csv")

    error = caught.value
    assert isinstance(error, ValueError)
    assert error.line == line
    assert reason in error.reason
    where = "offers.csv" if line is None else f"offers.csv, line {line}"
    assert str(error).startswith(f"offer catalog {where}: ")
    assert "\n" not in str(error)


async def test_loading_reads_utf8_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "offers.csv"
    path.write_bytes(("\ufeff" + HEADER + "A1,Café Fonts,1.00,EUR,\n").encode())

    catalog = await load_catalog(path)

    found = catalog.get("A1")
    assert found is not None and found.name == "Café Fonts"


async def test_no_catalog_configured_means_an_empty_catalog() -> None:
    assert len(await load_catalog(None)) == 0


async def test_a_missing_catalog_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"

    with pytest.raises(CatalogError) as caught:
        await load_catalog(path)

    assert str(path) in str(caught.value)
    assert "cannot be read" in str(caught.value)


async def test_a_catalog_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "A1,Ok,,,\nA2,Caf\xe9,,,\n").encode("latin-1"))

    with pytest.raises(CatalogError) as caught:
        await load_catalog(path)

    assert caught.value.line == 3
    assert "is not UTF-8 text" in str(caught.value)


async def test_startup_stops_on_a_bad_catalog_before_any_client_exists(tmp_path: Path) -> None:
    path = tmp_path / "offers.csv"
    path.write_text(HEADER + "A1,Ok,1.00,USD,\nA2,Bad,ten,USD,\n", encoding="utf-8")
    adapter = AdobeCPAPIAdapter(
        AdobeSettings(
            _env_file=None,
            cpapi_base_url="http://127.0.0.1:9",
            ims_url="http://127.0.0.1:9/ims/token/v3",
            client_id="id",
            client_secret="secret",
            ims_scopes="openid",
            offer_catalog=path,
        )
    )

    with pytest.raises(CatalogError, match=r"offers\.csv, line 3: expected an amount"):
        await adapter.open()

    with pytest.raises(RuntimeError, match="open"):
        await adapter.get_customer("1005831871")
