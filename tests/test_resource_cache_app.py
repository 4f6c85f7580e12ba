"""The platform resources the bridge keeps, as `create_app` builds the cache, and the
platform calls counted per ERC request, over the Elastic Path emulator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from adapters.elasticpath import ElasticPathAdapter
from adapters.resources import customer_tag, order_tag
from bridge.app import BridgeApp, create_app
from bridge.metrics import Metrics
from tests.conftest import FAST, R, settings
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.platform_settings import elasticpath_settings
from tests.served_bridge import Bridge, bridge_over

CUSTOMERS = (fx.MARIA, fx.HANS, fx.YUKI)


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return ElasticPathEmulator(fx.default_store())


def adapter_for(url: str) -> ElasticPathAdapter:
    return ElasticPathAdapter(
        elasticpath_settings(url),
        http=FAST,
    )


@asynccontextmanager
async def opened(url: str, **overrides: Any) -> AsyncIterator[tuple[ElasticPathAdapter, BridgeApp]]:
    """An adapter as `create_app` prepares it, opened in the test's own loop."""
    adapter = adapter_for(url)
    app = create_app(settings(**overrides), adapter=adapter)
    await adapter.open()
    try:
        yield adapter, app
    finally:
        await adapter.close()


async def customer(adapter: ElasticPathAdapter, customer_id: str) -> Any:
    path = f"/v2/customers/{customer_id}"
    return await adapter.get_json(path, endpoint="customers", tags=[customer_tag(customer_id)])


def exposed(app: BridgeApp) -> dict[str, float]:
    metrics: Metrics = app.state.metrics
    text = metrics.render("")[0].decode()
    return {
        name: float(value)
        for name, value in re.findall(r"^(erc_bridge_\S+) (\S+)$", text, flags=re.MULTILINE)
    }


def customer_calls(emulator: ElasticPathEmulator) -> list[str]:
    return [r.path for r in emulator.api_calls if r.path.startswith("/v2/customers/")]


@pytest.mark.anyio
async def test_a_tagged_resource_is_fetched_once_and_the_metrics_say_so(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    async with opened(served[1]) as (adapter, app):
        first = await customer(adapter, fx.MARIA)
        again = await customer(adapter, fx.MARIA)
    assert first == again
    assert customer_calls(emulator) == [f"/v2/customers/{fx.MARIA}"]
    metrics = exposed(app)
    assert metrics["erc_bridge_resource_cache_hits_total"] == 1
    assert metrics["erc_bridge_resource_cache_misses_total"] == 1
    assert metrics["erc_bridge_resource_cache_entries"] == 1
    assert metrics["erc_bridge_resource_cache_bytes"] > len(orjson.dumps(first))
    assert metrics["erc_bridge_resource_cache_evictions_total"] == 0


@pytest.mark.anyio
async def test_with_a_lifetime_of_zero_no_resource_is_kept(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    async with opened(served[1], cache_ttl_s=0) as (adapter, app):
        assert adapter.resources is None
        await customer(adapter, fx.MARIA)
        await customer(adapter, fx.MARIA)
    assert len(customer_calls(emulator)) == 2
    assert "erc_bridge_resource_cache_hits_total" not in exposed(app)


@pytest.mark.anyio
async def test_the_entries_bound_evicts_the_least_recently_used(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    async with opened(served[1], resource_cache_max_entries=2) as (adapter, app):
        for customer_id in CUSTOMERS:
            await customer(adapter, customer_id)
        await customer(adapter, fx.YUKI)  # held
        await customer(adapter, fx.MARIA)  # evicted first: fetched again
        assert adapter.resources is not None and len(adapter.resources) == 2
    assert customer_calls(emulator) == [f"/v2/customers/{c}" for c in (*CUSTOMERS, fx.MARIA)]
    assert exposed(app)["erc_bridge_resource_cache_evictions_total"] == 2


@pytest.mark.anyio
async def test_the_bytes_bound_holds(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    async with opened(served[1]) as (adapter, _):
        for customer_id in CUSTOMERS:
            await customer(adapter, customer_id)
        assert adapter.resources is not None
        all_three = adapter.resources.held_bytes
    bound = all_three - 1
    async with opened(served[1], resource_cache_max_bytes=bound) as (adapter, app):
        for customer_id in CUSTOMERS:
            await customer(adapter, customer_id)
        assert adapter.resources is not None
        assert 0 < adapter.resources.held_bytes <= bound
        assert len(adapter.resources) == 2
    assert exposed(app)["erc_bridge_resource_cache_evictions_total"] == 1


@pytest.fixture
def bridge(
    served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> Iterator[Bridge]:
    with bridge_over(adapter_for(served[1]), lambda: len(emulator.requests), writes=True) as bridge:
        yield bridge


R3_TEMPLATE = f"{R}/customers/{{customer_id}}/orders/{{order_id}}"
SERIES = re.compile(
    r"^erc_bridge_platform_calls_per_request_(\w+)\{(.*)\} (\S+)$", flags=re.MULTILINE
)


def calls_per_request(metrics: str, route: str) -> dict[str, float]:
    """The route's histogram: `count`, `sum` and each bucket by its bound (`le=…`)."""
    found: dict[str, float] = {}
    for name, labels, value in SERIES.findall(metrics):
        if f'route="{route}"' in labels:
            bound = re.search(r'le="([^"]+)"', labels)
            found[f"le={bound.group(1)}" if bound else name] = float(value)
    return found


def test_the_platform_calls_of_each_erc_request_are_observed(bridge: Bridge) -> None:
    order = f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}"
    before = bridge.calls()
    assert bridge.read(order) == "MISS"
    made = bridge.calls() - before
    assert bridge.read(order) == "HIT"
    series = calls_per_request(bridge.metrics(), R3_TEMPLATE)
    assert series["count"] == 2
    assert series["sum"] == made > 0
    assert series["le=0.0"] == 1  # the hit
    assert series["le=+Inf"] == 2


def test_a_successful_write_drops_the_orders_resources_and_its_customers(bridge: Bridge) -> None:
    order = f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}"
    assert bridge.read(order) == "MISS"
    kept = [
        (("/v2/orders/held", ()), [order_tag(fx.ORDER_PROCESSING)]),
        (("/v2/customers/held", ()), [customer_tag(fx.MARIA)]),
        (("/v2/customers/other", ()), [customer_tag(fx.HANS)]),
    ]
    for key, tags in kept:
        bridge.resources.put(key, b"{}", tags)
    response = bridge.client.post(
        f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_PROCESSING}/cancel",
        content=b"{}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert [bridge.resources.get(key) for key, _ in kept] == [None, None, b"{}"]
    assert bridge.read(order) == "MISS"
