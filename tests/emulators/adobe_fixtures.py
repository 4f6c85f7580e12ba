"""Invented CPAPI customers and orders for the emulator (no real partner data).

- `LARKSPUR`: a realistic reseller customer: a partly returned order, a cancelled one
  with its return, previews newer than every order, an order older than a year, and
  catalog-priced, partner-priced and unpriced items.
- `MATRIX`: every order type (NEW, RENEWAL, TRANSFER, RETURN, PREVIEW, PREVIEW_RENEWAL)
  in every status, including one the SPEC does not list.
- `BUSY`: 60 orders over three years, with returns and previews between them, and
  order ids that do not follow purchase dates.
- `EURO`: EUR orders, where USD catalog prices do not apply.
- `QUIET`: no orders at all; no contacts; a German address with a bare region code.
- `PREVIEWS_ONLY`: only returns and previews, so nothing to list.
- `RETURNS`: one order for each rule of a licence return (W1, W3): recent NEW and
  RENEWAL orders, one past the 14-day window, a TRANSFER, a pending order, one already
  returned, one partly returned and one of a Stock credit pack Adobe does not take back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

TODAY = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
CLIENT_ID = "erc-bridge-test-client"
CLIENT_SECRET = "test-secret-not-real-7d1f"
IMS_SCOPES = "openid,AdobeID,read_organizations"

CATALOG_CSV = Path(__file__).parent / "data" / "adobe" / "offers.csv"

ACROBAT = "65304479CA01A12"  # catalog: USD price and image
PHOTOSHOP = "65322651CA01A12"  # catalog: USD price and image
STOCK = "65304522CA01A12"  # catalog: name only, no price
SUBSTANCE = "65309887CA01A12"  # catalog: EUR price
UNLISTED = "65311111CA01A12"  # not in the catalog
NOT_RETURNABLE_OFFERS = frozenset({STOCK})
"""Offers CPAPI refuses to take back: licence packs, Stock credit packs, consumables."""

LARKSPUR = "1005831871"
MATRIX = "1005832477"
BUSY = "1005831999"
EURO = "1005832555"
QUIET = "1005832000"
PREVIEWS_ONLY = "1005832111"
RETURNS = "1005832666"

RECENT_NEW = "5170000001"
"""Two lines, complete, 3 days old: W1 returns both."""
RECENT_LINES = "5170000002"
"""Three lines, complete, 4 days old (line 3 without `remainingQuantity`): W3's target."""
RECENT_RENEWAL = "5170000003"
PAST_WINDOW = "5170000004"
"""NEW and complete, but 20 days old."""
RECENT_TRANSFER = "5170000005"
PENDING = "5170000006"
"""NEW, 1 day old, still processing (`1002`)."""
RETURNED = "5170000007"
"""Every line returned (`1008`), with its return."""
PARTLY_RETURNED = "5170000008"
"""Line 1 returned, line 2 not."""
CREDIT_PACK = "5170000009"
"""A recent order of a Stock credit pack, which Adobe does not take back."""

LISTED_TYPES = ("NEW", "RENEWAL", "TRANSFER")
HIDDEN_TYPES = ("RETURN", "PREVIEW", "PREVIEW_RENEWAL")
STATUSES = ("1000", "1002", "1004", "1008", "1020", "1022", "1024", "1026", "1030")

_SUBSCRIPTIONS = uuid.UUID("6f1c1a52-3c1e-4a8b-9c59-0d1e2f3a4b5c")


@dataclass
class CPAPIFixtures:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, customer: dict[str, Any], orders: list[dict[str, Any]]) -> None:
        self.customers[customer["customerId"]] = customer
        self.orders[customer["customerId"]] = orders

    def order(self, order_id: str) -> dict[str, Any]:
        for orders in self.orders.values():
            for order in orders:
                if order["orderId"] == order_id:
                    return order
        raise KeyError(order_id)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def line(
    number: int,
    offer_id: str,
    quantity: int,
    *,
    order_id: str,
    status: str = "1000",
    currency: str = "USD",
    partner_price: str | None = None,
    remaining: int | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "extLineItemNumber": number,
        "offerId": offer_id,
        "quantity": quantity,
        "subscriptionId": uuid.uuid5(_SUBSCRIPTIONS, f"{order_id}/{number}").hex + "N",
        "status": status,
        "currencyCode": currency,
    }
    if remaining is not None:
        item["remainingQuantity"] = remaining
    if partner_price is not None:
        unit = Decimal(partner_price)
        item["proratedDays"] = 365
        item["pricing"] = {
            "partnerPrice": float(unit),
            "discountedPartnerPrice": float(unit),
            "netPartnerPrice": float(unit),
            "lineItemPartnerPrice": float(unit * quantity),
        }
    return item


