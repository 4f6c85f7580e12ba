"""Elastic Path Composable Commerce JSON → ERC models (SPEC §5, Elastic Path).

Platform bodies are first validated into the small `EP*` records below, so that a body we
cannot read fails with a `MappingError` naming the field; the functions after them turn
those records into ERC models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, Field, StrictInt

from mappings.addresses import AddressRecord, address_of, addresses_of, billing_address_of
from mappings.bounds import Short, Text, clipped
from mappings.builders import tracking
from mappings.errors import MappingError
from mappings.grants import TokenGrant, parse_grant
from mappings.models import Customer, Delivery, Order, OrderItem, Timestamp
from mappings.money import Money, PriceSummary, iso_currency
from mappings.records import Record, built, shown
from mappings.records import parse as parse
from mappings.records import text as _text
from mappings.status import CancellationStatus, DeliveryType, DetailedStatus

CANCELLED_STATUSES = frozenset({"cancelled", "canceled"})
CONFIRMED_STATUSES = frozenset({"processing", "complete"})
CONFIRMED_PAYMENTS = frozenset({"authorized", "paid"})
PROMOTION_ITEM_TYPES = frozenset({"promotion_item"})


class EPAmount(Record):
    """An amount in integer minor units (FormattedPrice, `unit_price`, `value`)."""

    amount: StrictInt
    currency: Annotated[Short, AfterValidator(iso_currency)]
    includes_tax: bool | None = None

    def money(self) -> Money:
        return Money.from_minor(self.amount, self.currency)


class EPTimestamps(Record):
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class EPRef(Record):
    type: Short | None = None
    id: Short


class EPToOne(Record):
    data: EPRef | None = None


class EPToMany(Record):
    data: list[EPRef] = Field(default_factory=list)


class EPAddress(AddressRecord):
    line1: Short | None = Field(default=None, alias="line_1")
    line2: Short | None = Field(default=None, alias="line_2")
    zip_code: Short | None = Field(default=None, alias="postcode")


class EPCustomerMeta(Record):
    timestamps: EPTimestamps = Field(default_factory=EPTimestamps)


class EPCustomer(Record):
    id: Short
    name: Short | None = None
    email: Short | None = None
    meta: EPCustomerMeta = Field(default_factory=EPCustomerMeta)


Part = TypeVar("Part")


class EPPriceParts(Record, Generic[Part]):
    """The display price parts Elastic Path gives orders, carts and cart lines alike, each
    part an amount (a cart line's: the amounts of one unit and of the line)."""

    with_tax: Part
    without_tax: Part | None = None
    tax: Part | None = None
    discount: Part | None = None


class EPDisplayPrice(EPPriceParts[EPAmount]):
    shipping: EPAmount | None = None


Price = TypeVar("Price", bound=EPPriceParts[Any])


class EPPricedMeta(Record, Generic[Price]):
    """The `meta` of an order or a cart: its display price and when it changed."""

    display_price: Price
    timestamps: EPTimestamps = Field(default_factory=EPTimestamps)


EPOrderMeta = EPPricedMeta[EPDisplayPrice]


class EPOrderRelationships(Record):
    items: EPToMany = Field(default_factory=EPToMany)
    customer: EPToOne = Field(default_factory=EPToOne)


class EPOrder(Record):
    id: Short
    order_number: Short | None = None
    external_ref: Short | None = None
    status: Short | None = None
    payment: Short | None = None
    shipping: Short | None = None
    anonymized: bool = False
    shipping_address: EPAddress | None = None
    billing_address: EPAddress | None = None
    meta: EPOrderMeta
    relationships: EPOrderRelationships = Field(default_factory=EPOrderRelationships)


class EPLineItem(Record):
    """The fields Elastic Path gives order items and cart items alike."""

    type: Short | None = None
    id: Short
    product_id: Short | None = None
    name: Short
    sku: Short | None = None
    quantity: int
    unit_price: EPAmount


class EPItem(EPLineItem):
    shipping_group_id: Short | None = None


class EPDeliveryEstimate(Record):
    start: Timestamp | None = None
    end: Timestamp | None = None


class EPShippingGroup(Record):
    id: Short
    shipping_type: Short | None = None
    tracking_reference: Short | None = None
    delivery_estimate: EPDeliveryEstimate | None = None
    updated_at: Timestamp | None = None


class EPPageInfo(Record):
    limit: int | None = None
    offset: int | None = None


class EPResults(Record):
    total: int | None = None


class EPListMeta(Record):
    page: EPPageInfo | None = None
    results: EPResults | None = None


class EPIncluded(Record):
    items: list[EPItem] = Field(default_factory=list)

    @cached_property
    def by_id(self) -> dict[str, EPItem]:
        # Kept: a page looks up each order's lines in it, up to twice.
        return {item.id: item for item in self.items}


T = TypeVar("T")


class EPList(Record, Generic[T]):
    data: list[T]
    meta: EPListMeta | None = None

    @property
    def total(self) -> int | None:
        """How many records match in all pages, when the platform says."""
        return self.meta.results.total if self.meta and self.meta.results else None


class EPOrderList(EPList[EPOrder]):
    included: EPIncluded = Field(default_factory=EPIncluded)

    def with_items(self) -> list[tuple[EPOrder, list[EPItem] | None]]:
        """Each order of the page with its lines as `included_items` finds them."""
        included = self.included.by_id
        return [(raw, included_items(raw, included)) for raw in self.data]

    def prices_include_tax(self, raw: EPOrder) -> bool | None:
        """What those of the order's lines that the page includes say of tax
        (`prices_include_tax`): EP may include only some of an order's lines."""
        included = self.included.by_id
        ids = (ref.id for ref in raw.relationships.items.data)
        return prices_include_tax([included[item_id] for item_id in ids if item_id in included])


class EPDocument(Record, Generic[T]):
    data: T


class EPOrderDocument(EPDocument[EPOrder]):
    """One order; asked with `include=items`, its lines are in `included.items`."""

    included: EPIncluded = Field(default_factory=EPIncluded)

    def items(self) -> list[EPItem] | None:
        """The order's lines as `included_items` finds them."""
        return included_items(self.data, self.included.by_id)


class EPProblem(Record):
    """What an EP error body says, for the log: `status` may be a number or a string."""

    status: int | None = None
    title: Text | None = None
    detail: Text | None = None


def parse_token_grant(raw: object) -> TokenGrant:
    """The token response; accepted at the top level (as EP sends it) or under `data`."""
    if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
        raw = raw["data"]
    return parse_grant(raw)


def problem(raw: object) -> EPProblem:
    """The first error of an EP error body (`errors` as a list or as one object); never raises."""
    errors = raw.get("errors") if isinstance(raw, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else errors
    if not isinstance(first, dict):
        return EPProblem()
    status = first.get("status")
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    return EPProblem(
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        title=clipped(_text(first.get("title"))),
        detail=clipped(_text(first.get("detail"))),
    )


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """EP keeps one `name`: the first name is the text before the first space."""
    text = shown(name)
    if text is None:
        return None, None
    first, _, rest = text.partition(" ")
    return first, rest.strip() or None


def customer(raw: EPCustomer, addresses: Sequence[EPAddress]) -> Customer:
    first_name, last_name = split_name(raw.name)
    email = shown(raw.email)
    return Customer(
        id=raw.id,
        first_name=first_name,
        last_name=last_name,
        customer_since=raw.meta.timestamps.created_at,
        shipping_addresses=addresses_of(addresses),
        custom_fields={"email": email} if email else None,
    )


def customer_id_of(raw: EPOrder) -> str | None:
    """The customer the order was checked out for; None for guest and account orders."""
    ref = raw.relationships.customer.data
    return ref.id if ref is not None else None


def _word(value: str | None) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def order_status(raw: EPOrder) -> tuple[DetailedStatus, CancellationStatus | None]:
    """SPEC §5 Elastic Path status table: the first matching row wins."""
    status, payment, shipping = _word(raw.status), _word(raw.payment), _word(raw.shipping)
    if status in CANCELLED_STATUSES:
        return DetailedStatus.UNKNOWN, CancellationStatus.CANCELED
    if shipping == "fulfilled":
        return DetailedStatus.IN_TRANSIT, None
    if (
        status in CONFIRMED_STATUSES
        or payment in CONFIRMED_PAYMENTS
        or payment.startswith("partially_")
    ):
        return DetailedStatus.CONFIRMED, None
    return DetailedStatus.UNKNOWN, None


def is_promotion_line(raw: EPLineItem) -> bool:
    """Legacy promotions arrive as order or cart lines of negative value; they are not products.

    A line of zero value (a free gift) is a product, whatever promotion put it there.
    """
    return _word(raw.type) in PROMOTION_ITEM_TYPES or raw.unit_price.amount < 0


def included_items(raw: EPOrder, included: Mapping[str, EPItem]) -> list[EPItem] | None:
    """The order's lines from an `include=items` list; None unless every one of them is there."""
    ids = [ref.id for ref in raw.relationships.items.data]
    if not ids or any(item_id not in included for item_id in ids):
        return None
    return [included[item_id] for item_id in ids]


def order_documents(page: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each order of an `include=items` list (already parsed as `EPOrderList`) as the body
    `GET /v2/orders/{id}?include=items` answers, with its id; only the orders whose lines
    are all on the page."""
    by_id = {item["id"]: item for item in page.get("included", {}).get("items", [])}
    documents = []
    for raw in page["data"]:
        ids = [ref["id"] for ref in raw.get("relationships", {}).get("items", {}).get("data", [])]
        if ids and all(item_id in by_id for item_id in ids):
            items = [by_id[item_id] for item_id in ids]
            documents.append((raw["id"], {"data": raw, "included": {"items": items}}))
    return documents


def prices_include_tax(lines: Sequence[EPItem]) -> bool | None:
    """Whether the store's prices include tax. EP says so on the unit price of each line and
    nowhere on the order: None when `lines` holds no product line (a promotion line says
    False even where prices include tax)."""
    if any(line.unit_price.includes_tax for line in lines):
        return True
    return None if all(map(is_promotion_line, lines)) else False


def price_summary(prices: EPDisplayPrice, *, includes_tax: bool | None) -> PriceSummary | None:
    """`final` = with_tax, `taxes` = tax, `discounts` = |discount|, `original` by the invariant.

    The original total holds the taxes when prices include them: with taxes and no word on
    that (`includes_tax` None), there is no summary rather than a wrong one.
    """
    if includes_tax is None:
        if prices.tax is not None and prices.tax.amount != 0:
            return None
        includes_tax = False  # no taxes: the original total is the same either way
    final = prices.with_tax.money()

    def amount(raw: EPAmount | None) -> Money:
        return raw.money() if raw is not None else Money.zero(final.currency)

    try:
        return PriceSummary.from_final(
            final=final,
            discounts=abs(amount(prices.discount)),
            shipping=amount(prices.shipping),
            taxes=amount(prices.tax),
            tax_inclusive=includes_tax,
        )
    except MappingError as exc:
        raise MappingError(exc.reason, "meta.display_price") from None


def delivery(group: EPShippingGroup, *, quantity: int, status: DetailedStatus) -> Delivery:
    """One shipping group as an ERC delivery of one order line."""
    estimate = group.delivery_estimate
    return built(
        Delivery,
        {
            "id": group.id,
            "delivery_quantity": quantity,
            "carrier": _text(group.shipping_type),
            "delivery_date_start": estimate.start if estimate else None,
            "delivery_date_end": estimate.end if estimate else None,
            "latest_status_info": {"type": status},
            "tracking_info": tracking(_text(group.tracking_reference)),
            "last_update": group.updated_at,
        },
    )


def order_item(
    raw: EPItem,
    *,
    shipping_groups: Mapping[str, EPShippingGroup] | None = None,
    status: DetailedStatus = DetailedStatus.UNKNOWN,
) -> OrderItem:
    group = (shipping_groups or {}).get(raw.shipping_group_id or "")
    product_id = _text(raw.product_id)
    return built(
        OrderItem,
        {
            "id": raw.id,
            "name": raw.name,
            "price": raw.unit_price.money(),
            "quantity": raw.quantity,
            "sku": _text(raw.sku),
            "deliveries": [delivery(group, quantity=raw.quantity, status=status)]
            if group
            else None,
            "custom_fields": {"product_id": product_id} if product_id else None,
        },
    )


def order_items(
    items: Sequence[EPItem],
    *,
    shipping_groups: Sequence[EPShippingGroup] = (),
    status: DetailedStatus = DetailedStatus.UNKNOWN,
) -> list[OrderItem]:
    """The product lines, in platform order; promotion lines are left out."""
    groups = {group.id: group for group in shipping_groups}
    return [
        order_item(item, shipping_groups=groups, status=status)
        for item in items
        if not is_promotion_line(item)
    ]


def custom_fields(raw: EPOrder) -> dict[str, Any]:
    """EP's own order values that ERC has no field for (empty ones left out)."""
    values: dict[str, Any] = {
        "status": raw.status,
        "payment": raw.payment,
        "shipping": raw.shipping,
        "order_number": raw.order_number,
        "external_ref": raw.external_ref,
    }
    kept = {key: value for key, value in values.items() if _text(value) is not None}
    if raw.anonymized:
        kept["anonymized"] = True
    return kept


def order(
    raw: EPOrder,
    *,
    items: Sequence[EPItem] | None,
    shipping_groups: Sequence[EPShippingGroup] = (),
    includes_tax: bool | None = None,
) -> Order:
    """An EP order as an ERC order; `items` None when the caller did not load them all, and
    then `includes_tax` what those it has say of tax (`EPOrderList.prices_include_tax`)."""
    if items is not None:
        includes_tax = prices_include_tax(items)
    owner = customer_id_of(raw)
    if owner is None:
        raise MappingError("the order has no customer", "relationships.customer.data.id")
    detailed, cancellation = order_status(raw)
    shipping_address = address_of(raw.shipping_address)
    return built(
        Order,
        {
            "id": raw.id,
            "order_number": _text(raw.order_number) or raw.id,
            "customer_id": owner,
            "purchase_datetime": raw.meta.timestamps.created_at,
            "delivery_type": DeliveryType.SHIPPING if shipping_address else DeliveryType.UNKNOWN,
            "shipping_address": shipping_address,
            "billing_address": billing_address_of(
                raw.billing_address, raw.shipping_address, shipping_address
            ),
            "items": (
                order_items(items, shipping_groups=shipping_groups, status=detailed)
                if items is not None
                else None
            ),
            "price_summary": price_summary(raw.meta.display_price, includes_tax=includes_tax),
            "status": {"detailed": detailed},
            "cancellation_status": cancellation,
            "custom_fields": custom_fields(raw) or None,
        },
    )


def is_cancelled(raw: EPOrder) -> bool:
    return _word(raw.status) in CANCELLED_STATUSES


def is_fulfilled(raw: EPOrder) -> bool:
    return _word(raw.shipping) == "fulfilled"
