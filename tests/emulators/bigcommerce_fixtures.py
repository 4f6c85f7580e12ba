"""An invented BigCommerce store: V3 customers, V2 orders with products, destinations and
shipments.

Orders are built from their lines so that every total is consistent the way BigCommerce
writes it: strings with four decimals in major units, RFC 2822 dates, `_ex_tax`/`_inc_tax`
pairs, and a total that takes discounts and coupons off the subtotal. Names, addresses,
ids and amounts are made up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

Json = dict[str, Any]

STORE_HASH = "abc123"
ACCESS_TOKEN = "emulated-bigcommerce-token-5f2e9c"

ANA = "58"
LUKAS = "73"
KENJI = "91"
PRIYA = "105"
BULK = "120"
MEI = "131"

ORDER_SHIPPED = "2174"  # platforms.md §5.5
ORDER_AWAITING_FULFILLMENT = "2201"  # a discount and a coupon
ORDER_CANCELLED = "2190"
ORDER_COMPLETED = "2230"  # handling and gift wrapping, one shipment, delivered
ORDER_PICKUP = "2240"  # awaiting pickup, no destination
ORDER_DIGITAL = "2251"  # a completed e-gift card
ORDER_DECLINED = "2260"
ORDER_REFUNDED = "2262"  # refunded after it shipped
ORDER_PENDING = "2270"
ORDER_PARTIAL = "2280"  # one line shipped in two parcels, one not shipped yet
ORDER_IMPORTED = "2150"  # the newest purchase, with the lowest id
ORDER_EUR = "3001"  # prices include 19 % VAT
ORDER_EUR_REVIEW = "3002"
ORDER_JPY = "4001"
ORDER_GUEST = "2300"  # customer_id 0
ORDER_TWO_DESTINATIONS = "6001"  # awaiting fulfillment, shipped to two addresses

BULK_ORDERS = 260
"""More than one page of BigCommerce's largest page (250)."""
BULK_FIRST_ID = 5000

STATUS_NAMES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}
CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.0001'))}"


def rfc2822(moment: datetime | None) -> str:
    return format_datetime(moment) if moment is not None else ""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def address(
    first_name: str,
    last_name: str,
    street_1: str,
    city: str,
    state: str,
    zip_code: str,
    country: str,
    country_iso2: str,
    *,
    street_2: str = "",
    phone: str = "",
    email: str = "",
) -> Json:
    return {
        "first_name": first_name,
        "last_name": last_name,
        "company": "",
        "street_1": street_1,
        "street_2": street_2,
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": country,
        "country_iso2": country_iso2,
        "phone": phone,
        "email": email,
    }


@dataclass(frozen=True)
class Line:
    name: str
    sku: str
    unit: str
    """The unit price as the store lists it (tax included when the store's prices do)."""
    quantity: int = 1
    product_id: int = 0
    kind: str = "physical"
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Parcel:
    """A shipment: which lines (by index) it carries, how many of each, and its tracking."""

    shipment_id: int
    shipped: datetime
    lines: tuple[tuple[int, int], ...]
    tracking_number: str = ""
    provider: str = ""
    carrier: str = ""
    method: str = ""
    tracking_link: str = ""


