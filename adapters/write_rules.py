"""What the write routes decide alike on every platform (SPEC §7), from the ERC side."""

from __future__ import annotations

from typing import Protocol

from adapters.errors import NotAllowed
from mappings.addresses import AddressRecord, same_region
from mappings.models import Address
from mappings.writes import CancelOrder, NewShippingAddress

WHO_RECEIVES = ("first_name", "last_name", "phone_number")
"""Optional address fields about the recipient: kept as they are unless given."""
WHERE_TO = ("address", "city", "country_code", "zip_code", "region_code")
"""The fields of the place itself: a new address replaces each, given or not."""


def asks_for_refund(body: CancelOrder) -> bool:
    """Whether the cancellation asks for money back (to the card or as store credit)."""
    refund = body.refund_method
    return refund is not None and (
        bool(refund.original_payment_method) or refund.store_credit is not None
    )


def refuse_refund(body: CancelOrder, *, platform: str) -> None:
    """NotAllowed (field `refund_method`) when the cancellation asks for a refund that a
    platform's cancellation does not make: the bridge never claims one it did not make."""
    if asks_for_refund(body):
        raise NotAllowed(
            f"{platform} does not refund an order it cancels; the refund has to be made separately",
            field="refund_method",
        )


def shows_address(current: Address | None, new: NewShippingAddress) -> bool:
    """Whether the order already ships to `new`, as the reads show its address.

    `new` is compared as a read would show it (text trimmed, empty as absent, ISO codes),
    so that an address sent again in another form, or as the platform keeps it, is seen.
    A part the reads could not show (anonymized) cannot be confirmed, so is not in place.
    """
    wanted = as_read(new, None)
    if current is None or wanted is None:
        return False
    # An empty recipient part is kept as it is, like one not given (see `recipient`).
    named = [name for name in WHO_RECEIVES if _has_text(getattr(new, name))]
    compared = [*WHERE_TO, *named]
    if any(getattr(wanted, name) is None and _has_text(getattr(new, name)) for name in compared):
        return False
    return same_region(current.region_code, wanted.region_code) and all(
        getattr(current, name) == getattr(wanted, name)
        for name in compared
        if name != "region_code"
    )


def as_read(new: NewShippingAddress, current: Addressee | None) -> Address | None:
    """`new` as the reads show an address, naming whom `current` names where `new` does not
    (`recipient`): what a store that keeps an address as sent reads back after the change."""
    return AddressRecord(
        line1=new.address,
        zip_code=new.zip_code,
        city=new.city,
        region=new.region_code,
        country=new.country_code,
        **recipient(new, current),
    ).normalized()


def _has_text(value: str | None) -> bool:
    return bool(value and value.strip())


class Addressee(Protocol):
    """An address as the platform or the reads show it: whom it names."""

    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def phone_number(self) -> str | None: ...


def recipient(new: NewShippingAddress, current: Addressee | None) -> dict[str, str]:
    """Whom the order ships to after `new`: each of `WHO_RECEIVES` as given, else as it is
    now ("" where neither names it). A part given empty or blank is one not given."""
    return {
        name: _given(getattr(new, name)) or getattr(current, name, None) or ""
        for name in WHO_RECEIVES
    }


def _given(value: str | None) -> str | None:
    return value if _has_text(value) else None