def order(
    order_id: str,
    customer_id: str,
    order_type: str,
    status: str,
    placed: datetime,
    lines: list[dict[str, Any]],
    *,
    currency: str = "USD",
    reference: str = "",
    external: str = "",
    source: str = "API",
) -> dict[str, Any]:
    return {
        "referenceOrderId": reference,
        "referencedOrderId": "",
        "externalReferenceId": external,
        "orderId": order_id,
        "customerId": customer_id,
        "currencyCode": currency,
        "orderType": order_type,
        "status": status,
        "source": source,
        "creationDate": stamp(placed),
        "lineItems": lines,
    }


def customer(
    customer_id: str,
    company: str,
    address: dict[str, str],
    contacts: list[dict[str, str]],
    since: datetime,
    *,
    external: str = "",
) -> dict[str, Any]:
    return {
        "externalReferenceId": external,
        "customerId": customer_id,
        "resellerId": "5556667778",
        "globalSalesEnabled": False,
        "status": "1000",
        "companyProfile": {
            "companyName": company,
            "preferredLanguage": "en-US",
            "marketSegment": "COM",
            "address": address,
            "contacts": contacts,
        },
        "discounts": [{"offerType": "LICENSE", "level": "02"}],
        "cotermDate": "2025-11-14",
        "creationDate": stamp(since),
        "links": {"self": {"uri": f"/v3/customers/{customer_id}", "method": "GET", "headers": []}},
    }


def _larkspur() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        LARKSPUR,
        "Larkspur Design Studio LLC",
        {
            "country": "US",
            "region": "OR",
            "city": "Portland",
            "addressLine1": "2200 NW Thurman St",
            "addressLine2": "Suite 400",
            "postalCode": "97210",
            "phoneNumber": "+1 503 555 0142",
        },
        [
            {"firstName": "Maren", "lastName": "Okafor", "email": "maren@larkspur.example"},
            {"firstName": "Teo", "lastName": "Lindqvist", "email": "teo@larkspur.example"},
        ],
        datetime(2021, 3, 15, 10, 20, tzinfo=UTC),
        external="LDS-0042",
    )
    c = LARKSPUR
    orders = [
        order(
            "5120008455",
            c,
            "PREVIEW_RENEWAL",
            "1002",
            datetime(2025, 6, 28, 8, 0, tzinfo=UTC),
            [line(1, ACROBAT, 5, order_id="5120008455")],
        ),
        order(
            "5120008401",
            c,
            "PREVIEW",
            "1000",
            datetime(2025, 6, 20, 16, 45, tzinfo=UTC),
            [line(1, PHOTOSHOP, 1, order_id="5120008401", partner_price="263.88")],
        ),
        order(
            "5120008390",
            c,
            "RETURN",
            "1000",
            datetime(2025, 6, 9, 15, 2, 11, tzinfo=UTC),
            [line(2, UNLISTED, 2, order_id="5120008217")],
            reference="5120008217",
            external="PO-88413-R1",
        ),
        # Complete and partly returned: ACROBAT from the catalog, UNLISTED at partner price.
        order(
            "5120008217",
            c,
            "NEW",
            "1000",
            datetime(2025, 6, 3, 9, 41, 27, tzinfo=UTC),
            [
                line(1, ACROBAT, 5, order_id="5120008217", partner_price="219.90", remaining=5),
                line(
                    2,
                    UNLISTED,
                    2,
                    order_id="5120008217",
                    status="1008",
                    partner_price="150.00",
                    remaining=0,
                ),
            ],
            external="PO-88413",
        ),
        # Still processing: STOCK has a catalog name but no price anywhere.
        order(
            "5120007702",
            c,
            "RENEWAL",
            "1002",
            datetime(2025, 5, 20, 7, 30, tzinfo=UTC),
            [line(1, ACROBAT, 3, order_id="5120007702"), line(2, STOCK, 1, order_id="5120007702")],
            source="System",
        ),
        order(
            "5120007391",
            c,
            "TRANSFER",
            "1004",
            datetime(2025, 2, 11, 13, 5, tzinfo=UTC),
            [line(1, UNLISTED, 4, order_id="5120007391", status="1004")],
        ),
        order(
            "5120006188",
            c,
            "RETURN",
            "1000",
            datetime(2024, 12, 9, 11, 0, tzinfo=UTC),
            [line(1, PHOTOSHOP, 2, order_id="5120006120")],
            reference="5120006120",
        ),
        order(
            "5120006120",
            c,
            "NEW",
            "1008",
            datetime(2024, 12, 2, 10, 15, tzinfo=UTC),
            [line(1, PHOTOSHOP, 2, order_id="5120006120", status="1008", remaining=0)],
            external="PO-80211",
        ),
        # Older than a year: hidden unless start-date asks for it.
        order(
            "5110004417",
            c,
            "NEW",
            "1000",
            datetime(2023, 3, 14, 9, 0, tzinfo=UTC),
            [line(1, ACROBAT, 10, order_id="5110004417", partner_price="199.00", remaining=10)],
            external="PO-61007",
        ),
    ]
    return who, orders