@dataclass
class Store:
    customers: dict[str, Json] = field(default_factory=dict)
    orders: list[Json] = field(default_factory=list)
    products: dict[str, list[Json]] = field(default_factory=dict)
    shipping_addresses: dict[str, list[Json]] = field(default_factory=dict)
    shipments: dict[str, list[Json]] = field(default_factory=dict)
    catalog: list[Json] = field(default_factory=list)
    carts: dict[str, Json] = field(default_factory=dict)
    currency: str = "USD"
    """The store's default currency, which catalog prices are in."""

    def add_customer(
        self,
        customer_id: str,
        first_name: str,
        last_name: str,
        email: str,
        since: str,
        addresses: Sequence[Json] = (),
    ) -> None:
        self.customers[customer_id] = {
            "id": int(customer_id),
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "company": "",
            "phone": "",
            "customer_group_id": 0,
            "notes": "",
            "tax_exempt_category": "",
            "date_created": since,
            "date_modified": since,
            "accepts_product_review_abandoned_cart_emails": False,
            "channel_ids": [1],
            "addresses": [
                {**found, "id": index + 1, "customer_id": int(customer_id)}
                for index, found in enumerate(addresses)
            ],
        }

    def add_order(
        self,
        order_id: str,
        *,
        customer_id: str,
        created: datetime,
        status_id: int,
        lines: list[Line],
        currency: str = "USD",
        tax_rate: str = "0",
        tax_inclusive: bool = False,
        shipping: str = "0",
        handling: str = "0",
        wrapping: str = "0",
        discount: str = "0",
        coupon: str = "0",
        destination: Json | None = None,
        billing: Json | None = None,
        parcels: tuple[Parcel, ...] = (),
        payment_status: str = "captured",
        order_source: str = "www",
        external_id: str | None = None,
        digital: bool = False,
    ) -> None:
        rate = Decimal(tax_rate)
        goods = sum((Decimal(line.unit) * line.quantity for line in lines), Decimal(0))
        charges = Decimal(shipping) + Decimal(handling) + Decimal(wrapping)
        off = Decimal(discount) + Decimal(coupon)
        if tax_inclusive:
            total_inc = goods - off + charges
            tax = (total_inc * rate / (1 + rate)).quantize(CENT, ROUND_HALF_UP)
            goods_tax = (goods * rate / (1 + rate)).quantize(CENT, ROUND_HALF_UP)
            subtotal_inc, subtotal_ex = goods, goods - goods_tax
            total_ex = total_inc - tax
            shipping_ex = Decimal(shipping) - (Decimal(shipping) * rate / (1 + rate)).quantize(
                CENT, ROUND_HALF_UP
            )
            shipping_inc = Decimal(shipping)
        else:
            tax = ((goods - off) * rate).quantize(CENT, ROUND_HALF_UP)
            goods_tax = (goods * rate).quantize(CENT, ROUND_HALF_UP)
            subtotal_ex, subtotal_inc = goods, goods + goods_tax
            total_ex = goods - off + charges
            total_inc = total_ex + tax
            shipping_ex = shipping_inc = Decimal(shipping)
        shipped = sum(quantity for parcel in parcels for _, quantity in parcel.lines)
        first_shipped = min((parcel.shipped for parcel in parcels), default=None)
        product_ids = [int(order_id) * 10 + index for index in range(len(lines))]
        base = f"https://api.bigcommerce.com/stores/{STORE_HASH}/v2/orders/{order_id}"
        self.orders.append(
            {
                "id": int(order_id),
                "customer_id": int(customer_id),
                "date_created": rfc2822(created),
                "date_modified": rfc2822(first_shipped or created),
                "date_shipped": rfc2822(first_shipped),
                "status_id": status_id,
                "status": STATUS_NAMES[status_id],
                "custom_status": STATUS_NAMES[status_id],
                "subtotal_ex_tax": money(subtotal_ex),
                "subtotal_inc_tax": money(subtotal_inc),
                "subtotal_tax": money(subtotal_inc - subtotal_ex),
                "base_shipping_cost": money(Decimal(shipping)),
                "shipping_cost_ex_tax": money(shipping_ex),
                "shipping_cost_inc_tax": money(shipping_inc),
                "shipping_cost_tax": money(shipping_inc - shipping_ex),
                "base_handling_cost": money(Decimal(handling)),
                "handling_cost_ex_tax": money(Decimal(handling)),
                "handling_cost_inc_tax": money(Decimal(handling)),
                "handling_cost_tax": money(Decimal(0)),
                "base_wrapping_cost": money(Decimal(wrapping)),
                "wrapping_cost_ex_tax": money(Decimal(wrapping)),
                "wrapping_cost_inc_tax": money(Decimal(wrapping)),
                "wrapping_cost_tax": money(Decimal(0)),
                "total_ex_tax": money(total_ex),
                "total_inc_tax": money(total_inc),
                "total_tax": money(tax),
                "items_total": sum(line.quantity for line in lines),
                "items_shipped": shipped,
                "payment_method": "Credit Card" if not digital else "PayPal",
                "payment_status": payment_status,
                "refunded_amount": money(total_inc if status_id == 4 else Decimal(0)),
                "order_is_digital": digital,
                "store_credit_amount": money(Decimal(0)),
                "gift_certificate_amount": money(Decimal(0)),
                "currency_id": 1,
                "currency_code": currency,
                "currency_exchange_rate": "1.0000000000",
                "default_currency_id": 1,
                "default_currency_code": currency,
                "store_default_currency_code": "USD",
                "coupon_discount": money(Decimal(coupon)),
                "discount_amount": money(Decimal(discount)),
                "shipping_address_count": 1 if destination is not None else 0,
                "is_deleted": False,
                "is_email_opt_in": False,
                "ebay_order_id": "0",
                "geoip_country": "",
                "geoip_country_iso2": "",
                "staff_notes": "",
                "customer_message": "",
                "order_source": order_source,
                "channel_id": 1,
                "external_source": None,
                "external_id": external_id,
                "external_order_id": "",
                "is_tax_inclusive_pricing": tax_inclusive,
                "billing_address": billing or destination or EMPTY_ADDRESS,
                "products": {"url": f"{base}/products", "resource": f"/orders/{order_id}/products"},
                "shipping_addresses": {
                    "url": f"{base}/shipping_addresses",
                    "resource": f"/orders/{order_id}/shipping_addresses",
                },
                "coupons": {"url": f"{base}/coupons", "resource": f"/orders/{order_id}/coupons"},
            }
        )
        self.products[order_id] = [
            _product(order_id, product_ids[index], line, rate, tax_inclusive, parcels, index)
            for index, line in enumerate(lines)
        ]
        destination_id = int(order_id) + 100_000
        self.shipping_addresses[order_id] = (
            [
                {
                    **destination,
                    "id": destination_id,
                    "order_id": int(order_id),
                    "items_total": sum(line.quantity for line in lines),
                    "items_shipped": shipped,
                    "shipping_method": "Flat Rate",
                    "base_cost": money(Decimal(shipping)),
                    "cost_ex_tax": money(shipping_ex),
                    "cost_inc_tax": money(shipping_inc),
                }
            ]
            if destination is not None
            else []
        )
        self.shipments[order_id] = [
            {
                "id": parcel.shipment_id,
                "order_id": int(order_id),
                "customer_id": int(customer_id),
                "order_address_id": destination_id,
                "date_created": rfc2822(parcel.shipped),
                "tracking_number": parcel.tracking_number,
                "shipping_method": parcel.method,
                "shipping_provider": parcel.provider,
                "tracking_carrier": parcel.carrier,
                "tracking_link": parcel.tracking_link,
                "generated_tracking_link": (
                    f"https://track.example-carrier.test/{parcel.tracking_number}"
                    if parcel.tracking_number and not parcel.tracking_link
                    else ""
                ),
                "comments": "",
                "billing_address": billing or destination or EMPTY_ADDRESS,
                "shipping_address": destination or EMPTY_ADDRESS,
                "items": [
                    {
                        "order_product_id": product_ids[index],
                        "product_id": lines[index].product_id,
                        "quantity": quantity,
                    }
                    for index, quantity in parcel.lines
                ],
            }
            for parcel in parcels
        ]

    def add_destination(self, order_id: str, destination: Json) -> None:
        """One more shipping address of an order (BigCommerce allows several)."""
        order = self.order(order_id)
        assert order is not None
        first = self.shipping_addresses[order_id][0]
        self.shipping_addresses[order_id].append(
            {**first, **destination, "id": first["id"] + len(self.shipping_addresses[order_id])}
        )
        order["shipping_address_count"] = len(self.shipping_addresses[order_id])

    def order(self, order_id: str) -> Json | None:
        return next((o for o in self.orders if str(o["id"]) == order_id), None)

    def orders_of(self, customer_id: str) -> list[Json]:
        return [o for o in self.orders if str(o["customer_id"]) == customer_id]

    def newest_first(self, customer_id: str) -> list[str]:
        """Ids of the customer's orders by purchase time, newest first (ties: higher id)."""
        mine = sorted(
            self.orders_of(customer_id),
            key=lambda o: (_created(o), o["id"]),
            reverse=True,
        )
        return [str(o["id"]) for o in mine]


