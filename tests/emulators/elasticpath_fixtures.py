"""An invented Elastic Path store: customers, addresses, orders, order items, shipping groups.

Orders are built from their lines so that every total is consistent the way EP computes
it: integer minor units, negative discounts, `with_tax` = lines + promotions + shipping.
Names, addresses, ids and amounts are made up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mappings.money import currency_exponent

Json = dict[str, Any]

_NAMESPACE = uuid.UUID("6f0c2a4e-1d8b-4f3a-9c57-2e8b1d0a7f64")


def uid(name: str) -> str:
    """A stable UUID for a fixture name."""
    return str(uuid.uuid5(_NAMESPACE, name))


MARIA = "0c5d2f1e-7a4b-4c1e-9f0a-3b8e6d2a9c41"
HANS = uid("customer:hans")
YUKI = uid("customer:yuki")
FATIMA = uid("customer:fatima")
OLIVIA = uid("customer:olivia")
BRUNO = uid("customer:bruno")
NOAH = uid("customer:noah")
HUGE = uid("customer:huge")
SOFIA = uid("customer:sofia")

ORDER_COMPLETE = "b3f6c9d2-4e1a-4a7b-8c2d-5f0e9a1b7c63"
ORDER_FULFILLED = uid("order:fulfilled")
ORDER_CANCELLED = uid("order:cancelled")
ORDER_PROCESSING = uid("order:processing")
ORDER_PARTIAL = uid("order:partial")
ORDER_DIGITAL = uid("order:digital")
ORDER_UNPAID = uid("order:unpaid")
ORDER_PROMO = uid("order:promo")
ORDER_ANONYMIZED = uid("order:anonymized")
ORDER_EUR = uid("order:eur")
ORDER_JPY = uid("order:jpy")
ORDER_KWD = uid("order:kwd")
ORDER_BIG = uid("order:big")
ORDER_GUEST = uid("order:guest")
ORDER_TWO_GROUPS = uid("order:two-groups")  # not fulfilled yet, shipped in two groups

GROUP_COMPLETE = "9e2c5b71-4d08-4a3f-b6e1-0c7d2f8a5b34"
GROUP_FEDEX = uid("group:fedex")
GROUP_USPS = uid("group:usps")
GROUP_HOME = uid("group:home")
GROUP_OFFICE = uid("group:office")

BULK_ORDERS = 120
BIG_ORDER_LINES = 120


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def formatted(amount: int, currency: str) -> str:
    exponent = currency_exponent(currency)
    major = Decimal(amount).scaleb(-exponent)
    return f"{major:,.{exponent}f} {currency}"


def price(amount: int, currency: str) -> Json:
    return {"amount": amount, "currency": currency, "formatted": formatted(amount, currency)}


def address(
    line_1: str,
    city: str,
    postcode: str,
    region: str,
    country: str,
    *,
    first_name: str = "",
    last_name: str = "",
    line_2: str = "",
    phone_number: str = "",
    address_id: str | None = None,
) -> Json:
    found: Json = {
        "first_name": first_name,
        "last_name": last_name,
        "company_name": "",
        "line_1": line_1,
        "line_2": line_2,
        "city": city,
        "postcode": postcode,
        "county": "",
        "region": region,
        "country": country,
    }
    if phone_number:
        found["phone_number"] = phone_number
    if address_id:
        found = {"type": "address", "id": address_id, **found}
    return found


ANONYMIZED_ADDRESS = {
    "first_name": "*",
    "last_name": "*",
    "phone_number": "*",
    "company_name": "*",
    "line_1": "*",
    "line_2": "*",
    "city": "*",
    "postcode": "*",
    "county": "*",
    "region": "*",
    "country": "GB",
    "instructions": "*",
}
EMPTY_ADDRESS = address("", "", "", "", "")


@dataclass(frozen=True)
class Line:
    """One product line as the store priced it (gross amounts when prices include tax)."""

    name: str
    sku: str
    unit: int
    quantity: int = 1
    discount: int = 0
    code: str = ""
    shipping_group: str | None = None
    id: str = ""


@dataclass(frozen=True)
class Promotion:
    """A legacy promotion, checked out as an order line of negative value."""

    code: str
    amount: int


@dataclass
class Store:
    customers: dict[str, Json] = field(default_factory=dict)
    addresses: dict[str, list[Json]] = field(default_factory=dict)
    orders: list[Json] = field(default_factory=list)
    items: dict[str, list[Json]] = field(default_factory=dict)
    shipping_groups: dict[str, list[Json]] = field(default_factory=dict)
    shelf: Shelf | None = None
    """The catalog and the carts (default_store has them; other stores none)."""

    def add_customer(
        self, customer_id: str, name: str, email: str, since: str, addresses: Sequence[Json] = ()
    ) -> None:
        self.customers[customer_id] = {
            "type": "customer",
            "id": customer_id,
            "name": name,
            "email": email,
            "password": True,
            "meta": {"timestamps": {"created_at": since, "updated_at": since}},
        }
        self.addresses[customer_id] = list(addresses)

    def add_order(
        self,
        order_id: str,
        *,
        customer_id: str | None,
        created_at: str,
        currency: str,
        lines: list[Line],
        order_number: str | None = None,
        status: str = "complete",
        payment: str = "paid",
        shipping: str = "unfulfilled",
        tax_rate: str = "0",
        tax_inclusive: bool = False,
        shipping_cost: int | None = None,
        promotions: tuple[Promotion, ...] = (),
        shipping_address: Json | None = None,
        billing_address: Json | None = None,
        anonymized: bool = False,
        external_ref: str = "",
        shipping_groups: tuple[Json, ...] = (),
    ) -> None:
        rate = Decimal(tax_rate)
        items = [
            _item(order_id, index, line, currency, rate, tax_inclusive, created_at)
            for index, line in enumerate(lines)
        ]
        items += [_promotion_item(order_id, promo, currency, created_at) for promo in promotions]
        with_tax = sum(i["meta"]["display_price"]["with_tax"]["value"]["amount"] for i in items)
        tax = sum(i["meta"]["display_price"]["tax"]["value"]["amount"] for i in items)
        discount = sum(i["meta"]["display_price"]["discount"]["value"]["amount"] for i in items)
        with_tax += shipping_cost or 0
        display = {
            "with_tax": price(with_tax, currency),
            "without_tax": price(with_tax - tax, currency),
            "tax": price(tax, currency),
            "discount": price(discount, currency),
            "without_discount": price(with_tax - tax - discount, currency),
            "balance_owing": price(0 if payment == "paid" else with_tax, currency),
            "paid": price(with_tax if payment == "paid" else 0, currency),
            "authorized": price(with_tax if payment == "authorized" else 0, currency),
        }
        if shipping_cost is not None:
            display["shipping"] = price(shipping_cost, currency)
        relationships: Json = {
            "items": {"data": [{"type": "item", "id": item["id"]} for item in items]}
        }
        if customer_id is not None:
            relationships["customer"] = {"data": {"type": "customer", "id": customer_id}}
        customer = self.customers.get(customer_id or "", {"name": "Guest Shopper", "email": ""})
        order: Json = {
            "type": "order",
            "id": order_id,
            "status": status,
            "payment": payment,
            "shipping": shipping,
            "external_ref": external_ref,
            "anonymized": anonymized,
            "customer": {
                "name": "*" if anonymized else customer["name"],
                "email": "*" if anonymized else customer["email"],
            },
            "shipping_address": shipping_address if shipping_address is not None else EMPTY_ADDRESS,
            "billing_address": billing_address if billing_address is not None else EMPTY_ADDRESS,
            "links": {},
            "meta": {
                "display_price": display,
                "timestamps": {"created_at": created_at, "updated_at": created_at},
            },
            "relationships": relationships,
        }
        if order_number is not None:
            order["order_number"] = order_number
        self.orders.append(order)
        self.items[order_id] = items
        self.shipping_groups[order_id] = list(shipping_groups)

    def order(self, order_id: str) -> Json | None:
        return next((o for o in self.orders if o["id"] == order_id), None)

    def newest_first(self, customer_id: str) -> list[str]:
        """Ids of the customer's orders, newest first: the order EP lists them in."""
        mine = [o for o in self.orders if owner(o) == customer_id]
        mine.sort(key=lambda o: o["meta"]["timestamps"]["created_at"], reverse=True)
        return [o["id"] for o in mine]


