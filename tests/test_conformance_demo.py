"""The demo store against the adapter conformance suite (it reads no platform: no faults)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from adapters.base import Adapter
from adapters.demo import DemoAdapter
from tests.conformance import AdapterConformance, Manifest, Platform, no_platform


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
    )

    def serve_platform(self) -> AbstractContextManager[Platform]:
        return no_platform()

    def build_adapter(self, platform: Platform) -> Adapter:
        return DemoAdapter()
