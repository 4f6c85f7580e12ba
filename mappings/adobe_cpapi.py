"""Adobe Commerce Partner API payloads → ERC models (SPEC §5, Adobe).

CPAPI orders buy or return software licences: nothing ships, so every order has delivery
type UNKNOWN and no deliveries. Orders carry offer ids only; names, images and prices come
from the partner's offer catalog, else from the platform's partner pricing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field, ValidationError

from mappings.addresses import AddressRecord
from mappings.adobe_catalog import OfferCatalog
from mappings.bounds import Short
from mappings.builders import items_total
from mappings.errors import MappingError
from mappings.models import Address, Customer, Order, OrderItem, StatusEvent, Timestamp
from mappings.money import Money, PriceSummary
from mappings.records import LenientRecord, parse, present, shown
from mappings.records import text as _text
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus

CANCELLED = "1008"
STATUS_DETAIL: dict[str, DetailedStatus] = {
    "1000": DetailedStatus.DELIVERED,
    "1002": DetailedStatus.CONFIRMED,
    "1004": DetailedStatus.FAILURE,
    "1020": DetailedStatus.FAILURE,
    "1022": DetailedStatus.FAILURE,
    "1024": DetailedStatus.FAILURE,
    "1026": DetailedStatus.FAILURE,
}
"""CPAPI order status → ERC detailed status; `1008` and unknown codes are UNKNOWN."""


class CPAPIPricing(LenientRecord):
    partner_price: Any = Field(default=None, alias="partnerPrice")


class CPAPILineItem(LenientRecord):
    ext_line_item_number: Short = Field(alias="extLineItemNumber")
    offer_id: Short = Field(alias="offerId")
    quantity: int
    subscription_id: Short | None = Field(default=None, alias="subscriptionId")
    status: Short | None = None
    currency_code: Short | None = Field(default=None, alias="currencyCode")
    remaining_quantity: int | None = Field(default=None, alias="remainingQuantity")
    pricing: CPAPIPricing | None = None


class CPAPIOrder(LenientRecord):
    order_id: Short = Field(alias="orderId")
    customer_id: Short = Field(alias="customerId")
    order_type: Short = Field(alias="orderType")
    status: Short = ""
    currency_code: Short | None = Field(default=None, alias="currencyCode")
    creation_date: Timestamp | None = Field(default=None, alias="creationDate")
    external_reference_id: Short | None = Field(default=None, alias="externalReferenceId")
    reference_order_id: Short | None = Field(default=None, alias="referenceOrderId")
    line_items: list[CPAPILineItem] = Field(default_factory=list, alias="lineItems")

    @property
    def kind(self) -> str:
        """`orderType` as CPAPI compares it: `NEW`, `RENEWAL`, `RETURN`, `PREVIEW…`."""
        return self.order_type.strip().upper()

    @property
    def is_return(self) -> bool:
        return self.kind == "RETURN"

    @property
    def is_listable(self) -> bool:
        """Returns and previews are events or quotes, never orders a customer placed."""
        return not self.is_return and not self.kind.startswith("PREVIEW")


class CPAPIHistory(LenientRecord):
    total_count: int = Field(alias="totalCount")
    items: list[CPAPIOrder] = Field(default_factory=list)


class CPAPIAddress(AddressRecord, LenientRecord):
    line1: Short | None = Field(default=None, alias="addressLine1")
    line2: Short | None = Field(default=None, alias="addressLine2")
    zip_code: Short | None = Field(default=None, alias="postalCode")
    phone_number: Short | None = Field(default=None, alias="phoneNumber")


class CPAPIContact(LenientRecord):
    first_name: Short | None = Field(default=None, alias="firstName")
    last_name: Short | None = Field(default=None, alias="lastName")


class CPAPICompanyProfile(LenientRecord):
    company_name: Short | None = Field(default=None, alias="companyName")
    market_segment: Short | None = Field(default=None, alias="marketSegment")
    address: CPAPIAddress | None = None
    contacts: list[CPAPIContact] = Field(default_factory=list)


class CPAPICustomer(LenientRecord):
    customer_id: Short = Field(alias="customerId")
    external_reference_id: Short | None = Field(default=None, alias="externalReferenceId")
    status: Short | None = None
    creation_date: Timestamp | None = Field(default=None, alias="creationDate")
    coterm_date: Short | None = Field(default=None, alias="cotermDate")
    company_profile: CPAPICompanyProfile = Field(
        default_factory=CPAPICompanyProfile, alias="companyProfile"
    )


def parse_order(raw: Any, path: str = "") -> CPAPIOrder:
    return parse(CPAPIOrder, raw, path)


def parse_history(raw: Any) -> CPAPIHistory:
    return parse(CPAPIHistory, raw)


def parse_customer(raw: Any) -> CPAPICustomer:
    return parse(CPAPICustomer, raw)


def customer(raw: CPAPICustomer) -> Customer:
    """R1: the company address is the one shipping address; the name is the first contact's."""
    profile = raw.company_profile
    contact = profile.contacts[0] if profile.contacts else CPAPIContact()
    shipping = _company_address(profile.address or CPAPIAddress(), contact)
    custom = {
        "company_name": shown(profile.company_name),
        "market_segment": _text(profile.market_segment),
        "external_reference_id": _text(raw.external_reference_id),
        "cpapi_status": _text(raw.status),
        "coterm_date": _text(raw.coterm_date),
    }
    return Customer(
        id=raw.customer_id,
        first_name=shown(contact.first_name),
        last_name=shown(contact.last_name),
        customer_since=raw.creation_date,
        shipping_addresses=[shipping] if shipping else None,
        custom_fields=present(custom),
    )


