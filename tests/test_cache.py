"""The response cache: hits, per-resource TTL, stale-if-error, shared misses, isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from adapters.base import Adapter
from adapters.demo import DemoAdapter
from adapters.errors import NotFound, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bridge.app import create_app
from bridge.cache import CacheStatus, ResponseCache, weight
from mappings.models import Customer, Order
from tests.conftest import AUTH, ManualClock, R, decode, settings
from tests.servers import serve


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


MakeClient = Callable[..., TestClient]

ORDER = f"{R}/customers/cus_ana/orders/ord_1001"
CUSTOMER = f"{R}/customers/cus_ana"


@pytest.fixture
def adapter() -> FlakyDemo:
    return FlakyDemo()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(5000.0)


@pytest.fixture
def client(make_client: MakeClient, adapter: FlakyDemo, clock: ManualClock) -> TestClient:
    return make_client(adapter, clock=clock)


def test_second_request_is_a_hit_with_the_same_bytes(
    client: TestClient, adapter: FlakyDemo
) -> None:
    first, second = client.get(ORDER), client.get(ORDER)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert adapter.calls == 1


def test_every_route_lives_as_long_as_the_ttl(
    client: TestClient, adapter: FlakyDemo, clock: ManualClock
) -> None:
    client.get(ORDER), client.get(CUSTOMER)
    clock.now += 29
    assert [client.get(path).headers["x-cache"] for path in (ORDER, CUSTOMER)] == ["HIT"] * 2
    clock.now += 2
    assert [client.get(path).headers["x-cache"] for path in (ORDER, CUSTOMER)] == ["MISS"] * 2
    assert adapter.calls == 4


def test_ttl_zero_turns_the_cache_off(
    make_client: MakeClient, adapter: FlakyDemo, clock: ManualClock
) -> None:
    client = make_client(adapter, clock=clock, cache_ttl_s=0)
    statuses = [client.get(path).headers["x-cache"] for path in (ORDER, ORDER, CUSTOMER, CUSTOMER)]
    assert statuses == ["MISS"] * 4
    assert adapter.calls == 4
    client.__exit__(None, None, None)


@pytest.mark.parametrize(
    "failure",
    [UpstreamUnavailable("down"), UpstreamError("bad body"), UpstreamTimeout("slow")],
)
def test_stale_is_served_during_an_outage_and_fresh_after(
    client: TestClient, adapter: FlakyDemo, clock: ManualClock, failure: Exception
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
    client: TestClient, adapter: FlakyDemo, clock: ManualClock
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


def test_customers_with_identical_order_ids_never_share_an_entry(
    make_client: MakeClient, clock: ManualClock
) -> None:
    adapter = TwinOrders()
    client = make_client(adapter, clock=clock)
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


@pytest.mark.anyio
async def test_requests_joining_a_fill_late_get_a_fresh_one_when_its_time_runs_out() -> None:
    """SPEC §2: 504 means the platform did not answer within the request's own deadline.
    A fill ends with the deadline of the request that started it; requests that joined it
    with time to spare share one new fill when it runs out, and wait for it within their
    own deadline."""
    adapter = FlakyDemo()
    adapter.delay = 30.0  # the platform stopped answering: this call never comes back
    app = create_app(settings(deadline_s=LATE_DEADLINE_S), adapter=adapter)
    with serve(app) as base:
        async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as http:
            first = asyncio.create_task(http.get(ORDER))
            await asyncio.sleep(LATE_DEADLINE_S / 2)
            late = [asyncio.create_task(http.get(ORDER)) for _ in range(2)]
            adapter.delay = 0.01  # the platform is back, answering as over a network
            responses = await asyncio.gather(first, *late)
    assert [r.status_code for r in responses] == [504, 200, 200]
    assert adapter.calls == 2  # the call that hung, and one fresh fill for both late requests


LATE_DEADLINE_S = 1.0


# What the key is made of: the route, its ids and the known parameters, canonical.

ORDERS = f"{R}/customers/cus_john/orders"
PADDING = "x" * 7000


class CountingDemo(DemoAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.lists = 0

    async def list_orders(self, request: Any) -> Any:
        self.lists += 1
        return await super().list_orders(request)


@pytest.fixture
def counting(make_client: MakeClient, clock: ManualClock) -> tuple[TestClient, CountingDemo]:
    adapter = CountingDemo()
    return make_client(adapter, clock=clock), adapter


def test_an_ignored_parameter_is_a_hit_for_the_entry_without_it(counting: Any) -> None:
    client, adapter = counting
    plain = client.get(f"{ORDERS}?limit=2")
    padded = client.get(f"{ORDERS}?limit=2&pad={PADDING}&utm_source=x")
    assert (plain.headers["x-cache"], padded.headers["x-cache"]) == ("MISS", "HIT")
    assert without_self_link(padded) == without_self_link(plain)
    assert adapter.lists == 1


def without_self_link(response: Any) -> Any:
    body = decode(response)
    del body["_links"]["self"]
    return body


def test_ignored_parameters_are_kept_out_of_the_cache(counting: Any) -> None:
    client, _ = counting
    query = f"pad={PADDING}&limit=2&also=y"
    response = client.get(f"{ORDERS}?{query}")
    assert response.headers["x-cache"] == "MISS"
    links = decode(response)["_links"]
    assert links["self"]["href"] == f"http://testserver{ORDERS}?{query}"  # SPEC §5: as sent
    assert links["next"]["href"].startswith(f"http://testserver{ORDERS}?limit=2&cursor=")
    assert response.text.count(PADDING) == 1
    again = client.get(f"{ORDERS}?limit=2")
    assert again.headers["x-cache"] == "HIT"
    assert PADDING not in again.text
    assert decode(again)["_links"]["self"]["href"] == f"http://testserver{ORDERS}?limit=2"
    cache = client.app.state.bridge.cache
    assert len(cache) == 1
    assert cache.held_bytes < len(response.content) + len(PADDING)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("limit=20", "limit=020"),
        ("limit=100", "limit=500"),
        ("limit=2&order_by=order_number:asc", "order_by=order_number:asc&limit=2"),
        ("limit=2", "limit=2&search="),
        ("", "brand="),
    ],
)
def test_equal_queries_in_other_spellings_share_one_entry(
    counting: Any, first: str, second: str
) -> None:
    client, adapter = counting
    one, two = client.get(f"{ORDERS}?{first}"), client.get(f"{ORDERS}?{second}")
    assert (one.headers["x-cache"], two.headers["x-cache"]) == ("MISS", "HIT")
    assert without_self_link(one) == without_self_link(two)
    assert decode(two)["_links"]["self"]["href"] == f"http://testserver{ORDERS}?{second}"
    assert adapter.lists == 1


def test_a_known_parameter_in_a_new_value_is_its_own_entry(counting: Any) -> None:
    client, adapter = counting
    for query in ("limit=2", "limit=3", "limit=2&order_by=order_number:asc", "limit=2&search=1"):
        assert client.get(f"{ORDERS}?{query}").headers["x-cache"] == "MISS"
    assert adapter.lists == 4


# The bound in bytes.


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    cache = ResponseCache(max_entries=1000, max_bytes=3 * weight(("k", 0), b"x" * 1000), stale=0)

    async def fill() -> None:
        for n in range(3):
            await cache.refresh(("k", n), 30, lambda: _body(b"x" * 1000))
        assert cache.fresh(("k", 0)) is not None  # 0 is now the most recently used
        await cache.refresh(("k", 3), 30, lambda: _body(b"x" * 1000))

    asyncio.run(fill())
    assert len(cache) == 3
    assert cache.held_bytes <= 3 * weight(("k", 0), b"x" * 1000)
    assert cache.fresh(("k", 1)) is None
    assert all(cache.fresh(("k", n)) is not None for n in (0, 2, 3))


def test_a_body_larger_than_the_cache_is_answered_and_not_kept() -> None:
    cache = ResponseCache(max_entries=1000, max_bytes=10_000, stale=0)
    body, status = asyncio.run(cache.refresh("big", 30, lambda: _body(b"x" * 20_000)))
    assert (len(body), status) == (20_000, CacheStatus.MISS)
    assert (len(cache), cache.held_bytes) == (0, 0)


def test_the_entry_count_still_bounds_the_cache() -> None:
    cache = ResponseCache(max_entries=2, max_bytes=10**9, stale=0)

    async def fill() -> None:
        for n in range(5):
            await cache.refresh(n, 30, lambda: _body(b"x"))

    asyncio.run(fill())
    assert len(cache) == 2
    assert [cache.fresh(n) is not None for n in range(5)] == [False, False, False, True, True]


def test_the_key_weighs_in_with_the_body() -> None:
    body = b"x" * 100
    assert weight(("a" * 5000,), body) - weight(("a",), body) >= 4999
    assert weight((), body * 10) - weight((), body) >= 900


def test_the_bytes_held_are_a_gauge_in_metrics(counting: Any) -> None:
    client, _ = counting
    assert _gauge(client, "erc_bridge_cache_bytes") == 0
    body = client.get(f"{ORDERS}?limit=100").content
    held = client.app.state.bridge.cache.held_bytes
    assert _gauge(client, "erc_bridge_cache_bytes") == held > len(body)


def test_the_configured_byte_bound_evicts_over_http(clock: ManualClock) -> None:
    adapter = CountingDemo()
    app = create_app(settings(cache_max_bytes=CACHE_OF_TWO_PAGES), adapter=adapter, clock=clock)
    with serve(app) as base, httpx.Client(base_url=base, headers=AUTH) as http:
        pages = [http.get(f"{ORDERS}?limit={n}") for n in (45, 46, 47)]
        assert [p.headers["x-cache"] for p in pages] == ["MISS"] * 3
        assert len(app.state.bridge.cache) == 2
        assert app.state.bridge.cache.held_bytes <= CACHE_OF_TWO_PAGES
        assert http.get(f"{ORDERS}?limit=45").headers["x-cache"] == "MISS"  # evicted
        assert http.get(f"{ORDERS}?limit=47").headers["x-cache"] == "HIT"
    assert adapter.lists == 4


CACHE_OF_TWO_PAGES = 90_000
"""Room for two pages of all 45 orders of cus_john (some 36 KB each), not for three."""


async def _body(value: bytes) -> bytes:
    return value


def _gauge(client: TestClient, name: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        if family.name == name:
            return float(family.samples[0].value)
    raise AssertionError(f"{name} is not exposed")