def _created(order: Json) -> datetime:
    return parsedate_to_datetime(order["date_created"])


EMPTY_ADDRESS = address("", "", "", "", "", "", "", "")


def _product(
    order_id: str,
    product_id: int,
    line: Line,
    rate: Decimal,
    inclusive: bool,
    parcels: tuple[Parcel, ...],
    index: int,
) -> Json:
    unit = Decimal(line.unit)
    if inclusive:
        price_inc, price_ex = unit, unit / (1 + rate)
    else:
        price_ex, price_inc = unit, unit * (1 + rate)
    shipped = sum(q for parcel in parcels for i, q in parcel.lines if i == index)
    return {
        "id": product_id,
        "order_id": int(order_id),
        "product_id": line.product_id or 70 + index,
        "variant_id": (line.product_id or 70 + index) * 10 + 1,
        "order_address_id": int(order_id) + 100_000 if line.kind == "physical" else 0,
        "name": line.name,
        "name_customer": line.name,
        "name_merchant": line.name,
        "sku": line.sku,
        "type": line.kind,
        "base_price": money(unit),
        "price_ex_tax": money(price_ex),
        "price_inc_tax": money(price_inc),
        "price_tax": money(price_inc - price_ex),
        "base_total": money(unit * line.quantity),
        "total_ex_tax": money(price_ex * line.quantity),
        "total_inc_tax": money(price_inc * line.quantity),
        "total_tax": money((price_inc - price_ex) * line.quantity),
        "quantity": line.quantity,
        "quantity_shipped": shipped,
        "quantity_refunded": 0,
        "is_refunded": False,
        "refund_amount": money(Decimal(0)),
        "applied_discounts": [],
        "product_options": [
            {
                "id": n + 1,
                "option_id": 200 + n,
                "display_name": name,
                "display_value": value,
                "type": "Multiple choice",
            }
            for n, (name, value) in enumerate(line.options)
        ],
    }


