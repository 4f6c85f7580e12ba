"""The demo store against the adapter conformance suite (it reads no platform: no faults).

Each test builds a new demo store, so the write cases may share orders."""

from __future__ import annotations

from contextlib import AbstractContextManager

from adapters.base import Adapter
from adapters.demo import DemoAdapter
from tests.conformance import AdapterConformance, Manifest, Platform, WriteCases, no_platform


class TestDemoConformance(AdapterConformance):
    manifest = Manifest(
        customer="cus_ana",
        orders=5,
        order="ord_1002",
        items=2,
        empty_customer="cus_new",
        other_customer="cus_john",
        other_order="ord_us_001",
        missing_customer="cus_nobody",
        missing_order="ord_nope",
        writes=WriteCases(
            customer="cus_ana",
            cancellable="ord_1005",
            cancelled="ord_1003",
            not_cancellable="ord_1002",
            addressable="ord_1005",
            not_addressable="ord_1004",
            lines_order="ord_1005",
            lines=("itm_1005_01", "itm_1005_02"),
        ),
    )

    SHIPMENTS_CUSTOMER = "cus_ana"
    SHIPMENTS_COUNT = 5
    SHIPMENTS_ORDER = "ord_1002"  # two parcels
    SHIPMENTS_TRACKING_NUMBER = "RR987654321PT"
    SHIPMENTS_OTHER_CUSTOMER = "cus_john"
    PRODUCT_SEARCH = "linen"
    PRODUCT_COUNT = 7
    CART_ID = "crt_guest_7f3a"
    CART_CUSTOMER = "cus_ana"
    UNKNOWN_CART_ID = "crt_nope"

    def serve_platform(self) -> AbstractContextManager[Platform]:
        return no_platform()

    def build_adapter(self, platform: Platform) -> Adapter:
        return DemoAdapter()
