"""Money in Decimal, with ISO 4217 minor-unit exponents."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, NotRequired, TypedDict, Unpack

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema

from mappings.bounds import AMOUNT_MAX
from mappings.errors import MappingError
from mappings.records import built

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN"
    " BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP"
    " GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT"
    " LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN"
    " NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE"
    " SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED"
    " VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(), 2),
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    **dict.fromkeys(_FOUR_DECIMALS.split(), 4),
}

# Bounds on a platform amount. The mappings add, subtract and multiply amounts in
# Decimal's default context, which keeps 28 significant digits and rounds beyond: an amount
# below 10**15 with at most 10 decimals spans 25 digits, which leaves room for the carries
# of sums and for products by quantities. Larger or finer amounts are no real prices; and
# the exponent notation would let a few characters ("1E+999999") stand for a number a
# million digits long.
AMOUNT_INTEGER_DIGITS = 15
AMOUNT_DECIMALS = 10
_AMOUNT_LIMIT = Decimal(10) ** AMOUNT_INTEGER_DIGITS
_FINEST_DECIMAL = Decimal(1).scaleb(-AMOUNT_DECIMALS)

# The JSON schema says "number": the renderer writes Decimal as an exact JSON number.
MoneyValue = Annotated[Decimal, WithJsonSchema({"type": "number"})]


def currency_exponent(currency: str) -> int:
    exponent = CURRENCY_EXPONENTS.get(currency)  # most often already in capitals
    if exponent is None:
        exponent = CURRENCY_EXPONENTS.get(currency.upper())
    if exponent is None:
        raise MappingError(f"unknown ISO 4217 currency {currency!r}")
    return exponent


def iso_currency(currency: str) -> str:
    """`currency` as its ISO 4217 code in capitals; MappingError when it is none."""
    if currency in CURRENCY_EXPONENTS:
        return currency
    currency_exponent(currency)
    return currency.upper()


def to_decimal(raw: object, path: str = "") -> Decimal:
    """Read a platform amount (string, int or JSON number) without passing through float.
    A JSON number read as a float is taken at the 15 significant digits a float holds:
    digits past them are its noise (`0.1 + 0.2`), not the platform's. Decimals past the
    finest an amount has are rounded off there, where a string with them is refused."""
    noisy = isinstance(raw, float)
    if noisy:
        raw = format(raw, ".15g")
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise MappingError(f"expected an amount, got {type(raw).__name__}", path)
    if isinstance(raw, str) and len(raw) > AMOUNT_MAX:
        raise MappingError(f"expected an amount, got {len(raw):,} characters", path)
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise MappingError(f"expected an amount, got {raw!r}", path) from None
    if not value.is_finite():
        raise MappingError(f"expected a finite amount, got {raw!r}", path)
    return _bounded(value, path, rounding_off=noisy)


def _bounded(value: Decimal, path: str, *, rounding_off: bool = False) -> Decimal:
    """`value` when it is within the amount bounds; MappingError when it is not, or, with
    `rounding_off`, when only its decimals are not: then it is rounded to the finest. A
    zero is plain 0, whatever exponent it was written with (`0E+999999`)."""
    if not value:
        return Decimal(0)
    # `adjusted` reads the exponent without computing anything that could overflow.
    if value.adjusted() >= AMOUNT_INTEGER_DIGITS:
        raise MappingError(f"expected an amount below {_AMOUNT_LIMIT:,}, got {value:.3e}", path)
    # Below the limit, the value to the finest decimal has at most 25 digits: it is exact,
    # and equal to the value unless some of its decimals were rounded off.
    finest = value.quantize(_FINEST_DECIMAL)
    if finest != value:
        if rounding_off:
            return finest
        raise MappingError(
            f"expected an amount with at most {AMOUNT_DECIMALS} decimals, got {value:.3e}", path
        )
    return value


class Money(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: MoneyValue
    currency: Annotated[str, AfterValidator(iso_currency)]

    @classmethod
    def of(cls, value: object, currency: str, path: str = "") -> Money:
        return _money(to_decimal(value, path), currency)

    @classmethod
    def from_minor(cls, amount: object, currency: str, path: str = "") -> Money:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise MappingError(f"expected integer minor units, got {type(amount).__name__}", path)
        exponent = currency_exponent(currency)
        # No currency has more than 4 decimals: only the size of the amount is checked.
        if abs(amount) >= 10 ** (AMOUNT_INTEGER_DIGITS + exponent):
            raise MappingError(f"expected an amount below {_AMOUNT_LIMIT:,}", path)
        return _money(Decimal(amount).scaleb(-exponent), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return _money(Decimal(0), currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MappingError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return _money(self.value + other.value, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return _money(self.value - other.value, self.currency)

    def __mul__(self, factor: int) -> Money:
        return _money(self.value * factor, self.currency)

    def __abs__(self) -> Money:
        return self if self.value >= 0 else _money(-self.value, self.currency)


def _money(value: Decimal, currency: str) -> Money:
    return built(Money, {"value": value, "currency": currency})


class Charges(TypedDict):
    """What lies between an order's original and final totals. `tax_inclusive` (default
    False): the prices already include the taxes, so the total does not add them again."""

    discounts: Money
    shipping: Money
    taxes: Money
    tax_inclusive: NotRequired[bool]


class PriceSummary(BaseModel):
    """`final = original - discounts + shipping + taxes`; taxes are not added again when
    the platform's prices include them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    original_total_amount: Money
    discounts_amount: Money
    shipping_amount: Money
    taxes_amount: Money
    final_total_amount: Money

    @classmethod
    def from_final(cls, *, final: Money, **charges: Unpack[Charges]) -> PriceSummary:
        discount, added_taxes = _parts(final, charges)
        original = final.value + discount.value - charges["shipping"].value - added_taxes
        return built(
            cls,
            {
                "original_total_amount": {"value": original, "currency": final.currency},
                "discounts_amount": discount,
                "shipping_amount": charges["shipping"],
                "taxes_amount": charges["taxes"],
                "final_total_amount": final,
            },
        )

    @classmethod
    def from_original(cls, *, original: Money, **charges: Unpack[Charges]) -> PriceSummary:
        discount, added_taxes = _parts(original, charges)
        final = original.value - discount.value + charges["shipping"].value + added_taxes
        return built(
            cls,
            {
                "original_total_amount": original,
                "discounts_amount": discount,
                "shipping_amount": charges["shipping"],
                "taxes_amount": charges["taxes"],
                "final_total_amount": {"value": final, "currency": original.currency},
            },
        )


def _parts(total: Money, charges: Charges) -> tuple[Money, Decimal]:
    """The discount as a positive amount and the taxes the total adds, all checked to be in
    the total's currency. Sums are taken on the values: a summary builds each amount once."""
    for part in (charges["discounts"], charges["shipping"], charges["taxes"]):
        total._same_currency(part)
    added_taxes = Decimal(0) if charges.get("tax_inclusive") else charges["taxes"].value
    return abs(charges["discounts"]), added_taxes
