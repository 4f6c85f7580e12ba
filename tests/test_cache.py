"""The response cache: hits, per-resource TTL, stale-if-error, shared misses, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from adapters.base import Adapter
from adapters.demo import DemoAdapter
from adapters.errors import NotFound, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bridge.app import create_app
from mappings.models import Customer, Order
from tests.conftest import AUTH, R, decode, settings
from tests.servers import serve


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class FlakyDemo(DemoAdapter):
    """The demo store with a call counter and a switch that makes the platform fail."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.failure: Exception | None = None
        self.delay = 0.0

    async def _maybe_fail(self) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            raise self.failure

    async def get_customer(self, customer_id: str) -> Customer:
        await self._maybe_fail()
        return await super().get_customer(customer_id)

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        await self._maybe_fail()
        return await super().get_order(customer_id, order_id)


def cached_client(adapter: Adapter, clock: Clock, **overrides: Any) -> TestClient:
    app = create_app(settings(**overrides), adapter=adapter, clock=clock)
    client = TestClient(app, headers=AUTH)
    client.__enter__()
    return client


ORDER = f"{R}/customers/cus_ana/orders/ord_1001"
CUSTOMER = f"{R}/customers/cus_ana"


@pytest.fixture
def adapter() -> FlakyDemo:
    return FlakyDemo()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(adapter: FlakyDemo, clock: Clock) -> Any:
    client = cached_client(adapter, clock)
    yield client
    client.__exit__(None, None, None)


def test_second_request_is_a_hit_with_the_same_bytes(
    client: TestClient, adapter: FlakyDemo
) -> None:
    first, second = client.get(ORDER), client.get(ORDER)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert adapter.calls == 1


def test_orders_live_30_seconds_and_customers_300(
    client: TestClient, adapter: FlakyDemo, clock: Clock
) -> None:
    client.get(ORDER), client.get(CUSTOMER)
    clock.now += 31
    assert client.get(ORDER).headers["x-cache"] == "MISS"
    assert client.get(CUSTOMER).headers["x-cache"] == "HIT"
    clock.now += 270
    assert client.get(CUSTOMER).headers["x-cache"] == "MISS"
    assert adapter.calls == 4


def test_ttl_zero_turns_the_cache_off(adapter: FlakyDemo, clock: Clock) -> None:
    client = cached_client(adapter, clock, cache_ttl_s=0)
    statuses = [client.get(path).headers["x-cache"] for path in (ORDER, ORDER, CUSTOMER, CUSTOMER)]
    assert statuses == ["MISS"] * 4
    assert adapter.calls == 4
    client.__exit__(None, None, None)


@pytest.mark.parametrize(
    "failure",
    [UpstreamUnavailable("down"), UpstreamError("bad body"), UpstreamTimeout("slow")],
)
def test_stale_is_served_during_an_outage_and_fresh_after(
    client: TestClient, adapter: FlakyDemo, clock: Clock, failure: Exception
) -> None:
    fresh = client.get(ORDER)
    adapter.failure = failure
    clock.now += 60
    stale = client.get(ORDER)
    assert stale.status_code == 200
    assert stale.headers["x-cache"] == "STALE"
    assert stale.content == fresh.content
    clock.now += 600
    expired = client.get(ORDER)
    assert expired.status_code in (502, 503, 504)
    assert expired.headers["x-cache"] == "MISS"
    adapter.failure = None
    assert client.get(ORDER).headers["x-cache"] == "MISS"
    assert client.get(ORDER).headers["x-cache"] == "HIT"


def test_not_found_is_never_served_stale_nor_cached(
    client: TestClient, adapter: FlakyDemo, clock: Clock
) -> None:
    client.get(ORDER)
    adapter.failure = NotFound("gone")
    clock.now += 60
    assert client.get(ORDER).status_code == 404
    assert client.get(ORDER).status_code == 404
    assert adapter.calls == 3


def test_credentials_are_checked_before_the_cache(client: TestClient) -> None:
    assert client.get(ORDER).status_code == 200
    refused = client.get(ORDER, headers={"X-API-Key": "wrong"})
    assert refused.status_code == 401
    assert b"ord_1001" not in refused.content


def test_each_query_has_its_own_entry(client: TestClient) -> None:
    orders = f"{R}/customers/cus_john/orders"
    one = decode(client.get(f"{orders}?limit=1"))
    two = decode(client.get(f"{orders}?limit=2"))
    assert len(one["_embedded"]["orders"]) == 1
    assert len(two["_embedded"]["orders"]) == 2


class TwinOrders(Adapter):
    """Two customers whose orders share an id, as on platforms with per-customer numbering."""

    name = "twins"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def get_order(self, customer_id: str, order_id: str) -> Order:
        self.calls += 1
        if customer_id not in ("alice", "bob") or order_id != "1001":
            raise NotFound("no such order")
        return Order(
            id=order_id, order_number=f"{customer_id.upper()}-1001", customer_id=customer_id
        )


def test_customers_with_identical_order_ids_never_share_an_entry(clock: Clock) -> None:
    adapter = TwinOrders()
    client = cached_client(adapter, clock)
    for _ in range(3):
        alice = decode(client.get(f"{R}/customers/alice/orders/1001"))
        bob = decode(client.get(f"{R}/customers/bob/orders/1001"))
        assert (alice["customer_id"], alice["order_number"]) == ("alice", "ALICE-1001")
        assert (bob["customer_id"], bob["order_number"]) == ("bob", "BOB-1001")
    assert adapter.calls == 2
    client.__exit__(None, None, None)


@pytest.mark.anyio
async def test_concurrent_identical_misses_share_one_platform_call() -> None:
    adapter = FlakyDemo()
    adapter.delay = 0.3
    app = create_app(settings(), adapter=adapter)
    with serve(app) as base:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(
            base_url=base, headers=AUTH, limits=limits, timeout=30
        ) as http:
            responses = await asyncio.gather(*(http.get(ORDER) for _ in range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    assert len({r.content for r in responses}) == 1
    assert adapter.calls == 1
    assert {r.headers["x-cache"] for r in responses} <= {"MISS", "HIT"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
