"""Elastic Path shipments, products and carts (SPEC §8) against the emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from adapters.base import Capability, ProductSearch, ShipmentListRequest
from adapters.elasticpath import SHIPMENT_ORDERS_PER_PAGE, ElasticPathAdapter
from adapters.errors import NotFound, UnservableRequest
from mappings import elasticpath as ep
from mappings import elasticpath_shelf as shelf_mapping
from mappings.addresses import address_of
from tests.conftest import FAST
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.pages import all_products, all_shipments, shipments_with_calls
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

pytestmark = pytest.mark.anyio

MANY = fx.uid("customer:many-parcels")
MANY_ORDERS = 35


def many_parcels_store() -> fx.Store:
    """A customer whose every order shipped in one tracked shipping group."""
    store = fx.Store()
    store.add_customer(MANY, "Mona Many", "mona@example.com", "2019-01-01T00:00:00Z")
    for n in range(MANY_ORDERS):
        order_id = fx.uid(f"order:many:{n}")
        group_id = fx.uid(f"group:many:{n}")
        moment = f"2024-01-{1 + n // 24:02d}T{n % 24:02d}:00:00Z"
        store.add_order(
            order_id,
            customer_id=MANY,
            created_at=moment,
            currency="USD",
            lines=[fx.Line("Coffee", "COF", 450, shipping_group=group_id)],
            shipping_groups=(
                fx.shipping_group(
                    group_id,
                    order_id,
                    shipping_type="UPS Ground",
                    tracking_reference=f"1Z{n:08d}",
                    estimate=None,
                    destination=fx.MARIA_HOME,
                    cost=0,
                    currency="USD",
                    updated_at=moment,
                ),
            ),
        )
    return store


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return ElasticPathEmulator(fx.default_store())


@pytest.fixture(scope="module")
def served_many() -> Iterator[tuple[ElasticPathEmulator, str]]:
    emulator = ElasticPathEmulator(many_parcels_store())
    with serve(emulator.app) as url:
        yield emulator, url


async def _adapter(url: str) -> ElasticPathAdapter:
    settings = elasticpath_settings(url)
    adapter = ElasticPathAdapter(settings, http=FAST)
    await adapter.open()
    return adapter


@pytest.fixture
async def adapter(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> AsyncIterator[ElasticPathAdapter]:
    """Opened once `emulator` has reset the module's emulator."""
    adapter = await _adapter(served[1])
    yield adapter
    await adapter.close()


def shelf(emulator: ElasticPathEmulator) -> fx.Shelf:
    assert emulator.store.shelf is not None
    return emulator.store.shelf


def test_the_adapter_declares_the_three_reads() -> None:
    wanted = {Capability.SHIPMENTS, Capability.PRODUCTS, Capability.CART}
    assert wanted <= ElasticPathAdapter.capabilities


# Shipments


async def test_a_shipping_group_is_one_shipment_with_every_erc_field(
    adapter: ElasticPathAdapter,
) -> None:
    page = await adapter.list_shipments(
        ShipmentListRequest(customer_id=fx.MARIA, limit=10, order_id=fx.ORDER_FULFILLED)
    )
    fedex = next(s for s in page.shipments if s.id == fx.GROUP_FEDEX)
    home = address_of(ep.parse(ep.EPAddress, fx.MARIA_HOME))
    assert fedex.model_dump(mode="json", exclude_none=True) == {
        "id": fx.GROUP_FEDEX,
        "customer_id": fx.MARIA,
        "order_id": fx.ORDER_FULFILLED,
        "delivery_quantity": "1",
        "delivery_date_start": "2025-05-09T00:00:00Z",
        "delivery_date_end": "2025-05-12T23:59:59Z",
        "latest_status_info": "IN_TRANSIT",
        "last_updated": "2025-05-07T16:40:00Z",
        "created_time": "2025-05-07T16:40:00Z",
        "shipping_provider": "FedEx Home Delivery",
        "shipping_address": home.model_dump(mode="json", exclude_none=True) if home else None,
        "tracking_info": {"tracking_number": "794698547301"},
        "items": [
            {
                "id": fx.uid(f"{fx.ORDER_FULFILLED}:item:0"),
                "product_id": fx.uid("product:TNT-ALP-2P"),
                "name": "Alpine Tent 2P",
                "price": {"value": "349.00", "currency": "USD"},
                "quantity": "1",
                "sku": "TNT-ALP-2P",
            }
        ],
    }
    usps = next(s for s in page.shipments if s.id == fx.GROUP_USPS)
    assert usps.tracking_info is None
    assert usps.delivery_quantity == "2"
    assert [s.id for s in page.shipments] == [fx.GROUP_USPS, fx.GROUP_FEDEX]  # newest first
    assert page.resume is None