ANA_HOME = address(
    "Ana",
    "Ruiz",
    "55 Pine Ave",
    "Austin",
    "Texas",
    "78701",
    "United States",
    "US",
    phone="512-555-0133",
    email="ana.ruiz@example.com",
)
ANA_OFFICE = address(
    "Ana",
    "Ruiz",
    "300 Congress Ave",
    "Austin",
    "Texas",
    "78701",
    "United States",
    "US",
    street_2="Floor 12",
)
LUKAS_HOME = address(
    "Lukas",
    "Becker",
    "Torstraße 140",
    "Berlin",
    "Berlin",
    "10119",
    "Germany",
    "DE",
    phone="+49 30 5550147",
)
KENJI_HOME = address(
    "Kenji", "Sato", "2-11-3 Meguro", "Meguro-ku", "Tokyo", "153-0063", "Japan", "JP"
)


def _customer_address(raw: Json) -> Json:
    """A V2 order address in the V3 customer address shape."""
    return {
        "first_name": raw["first_name"],
        "last_name": raw["last_name"],
        "company": raw["company"],
        "address1": raw["street_1"],
        "address2": raw["street_2"],
        "city": raw["city"],
        "state_or_province": raw["state"],
        "postal_code": raw["zip"],
        "country": raw["country"],
        "country_code": raw["country_iso2"],
        "phone": raw["phone"],
        "address_type": "residential",
    }