def _matrix() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        MATRIX,
        "Matrix Print Collective",
        {
            "country": "CA",
            "region": "BC",
            "city": "Vancouver",
            "addressLine1": "88 Water St",
            "postalCode": "V6B 1A4",
        },
        [{"firstName": "Ines", "lastName": "Carvalho"}],
        datetime(2022, 1, 10, tzinfo=UTC),
    )
    orders: list[dict[str, Any]] = []
    for type_index, order_type in enumerate(LISTED_TYPES + HIDDEN_TYPES):
        for status_index, status in enumerate(STATUSES):
            order_id = matrix_order_id(order_type, status)
            placed = TODAY - timedelta(days=2 + type_index * len(STATUSES) + status_index)
            reference = matrix_order_id("NEW", status) if order_type == "RETURN" else ""
            orders.append(
                order(
                    order_id,
                    MATRIX,
                    order_type,
                    status,
                    placed,
                    [
                        line(
                            1,
                            PHOTOSHOP,
                            1 + status_index,
                            order_id=order_id,
                            status=status,
                            partner_price="240.00",
                        )
                    ],
                    currency="CAD",
                    reference=reference,
                )
            )
    return who, orders


def matrix_order_id(order_type: str, status: str) -> str:
    type_index = (LISTED_TYPES + HIDDEN_TYPES).index(order_type)
    return f"5140{type_index}{STATUSES.index(status):02d}"


def busy_order_id(index: int) -> str:
    """Ids scrambled against time, so that order_number and purchase date sort differently."""
    return f"5130{(index * 37) % 100:02d}{index:02d}"


def _busy() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        BUSY,
        "Halvorsen Architects AS",
        {
            "country": "NO",
            "region": "03",
            "city": "Oslo",
            "addressLine1": "Kirkegata 15",
            "postalCode": "0153",
        },
        [{"firstName": "Sigrid", "lastName": "Halvorsen"}],
        datetime(2022, 6, 1, tzinfo=UTC),
    )
    first = datetime(2022, 7, 12, 8, 30, tzinfo=UTC)
    orders: list[dict[str, Any]] = []
    for index in range(60):
        order_id = busy_order_id(index)
        placed = first + timedelta(days=18 * index, hours=index % 7)
        status = ("1000", "1000", "1002", "1008", "1004")[index % 5]
        orders.append(
            order(
                order_id,
                BUSY,
                LISTED_TYPES[index % 3],
                status,
                placed,
                [
                    line(1, ACROBAT, 1 + index % 4, order_id=order_id, status=status),
                    line(2, UNLISTED, 1, order_id=order_id, status=status, partner_price="99.50"),
                ],
                external=f"HA-{index:03d}",
            )
        )
        if index % 4 == 1:
            return_id = f"5131{index:04d}"
            orders.append(
                order(
                    return_id,
                    BUSY,
                    "RETURN",
                    "1000",
                    placed + timedelta(days=3),
                    [line(1, ACROBAT, 1, order_id=order_id)],
                    reference=order_id,
                )
            )
        if index % 5 == 2:
            preview_id = f"5132{index:04d}"
            orders.append(
                order(
                    preview_id,
                    BUSY,
                    "PREVIEW",
                    "1000",
                    placed + timedelta(days=1),
                    [line(1, PHOTOSHOP, 1, order_id=preview_id)],
                )
            )
    return who, orders


def _euro() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        EURO,
        "Atelier Vermeulen BV",
        {
            "country": "NL",
            "region": "NH",
            "city": "Amsterdam",
            "addressLine1": "Prinsengracht 263",
            "postalCode": "1016 GV",
        },
        [{"firstName": "Joris", "lastName": "Vermeulen"}],
        datetime(2023, 9, 1, tzinfo=UTC),
    )
    orders = [
        order(
            "5150000101",
            EURO,
            "NEW",
            "1000",
            datetime(2025, 4, 2, 9, 0, tzinfo=UTC),
            [
                line(1, ACROBAT, 2, order_id="5150000101", currency="EUR", partner_price="221.76"),
                line(
                    2, SUBSTANCE, 1, order_id="5150000101", currency="EUR", partner_price="480.00"
                ),
            ],
            currency="EUR",
        ),
    ]
    return who, orders


def _quiet() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        QUIET,
        "Stille Werkstatt GmbH",
        {
            "country": "DE",
            "region": "BY",
            "city": "München",
            "addressLine1": "Ledererstraße 3",
            "addressLine2": "",
            "postalCode": "80331",
            "phoneNumber": "***",
        },
        [],
        datetime(2024, 2, 29, tzinfo=UTC),
    )
    return who, []