def _company_address(address: CPAPIAddress, contact: CPAPIContact) -> Address | None:
    if address.normalized() is None:
        return None  # a contact's name alone is not an address
    named = {"first_name": contact.first_name, "last_name": contact.last_name, "default": True}
    return address.model_copy(update=named).normalized()


def status(code: str) -> tuple[StatusEvent, CancellationStatus | None]:
    """The SPEC table: `1008` is cancelled, failures are FAILURE, unknown codes UNKNOWN."""
    code = code.strip()
    cancellation = CancellationStatus.CANCELED if code == CANCELLED else None
    return StatusEvent(detailed=STATUS_DETAIL.get(code, DetailedStatus.UNKNOWN)), cancellation


def _unit_price(
    line: CPAPILineItem, order_currency: str | None, catalog_price: Money | None, path: str
) -> Money | None:
    """Catalog price in the order's currency, else the partner price, else none."""
    currency = _text(order_currency) or _text(line.currency_code)
    if catalog_price is not None and currency and catalog_price.currency == currency.upper():
        return catalog_price
    partner_price = line.pricing.partner_price if line.pricing else None
    line_currency = _text(line.currency_code) or currency
    if partner_price is None or line_currency is None:
        return None
    try:
        return Money.of(partner_price, line_currency, path=f"{path}.pricing.partnerPrice")
    except ValidationError:  # the amount was fine: the currency is not ISO 4217
        raise MappingError(f"unknown currency {line_currency!r}", f"{path}.currencyCode") from None


def item(line: CPAPILineItem, currency: str | None, catalog: OfferCatalog, path: str) -> OrderItem:
    offer = catalog.get(line.offer_id)
    custom = {
        "subscription_id": _text(line.subscription_id),
        "cpapi_status": _text(line.status),
        "remaining_quantity": line.remaining_quantity,
    }
    return OrderItem(
        id=line.ext_line_item_number,
        name=(offer.name if offer else None) or line.offer_id,
        price=_unit_price(line, currency, offer.price if offer else None, path),
        image_url=offer.image_url if offer else None,
        quantity=line.quantity,
        sku=line.offer_id,
        custom_fields=present(custom),
    )


def price_summary(items: list[OrderItem]) -> PriceSummary | None:
    """The items' total, only when every item has a price in one currency.

    CPAPI reports no tax, shipping or end-customer discount, so those are zero.
    """
    total = items_total(items)
    if total is None:
        return None
    zero = Money.zero(total.currency)
    return PriceSummary.from_original(original=total, discounts=zero, shipping=zero, taxes=zero)


def order(
    raw: CPAPIOrder,
    *,
    catalog: OfferCatalog,
    return_ids: Iterable[str] = (),
    path: str = "",
) -> Order:
    """One CPAPI order; `return_ids` are the RETURN orders that reference it, when known."""
    prefix = f"{path}." if path else ""
    items = [
        item(line, raw.currency_code, catalog, f"{prefix}lineItems.{index}")
        for index, line in enumerate(raw.line_items)
    ]
    current, cancellation = status(raw.status)
    subscriptions = {
        line.ext_line_item_number: line.subscription_id.strip()
        for line in raw.line_items
        if line.subscription_id and line.subscription_id.strip()
    }
    custom: dict[str, Any] = {
        "order_type": raw.order_type,
        "external_reference_id": _text(raw.external_reference_id),
        "cpapi_status": _text(raw.status),
        "subscription_ids": subscriptions or None,
        "return_order_ids": list(return_ids) or None,
    }
    return Order(
        id=raw.order_id,
        order_number=raw.order_id,
        customer_id=raw.customer_id,
        purchase_datetime=raw.creation_date,
        delivery_type=DeliveryType.UNKNOWN,
        items=items,
        price_summary=price_summary(items),
        status=current,
        cancellation_status=cancellation,
        custom_fields=present(custom),
    )


def returns_of(order_id: str, candidates: Iterable[CPAPIOrder]) -> list[str]:
    """Ids of the RETURN orders among `candidates` that reference `order_id`."""
    return [
        candidate.order_id
        for candidate in candidates
        if candidate.is_return and (candidate.reference_order_id or "").strip() == order_id
    ]


def remaining(line: CPAPILineItem) -> int:
    """Licences of the line not yet returned: `remainingQuantity` when CPAPI sends it, else
    none once the line is cancelled (`1008`), else the whole quantity."""
    if line.remaining_quantity is not None:
        return max(line.remaining_quantity, 0)
    return 0 if (line.status or "").strip() == CANCELLED else line.quantity


def return_order(
    original: CPAPIOrder, lines: Iterable[tuple[CPAPILineItem, int]]
) -> dict[str, Any]:
    """The body of a RETURN order giving back `quantity` licences of each (line, quantity)
    of `original`; lines keep the original's `extLineItemNumber` and `offerId`."""
    currency = _text(original.currency_code)
    items = [
        {
            "extLineItemNumber": _line_number(line.ext_line_item_number),
            "offerId": line.offer_id,
            "quantity": quantity,
            "currencyCode": currency or _text(line.currency_code),
        }
        for line, quantity in lines
    ]
    body: dict[str, Any] = {
        "referenceOrderId": original.order_id,
        "orderType": "RETURN",
        "lineItems": items,
    }
    if currency:
        body["currencyCode"] = currency
    return body


def _line_number(text: str) -> int | str:
    """CPAPI line numbers are integers; the model keeps them as text. Only ASCII digits
    are sent back as a number: `isdigit` also takes a superscript, which `int` refuses."""
    return int(text) if text.isascii() and text.isdigit() else text