def _ana(store: Store) -> None:
    store.add_customer(
        ANA,
        "Ana",
        "Ruiz",
        "ana.ruiz@example.com",
        "2021-08-19T16:02:11Z",
        [_customer_address(ANA_HOME), _customer_address(ANA_OFFICE)],
    )
    store.add_order(
        ORDER_SHIPPED,
        customer_id=ANA,
        created=at("2025-05-12T14:03:51"),
        status_id=2,
        tax_rate="0.08",
        shipping="9.95",
        lines=[Line("Canvas Weekender Bag", "BAG-CNV-WKD", "40.00", 2, product_id=77)],
        destination=ANA_HOME,
        parcels=(
            Parcel(
                311,
                at("2025-05-13T09:19:58"),
                ((0, 2),),
                tracking_number="9400111899223847561234",
                provider="usps",
                carrier="usps",
                method="USPS Priority Mail",
                tracking_link="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223847561234",
            ),
        ),
    )
    store.add_order(
        ORDER_AWAITING_FULFILLMENT,
        customer_id=ANA,
        created=at("2025-06-02T10:15:00"),
        status_id=11,
        tax_rate="0.08",
        discount="5.00",
        coupon="10.00",
        lines=[
            Line(
                "Merino Crew Sweater",
                "SWT-MER-M",
                "89.00",
                options=(("Size", "M"), ("Color", "Heather Grey")),
            ),
            Line("Wool Beanie", "BEA-WOL", "24.50", 2),
        ],
        destination=ANA_OFFICE,
        billing=ANA_HOME,
    )
    store.add_order(
        ORDER_CANCELLED,
        customer_id=ANA,
        created=at("2025-05-20T08:00:00"),
        status_id=5,
        shipping="5.00",
        lines=[Line("Enamel Camp Mug", "MUG-ENM", "16.00")],
        destination=ANA_HOME,
        payment_status="void",
    )
    store.add_order(
        ORDER_COMPLETED,
        customer_id=ANA,
        created=at("2025-06-10T17:45:00"),
        status_id=10,
        tax_rate="0.0825",
        shipping="7.50",
        handling="2.00",
        wrapping="3.50",
        lines=[
            Line("Ceramic Pour-Over Set", "POV-CER", "48.00"),
            Line("Paper Filters (100)", "FLT-100", "6.25", 3),
        ],
        destination=ANA_HOME,
        parcels=(
            Parcel(
                318,
                at("2025-06-11T15:00:00"),
                ((0, 1), (1, 3)),
                tracking_number="1Z999AA10123456784",
                provider="ups",
                carrier="ups",
                method="UPS Ground",
            ),
        ),
    )
    store.add_order(
        ORDER_PICKUP,
        customer_id=ANA,
        created=at("2025-06-14T12:30:00"),
        status_id=8,
        tax_rate="0.0825",
        lines=[Line("Folding Camp Chair", "CHR-FLD", "59.99")],
        billing=ANA_HOME,
    )
    store.add_order(
        ORDER_DIGITAL,
        customer_id=ANA,
        created=at("2025-06-15T09:05:00"),
        status_id=10,
        lines=[Line("E-Gift Card $50", "GIFT-50", "50.00", kind="digital")],
        billing=ANA_HOME,
        digital=True,
    )
    store.add_order(
        ORDER_DECLINED,
        customer_id=ANA,
        created=at("2025-06-18T21:10:00"),
        status_id=6,
        lines=[Line("Trail Running Vest", "VST-TRL", "120.00")],
        destination=ANA_HOME,
        payment_status="declined",
    )
    store.add_order(
        ORDER_REFUNDED,
        customer_id=ANA,
        created=at("2025-06-20T11:00:00"),
        status_id=4,
        shipping="4.95",
        lines=[Line("Insulated Bottle", "BTL-INS", "32.00")],
        destination=ANA_HOME,
        parcels=(
            Parcel(
                326,
                at("2025-06-21T10:00:00"),
                ((0, 1),),
                tracking_number="9400111899223847569999",
                provider="usps",
                carrier="usps",
                method="USPS Ground Advantage",
            ),
        ),
        payment_status="refunded",
    )
    store.add_order(
        ORDER_PENDING,
        customer_id=ANA,
        created=at("2025-06-25T07:40:00"),
        status_id=1,
        lines=[Line("Hiking Socks 3-Pack", "SCK-3PK", "0.10"), Line("Sticker", "STK", "0.20")],
        destination=ANA_HOME,
        payment_status="pending",
    )
    store.add_order(
        ORDER_PARTIAL,
        customer_id=ANA,
        created=at("2025-06-27T16:20:00"),
        status_id=3,
        tax_rate="0.08",
        shipping="12.00",
        lines=[
            Line("Ultralight Tent 2P", "TNT-UL2", "349.00", product_id=91),
            Line("Tent Footprint", "TNT-FTP", "45.00", product_id=92),
            Line("Stake Set", "STK-SET", "19.00", 4, product_id=93),
        ],
        destination=ANA_HOME,
        parcels=(
            Parcel(
                331,
                at("2025-06-28T09:00:00"),
                ((0, 1), (2, 2)),
                tracking_number="794698547301",
                provider="fedex",
                carrier="fedex",
                method="FedEx Home Delivery",
            ),
            Parcel(
                332,
                at("2025-06-29T09:30:00"),
                ((2, 2),),
                tracking_number="794698547399",
                provider="fedex",
                carrier="fedex",
                method="FedEx Home Delivery",
            ),
        ),
    )
    # Imported from a marketplace: the newest purchase carries the oldest id.
    store.add_order(
        ORDER_IMPORTED,
        customer_id=ANA,
        created=at("2025-07-01T08:00:00"),
        status_id=9,
        tax_rate="0.08",
        lines=[Line("Headlamp 400", "HLP-400", "39.99")],
        destination=ANA_HOME,
        order_source="external",
        external_id="AMZ-114-5531",
    )