async def test_every_page_of_shipments_is_walked_without_a_gap_or_a_repeat(
    adapter: ElasticPathAdapter,
) -> None:
    pages = await all_shipments(adapter, customer_id=fx.MARIA, limit=1)
    ids = [s.id for page in pages for s in page.shipments]
    assert ids == [fx.GROUP_USPS, fx.GROUP_FEDEX, fx.GROUP_COMPLETE]
    assert all(s.customer_id == fx.MARIA for page in pages for s in page.shipments)


async def test_a_tracking_number_finds_its_shipment_only(adapter: ElasticPathAdapter) -> None:
    pages = await all_shipments(
        adapter, customer_id=fx.MARIA, limit=5, tracking_number="794698547301"
    )
    assert [s.id for page in pages for s in page.shipments] == [fx.GROUP_FEDEX]
    none = await all_shipments(adapter, customer_id=fx.MARIA, limit=5, tracking_number="0000")
    assert [s for page in none for s in page.shipments] == []


async def test_another_customers_order_is_never_listed(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.list_shipments(
            ShipmentListRequest(customer_id=fx.SOFIA, limit=5, order_id=fx.ORDER_FULFILLED)
        )
    assert not any("shipping-groups" in path for path in emulator.api_paths)
    sofia = await all_shipments(adapter, customer_id=fx.SOFIA, limit=5)
    assert {s.id for page in sofia for s in page.shipments} == {fx.GROUP_HOME, fx.GROUP_OFFICE}
    assert {s.order_id for page in sofia for s in page.shipments} == {fx.ORDER_TWO_GROUPS}


async def test_an_unknown_customer_is_not_found(adapter: ElasticPathAdapter) -> None:
    with pytest.raises(NotFound):
        await adapter.list_shipments(ShipmentListRequest(customer_id=fx.uid("nobody"), limit=5))


async def test_a_customer_without_shipments_has_an_empty_last_page(
    adapter: ElasticPathAdapter,
) -> None:
    page = await adapter.list_shipments(ShipmentListRequest(customer_id=fx.NOAH, limit=5))
    assert page.shipments == [] and page.resume is None


async def test_one_page_of_shipments_costs_a_bounded_number_of_calls(
    served_many: tuple[ElasticPathEmulator, str],
) -> None:
    emulator, url = served_many
    emulator.reset()
    adapter = await _adapter(url)
    try:
        pages = await shipments_with_calls(
            adapter, lambda: emulator.api_calls, customer_id=MANY, limit=25
        )
    finally:
        await adapter.close()
    for _, calls in pages:
        assert len(calls) <= 1 + SHIPMENT_ORDERS_PER_PAGE
        assert sum(1 for c in calls if c.segments == ("v2", "orders")) == 1
    seen = [shipment for ids, _ in pages for shipment in ids]
    assert seen == [fx.uid(f"group:many:{n}") for n in reversed(range(MANY_ORDERS))]


# Products


async def test_the_catalog_is_paged_without_a_gap_or_a_repeat(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    pages = await all_products(adapter, limit=4)
    ids = [p.id for page in pages for p in page.products]
    top_level = [
        p["id"]
        for p in shelf(emulator).catalog
        if p["meta"]["product_types"][0] in ("standard", "parent")
    ]
    assert ids == top_level
    assert all(len(page.products) <= 4 for page in pages)


async def test_a_parent_product_has_its_children_as_variants_with_stock(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    page = await adapter.list_products(ProductSearch(limit=10, search="Trail Jacket"))
    assert [p.id for p in page.products] == [fx.PRODUCT_JACKET]
    jacket = page.products[0].model_dump(mode="json", exclude_none=True)
    red = fx.uid("image:JKT-TRL-RED-M"), fx.uid("image:JKT-TRL-RED-L")
    assert jacket == {
        "id": fx.PRODUCT_JACKET,
        "title": "Trail Jacket",
        "description": "Waterproof shell",
        "default_variant_id": fx.JACKET_BLUE_M,
        "default_image_id": fx.uid("image:JKT-TRL"),
        "images": [
            {"id": image_id, "image_url": f"https://files.example-ep.test/{sku}.jpg"}
            for image_id, sku in (
                (fx.uid("image:JKT-TRL"), "jkt-trl"),
                (red[0], "jkt-trl-red-m"),
                (red[1], "jkt-trl-red-l"),
            )
        ],
        "options": [
            {"name": "Color", "values": ["Blue", "Red"]},
            {"name": "Size", "values": ["M", "L"]},
        ],
        "variants": [
            {
                "id": fx.JACKET_BLUE_M,
                "sku": "JKT-TRL-BLU-M",
                "price": {"value": "129.00", "currency": "USD"},
                "options": {"Color": "Blue", "Size": "M"},
                "available_quantity": 5,
            },
            {
                "id": fx.JACKET_BLUE_L,
                "sku": "JKT-TRL-BLU-L",
                "price": {"value": "139.00", "currency": "USD"},
                "options": {"Color": "Blue", "Size": "L"},
                "available_quantity": 0,
            },
            {
                "id": fx.JACKET_RED_M,
                "sku": "JKT-TRL-RED-M",
                "price": {"value": "129.00", "currency": "USD"},
                "images_ids": [red[0]],
                "options": {"Color": "Red", "Size": "M"},
                "available_quantity": 3,
            },
            {
                "id": fx.JACKET_RED_L,
                "sku": "JKT-TRL-RED-L",
                "price": {"value": "139.00", "currency": "USD"},
                "images_ids": [red[1]],
                "options": {"Color": "Red", "Size": "L"},
            },
        ],
        "custom_fields": {"slug": "jkt-trl"},
    }
    # The SKU search, then the name search, the parent's children, one stock call.
    calls = [(c.segments[-1], c.query.get("filter")) for c in emulator.api_calls]
    assert calls == [
        ("products", 'eq(sku,"Trail Jacket")'),
        ("products", 'eq(name,"Trail Jacket"):in(product_types,standard,parent)'),
        ("children", None),
        ("multiple", None),
    ]


async def test_search_is_an_exact_sku_then_an_exact_name(adapter: ElasticPathAdapter) -> None:
    by_sku = await adapter.list_products(ProductSearch(limit=10, search="HDL-300"))
    assert [p.id for p in by_sku.products] == [fx.PRODUCT_HEADLAMP]
    variant = (by_sku.products[0].variants or [])[0]
    assert variant.available_quantity == 0  # out of stock
    child = await adapter.list_products(ProductSearch(limit=10, search="JKT-TRL-BLU-L"))
    assert [p.id for p in child.products] == [fx.JACKET_BLUE_L]
    by_name = await adapter.list_products(ProductSearch(limit=10, search="Gift Card 50"))
    assert [p.id for p in by_name.products] == [fx.PRODUCT_GIFT_CARD]
    assert (by_name.products[0].variants or [])[0].available_quantity is None
    assert by_name.products[0].images is None
    nothing = await adapter.list_products(ProductSearch(limit=10, search="trail"))
    assert nothing.products == [] and nothing.resume is None


async def test_search_text_that_cannot_go_into_a_filter_is_refused(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(UnservableRequest) as refused:
        await adapter.list_products(ProductSearch(limit=10, search='x"),eq(sku,y'))
    assert refused.value.field == "search"
    assert emulator.api_calls == []


# Cart


async def test_a_cart_by_id_with_its_discounts(adapter: ElasticPathAdapter) -> None:
    found = await adapter.get_cart(cart_id=fx.CART_MARIA)
    image = "https://files.example-ep.test/{}.jpg"
    assert found.model_dump(mode="json", exclude_none=True) == {
        "cart_id": fx.CART_MARIA,
        "customer_id": fx.MARIA,
        "total_quantity": "3",
        "currency": "USD",
        "created_time": "2025-09-01T10:00:00Z",
        "updated_time": "2025-09-01T10:05:00Z",
        "cost": {
            "base_amount": "158.00",
            "discounts_amount": "17.90",
            "final_amount": "140.10",
            "taxes_amount": "0.00",
        },
        "cart_discounts": [
            {
                "discounted_amount": "5.00",
                "type": "promotion",
                "discount_code": "SUMMER5",
                "discount_name": "Summer 5 off",
                "discount_description": "Five dollars off any cart over fifty",
            }
        ],
        "cart_lines": [
            {
                "line_id": fx.uid(f"{fx.CART_MARIA}:line:{fx.JACKET_BLUE_M}"),
                "variant_id": fx.JACKET_BLUE_M,
                "variant_title": "Trail Jacket",
                "product_id": fx.JACKET_BLUE_M,
                "sku": "JKT-TRL-BLU-M",
                "quantity": "1",
                "cost": {
                    "base_amount": "129.00",
                    "discounts_amount": "12.90",
                    "final_amount": "116.10",
                    "taxes_amount": "0.00",
                },
                "cart_lines_discounts": [
                    {
                        "discounted_amount": "12.90",
                        "type": "rule-promotion",
                        "discount_code": "JACKET10",
                    }
                ],
            },
            {
                "line_id": fx.uid(f"{fx.CART_MARIA}:line:{fx.PRODUCT_MUG}"),
                "variant_id": fx.PRODUCT_MUG,
                "variant_title": "Camp Mug",
                "product_id": fx.PRODUCT_MUG,
                "sku": "MUG-CMP",
                "default_image": image.format("mug-cmp"),
                "quantity": "2",
                "cost": {
                    "base_amount": "29.00",
                    "discounts_amount": "0.00",
                    "final_amount": "29.00",
                    "taxes_amount": "0.00",
                },
            },
        ],
        "custom_fields": {"name": "Cart"},
    }


async def test_an_emptied_cart_is_still_a_cart(adapter: ElasticPathAdapter) -> None:
    found = await adapter.get_cart(cart_id=fx.CART_EMPTY_USED)
    assert found.cart_id == fx.CART_EMPTY_USED
    assert found.cart_lines is None and found.cost.final_amount == "0.00"


async def test_an_unknown_cart_id_is_not_found_and_leaves_no_cart_behind(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    unknown = fx.uid("cart:never-made")
    with pytest.raises(NotFound):
        await adapter.get_cart(cart_id=unknown)
    # EP made a cart when it was read; the adapter removed it again.
    assert shelf(emulator).carts_made_by_reads[-1] == unknown
    assert unknown not in shelf(emulator).carts
    assert [(c.method, c.segments) for c in emulator.api_calls] == [
        ("GET", ("v2", "carts", unknown)),
        ("DELETE", ("v2", "carts", unknown)),
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Wishlist"},
        {"description": "for the trip"},
        {"meta": {"timestamps": {"updated_at": "2025-09-02T10:31:00Z"}}},
        {"relationships": {"customers": {"data": [{"type": "customer", "id": fx.MARIA}]}}},
    ],
)
def test_only_the_cart_ep_makes_for_an_unknown_id_counts_as_missing(change: dict[str, Any]) -> None:
    made = fx.Shelf().made_by_read("x", "2025-09-02T10:00:00Z")
    assert shelf_mapping.made_by_reading(ep.parse(shelf_mapping.EPCartDocument, {"data": made}))
    changed = {**made, **change}
    if "meta" in change:
        changed["meta"] = {**made["meta"], "timestamps": change["meta"]["timestamps"]}
    document = ep.parse(shelf_mapping.EPCartDocument, {"data": changed})
    assert not shelf_mapping.made_by_reading(document)


async def test_a_cart_id_that_is_no_id_is_not_found_without_a_call(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(NotFound):
        await adapter.get_cart(cart_id="..")
    assert emulator.api_calls == []


async def test_a_cart_by_customer_is_refused_naming_customer_id(
    adapter: ElasticPathAdapter, emulator: ElasticPathEmulator
) -> None:
    with pytest.raises(UnservableRequest) as refused:
        await adapter.get_cart(customer_id=fx.MARIA)
    assert refused.value.field == "customer_id"
    assert emulator.api_calls == []
