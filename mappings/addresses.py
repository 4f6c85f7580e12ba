"""Address normalization: one line of street, ISO 3166 codes, anonymized values dropped.

Every platform reads its addresses into an `AddressRecord`, so that one method turns
them all into ERC addresses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import pycountry

from mappings.bounds import Short
from mappings.models import Address
from mappings.records import Record, built, shown

_SUBDIVISION_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_SUBDIVISION_SUFFIX = re.compile(r"^[A-Z0-9]{1,3}$")


# "UK" is no ISO 3166-1 code but one the standard reserves for the United Kingdom at its
# request, and which platforms and people write for GB.
_RESERVED_ALPHA2 = {"UK": "GB"}


@lru_cache(maxsize=512)
def country_code(raw: str) -> str | None:
    """ISO 3166-1 alpha-2 from an alpha-2, alpha-3 or English country name; None when it is
    none of those (two letters that are no ISO code, such as "XX")."""
    text = raw.strip()
    if len(text) == 2 and text.isalpha():
        code = text.upper()
        if code in _RESERVED_ALPHA2:
            return _RESERVED_ALPHA2[code]
        return code if pycountry.countries.get(alpha_2=code) is not None else None
    found = pycountry.countries.get(alpha_3=text.upper()) if len(text) == 3 else None
    if found is None:
        try:
            found = pycountry.countries.lookup(text)
        except LookupError:
            return None
    return str(found.alpha_2)


@lru_cache(maxsize=2048)
def region_code(raw: str, country: str | None) -> str | None:
    """ISO 3166-2 from a full code (`US-OR`), a bare subdivision (`OR`) or a name (`Oregon`,
    or "Sao Paulo" for `BR-SP`, "São Paulo": names are compared without accents and case).

    A short text is a bare subdivision only when the country has one so coded: "Zug" is the
    name of `CH-ZG`, not a code `CH-ZUG`. One that is neither stays a code of that country,
    as the platform spells it.
    """
    text = raw.strip().upper()
    if _SUBDIVISION_CODE.match(text):
        return text
    if country is None:
        return None
    suffixed = f"{country}-{text}" if _SUBDIVISION_SUFFIX.match(text) else None
    if suffixed is not None and _subdivision(suffixed) is not None:
        return suffixed
    return _codes_by_name(country).get(_folded(text), suffixed)


def same_region(first: str | None, second: str | None) -> bool:
    """Whether two ISO 3166-2 codes show the same region: the same code, or two subdivisions
    of one country under one name (the division `BD-C` and the district `BD-13`, "Dhaka"),
    which a platform that keeps a region by its name cannot tell apart."""
    if first == second:
        return True
    one, other = _subdivision(first or ""), _subdivision(second or "")
    return (
        one is not None
        and other is not None
        and one.country_code == other.country_code
        and str(one.name).upper() == str(other.name).upper()
    )


def _folded(name: str) -> str:
    """`name` as names are compared: without accents and case ("São Paulo", "Sao Paulo").
    Capitals first, so that letters with no accent to drop match their capitals too
    (Azerbaijan's "Baki" is written with a dotless i, whose capital is "I")."""
    decomposed = unicodedata.normalize("NFKD", name.upper())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


@lru_cache(maxsize=256)
def _codes_by_name(country: str) -> dict[str, str]:
    """The country's subdivision codes by folded name; the first one a name is given to
    wins. Built once per country."""
    codes: dict[str, str] = {}
    for subdivision in _subdivisions_of(country):
        codes.setdefault(_folded(str(subdivision.name)), str(subdivision.code))
    return codes


def _subdivision(code: str) -> Any:
    """The pycountry subdivision coded `code`, else None."""
    return pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]


def _subdivisions_of(country: str) -> Iterable[Any]:
    return pycountry.subdivisions.get(country_code=country) or ()  # type: ignore[no-untyped-call]


class AddressRecord(Record):
    """A platform address, read under the names of the parts normalization joins and
    checks; `normalized()` makes the ERC address of every platform's.

    A platform that spells a key otherwise declares that field again with the key as its
    alias (which is also the name a field we cannot read is reported by).
    """

    id: Short | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    phone_number: Short | None = None
    line1: Short | None = None
    line2: Short | None = None
    zip_code: Short | None = None
    city: Short | None = None
    region: Short | None = None
    country: Short | None = None
    default: bool | None = None

    def normalized(self) -> Address | None:
        """The ERC address; None when nothing usable is left (all empty or anonymized)."""
        first_line, second_line = shown(self.line1), shown(self.line2)
        street = (
            f"{first_line}, {second_line}"
            if first_line and second_line
            else first_line or second_line
        )
        country_text = shown(self.country)
        alpha2 = country_code(country_text) if country_text else None
        region_text = shown(self.region)
        fields: dict[str, object] = {
            "first_name": shown(self.first_name),
            "last_name": shown(self.last_name),
            "phone_number": shown(self.phone_number),
            "address": street,
            "zip_code": shown(self.zip_code),
            "city": shown(self.city),
            "region_code": region_code(region_text, alpha2) if region_text else None,
            "country_code": alpha2,
        }
        if not any(fields.values()):
            return None
        fields["id"] = shown(self.id)
        fields["default"] = self.default
        return built(Address, fields)


def address_of(raw: AddressRecord | None) -> Address | None:
    """`raw` as an ERC address; None when there is none or nothing usable is left."""
    return raw.normalized() if raw is not None else None


def billing_address_of(
    billing: AddressRecord | None, shipping: AddressRecord | None, shipping_address: Address | None
) -> Address | None:
    """`billing` as an ERC address; when it is the very address the order ships to (as on
    most orders), the one already built from `shipping`."""
    if billing is not None and billing == shipping:
        return shipping_address
    return address_of(billing)


def addresses_of(raws: Iterable[AddressRecord]) -> list[Address] | None:
    """The usable ones of `raws` as ERC addresses, in order; None when none is."""
    return [found for found in map(address_of, raws) if found is not None] or None