def _others(store: Store) -> None:
    store.add_customer(
        LUKAS,
        "Lukas",
        "Becker",
        "lukas.becker@example.de",
        "2022-02-01T09:00:00Z",
        [_customer_address(LUKAS_HOME)],
    )
    store.add_order(
        ORDER_EUR,
        customer_id=LUKAS,
        created=at("2025-04-11T13:05:00"),
        status_id=9,
        currency="EUR",
        tax_rate="0.19",
        tax_inclusive=True,
        shipping="4.90",
        discount="10.00",
        lines=[
            Line("Wanderrucksack 30L", "RCK-30", "119.00"),
            Line("Trinkflasche", "FLS-075", "19.90", 3),
        ],
        destination=LUKAS_HOME,
    )
    store.add_order(
        ORDER_EUR_REVIEW,
        customer_id=LUKAS,
        created=at("2025-05-02T18:00:00"),
        status_id=12,
        currency="EUR",
        tax_rate="0.19",
        tax_inclusive=True,
        lines=[Line("Regenjacke", "JKT-RGN", "149.00")],
        destination=LUKAS_HOME,
    )
    store.add_customer(
        KENJI,
        "Kenji",
        "Sato",
        "kenji.sato@example.jp",
        "2023-01-05T00:30:00Z",
        [_customer_address(KENJI_HOME)],
    )
    store.add_order(
        ORDER_JPY,
        customer_id=KENJI,
        created=at("2025-06-01T03:00:00"),
        status_id=2,
        currency="JPY",
        tax_rate="0.10",
        shipping="800",
        lines=[Line("Titanium Pot", "POT-TI", "4800", product_id=301)],
        destination=KENJI_HOME,
        parcels=(
            Parcel(
                401,
                at("2025-06-02T01:00:00"),
                ((0, 1),),
                tracking_number="4455-6677-8899",
                provider="",
                carrier="japan-post",
                method="Yu-Pack",
            ),
        ),
    )
    store.add_customer(PRIYA, "Priya", "Nair", "priya.nair@example.in", "2025-01-20T10:00:00Z")
    store.add_customer(BULK, "Bo", "Bulk", "bo.bulk@example.com", "2020-01-01T00:00:00Z")
    start = datetime(2023, 1, 1, tzinfo=UTC)
    for n in range(BULK_ORDERS):
        # 97 and 260 are coprime: ids run in another order than purchase times.
        store.add_order(
            str(BULK_FIRST_ID + n),
            customer_id=BULK,
            created=start + timedelta(hours=(n * 97) % BULK_ORDERS),
            status_id=(11, 2, 10, 5)[n % 4],
            lines=[Line("Energy Bar", "BAR-NRG", "2.50", 1 + n % 5)],
            destination=ANA_HOME,
        )
    store.add_order(
        ORDER_GUEST,
        customer_id="0",
        created=at("2025-06-30T12:00:00"),
        status_id=11,
        lines=[Line("Camp Lantern", "LNT-CMP", "29.00")],
        destination=ANA_HOME,
    )


MEI_HOME = address(
    "Mei", "Chen", "88 Queen St", "Auckland", "Auckland", "1010", "New Zealand", "NZ"
)
MEI_PARENTS = address(
    "Li", "Chen", "12 Cuba St", "Wellington", "Wellington", "6011", "New Zealand", "NZ"
)


def _mei(store: Store) -> None:
    store.add_customer(
        MEI,
        "Mei",
        "Chen",
        "mei.chen@example.nz",
        "2024-03-03T03:00:00Z",
        [_customer_address(MEI_HOME)],
    )
    store.add_order(
        ORDER_TWO_DESTINATIONS,
        customer_id=MEI,
        created=at("2025-07-10T09:00:00"),
        status_id=11,
        currency="NZD",
        lines=[Line("Gift Hamper", "HMP-GFT", "80.00", 2)],
        destination=MEI_HOME,
    )
    store.add_destination(ORDER_TWO_DESTINATIONS, MEI_PARENTS)


def default_store() -> Store:
    store = Store()
    _ana(store)
    _others(store)
    _mei(store)
    store.catalog = default_catalog()
    store.carts = default_carts(store.catalog)
    return store


# Catalog and carts (SPEC §8): the emulator's `/v3/catalog/products`, `/v3/carts/{id}` and
# `/v2/store` read these.

PRODUCT_TENT = "112"  # stock tracked for the product
PRODUCT_BASE_LAYER = "113"  # two options, four variants tracked one by one, one sold out
PRODUCT_HEADLAMP = "114"  # out of stock
PRODUCT_GIFT_CARD = "115"  # stock not tracked
PRODUCT_HIDDEN = "116"  # not visible in the storefront: never listed
BULK_PRODUCTS = 20
BASE_LAYER_SOLD_OUT = "1131"