def _previews_only() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        PREVIEWS_ONLY,
        "Draft Only Ltd",
        {
            "country": "GB",
            "region": "LND",
            "city": "London",
            "addressLine1": "1 Fleet St",
            "postalCode": "EC4Y 1AA",
        },
        [{"firstName": "Ada", "lastName": "Quill"}],
        datetime(2024, 5, 5, tzinfo=UTC),
    )
    c = PREVIEWS_ONLY
    orders = [
        order(
            "5160000003",
            c,
            "PREVIEW_RENEWAL",
            "1000",
            datetime(2025, 6, 1, tzinfo=UTC),
            [line(1, ACROBAT, 1, order_id="5160000003")],
            currency="GBP",
        ),
        order(
            "5160000002",
            c,
            "RETURN",
            "1000",
            datetime(2025, 5, 1, tzinfo=UTC),
            [line(1, ACROBAT, 1, order_id="5160000001")],
            currency="GBP",
            reference="5160000001",
        ),
        order(
            "5160000001",
            c,
            "PREVIEW",
            "1000",
            datetime(2025, 4, 1, tzinfo=UTC),
            [line(1, ACROBAT, 1, order_id="5160000001")],
            currency="GBP",
        ),
    ]
    return who, orders


def _returns() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    who = customer(
        RETURNS,
        "Fjordline Media AS",
        {
            "country": "NO",
            "region": "46",
            "city": "Bergen",
            "addressLine1": "Bryggen 7",
            "postalCode": "5003",
        },
        [{"firstName": "Liv", "lastName": "Aasen"}],
        datetime(2023, 1, 9, tzinfo=UTC),
    )
    c = RETURNS

    def days_ago(days: float) -> datetime:
        return TODAY - timedelta(days=days)

    def full(number: int, offer_id: str, quantity: int, order_id: str) -> dict[str, Any]:
        return line(number, offer_id, quantity, order_id=order_id, remaining=quantity)

    orders = [
        order(
            RECENT_NEW,
            c,
            "NEW",
            "1000",
            days_ago(3),
            [
                line(1, ACROBAT, 5, order_id=RECENT_NEW, partner_price="219.90", remaining=5),
                line(2, PHOTOSHOP, 2, order_id=RECENT_NEW, partner_price="263.88", remaining=2),
            ],
            external="PO-5501",
        ),
        order(
            RECENT_LINES,
            c,
            "NEW",
            "1000",
            days_ago(4),
            [
                full(1, ACROBAT, 3, RECENT_LINES),
                full(2, PHOTOSHOP, 1, RECENT_LINES),
                line(3, UNLISTED, 2, order_id=RECENT_LINES),
            ],
        ),
        order(
            RECENT_RENEWAL,
            c,
            "RENEWAL",
            "1000",
            days_ago(6),
            [full(1, ACROBAT, 10, RECENT_RENEWAL)],
            source="System",
        ),
        order(PAST_WINDOW, c, "NEW", "1000", days_ago(20), [full(1, ACROBAT, 4, PAST_WINDOW)]),
        order(
            RECENT_TRANSFER,
            c,
            "TRANSFER",
            "1000",
            days_ago(2),
            [line(1, ACROBAT, 6, order_id=RECENT_TRANSFER)],
        ),
        order(
            PENDING,
            c,
            "NEW",
            "1002",
            days_ago(1),
            [line(1, PHOTOSHOP, 1, order_id=PENDING, status="1002")],
        ),
        order(
            "5170000017",
            c,
            "RETURN",
            "1000",
            days_ago(4),
            [line(1, ACROBAT, 2, order_id=RETURNED)],
            reference=RETURNED,
        ),
        order(
            RETURNED,
            c,
            "NEW",
            "1008",
            days_ago(5),
            [line(1, ACROBAT, 2, order_id=RETURNED, status="1008", remaining=0)],
        ),
        order(
            "5170000018",
            c,
            "RETURN",
            "1000",
            days_ago(7),
            [line(1, PHOTOSHOP, 1, order_id=PARTLY_RETURNED)],
            reference=PARTLY_RETURNED,
        ),
        order(
            PARTLY_RETURNED,
            c,
            "NEW",
            "1000",
            days_ago(8),
            [
                line(1, PHOTOSHOP, 1, order_id=PARTLY_RETURNED, status="1008", remaining=0),
                full(2, ACROBAT, 2, PARTLY_RETURNED),
            ],
        ),
        order(CREDIT_PACK, c, "NEW", "1000", days_ago(2), [full(1, STOCK, 1, CREDIT_PACK)]),
    ]
    return who, orders


def default_fixtures() -> CPAPIFixtures:
    fixtures = CPAPIFixtures()
    for build in (_larkspur, _matrix, _busy, _euro, _quiet, _previews_only, _returns):
        fixtures.add(*build())
    return fixtures