def owner(order: Json) -> str | None:
    return ((order["relationships"].get("customer") or {}).get("data") or {}).get("id")


def fixture_name(value: object) -> str | None:
    """The constant's name for a fixture id, so that test ids do not print UUIDs."""
    if not isinstance(value, str):
        return None
    names = {v: k.lower() for k, v in globals().items() if k.isupper() and isinstance(v, str)}
    return names.get(value)


def _split_tax(net: int, rate: Decimal, inclusive: bool) -> tuple[int, int]:
    """(tax, with_tax) of a net line amount."""
    if inclusive:
        tax = (Decimal(net) * rate / (1 + rate)).quantize(Decimal(1), ROUND_HALF_UP)
        return int(tax), net
    tax = (Decimal(net) * rate).quantize(Decimal(1), ROUND_HALF_UP)
    return int(tax), net + int(tax)


def _pair(unit: int, value: int, currency: str) -> Json:
    return {"unit": price(unit, currency), "value": price(value, currency)}


def _item(
    order_id: str,
    index: int,
    line: Line,
    currency: str,
    rate: Decimal,
    inclusive: bool,
    created_at: str,
) -> Json:
    value = line.unit * line.quantity
    net = value - line.discount
    tax, with_tax = _split_tax(net, rate, inclusive)
    per_unit = line.quantity
    item: Json = {
        "type": "order_item",
        "id": line.id or uid(f"{order_id}:item:{index}"),
        "product_id": uid(f"product:{line.sku}"),
        "name": line.name,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price": {"amount": line.unit, "currency": currency, "includes_tax": inclusive},
        "value": {"amount": value, "currency": currency, "includes_tax": inclusive},
        "discounts": [],
        "links": {},
        "meta": {
            "display_price": {
                "with_tax": _pair(with_tax // per_unit, with_tax, currency),
                "without_tax": _pair((with_tax - tax) // per_unit, with_tax - tax, currency),
                "tax": _pair(tax // per_unit, tax, currency),
                "discount": _pair(-line.discount // per_unit, -line.discount, currency),
                "without_discount": _pair(line.unit, value, currency),
            },
            "timestamps": {"created_at": created_at, "updated_at": created_at},
        },
        "relationships": {
            "cart_item": {"data": {"type": "cart_item", "id": uid(f"{order_id}:cart:{index}")}}
        },
        "catalog_id": uid("catalog:main"),
        "catalog_source": "pim",
    }
    if line.discount:
        item["discounts"] = [
            {
                "amount": {
                    "amount": -line.discount,
                    "currency": currency,
                    "includes_tax": inclusive,
                },
                "code": line.code,
                "id": uid(f"promotion:{line.code}"),
                "promotion_source": "rule-promotion",
            }
        ]
        item["meta"]["display_price"]["discounts"] = {line.code: price(-line.discount, currency)}
    if line.shipping_group:
        item["shipping_group_id"] = line.shipping_group
    return item


def _promotion_item(order_id: str, promo: Promotion, currency: str, created_at: str) -> Json:
    amount = -promo.amount
    zero = _pair(0, 0, currency)
    reduction = _pair(amount, amount, currency)
    return {
        "type": "order_item",
        "id": uid(f"{order_id}:promotion:{promo.code}"),
        "product_id": uid(f"promotion:{promo.code}"),
        "name": f"Promotion {promo.code}",
        "sku": promo.code,
        "quantity": 1,
        "unit_price": {"amount": amount, "currency": currency, "includes_tax": False},
        "value": {"amount": amount, "currency": currency, "includes_tax": False},
        "discounts": [],
        "links": {},
        "meta": {
            "display_price": {
                "with_tax": reduction,
                "without_tax": reduction,
                "tax": zero,
                "discount": reduction,
                "without_discount": zero,
            },
            "timestamps": {"created_at": created_at, "updated_at": created_at},
        },
        "relationships": {},
        "catalog_source": "legacy",
    }


def shipping_group(
    group_id: str,
    order_id: str,
    *,
    shipping_type: str,
    tracking_reference: str,
    estimate: tuple[str, str] | None,
    destination: Json,
    cost: int,
    currency: str,
    updated_at: str,
) -> Json:
    return {
        "type": "shipping_group",
        "id": group_id,
        "relation": "order",
        "order_id": order_id,
        "cart_id": uid(f"{order_id}:cart"),
        "shipping_type": shipping_type,
        "tracking_reference": tracking_reference,
        "address": destination,
        "delivery_estimate": {"start": estimate[0], "end": estimate[1]} if estimate else {},
        "created_at": updated_at,
        "updated_at": updated_at,
        "relationships": {"order": {"data": {"type": "order", "id": order_id}}},
        "meta": {
            "shipping_display_price": {
                "total": price(cost, currency),
                "base": price(cost, currency),
                "tax": price(0, currency),
                "fees": price(0, currency),
            }
        },
    }


MARIA_HOME = address(
    "742 Alder Street",
    "Portland",
    "97205",
    "OR",
    "US",
    first_name="Maria",
    last_name="Santos",
    line_2="Apt 5",
    phone_number="+1 415 555 0142",
)
MARIA_WORK = address("1200 NW Naito Pkwy", "Portland", "97209", "US-OR", "US")


def _maria(store: Store) -> None:
    store.add_customer(
        MARIA,
        "Maria Santos",
        "maria.santos@example.org",
        "2019-03-04T10:15:00Z",
        [
            {**MARIA_HOME, "type": "address", "id": uid("address:maria:home"), "name": "Home"},
            {**MARIA_WORK, "type": "address", "id": uid("address:maria:work"), "name": "Work"},
        ],
    )
    # The order of platforms.md §2.11: 8 % tax, a rule promotion, one shipping group.
    store.add_order(
        ORDER_COMPLETE,
        customer_id=MARIA,
        order_number="EP-100234",
        created_at="2025-03-14T18:22:05Z",
        currency="USD",
        tax_rate="0.08",
        shipping_cost=750,
        lines=[
            Line(
                "Trail Runner Shoe - Size 9",
                "TRS-BLK-09",
                8999,
                discount=900,
                code="SPRING10",
                shipping_group=GROUP_COMPLETE,
                id="1a9e4c27-63d0-4f8b-a5c2-7e0d3b9f1a84",
            ),
            Line(
                "Merino Hiking Socks",
                "MHS-GRY-M",
                1299,
                quantity=2,
                shipping_group=GROUP_COMPLETE,
                id="5d2b8f60-1c7e-4a3d-9b45-c8e1f0a2d376",
            ),
        ],
        shipping_address=MARIA_HOME,
        billing_address=MARIA_HOME,
        shipping_groups=(
            shipping_group(
                GROUP_COMPLETE,
                ORDER_COMPLETE,
                shipping_type="UPS Ground",
                tracking_reference="1Z84X7E90312345678",
                estimate=("2025-03-18T00:00:00Z", "2025-03-20T23:59:59Z"),
                destination=MARIA_HOME,
                cost=750,
                currency="USD",
                updated_at="2025-03-15T09:02:17.508Z",
            ),
        ),
    )
    store.add_order(
        ORDER_FULFILLED,
        customer_id=MARIA,
        order_number="EP-100391",
        created_at="2025-05-06T08:30:00Z",
        currency="USD",
        tax_rate="0.08",
        shipping_cost=1250,
        shipping="fulfilled",
        external_ref="OMS-55120",
        lines=[
            Line("Alpine Tent 2P", "TNT-ALP-2P", 34900, shipping_group=GROUP_FEDEX),
            Line("Camp Mug", "MUG-CMP", 1450, quantity=2, shipping_group=GROUP_USPS),
        ],
        shipping_address=MARIA_HOME,
        billing_address=MARIA_HOME,
        shipping_groups=(
            shipping_group(
                GROUP_FEDEX,
                ORDER_FULFILLED,
                shipping_type="FedEx Home Delivery",
                tracking_reference="794698547301",
                estimate=("2025-05-09T00:00:00Z", "2025-05-12T23:59:59Z"),
                destination=MARIA_HOME,
                cost=900,
                currency="USD",
                updated_at="2025-05-07T16:40:00Z",
            ),
            shipping_group(
                GROUP_USPS,
                ORDER_FULFILLED,
                shipping_type="USPS Ground Advantage",
                tracking_reference="",
                estimate=None,
                destination=MARIA_HOME,
                cost=350,
                currency="USD",
                updated_at="2025-05-07T16:45:00Z",
            ),
        ),
    )
    store.add_order(
        ORDER_CANCELLED,
        customer_id=MARIA,
        order_number="EP-099870",
        created_at="2025-02-01T12:00:00Z",
        currency="USD",
        status="cancelled",
        payment="refunded",
        lines=[Line("Rain Shell Jacket", "RSJ-NVY-M", 12900)],
        shipping_address=MARIA_HOME,
        billing_address=MARIA_HOME,
    )
    store.add_order(
        ORDER_PROCESSING,
        customer_id=MARIA,
        order_number="EP-100355",
        created_at="2025-04-20T09:45:00Z",
        currency="USD",
        status="processing",
        payment="authorized",
        tax_rate="0.08",
        shipping_cost=500,
        lines=[Line("Headlamp 400", "HLP-400", 3999)],
        shipping_address=MARIA_WORK,
        billing_address=MARIA_HOME,
    )
    # Ten and twenty cents: the total must read 0.3, never 0.30000000000000004.
    store.add_order(
        ORDER_PARTIAL,
        customer_id=MARIA,
        created_at="2025-04-25T15:00:00Z",
        currency="USD",
        status="incomplete",
        payment="partially_paid",
        lines=[Line("Trail Sticker", "STK-TRL", 10), Line("Pin Badge", "PIN-BDG", 20)],
        shipping_address=MARIA_HOME,
        billing_address=MARIA_HOME,
    )
    store.add_order(
        ORDER_DIGITAL,
        customer_id=MARIA,
        order_number="EP-100377",
        created_at="2025-05-01T10:00:00Z",
        currency="USD",
        status="incomplete",
        payment="partially_authorized",
        lines=[Line("Gift Card $50", "GFT-50", 5000)],
        billing_address=MARIA_HOME,
    )
    store.add_order(
        ORDER_UNPAID,
        customer_id=MARIA,
        order_number="EP-100380",
        created_at="2025-05-03T19:20:00Z",
        currency="USD",
        status="incomplete",
        payment="unpaid",
        lines=[Line("Water Filter", "H2O-FLT", 5495)],
        shipping_address=MARIA_HOME,
        billing_address=MARIA_HOME,
    )
    store.add_order(
        ORDER_PROMO,
        customer_id=MARIA,
        order_number="EP-100301",
        created_at="2025-03-28T11:11:11Z",
        currency="USD",
        tax_rate="0.08",
        shipping_cost=0,
        lines=[
            Line("Trekking Poles", "TRK-PLS", 7900, discount=790, code="POLES10"),
            Line("Dry Bag 20L", "DRY-20", 2400),
        ],
        promotions=(Promotion("WELCOME5", 500),),
        shipping_address=MARIA_HOME,
        billing_address=MARIA_HOME,
    )
    store.add_order(
        ORDER_ANONYMIZED,
        customer_id=MARIA,
        order_number="EP-098001",
        created_at="2025-01-10T07:00:00Z",
        currency="USD",
        anonymized=True,
        lines=[Line("Sun Hat", "HAT-SUN", 2900)],
        shipping_address=ANONYMIZED_ADDRESS,
        billing_address=ANONYMIZED_ADDRESS,
    )


def _other_customers(store: Store) -> None:
    berlin = address(
        "Friedrichstraße 43",
        "Berlin",
        "10117",
        "BE",
        "DE",
        first_name="Hans Peter",
        last_name="Müller",
        phone_number="+49 30 5550199",
    )
    store.add_customer(
        HANS,
        "Hans Peter Müller",
        "hp.mueller@example.de",
        "2020-11-02T08:00:00Z",
        [{**berlin, "type": "address", "id": uid("address:hans")}],
    )
    # Prices include 19 % VAT: taxes are shown but not added again.
    store.add_order(
        ORDER_EUR,
        customer_id=HANS,
        order_number="DE-2025-0042",
        created_at="2025-04-11T13:05:00Z",
        currency="EUR",
        tax_rate="0.19",
        tax_inclusive=True,
        shipping_cost=490,
        lines=[
            Line("Wanderrucksack 30L", "RCK-30", 11900, discount=1190, code="FRUEHLING"),
            Line("Trinkflasche", "FLS-075", 1990, quantity=3),
        ],
        shipping_address=berlin,
        billing_address=berlin,
    )
    tokyo = address(
        "1-1-2 Oshiage", "Sumida-ku", "131-0045", "13", "JP", first_name="Yuki", last_name="Tanaka"
    )
    store.add_customer(
        YUKI, "Yuki Tanaka", "yuki.tanaka@example.jp", "2022-01-11T01:30:00Z", [tokyo]
    )
    store.add_order(
        ORDER_JPY,
        customer_id=YUKI,
        order_number="JP-7781",
        created_at="2025-06-01T03:00:00Z",
        currency="JPY",
        status="processing",
        tax_rate="0.10",
        shipping_cost=800,
        lines=[
            Line("Ultralight Stove", "STV-UL", 12800),
            Line("Fuel Canister", "FUEL-230", 650, 2),
        ],
        shipping_address=tokyo,
        billing_address=tokyo,
    )
    kuwait = address(
        "Arabian Gulf Street, Block 4", "Kuwait City", "13001", "KU", "KW", first_name="Fatima"
    )
    store.add_customer(
        FATIMA, "Fatima Al-Sabah", "fatima@example.com.kw", "2023-09-01T07:45:00Z", [kuwait]
    )
    store.add_order(
        ORDER_KWD,
        customer_id=FATIMA,
        order_number="KW-3302",
        created_at="2025-06-15T06:30:00Z",
        currency="KWD",
        shipping_cost=1500,
        lines=[Line("Desert Scarf", "SCF-DST", 12750), Line("Sandals", "SND-LTH", 8125, 2)],
        shipping_address=kuwait,
        billing_address=kuwait,
    )
    store.add_customer(OLIVIA, "Olivia Wholesale", "olivia@example.com", "2024-02-02T02:02:02Z")
    store.add_order(
        ORDER_BIG,
        customer_id=OLIVIA,
        order_number="WH-0120",
        created_at="2025-07-01T10:00:00Z",
        currency="USD",
        lines=[
            Line(f"Bulk Item {n:03d}", f"BLK-{n:03d}", 100 + (n * 7919) % 5000, quantity=1 + n % 4)
            for n in range(1, BIG_ORDER_LINES + 1)
        ],
        promotions=(Promotion("BULK20", 2000),),
    )
    store.add_customer(BRUNO, "Bruno Bulk", "bruno@example.com", "2023-12-24T00:00:00Z")
    statuses = [("complete", "paid"), ("processing", "authorized"), ("incomplete", "unpaid")]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(BULK_ORDERS):
        status, payment = statuses[n % len(statuses)]
        store.add_order(
            uid(f"order:bulk:{n}"),
            customer_id=BRUNO,
            # 37 and 120 are coprime: numbers run in another order than purchase times.
            order_number=f"BULK-{(n * 37) % BULK_ORDERS + 1:04d}",
            created_at=iso(start + timedelta(hours=n)),
            currency="USD",
            status=status,
            payment=payment,
            lines=[Line("Energy Bar", "BAR-NRG", 250, quantity=1 + n % 5)],
        )
    store.add_customer(NOAH, "Noah", "noah@example.net", "2025-11-01T09:00:00Z")
    store.add_order(
        ORDER_GUEST,
        customer_id=None,
        order_number="EP-GUEST-1",
        created_at="2025-05-05T05:05:05Z",
        currency="USD",
        lines=[Line("Camp Chair", "CHR-CMP", 4500)],
        shipping_address=MARIA_HOME,
    )


def _sofia(store: Store) -> None:
    """An order split into two shipping groups, each to its own address."""
    home = address("Rua Augusta 120", "Lisboa", "1100-053", "11", "PT", first_name="Sofia")
    office = address("Avenida da Liberdade 50", "Lisboa", "1250-145", "11", "PT")
    store.add_customer(SOFIA, "Sofia Almeida", "sofia@example.pt", "2024-05-05T10:00:00Z", [home])
    store.add_order(
        ORDER_TWO_GROUPS,
        customer_id=SOFIA,
        order_number="PT-0007",
        created_at="2025-08-01T10:00:00Z",
        currency="EUR",
        status="processing",
        lines=[
            Line("Cork Notebook", "NTB-CRK", 1500, shipping_group=GROUP_HOME),
            Line("Desk Lamp", "LMP-DSK", 4900, shipping_group=GROUP_OFFICE),
        ],
        shipping_address=home,
        billing_address=home,
        shipping_groups=tuple(
            shipping_group(
                group,
                ORDER_TWO_GROUPS,
                shipping_type="CTT Expresso",
                tracking_reference="",
                estimate=None,
                destination=destination,
                cost=0,
                currency="EUR",
                updated_at="2025-08-01T10:00:00Z",
            )
            for group, destination in ((GROUP_HOME, home), (GROUP_OFFICE, office))
        ),
    )


def default_store() -> Store:
    store = Store()
    _maria(store)
    _other_customers(store)
    _sofia(store)
    store.shelf = default_shelf()
    return store


def huge_store(orders: int = 10_150) -> Store:
    """One customer with more orders than EP can page through (its offset cap is 10,000)."""
    store = Store()
    store.add_customer(HUGE, "Hugo Many", "hugo@example.com", "2015-01-01T00:00:00Z")
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for n in range(orders):
        store.add_order(
            uid(f"order:huge:{n}"),
            customer_id=HUGE,
            order_number=f"H-{n:05d}",
            created_at=iso(start + timedelta(minutes=n)),
            currency="USD",
            lines=[Line("Coffee", "COF", 450)],
        )
    return store


# Catalog and carts (SPEC §8): the emulator's `/catalog/products`, `/inventories/multiple`
# and `/v2/carts/{id}` read these.

PRODUCT_MUG = uid("product:MUG-CMP")
PRODUCT_HEADLAMP = uid("product:HDL-300")  # out of stock
PRODUCT_GIFT_CARD = uid("product:GFT-050")  # EP keeps no stock for it
PRODUCT_JACKET = uid("product:JKT-TRL")  # a parent with four child products
JACKET_BLUE_M = uid("product:JKT-TRL-BLU-M")
JACKET_BLUE_L = uid("product:JKT-TRL-BLU-L")  # out of stock
JACKET_RED_M = uid("product:JKT-TRL-RED-M")
JACKET_RED_L = uid("product:JKT-TRL-RED-L")
BULK_PRODUCTS = 23

CART_MARIA = uid("cart:maria")  # two lines, a line discount and a cart promotion
CART_EMPTY_USED = uid("cart:emptied")  # emptied by its shopper: a cart, with nothing in it
CART_SHELF_CURRENCY = "USD"


@dataclass
class Shelf:
    """What the shopper side of the store holds: the catalog and the carts."""

    catalog: list[Json] = field(default_factory=list)
    main_images: dict[str, Json] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)
    carts: dict[str, Json] = field(default_factory=dict)
    cart_items: dict[str, list[Json]] = field(default_factory=dict)
    carts_made_by_reads: list[str] = field(default_factory=list)
    """Ids EP answered with a cart it made on the spot, in order (deleted ones stay listed)."""

    def product(self, product_id: str) -> Json | None:
        return next((p for p in self.catalog if p["id"] == product_id), None)

    def add_product(
        self,
        product_id: str,
        name: str,
        sku: str,
        amount: int,
        *,
        kind: str = "standard",
        stock: int | None = None,
        description: str = "",
        image: bool = True,
        variations: Sequence[tuple[str, Sequence[str]]] = (),
        choices: Sequence[tuple[str, str]] = (),
        parent: str | None = None,
    ) -> None:
        meta: Json = {
            "display_price": {
                "with_tax": price(amount, CART_SHELF_CURRENCY),
                "without_tax": price(amount, CART_SHELF_CURRENCY),
            },
            "product_types": [kind],
            "catalog_source": "pim",
        }
        if variations:
            meta["variations"] = [
                {
                    "id": uid(f"variation:{name}"),
                    "name": name,
                    "options": [
                        {"id": uid(f"option:{name}:{value}"), "name": value, "description": value}
                        for value in values
                    ],
                }
                for name, values in variations
            ]
        if choices:
            meta["child_variations"] = [
                {
                    "id": uid(f"variation:{name}"),
                    "name": name,
                    "option": {"id": uid(f"option:{name}:{value}"), "name": value},
                }
                for name, value in choices
            ]
        relationships: Json = {}
        if image:
            image_id = uid(f"image:{sku}")
            self.main_images[image_id] = {
                "type": "file",
                "id": image_id,
                "file_name": f"{sku.lower()}.jpg",
                "mime_type": "image/jpeg",
                "link": {"href": f"https://files.example-ep.test/{sku.lower()}.jpg"},
            }
            relationships["main_image"] = {"data": {"type": "main_image", "id": image_id}}
        if parent is not None:
            relationships["parent"] = {"data": {"type": "product", "id": parent}}
        self.catalog.append(
            {
                "type": "product",
                "id": product_id,
                "attributes": {
                    "name": name,
                    "sku": sku,
                    "slug": sku.lower(),
                    "description": description,
                    "status": "live",
                    "commodity_type": "physical",
                    "base_product": kind == "parent",
                    "base_product_id": parent or "",
                },
                "meta": meta,
                "relationships": relationships,
            }
        )
        if stock is not None:
            self.stock[product_id] = stock

    def children(self, product_id: str) -> list[Json]:
        return [
            p
            for p in self.catalog
            if ((p["relationships"].get("parent") or {}).get("data") or {}).get("id") == product_id
        ]

    def add_cart(
        self,
        cart_id: str,
        *,
        customer_id: str | None,
        created_at: str,
        updated_at: str,
        lines: Sequence[tuple[str, int, int, str]] = (),
        promotion: tuple[str, int] | None = None,
    ) -> None:
        """`lines`: (product id, quantity, line discount, discount code)."""
        currency = CART_SHELF_CURRENCY
        items = []
        for product_id, quantity, discount, code in lines:
            found = self.product(product_id)
            assert found is not None
            unit = found["meta"]["display_price"]["with_tax"]["amount"]
            value = unit * quantity
            image = found["relationships"].get("main_image")
            href = self.main_images[image["data"]["id"]]["link"]["href"] if image else ""
            items.append(
                {
                    "type": "cart_item",
                    "id": uid(f"{cart_id}:line:{product_id}"),
                    "product_id": product_id,
                    "name": found["attributes"]["name"],
                    "description": found["attributes"]["description"],
                    "sku": found["attributes"]["sku"],
                    "slug": found["attributes"]["slug"],
                    "image": {"mime_type": "image/jpeg", "file_name": "", "href": href},
                    "quantity": quantity,
                    "manage_stock": product_id in self.stock,
                    "unit_price": {"amount": unit, "currency": currency, "includes_tax": True},
                    "value": {"amount": value, "currency": currency, "includes_tax": True},
                    "discounts": (
                        [
                            {
                                "amount": {"amount": -discount, "currency": currency},
                                "code": code,
                                "id": uid(f"promotion:{code}"),
                                "promotion_source": "rule-promotion",
                            }
                        ]
                        if discount
                        else []
                    ),
                    "meta": {
                        "display_price": {
                            "with_tax": _pair(unit, value - discount, currency),
                            "without_tax": _pair(unit, value - discount, currency),
                            "tax": _pair(0, 0, currency),
                            "discount": _pair(-discount, -discount, currency),
                            "without_discount": _pair(unit, value, currency),
                        },
                        "timestamps": {"created_at": created_at, "updated_at": updated_at},
                    },
                }
            )
        if promotion is not None:
            code, amount = promotion
            items.append(
                {
                    "type": "promotion_item",
                    "id": uid(f"{cart_id}:promotion:{code}"),
                    "promotion_id": uid(f"promotion:{code}"),
                    "name": f"Summer {amount // 100} off",
                    "description": "Five dollars off any cart over fifty",
                    "sku": code,
                    "quantity": 1,
                    "unit_price": {"amount": -amount, "currency": currency, "includes_tax": True},
                    "value": {"amount": -amount, "currency": currency, "includes_tax": True},
                    "discounts": [],
                    "meta": {
                        "display_price": {
                            "with_tax": _pair(-amount, -amount, currency),
                            "without_tax": _pair(-amount, -amount, currency),
                            "tax": _pair(0, 0, currency),
                            "discount": _pair(-amount, -amount, currency),
                            "without_discount": _pair(0, 0, currency),
                        },
                        "timestamps": {"created_at": created_at, "updated_at": updated_at},
                    },
                }
            )
        self.cart_items[cart_id] = items
        products = [i for i in items if i["type"] == "cart_item"]
        before = sum(i["value"]["amount"] for i in products)
        off = sum(-i["meta"]["display_price"]["discount"]["value"]["amount"] for i in items)
        relationships: Json = {
            "items": {"data": [{"type": i["type"], "id": i["id"]} for i in items]},
        }
        if customer_id is not None:
            relationships["customers"] = {"data": [{"type": "customer", "id": customer_id}]}
        self.carts[cart_id] = {
            "id": cart_id,
            "type": "cart",
            "name": "Cart",
            "description": "",
            "meta": {
                "display_price": {
                    "with_tax": price(before - off, currency),
                    "without_tax": price(before - off, currency),
                    "tax": price(0, currency),
                    "discount": price(-off, currency),
                    "without_discount": price(before, currency),
                },
                "timestamps": {
                    "created_at": created_at,
                    "updated_at": updated_at,
                    "expires_at": "2026-12-31T00:00:00Z",
                },
            },
            "relationships": relationships,
        }

    def made_by_read(self, cart_id: str, now: str) -> Json:
        """What EP does for an id it does not know: make an empty cart with that id."""
        self.add_cart(cart_id, customer_id=None, created_at=now, updated_at=now)
        self.carts_made_by_reads.append(cart_id)
        return self.carts[cart_id]


def default_shelf() -> Shelf:
    shelf = Shelf()
    shelf.add_product(
        PRODUCT_MUG, "Camp Mug", "MUG-CMP", 1450, stock=40, description="Enamel mug, 350 ml"
    )
    shelf.add_product(
        PRODUCT_HEADLAMP, "Headlamp 300", "HDL-300", 3900, stock=0, description="300 lumens"
    )
    shelf.add_product(PRODUCT_GIFT_CARD, "Gift Card 50", "GFT-050", 5000, image=False)
    colours, sizes = ("Blue", "Red"), ("M", "L")
    shelf.add_product(
        PRODUCT_JACKET,
        "Trail Jacket",
        "JKT-TRL",
        12900,
        kind="parent",
        description="Waterproof shell",
        variations=(("Color", colours), ("Size", sizes)),
    )
    children = {
        JACKET_BLUE_M: ("Blue", "M", 5),
        JACKET_BLUE_L: ("Blue", "L", 0),
        JACKET_RED_M: ("Red", "M", 3),
        JACKET_RED_L: ("Red", "L", None),
    }
    for child, (colour, size, stock) in children.items():
        shelf.add_product(
            child,
            "Trail Jacket",
            f"JKT-TRL-{colour[:3].upper()}-{size}",
            12900 if size == "M" else 13900,
            kind="child",
            stock=stock,
            image=colour == "Red",
            choices=(("Color", colour), ("Size", size)),
            parent=PRODUCT_JACKET,
        )
    for n in range(1, BULK_PRODUCTS + 1):
        shelf.add_product(
            uid(f"product:BAR-{n:02d}"), f"Trail Bar {n:02d}", f"BAR-{n:02d}", 250 + n, stock=n
        )
    shelf.add_cart(
        CART_MARIA,
        customer_id=MARIA,
        created_at="2025-09-01T10:00:00Z",
        updated_at="2025-09-01T10:05:00Z",
        lines=((JACKET_BLUE_M, 1, 1290, "JACKET10"), (PRODUCT_MUG, 2, 0, "")),
        promotion=("SUMMER5", 500),
    )
    shelf.add_cart(
        CART_EMPTY_USED,
        customer_id=None,
        created_at="2025-09-02T10:00:00Z",
        updated_at="2025-09-02T10:30:00Z",
    )
    return shelf
