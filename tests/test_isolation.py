"""The isolation matrix: every route, every adapter. One customer never sees another's
orders: an order of another customer is 404 exactly like a missing one, lists and the most
recent order hold only the customer's own orders, and a cursor does not cross customers.

The response cache stays on: the owner's request is made first, so a cache that keyed on
too little would answer the foreign request from the owner's entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from adapters.demo import DemoAdapter
from adapters.elasticpath import ElasticPathAdapter
from tests.conftest import FAST, decode
from tests.emulators import adobe_fixtures as adobe
from tests.emulators import elasticpath_fixtures as ep
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.erc_contract import check
from tests.platform_settings import adobe_settings, elasticpath_settings
from tests.servers import serve

PREFIXES = ("/erc/ecommerce/connections", "/erc/ecommerce")


@dataclass(frozen=True)
class Store:
    """Two customers of one platform: `owner` owns `order` and has several orders."""

    client: TestClient
    owner: str
    order: str
    other: str
    missing_order: str


@pytest.fixture(scope="module")
def elasticpath_url() -> Iterator[str]:
    with serve(ElasticPathEmulator(ep.default_store()).app) as url:
        yield url


@pytest.fixture(scope="module")
def adobe_served() -> Iterator[tuple[CPAPIEmulator, str]]:
    emulator = CPAPIEmulator()
    with serve(emulator.app) as url:
        yield emulator, url


def _demo(make_client: Callable[..., TestClient], request: pytest.FixtureRequest) -> Store:
    return Store(make_client(DemoAdapter()), "cus_ana", "ord_1001", "cus_john", "ord_nope")


def _elasticpath(make_client: Callable[..., TestClient], request: pytest.FixtureRequest) -> Store:
    url = request.getfixturevalue("elasticpath_url")
    settings = elasticpath_settings(url)
    client = make_client(ElasticPathAdapter(settings, http=FAST))
    return Store(
        client, ep.MARIA, ep.ORDER_COMPLETE, ep.HANS, "00000000-0000-4000-8000-000000000000"
    )


def _adobe(make_client: Callable[..., TestClient], request: pytest.FixtureRequest) -> Store:
    emulator, url = request.getfixturevalue("adobe_served")
    emulator.reset()
    settings = adobe_settings(emulator, url)
    client = make_client(AdobeCPAPIAdapter(settings, http=FAST))
    owned = adobe.default_fixtures().orders[adobe.LARKSPUR]
    order = next(o["orderId"] for o in owned if o["orderType"] in adobe.LISTED_TYPES)
    return Store(client, adobe.LARKSPUR, order, adobe.MATRIX, "5999999999")


STORES = {"demo": _demo, "elasticpath": _elasticpath, "adobe_cpapi": _adobe}


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, make_client: Callable[..., TestClient]) -> Store:
    return STORES[request.param](make_client, request)


@pytest.fixture(params=PREFIXES)
def prefix(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def get(store: Store, path: str, status: int = 200) -> dict[str, Any]:
    response = store.client.get(path)
    assert response.status_code == status, (path, response.text)
    body: dict[str, Any] = decode(response)
    return body


@pytest.mark.parametrize(("suffix", "table"), [("", "order_detail"), ("/items", "items_page")])
def test_another_customers_order_is_404_like_a_missing_one(
    store: Store, prefix: str, suffix: str, table: str
) -> None:
    owned = get(store, f"{prefix}/customers/{store.owner}/orders/{store.order}{suffix}")
    check(owned, table)
    foreign = get(store, f"{prefix}/customers/{store.other}/orders/{store.order}{suffix}", 404)
    missing = get(
        store, f"{prefix}/customers/{store.other}/orders/{store.missing_order}{suffix}", 404
    )
    check(foreign, "error")
    assert foreign["code"] == missing["code"] == "not_found"
    assert foreign.keys() == missing.keys()
    assert store.owner not in str(foreign)
    if suffix == "":
        assert owned["id"] == store.order
        assert str(owned["order_number"]) not in str(foreign)


@pytest.mark.parametrize("suffix", ["", "/items"])
def test_an_order_under_an_unknown_customer_is_404(store: Store, prefix: str, suffix: str) -> None:
    get(store, f"{prefix}/customers/{store.owner}/orders/{store.order}{suffix}")
    body = get(store, f"{prefix}/customers/nobody-42/orders/{store.order}{suffix}", 404)
    assert body["code"] == "not_found"


def test_order_lists_hold_only_the_customers_own_orders(store: Store, prefix: str) -> None:
    owner_ids = {
        o["id"]
        for o in get(store, f"{prefix}/customers/{store.owner}/orders?limit=100")["_embedded"][
            "orders"
        ]
    }
    assert store.order in owner_ids
    others = get(store, f"{prefix}/customers/{store.other}/orders?limit=100")["_embedded"]["orders"]
    assert others
    assert not owner_ids & {o["id"] for o in others}
    assert {o.get("customer_id", store.other) for o in others} == {store.other}


def test_most_recent_order_is_the_customers_own(store: Store, prefix: str) -> None:
    owner_ids = {
        o["id"]
        for o in get(store, f"{prefix}/customers/{store.owner}/orders?limit=100")["_embedded"][
            "orders"
        ]
    }
    mine = get(store, f"{prefix}/customers/{store.owner}/most-recent-order")
    assert mine["id"] in owner_ids
    theirs = get(store, f"{prefix}/customers/{store.other}/most-recent-order")
    check(theirs, "most_recent_order")
    assert theirs["id"] not in owner_ids
    assert theirs.get("customer_id", store.other) == store.other


def test_customer_body_is_the_requested_customer(store: Store, prefix: str) -> None:
    assert get(store, f"{prefix}/customers/{store.owner}")["id"] == store.owner
    assert get(store, f"{prefix}/customers/{store.other}")["id"] == store.other


def test_a_cursor_does_not_cross_customers(store: Store, prefix: str) -> None:
    first = get(store, f"{prefix}/customers/{store.owner}/orders?limit=1")
    href = first["_links"]["next"]["href"]
    query = urlsplit(href).query
    assert get(store, f"{prefix}/customers/{store.owner}/orders?{query}")["_embedded"]["orders"]
    crossed = get(store, f"{prefix}/customers/{store.other}/orders?{query}", 400)
    assert crossed["code"] == "invalid_cursor"
