"""BigCommerce shipments, products and carts (SPEC §8) against the emulator over real HTTP."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.base import Capability, ProductSearch, ShipmentListRequest
from adapters.bigcommerce import SHIPMENT_ORDERS_PER_PAGE, BigCommerceAdapter
from adapters.breaker import BreakerState
from adapters.errors import NotFound, UnservableRequest
from mappings import bigcommerce as bc
from tests.conftest import FAST
from tests.emulators import bigcommerce_fixtures as fx
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.pages import all_products, all_shipments, shipments_with_calls
from tests.platform_settings import bigcommerce_settings
from tests.servers import serve

pytestmark = pytest.mark.anyio

MANY = "140"
MANY_ORDERS = 35


def many_parcels_store() -> fx.Store:
    """A customer whose every order shipped in one tracked parcel."""
    store = fx.Store()
    store.add_customer(MANY, "Mona", "Many", "mona@example.com", "2019-01-01T00:00:00Z")
    start = fx.at("2024-01-01T00:00:00")
    for n in range(MANY_ORDERS):
        store.add_order(
            str(7000 + n),
            customer_id=MANY,
            created=start + timedelta(hours=n),
            status_id=2,
            lines=[fx.Line("Coffee", "COF", "4.50")],
            destination=fx.ANA_HOME,
            parcels=(
                fx.Parcel(
                    9000 + n, start + timedelta(hours=n, minutes=30), ((0, 1),), f"1Z{n:08d}"
                ),
            ),
        )
    return store


def make_emulator() -> BigCommerceEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return BigCommerceEmulator(fx.default_store())


@pytest.fixture(scope="module")
def served_many() -> Iterator[tuple[BigCommerceEmulator, str]]:
    emulator = BigCommerceEmulator(many_parcels_store())
    with serve(emulator.app) as url:
        yield emulator, url


async def _adapter(url: str) -> BigCommerceAdapter:
    settings = bigcommerce_settings(url)
    adapter = BigCommerceAdapter(settings, http=FAST)
    await adapter.open()
    return adapter


@pytest.fixture
async def adapter(
    served: tuple[BigCommerceEmulator, str], emulator: BigCommerceEmulator
) -> AsyncIterator[BigCommerceAdapter]:
    """Opened once `emulator` has reset the module's emulator."""
    adapter = await _adapter(served[1])
    yield adapter
    await adapter.close()


def expected_shipments(store: fx.Store, customer_id: str) -> list[str]:
    """Shipment ids order by order (newest order first), the latest shipment first."""
    found = []
    for order_id in store.newest_first(customer_id):
        parcels = sorted(
            store.shipments[order_id],
            key=lambda s: (bc.parse(bc.BCShipment, s).date_created, s["id"]),
            reverse=True,
        )
        found += [str(parcel["id"]) for parcel in parcels]
    return found


def test_the_adapter_declares_the_three_reads() -> None:
    wanted = {Capability.SHIPMENTS, Capability.PRODUCTS, Capability.CART}
    assert wanted <= BigCommerceAdapter.capabilities


# Shipments


async def test_a_shipment_with_every_erc_field(adapter: BigCommerceAdapter) -> None:
    page = await adapter.list_shipments(
        ShipmentListRequest(customer_id=fx.ANA, limit=5, order_id=fx.ORDER_SHIPPED)
    )
    assert page.resume is None
    assert [s.model_dump(mode="json", exclude_none=True) for s in page.shipments] == [
        {
            "id": "311",
            "customer_id": fx.ANA,
            "order_id": fx.ORDER_SHIPPED,
            "delivery_quantity": "2",
            "latest_status_info": "IN_TRANSIT",
            "created_time": "2025-05-13T09:19:58Z",
            "description": "USPS Priority Mail",
            "shipping_provider": "usps",
            "shipping_date": "2025-05-13T09:19:58Z",
            "shipping_address": {
                "first_name": "Ana",
                "last_name": "Ruiz",
                "phone_number": "512-555-0133",
                "address": "55 Pine Ave",
                "zip_code": "78701",
                "city": "Austin",
                "region_code": "US-TX",
                "country_code": "US",
            },
            "tracking_info": {
                "tracking_number": "9400111899223847561234",
                "tracking_carrier": "usps",
                "external_url": "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223847561234",
            },
            "items": [
                {
                    "id": str(int(fx.ORDER_SHIPPED) * 10),
                    "product_id": "77",
                    "name": "Canvas Weekender Bag",
                    "price": {"value": "40.0000", "currency": "USD"},
                    "quantity": "2",
                    "sku": "BAG-CNV-WKD",
                }
            ],
        }
    ]