CART_ANA = "a7d4e3c2-1b6f-4e8a-9c3d-2f1e0b9a8c71"  # a sale, a line promotion and a coupon
CART_GUEST_EUR = "5c0f9b8e-2d7a-4f6b-8e1c-3a9d0b7c6e52"  # a guest's cart in euros
STORE_CURRENCY = "USD"


def _image(product_id: int, index: int, name: str, *, thumbnail: bool) -> Json:
    image_id = product_id * 10 + index
    return {
        "id": image_id,
        "product_id": product_id,
        "is_thumbnail": thumbnail,
        "sort_order": index,
        "description": "",
        "url_standard": f"https://cdn.example-bc.test/products/{product_id}/{name}.jpg",
        "url_zoom": f"https://cdn.example-bc.test/products/{product_id}/{name}-zoom.jpg",
    }


def catalog_product(
    product_id: str,
    name: str,
    sku: str,
    price: str,
    *,
    tracking: str = "none",
    level: int = 0,
    visible: bool = True,
    images: Sequence[str] = (),
    options: Sequence[tuple[str, Sequence[str]]] = (),
    variants: Sequence[tuple[str, Sequence[str], int, str | None, str | None]] = (),
    description: str = "",
) -> Json:
    """`variants`: (sku, option labels, stock, price or None, image name or None); a product
    without options has its base variant only."""
    number = int(product_id)
    pictures = [_image(number, i, image, thumbnail=i == 0) for i, image in enumerate(images)]
    option_records = [
        {
            "id": number * 10 + i,
            "display_name": option,
            "type": "rectangles",
            "option_values": [
                {"id": number * 100 + i * 10 + j, "label": label, "sort_order": j}
                for j, label in enumerate(labels)
            ],
        }
        for i, (option, labels) in enumerate(options)
    ]
    if not variants:
        variants = ((sku, (), level, None, None),)
    variant_records = []
    for index, (variant_sku, labels, stock, own_price, image) in enumerate(variants):
        variant_records.append(
            {
                "id": number * 10 + index,
                "product_id": number,
                "sku": variant_sku,
                "price": own_price,
                "calculated_price": float(own_price or price),
                "sale_price": None,
                "inventory_level": stock,
                "purchasing_disabled": False,
                "image_url": (
                    f"https://cdn.example-bc.test/products/{number}/{image}.jpg" if image else ""
                ),
                "option_values": [
                    {
                        "id": number * 100 + i * 10 + list(options[i][1]).index(label),
                        "label": label,
                        "option_id": number * 10 + i,
                        "option_display_name": options[i][0],
                    }
                    for i, label in enumerate(labels)
                ],
            }
        )
    return {
        "id": number,
        "name": name,
        "type": "physical",
        "sku": sku,
        "description": description,
        "price": float(price),
        "calculated_price": float(price),
        "sale_price": 0,
        "inventory_level": level if tracking == "product" else sum(v[2] for v in variants),
        "inventory_tracking": tracking,
        "is_visible": visible,
        "brand_id": 0,
        "base_variant_id": variant_records[0]["id"] if not options else None,
        "variants": variant_records,
        "images": pictures,
        "options": option_records,
    }


def _cart_item(
    item_id: str,
    product: Json,
    variant_index: int,
    quantity: int,
    *,
    sale: str | None = None,
    promotion: tuple[str, str] | None = None,
) -> Json:
    variant = product["variants"][variant_index]
    listed = Decimal(str(variant["calculated_price"]))
    paid = Decimal(sale) if sale is not None else listed
    off = Decimal(promotion[1]) if promotion else Decimal(0)
    return {
        "id": item_id,
        "parent_id": None,
        "variant_id": variant["id"],
        "product_id": product["id"],
        "sku": variant["sku"],
        "name": product["name"],
        "url": f"https://shop.example-bc.test/{product['sku'].lower()}/",
        "quantity": quantity,
        "is_taxable": True,
        "image_url": variant["image_url"] or product["images"][0]["url_standard"],
        "discounts": [{"id": promotion[0], "discounted_amount": float(off)}] if promotion else [],
        "coupons": [],
        "discount_amount": float(off),
        "coupon_amount": 0,
        "list_price": float(listed),
        "sale_price": float(paid),
        "extended_list_price": float(listed * quantity),
        "extended_sale_price": float(paid * quantity),
        "options": [
            {"name": value["option_display_name"], "value": value["label"]}
            for value in variant["option_values"]
        ],
    }


