"""BigCommerce against the adapter conformance suite; its emulator injects every fault."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.base import Adapter
from adapters.bigcommerce import BigCommerceAdapter
from tests.conformance import (
    ALL_FAULTS,
    AdapterConformance,
    Manifest,
    Platform,
    WriteCases,
    WriteOrders,
)
from tests.conftest import FAST
from tests.emulators import bigcommerce_fixtures as fx
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.platform_settings import bigcommerce_settings
from tests.servers import serve

WRITE_CASES: WriteOrders = {
    "cancellable_order": fx.ORDER_AWAITING_FULFILLMENT,
    "shipped_order": fx.ORDER_SHIPPED,
    "cancelled_order": fx.ORDER_CANCELLED,
    "current_shipping_address": {
        "address": "300 Congress Ave, Floor 12",
        "city": "Austin",
        "zip_code": "78701",
        "region_code": "US-TX",
        "country_code": "US",
    },
}
"""Orders of `manifest.customer` for the suite's write cases (SPEC §7): W1 and W2 are
applied to `cancellable_order` (whose W2 body `current_shipping_address` is already in
place), refused (422) on `shipped_order`, and W1 is already done on `cancelled_order`.
The emulator keeps every change: serve a fresh `fx.default_store()` for each write case."""


class TestBigCommerceConformance(AdapterConformance):
    manifest = Manifest(
        customer=fx.ANA,
        orders=11,
        order=fx.ORDER_PARTIAL,
        items=3,
        empty_customer=fx.PRIYA,
        other_customer=fx.LUKAS,
        other_order=fx.ORDER_EUR,
        faults=ALL_FAULTS,
        writes=WriteCases(
            customer=fx.ANA,
            cancellable=WRITE_CASES["cancellable_order"],
            cancelled=WRITE_CASES["cancelled_order"],
            not_cancellable=WRITE_CASES["shipped_order"],
            addressable=WRITE_CASES["cancellable_order"],
            not_addressable=WRITE_CASES["shipped_order"],
        ),
    )

    # R6 to R8 (SPEC §8) on `fx.default_store()`.
    SHIPMENTS_CUSTOMER = fx.ANA
    SHIPMENTS_COUNT = 5
    SHIPMENTS_ORDER = fx.ORDER_PARTIAL  # two shipments
    SHIPMENTS_TRACKING_NUMBER = "9400111899223847561234"
    SHIPMENTS_OTHER_CUSTOMER = fx.KENJI
    PRODUCT_SEARCH = "merino"
    CART_ID = fx.CART_ANA
    CART_CUSTOMER = fx.ANA
    CART_BY_CUSTOMER = False  # refused with a 400 naming `customer_id`
    UNKNOWN_CART_ID = "0b7c6e52-5c0f-4f6b-8e1c-3a9d9b8e2d7a"  # a 404

    @contextmanager
    def serve_platform(self) -> Iterator[Platform]:
        emulator = BigCommerceEmulator(fx.default_store())
        with serve(emulator.app) as url:
            yield Platform(url=url, faults=emulator, emulator=emulator)

    def restore_platform(self, platform: Platform) -> None:
        platform.emulator.store = fx.default_store()

    def build_adapter(self, platform: Platform) -> Adapter:
        settings = bigcommerce_settings(platform.url)
        return BigCommerceAdapter(settings, http=FAST)