async def test_an_order_shipped_in_two_parcels_has_two_shipments(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    page = await adapter.list_shipments(
        ShipmentListRequest(customer_id=fx.ANA, limit=5, order_id=fx.ORDER_PARTIAL)
    )
    parcels = {str(parcel["id"]) for parcel in emulator.store.shipments[fx.ORDER_PARTIAL]}
    ordered = [sid for sid in expected_shipments(emulator.store, fx.ANA) if sid in parcels]
    assert [s.id for s in page.shipments] == ordered
    assert len(ordered) == 2
    assert {s.order_id for s in page.shipments} == {fx.ORDER_PARTIAL}


async def test_every_page_of_shipments_is_walked_without_a_gap_or_a_repeat(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    pages = await all_shipments(adapter, customer_id=fx.ANA, limit=1)
    ids = [s.id for page in pages for s in page.shipments]
    assert ids == expected_shipments(emulator.store, fx.ANA)
    assert len(ids) >= 4
    assert all(s.customer_id == fx.ANA for page in pages for s in page.shipments)


async def test_a_tracking_number_finds_its_shipment_only(adapter: BigCommerceAdapter) -> None:
    pages = await all_shipments(
        adapter, customer_id=fx.ANA, limit=5, tracking_number=" 9400111899223847561234 "
    )
    assert [s.id for page in pages for s in page.shipments] == ["311"]


async def test_another_customers_order_is_never_listed(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.list_shipments(
            ShipmentListRequest(customer_id=fx.LUKAS, limit=5, order_id=fx.ORDER_SHIPPED)
        )
    assert not any(r.resource.endswith("/shipments") for r in emulator.requests)


async def test_an_unknown_customer_is_not_found(adapter: BigCommerceAdapter) -> None:
    for unknown in ("999", "not-a-number"):
        with pytest.raises(NotFound):
            await adapter.list_shipments(ShipmentListRequest(customer_id=unknown, limit=5))


async def test_orders_that_shipped_nothing_cost_no_shipment_call(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    page = await adapter.list_shipments(ShipmentListRequest(customer_id=fx.BULK, limit=5))
    assert page.shipments == [] and page.resume is not None
    assert [r.resource for r in emulator.requests] == ["/v2/orders"]


async def test_one_page_of_shipments_costs_a_bounded_number_of_calls(
    served_many: tuple[BigCommerceEmulator, str],
) -> None:
    emulator, url = served_many
    emulator.reset()
    adapter = await _adapter(url)
    try:
        pages = await shipments_with_calls(
            adapter, lambda: emulator.requests, customer_id=MANY, limit=25
        )
    finally:
        await adapter.close()
    assert len(pages) > 1
    for _, calls in pages:
        assert len(calls) <= 2 + 2 * SHIPMENT_ORDERS_PER_PAGE
    seen = [shipment for ids, _ in pages for shipment in ids]
    assert seen == [str(9000 + n) for n in reversed(range(MANY_ORDERS))]


# Products


async def test_the_catalog_is_paged_without_a_gap_or_a_repeat(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    pages = await all_products(adapter, limit=4)
    ids = [p.id for page in pages for p in page.products]
    assert ids == [str(p["id"]) for p in emulator.store.catalog if p["is_visible"]]
    assert fx.PRODUCT_HIDDEN not in ids


async def test_a_keyword_search_is_paged_too(adapter: BigCommerceAdapter) -> None:
    pages = await all_products(adapter, limit=6, search="trail bar")
    ids = [p.id for page in pages for p in page.products]
    assert ids == [str(200 + n) for n in range(1, fx.BULK_PRODUCTS + 1)]
    assert [len(page.products) for page in pages] == [6, 6, 6, 2]


def visible_ids(emulator: BigCommerceEmulator) -> list[str]:
    return [str(p["id"]) for p in emulator.store.catalog if p["is_visible"]]


def catalog_pages_read(emulator: BigCommerceEmulator, since: int = 0) -> list[tuple[int, int]]:
    """The (page, limit) of every catalog call from the `since`-th call on."""
    return [
        (int(r.param("page") or 0), int(r.param("limit") or 0))
        for r in emulator.requests[since:]
        if r.resource == "/v3/catalog/products"
    ]


@pytest.mark.parametrize(
    ("first", "then", "pages_read", "more"),
    [
        # Products 6 and 7 are BigCommerce's page 4 of 2.
        pytest.param(6, 2, [(4, 2)], True, id="smaller"),
        # Products 2 to 6 start inside BigCommerce's page 1 of 5 and end in its page 2.
        pytest.param(2, 5, [(1, 5), (2, 5)], True, id="larger"),
        # Products 21 to 23 lie inside page 4 of 6, which says no page follows it.
        pytest.param(21, 6, [(4, 6)], False, id="last"),
    ],
)
async def test_a_changed_limit_after_a_cursor_reads_only_the_pages_holding_the_next(
    adapter: BigCommerceAdapter,
    emulator: BigCommerceEmulator,
    first: int,
    then: int,
    pages_read: list[tuple[int, int]],
    more: bool,
) -> None:
    first_page = await adapter.list_products(ProductSearch(limit=first))
    before = len(emulator.requests)
    page = await adapter.list_products(ProductSearch(limit=then, resume=first_page.resume))
    assert [p.id for p in page.products] == visible_ids(emulator)[first : first + then]
    assert (page.resume is not None) is more
    assert catalog_pages_read(emulator, before) == pages_read


async def test_pages_of_changing_limits_walk_the_catalog_without_a_gap_or_a_repeat(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    visible = visible_ids(emulator)
    limits = [5, 3, 7, 2, 7]  # the last page, products 17 to 23, ends the catalog
    assert sum(limits) == len(visible)
    pages = [await adapter.list_products(ProductSearch(limit=limits[0]))]
    for limit in limits[1:]:
        assert pages[-1].resume is not None
        pages.append(
            await adapter.list_products(ProductSearch(limit=limit, resume=pages[-1].resume))
        )
    assert [p.id for page in pages for p in page.products] == visible
    assert [len(page.products) for page in pages] == limits
    assert pages[-1].resume is None


async def test_a_cursor_naming_bigcommerces_page_and_limit_still_resumes_there(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    """What cursors said before they said the offset: page 3 of 4 starts at product 8."""
    older = {"page": 3, "limit": 4}
    same = await adapter.list_products(ProductSearch(limit=4, resume=older))
    smaller = await adapter.list_products(ProductSearch(limit=3, resume=older))
    assert [p.id for p in same.products] == visible_ids(emulator)[8:12]
    assert [p.id for p in smaller.products] == visible_ids(emulator)[8:11]
    assert same.resume == {"offset": 12}


async def test_a_product_with_options_variants_images_and_stock(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    page = await adapter.list_products(ProductSearch(limit=10, search="merino"))
    assert [p.id for p in page.products] == [fx.PRODUCT_BASE_LAYER]
    cdn = "https://cdn.example-bc.test/products/113/{}.jpg"
    assert page.products[0].model_dump(mode="json", exclude_none=True) == {
        "id": "113",
        "title": "Merino Base Layer",
        "default_variant_id": "1130",
        "default_image_id": "1130",
        "images": [
            {"id": "1130", "image_url": cdn.format("merino")},
            {"id": "1131", "image_url": cdn.format("merino-forest")},
        ],
        "options": [
            {"name": "Color", "values": ["Charcoal", "Forest"]},
            {"name": "Size", "values": ["S", "M"]},
        ],
        "variants": [
            {
                "id": "1130",
                "sku": "TOP-MRN-CH-S",
                "price": {"value": "69", "currency": "USD"},
                "options": {"Color": "Charcoal", "Size": "S"},
                "available_quantity": 7,
            },
            {
                "id": fx.BASE_LAYER_SOLD_OUT,
                "sku": "TOP-MRN-CH-M",
                "price": {"value": "69", "currency": "USD"},
                "options": {"Color": "Charcoal", "Size": "M"},
                "available_quantity": 0,
            },
            {
                "id": "1132",
                "sku": "TOP-MRN-FO-S",
                "price": {"value": "59", "currency": "USD"},
                "images_ids": ["1131"],
                "options": {"Color": "Forest", "Size": "S"},
                "available_quantity": 2,
            },
            {
                "id": "1133",
                "sku": "TOP-MRN-FO-M",
                "price": {"value": "59", "currency": "USD"},
                "images_ids": ["1131"],
                "options": {"Color": "Forest", "Size": "M"},
                "available_quantity": 9,
            },
        ],
        "custom_fields": {"sku": "TOP-MRN"},
    }
    assert sorted(emulator.resources) == ["/v2/store", "/v3/catalog/products"]
    catalog = next(r for r in emulator.requests if r.resource == "/v3/catalog/products")
    assert catalog.param("keyword") == "merino"
    assert catalog.param("include") == "variants,images,options"


async def test_stock_follows_what_the_product_tracks(adapter: BigCommerceAdapter) -> None:
    headlamp = (await adapter.list_products(ProductSearch(limit=5, search="HLP-400"))).products
    assert [(v.sku, v.available_quantity) for v in headlamp[0].variants or []] == [("HLP-400", 0)]
    gift = (await adapter.list_products(ProductSearch(limit=5, search="gift"))).products
    assert [(v.sku, v.available_quantity) for v in gift[0].variants or []] == [("GIFT-50", None)]


async def test_a_search_that_matches_nothing_is_an_empty_last_page(
    served: tuple[BigCommerceEmulator, str], emulator: BigCommerceEmulator
) -> None:
    """The store's currency, asked for alongside the catalog, is not needed: its failure
    neither fails the page nor counts towards the circuit breaker (one failure opens it)."""
    http = replace(FAST, attempts=1, breaker_threshold=1)
    adapter = BigCommerceAdapter(bigcommerce_settings(served[1]), http=http)
    await adapter.open()
    emulator.fail_next(500, path="/v2/store")
    try:
        page = await adapter.list_products(ProductSearch(limit=5, search="snowshoe"))
        breaker = adapter._http.breaker.state
    finally:
        await adapter.close()
    assert page.products == [] and page.resume is None
    assert "/v3/catalog/products" in emulator.resources
    assert breaker is BreakerState.CLOSED


# Cart


async def test_a_cart_by_id_with_its_discounts(adapter: BigCommerceAdapter) -> None:
    found = await adapter.get_cart(cart_id=fx.CART_ANA)
    assert found.model_dump(mode="json", exclude_none=True) == {
        "cart_id": fx.CART_ANA,
        "customer_id": fx.ANA,
        "total_quantity": "3",
        "currency": "USD",
        "created_time": "2025-09-03T08:00:00Z",
        "updated_time": "2025-09-03T08:12:00Z",
        "cost": {"base_amount": "467.00", "discounts_amount": "15.90", "final_amount": "451.10"},
        "cart_discounts": [
            {
                "discounted_amount": "10.00",
                "type": "per_total_discount",
                "discount_code": "TRAIL10",
                "discount_name": "$10 off your trail kit",
            }
        ],
        "cart_lines": [
            {
                "line_id": "e1d0c2b3-0001-4a5b-8c7d-000000000001",
                "variant_id": "1133",
                "variant_title": "Color: Forest / Size: M",
                "product_id": "113",
                "sku": "TOP-MRN-FO-M",
                "default_image": "https://cdn.example-bc.test/products/113/merino-forest.jpg",
                "quantity": "2",
                "url": "https://shop.example-bc.test/top-mrn/",
                "cost": {
                    "base_amount": "118.00",
                    "discounts_amount": "5.90",
                    "final_amount": "112.10",
                },
                "cart_lines_discounts": [
                    {"discounted_amount": "5.90", "type": "promotion", "discount_code": "7"}
                ],
            },
            {
                "line_id": "e1d0c2b3-0002-4a5b-8c7d-000000000002",
                "variant_id": "1120",
                "variant_title": "Ultralight Tent 2P",
                "product_id": "112",
                "sku": "TNT-UL2",
                "default_image": "https://cdn.example-bc.test/products/112/tent.jpg",
                "quantity": "1",
                "url": "https://shop.example-bc.test/tnt-ul2/",
                "cost": {
                    "base_amount": "349.00",
                    "discounts_amount": "0.00",
                    "final_amount": "349.00",
                },
            },
        ],
        "custom_fields": {"tax_included": False},
    }


def cart_with(**changes: object) -> dict[str, object]:
    """Ana's cart as BigCommerce would answer it with `changes`."""
    return {"data": {**copy.deepcopy(fx.default_store().carts[fx.CART_ANA]), **changes}}


async def test_a_taxed_cart_shows_its_discounts_and_its_taxes(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    """`cart_amount` holds the taxes of a cart whose prices do not include them: the
    discounts are its coupon and its lines' promotion, the rest of the total its taxes."""
    emulator.fail_next(200, cart_with(cart_amount=488.32), path=f"/v3/carts/{fx.CART_ANA}")
    found = await adapter.get_cart(cart_id=fx.CART_ANA)
    assert found.cost.model_dump(exclude_none=True) == {
        "base_amount": "467.00",
        "discounts_amount": "15.90",  # the coupon's 10.00 and a line's promotion of 5.90
        "final_amount": "488.32",
        "taxes_amount": "37.22",
    }
    assert [(r.method, r.resource) for r in emulator.requests] == [
        ("GET", f"/v3/carts/{fx.CART_ANA}")
    ]


async def test_a_cart_taking_off_more_than_its_listed_discounts_shows_what_it_takes(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    """A discount the cart does not list (say, one of the whole cart only) is still taken
    off: what the total takes off the base counts, and there are no taxes to show."""
    emulator.fail_next(200, cart_with(cart_amount=441.10), path=f"/v3/carts/{fx.CART_ANA}")
    found = await adapter.get_cart(cart_id=fx.CART_ANA)
    assert found.cost.model_dump(exclude_none=True) == {
        "base_amount": "467.00",
        "discounts_amount": "25.90",
        "final_amount": "441.10",
    }


async def test_a_cart_in_another_currency_keeps_it(adapter: BigCommerceAdapter) -> None:
    found = await adapter.get_cart(cart_id=fx.CART_GUEST_EUR)
    assert found.currency == "EUR" and found.customer_id is None
    assert found.cost.final_amount == "46.00"
    assert [line.sku for line in found.cart_lines or []] == ["GIFT-50"]


async def test_an_unknown_cart_id_is_not_found(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    unknown = "0b7c6e52-5c0f-4f6b-8e1c-3a9d9b8e2d7a"
    with pytest.raises(NotFound):
        await adapter.get_cart(cart_id=unknown)
    assert [(r.method, r.resource) for r in emulator.requests] == [("GET", f"/v3/carts/{unknown}")]
    assert unknown not in emulator.store.carts
    with pytest.raises(NotFound):
        await adapter.get_cart(cart_id="../v2/orders")
    assert len(emulator.requests) == 1


async def test_a_cart_by_customer_is_refused_naming_customer_id(
    adapter: BigCommerceAdapter, emulator: BigCommerceEmulator
) -> None:
    with pytest.raises(UnservableRequest) as refused:
        await adapter.get_cart(customer_id=fx.ANA)
    assert refused.value.field == "customer_id"
    assert emulator.requests == []
