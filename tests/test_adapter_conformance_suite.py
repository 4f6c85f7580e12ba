"""The conformance suite itself: it skips what an adapter does not declare, and it fails
an adapter that breaks the contract."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from contextlib import AbstractContextManager
from pathlib import Path

from adapters.base import READ_CAPABILITIES, Adapter, Capability
from adapters.demo import DemoAdapter
from tests import test_conformance_demo
from tests.conformance import AdapterConformance, Platform, no_platform

ROOT = Path(__file__).resolve().parents[1]

CARELESS_ADAPTER = '''
from contextlib import AbstractContextManager

from adapters.base import Adapter, OrderListRequest, OrderPage
from adapters.demo import DemoAdapter
from adapters.errors import NotFound
from mappings.models import Order
from tests import test_conformance_demo
from tests.conformance import AdapterConformance, Platform, no_platform


class CarelessDemo(DemoAdapter):
    """Shows anyone's order, and starts each page on the last order of the one before."""

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        for orders in self._orders.values():
            for order in orders:
                if order.id == order_id:
                    return order
        raise NotFound(order_id)

    async def list_orders(self, request: OrderListRequest) -> OrderPage:
        page = await super().list_orders(request)
        if page.resume is None:
            return page
        return OrderPage(orders=page.orders, resume={"offset": page.resume["offset"] - 1})


class TestCarelessConformance(AdapterConformance):
    manifest = test_conformance_demo.TestDemoConformance.manifest

    def serve_platform(self) -> AbstractContextManager[Platform]:
        return no_platform()

    def build_adapter(self, platform: Platform) -> Adapter:
        return CarelessDemo()
'''


class PartialDemo(DemoAdapter):
    capabilities = READ_CAPABILITIES - {Capability.ITEMS, Capability.MOST_RECENT_ORDER}


class TestPartialAdapterConformance(AdapterConformance):
    """An adapter without R4 and R5: their tests are skipped, and the routes answer 501."""

    manifest = test_conformance_demo.TestDemoConformance.manifest

    def serve_platform(self) -> AbstractContextManager[Platform]:
        return no_platform()

    def build_adapter(self, platform: Platform) -> Adapter:
        return PartialDemo()


def test_the_suite_fails_an_adapter_that_breaks_the_contract(tmp_path: Path) -> None:
    module = tmp_path / "test_careless.py"
    module.write_text(CARELESS_ADAPTER)
    report = tmp_path / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", str(module), f"--junitxml={report}", f"--rootdir={ROOT}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    failed = {
        case.get("name")
        for case in ET.parse(report).iter("testcase")  # noqa: S314 - our own test run's report
        if case.find("failure") is not None or case.find("error") is not None
    }
    # Pages that repeat an order, and orders shown to anyone, are caught...
    assert {
        "test_order_list_walk_newest_first",
        "test_order_list_walk_in_every_order[order_number:asc]",
        "test_another_customers_order_is_404_like_a_missing_one[R3]",
        "test_another_customers_order_is_404_like_a_missing_one[R4]",
        "test_unknown_customer_is_404[R3]",
    } <= failed
    # ...and nothing else is blamed on them.
    assert not {"test_customer", "test_order_detail", "test_items_walk"} & failed