def default_catalog() -> list[Json]:
    products = [
        catalog_product(
            PRODUCT_TENT,
            "Ultralight Tent 2P",
            "TNT-UL2",
            "349.00",
            tracking="product",
            level=12,
            images=("tent", "tent-open"),
            description="<p>Two-person tent, 1.1 kg</p>",
        ),
        catalog_product(
            PRODUCT_BASE_LAYER,
            "Merino Base Layer",
            "TOP-MRN",
            "69.00",
            tracking="variant",
            images=("merino", "merino-forest"),
            options=(("Color", ("Charcoal", "Forest")), ("Size", ("S", "M"))),
            variants=(
                ("TOP-MRN-CH-S", ("Charcoal", "S"), 7, None, None),
                ("TOP-MRN-CH-M", ("Charcoal", "M"), 0, None, None),
                ("TOP-MRN-FO-S", ("Forest", "S"), 2, "59.00", "merino-forest"),
                ("TOP-MRN-FO-M", ("Forest", "M"), 9, "59.00", "merino-forest"),
            ),
        ),
        catalog_product(
            PRODUCT_HEADLAMP, "Headlamp 400", "HLP-400", "39.99", tracking="product", level=0
        ),
        catalog_product(PRODUCT_GIFT_CARD, "E-Gift Card", "GIFT-50", "50.00", images=("gift",)),
        catalog_product(PRODUCT_HIDDEN, "Sample Tent", "TNT-SMP", "1.00", visible=False),
    ]
    products += [
        catalog_product(str(200 + n), f"Trail Bar {n:02d}", f"BAR-{n:02d}", "2.50", images=("bar",))
        for n in range(1, BULK_PRODUCTS + 1)
    ]
    return products


def default_carts(catalog: Sequence[Json]) -> dict[str, Json]:
    by_id = {str(p["id"]): p for p in catalog}
    lines = [
        _cart_item(
            "e1d0c2b3-0001-4a5b-8c7d-000000000001",
            by_id[PRODUCT_BASE_LAYER],
            3,
            2,
            promotion=("7", "5.90"),
        ),
        _cart_item("e1d0c2b3-0002-4a5b-8c7d-000000000002", by_id[PRODUCT_TENT], 0, 1),
    ]
    base = sum((Decimal(str(line["extended_sale_price"])) for line in lines), Decimal(0))
    ana = {
        "id": CART_ANA,
        "customer_id": int(ANA),
        "channel_id": 1,
        "email": "ana.souza@example.com",
        "currency": {"code": "USD"},
        "tax_included": False,
        "base_amount": float(base),
        "discount_amount": 0,
        "cart_amount": float(base - Decimal("5.90") - Decimal("10.00")),
        "coupons": [
            {
                "id": "31",
                "code": "TRAIL10",
                "display_name": "$10 off your trail kit",
                "coupon_type": "per_total_discount",
                "discounted_amount": 10.0,
            }
        ],
        "discounts": [],
        "line_items": {
            "physical_items": lines,
            "digital_items": [],
            "gift_certificates": [],
            "custom_items": [],
        },
        "created_time": "2025-09-03T08:00:00+00:00",
        "updated_time": "2025-09-03T08:12:00+00:00",
    }
    gift = _cart_item("e1d0c2b3-0003-4a5b-8c7d-000000000003", by_id[PRODUCT_GIFT_CARD], 0, 1)
    guest = {
        "id": CART_GUEST_EUR,
        "customer_id": 0,
        "channel_id": 1,
        "email": "",
        "currency": {"code": "EUR"},
        "tax_included": True,
        "base_amount": 46.0,
        "discount_amount": 0,
        "cart_amount": 46.0,
        "coupons": [],
        "discounts": [],
        "line_items": {
            "physical_items": [],
            "digital_items": [
                {
                    **gift,
                    "list_price": 46.0,
                    "sale_price": 46.0,
                    "extended_sale_price": 46.0,
                    "extended_list_price": 46.0,
                }
            ],
            "gift_certificates": [],
            "custom_items": [],
        },
        "created_time": "2025-09-04T18:00:00+00:00",
        "updated_time": "2025-09-04T18:00:00+00:00",
    }
    return {CART_ANA: ana, CART_GUEST_EUR: guest}
