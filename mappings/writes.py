"""The bodies of the ERC write routes (SPEC §7): what an agent asks a platform to change.

Strict JSON types (a string is never read as a number or a flag), unknown fields ignored.
The bridge parses the request body into one of these before anything else happens, so an
adapter receives only values that are valid for every platform.
"""

from __future__ import annotations

from typing import Annotated, Any

import pycountry
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"\S")]
"""Some text: at least one character that is not a space."""
COUNTRY_CODES = sorted(country.alpha_2 for country in pycountry.countries)


class FieldProblem(ValueError):
    """A check across fields that blames one of them: `field` is its name as the error's
    `fields` list shows it (`region_code`, `ids[3]`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    def given(self) -> tuple[str, ...]:
        """The names of the fields the caller sent, in declaration order."""
        return tuple(name for name in type(self).model_fields if name in self.model_fields_set)


class StoreCredit(WriteBody):
    expires_at: str | None = None


class RefundMethod(WriteBody):
    original_payment_method: bool | None = None
    store_credit: StoreCredit | None = None


class CancelOrder(WriteBody):
    """W1: every field optional; an empty body asks for a plain cancellation."""

    cancel_reason: Annotated[str, StringConstraints(max_length=255)] | None = None
    restock: bool | None = None
    notify_customer: bool | None = None
    staff_note: Annotated[str, StringConstraints(max_length=1000)] | None = None
    refund_method: RefundMethod | None = None
    custom_fields: dict[str, Any] | None = None


class NewShippingAddress(WriteBody):
    """W2: the address the order ships to from now on."""

    address: Text
    city: Text
    country_code: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Z]{2}$"),
        Field(json_schema_extra={"enum": COUNTRY_CODES}),
    ]
    first_name: Text | None = None
    last_name: Text | None = None
    phone_number: Annotated[str, StringConstraints(max_length=64)] | None = None
    zip_code: Annotated[str, StringConstraints(max_length=32)] | None = None
    region_code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")] | None = (
        None
    )

    @field_validator("address", "city", "first_name", "last_name", "phone_number", "zip_code")
    @classmethod
    def _not_masked(cls, part: str | None) -> str | None:
        # Reads take text with a `*` for a platform's mask of erased data and leave it out
        # (mappings.records.shown): stored, such a part would never be shown back.
        if part is not None and "*" in part:
            raise ValueError("must not contain '*': the order would be read without it")
        return part

    @field_validator("country_code")
    @classmethod
    def _known_country(cls, code: str) -> str:
        if pycountry.countries.get(alpha_2=code) is None:
            raise ValueError("not an ISO 3166-1 alpha-2 country")
        return code

    @model_validator(mode="after")
    def _region_of_country(self) -> NewShippingAddress:
        if self.region_code is not None:
            region = pycountry.subdivisions.get(code=self.region_code)  # type: ignore[no-untyped-call]
            if region is None or region.country_code != self.country_code:
                raise FieldProblem("region_code", "not an ISO 3166-2 region of that country")
        return self


class CancelItems(WriteBody):
    """W3: 1 to 100 distinct product-line ids of the order."""

    ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=255)]],
        Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True}),
    ]

    @model_validator(mode="after")
    def _distinct(self) -> CancelItems:
        first: dict[str, int] = {}
        for index, line_id in enumerate(self.ids):
            if line_id in first:
                raise FieldProblem(f"ids[{index}]", f"repeats ids[{first[line_id]}]")
            first[line_id] = index
        return self
