"""What the write routes decide alike on every platform (SPEC §7), from the ERC side."""

from __future__ import annotations

from typing import Protocol

from adapters.errors import NotAllowed
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
    """Whether the order already ships to `new`, as the reads show its address."""
    if current is None:
        return False
    given = new.model_fields_set
    return all(getattr(current, name) == getattr(new, name) for name in WHERE_TO) and all(
        getattr(current, name) == getattr(new, name) for name in WHO_RECEIVES if name in given
    )


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
    now ("" where neither names it)."""
    return {name: getattr(new, name) or getattr(current, name, None) or "" for name in WHO_RECEIVES}
