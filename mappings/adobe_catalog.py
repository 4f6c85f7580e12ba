"""The partner's offer catalog: names, prices and images for Adobe offer ids.

CPAPI orders carry only offer ids (`65304479CA01A12`), so the partner supplies a CSV
with a header row `offer_id,name,price,currency,image_url`. Every row is checked when
the bridge starts; the first bad one stops startup with its file and line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from mappings.errors import MappingError
from mappings.money import Money, currency_exponent, to_decimal

COLUMNS = ("offer_id", "name", "price", "currency", "image_url")
HEADER = ",".join(COLUMNS)


class CatalogError(ValueError):
    """The offer catalog cannot be used; the message names the file and, when known, the line."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"offer catalog {where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Offer:
    offer_id: str
    name: str | None = None
    price: Money | None = None
    image_url: str | None = None


class OfferCatalog:
    """Offers by id. Ids match case-insensitively: CPAPI spells them in capitals."""

    def __init__(self, offers: Mapping[str, Offer] | None = None) -> None:
        self._offers = {key.casefold(): offer for key, offer in (offers or {}).items()}

    def get(self, offer_id: str) -> Offer | None:
        return self._offers.get(offer_id.strip().casefold())

    def __len__(self) -> int:
        return len(self._offers)


def parse_catalog(text: str, source: str) -> OfferCatalog:
    """Read the catalog CSV (columns in any order); CatalogError on the first unusable row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CatalogError(source, f"the file is empty; expected the header {HEADER}")
        columns = _columns(header, source)
        offers: dict[str, Offer] = {}
        first_seen: dict[str, int] = {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) != len(columns):
                raise CatalogError(
                    source, f"expected {len(columns)} fields, found {len(row)}", line
                )
            offer = _offer(dict(zip(columns, row, strict=True)), source, line)
            key = offer.offer_id.casefold()
            if key in first_seen:
                raise CatalogError(
                    source,
                    f"offer {offer.offer_id} is listed twice (first on line {first_seen[key]})",
                    line,
                )
            first_seen[key] = line
            offers[offer.offer_id] = offer
    except csv.Error as exc:
        raise CatalogError(source, f"not valid CSV ({exc})", reader.line_num) from None
    return OfferCatalog(offers)


def _columns(header: list[str], source: str) -> list[str]:
    columns = [name.strip().lower() for name in header]
    missing = [name for name in COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        found = ",".join(header)
        raise CatalogError(source, f"the header must be {HEADER}; found {found}", 1)
    return columns


def _offer(row: dict[str, str], source: str, line: int) -> Offer:
    offer_id = row["offer_id"].strip()
    if not offer_id:
        raise CatalogError(source, "offer_id is empty", line)
    return Offer(
        offer_id=offer_id,
        name=row["name"].strip() or None,
        price=_price(row["price"].strip(), row["currency"].strip().upper(), source, line),
        image_url=_image_url(row["image_url"].strip(), source, line),
    )


def _price(text: str, currency: str, source: str, line: int) -> Money | None:
    if not text and not currency:
        return None
    if not text or not currency:
        raise CatalogError(source, "price and currency must be given together", line)
    try:
        exponent = currency_exponent(currency)
        value = to_decimal(text)
    except MappingError as exc:
        raise CatalogError(source, exc.reason, line) from None
    if value < 0:
        raise CatalogError(source, f"price {text} is negative", line)
    if _decimal_places(value) > exponent:
        raise CatalogError(
            source, f"price {text} has more decimals than {currency} allows ({exponent})", line
        )
    return Money(value=value, currency=currency)


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _image_url(text: str, source: str, line: int) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CatalogError(source, f"image_url {text!r} is not an http(s) URL", line)
    return text
