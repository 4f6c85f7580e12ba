"""Platform values the bridge cannot serve (dates out of range, amounts too large or too
precise): each read answers 502 `upstream_error`, never a 500 or an oversized body.

Each test serves its own emulator over a copy of the fixtures with one value changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from starlette.testclient import TestClient

from adapters.bigcommerce import BigCommerceAdapter
from adapters.elasticpath import ElasticPathAdapter
from mappings import bigcommerce as bc_map
from mappings.errors import MappingError
from tests.conftest import FAST, R
from tests.emulators import bigcommerce_fixtures as bc
from tests.emulators import elasticpath_fixtures as ep
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.erc_contract import check
from tests.platform_settings import bigcommerce_settings, elasticpath_settings
from tests.servers import serve

Bridge = Callable[[BigCommerceEmulator | ElasticPathEmulator], AbstractContextManager[TestClient]]


@pytest.fixture
def bridge_to(make_client: Callable[..., TestClient]) -> Bridge:
    """A bridge in front of `emulator` served over loopback, response cache off."""

    @contextmanager
    def bridge(emulator: BigCommerceEmulator | ElasticPathEmulator) -> Iterator[TestClient]:
        with serve(emulator.app) as url:
            adapter = (
                BigCommerceAdapter(bigcommerce_settings(url), http=FAST)
                if isinstance(emulator, BigCommerceEmulator)
                else ElasticPathAdapter(elasticpath_settings(url), http=FAST)
            )
            yield make_client(adapter, cache_ttl_s=0)

    return bridge


def assert_upstream_error(bridge: TestClient, path: str) -> None:
    response = bridge.get(f"{R}{path}")
    assert response.status_code == 502, response.text
    error = response.json()
    check(error, "error")
    assert error["code"] == "upstream_error"


# Dates whose UTC time is outside years 1 to 9999


@pytest.mark.parametrize("field", ["date_created", "date_shipped"])
def test_a_bigcommerce_order_date_beyond_year_9999_in_utc_is_a_502(
    bridge_to: Bridge, field: str
) -> None:
    store = bc.default_store()
    order = store.order(bc.ORDER_SHIPPED)
    assert order is not None
    order[field] = "Fri, 31 Dec 9999 23:30:00 -0100"
    with bridge_to(BigCommerceEmulator(store)) as bridge:
        assert_upstream_error(bridge, f"/customers/{bc.ANA}/orders/{bc.ORDER_SHIPPED}")


def test_a_bigcommerce_customer_date_beyond_year_9999_in_utc_is_a_502(bridge_to: Bridge) -> None:
    store = bc.default_store()
    store.customers[bc.ANA]["date_created"] = "9999-12-31T23:59:59-01:00"
    with bridge_to(BigCommerceEmulator(store)) as bridge:
        assert_upstream_error(bridge, f"/customers/{bc.ANA}")


def test_an_elastic_path_order_date_beyond_year_9999_in_utc_is_a_502(bridge_to: Bridge) -> None:
    store = ep.default_store()
    order = store.order(ep.ORDER_EUR)
    assert order is not None
    order["meta"]["timestamps"]["created_at"] = "9999-12-31T23:59:59-01:00"
    with bridge_to(ElasticPathEmulator(store)) as bridge:
        assert_upstream_error(bridge, f"/customers/{ep.HANS}/orders/{ep.ORDER_EUR}")


def test_an_elastic_path_customer_date_before_year_1_in_utc_is_a_502(bridge_to: Bridge) -> None:
    store = ep.default_store()
    store.customers[ep.HANS]["meta"]["timestamps"]["created_at"] = "0001-01-01T00:00:00+01:00"
    with bridge_to(ElasticPathEmulator(store)) as bridge:
        assert_upstream_error(bridge, f"/customers/{ep.HANS}")


def test_the_field_of_a_date_out_of_range_is_named() -> None:
    raw = {**bc.default_store().customers[bc.ANA], "date_created": "9999-12-31T23:59:59-01:00"}
    with pytest.raises(MappingError) as raised:
        bc_map.parse(bc_map.BCCustomer, raw)
    assert raised.value.path == "date_created"
    assert "out of range" in raised.value.reason


# Amounts too large or too precise for exact arithmetic (`mappings.money` bounds)


@pytest.mark.parametrize(
    ("field", "amount"),
    [
        ("total_inc_tax", "1E+9999999"),  # would overflow when rendered
        ("total_inc_tax", "1E+999999"),  # would render a million digits
        ("subtotal_ex_tax", "1234567890123456789012345.6789"),  # would be rounded in sums
    ],
)
def test_a_bigcommerce_amount_out_of_bounds_is_a_502_in_the_list_and_the_detail(
    bridge_to: Bridge, field: str, amount: str
) -> None:
    store = bc.default_store()
    order = store.order(bc.ORDER_SHIPPED)
    assert order is not None
    order[field] = amount
    with bridge_to(BigCommerceEmulator(store)) as bridge:
        assert_upstream_error(bridge, f"/customers/{bc.ANA}/orders")
        assert_upstream_error(bridge, f"/customers/{bc.ANA}/orders/{bc.ORDER_SHIPPED}")


def test_an_elastic_path_amount_out_of_bounds_is_a_502(bridge_to: Bridge) -> None:
    store = ep.default_store()
    store.items[ep.ORDER_EUR][0]["unit_price"]["amount"] = 10**18  # EUR 10**16
    with bridge_to(ElasticPathEmulator(store)) as bridge:
        assert_upstream_error(bridge, f"/customers/{ep.HANS}/orders/{ep.ORDER_EUR}")
