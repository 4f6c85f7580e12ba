"""`/metrics`: what the bridge counts, checked against what the Elastic Path emulator saw."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from adapters.demo import DemoAdapter
from adapters.elasticpath import ElasticPathAdapter
from adapters.http import HTTPConfig
from bridge.app import create_app
from bridge.metrics import _Durations
from tests.conftest import API_KEY, FAST_CAPPED, R, settings
from tests.conftest import CLIENT_ID as OAUTH_CLIENT_ID
from tests.conftest import CLIENT_SECRET as OAUTH_SECRET
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator
from tests.platform_settings import elasticpath_settings

CUSTOMER = f"{R}/customers/{fx.MARIA}"
ORDER = f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}"
ORDER_PATH = f"/v2/orders/{fx.ORDER_COMPLETE}"
CUSTOMER_ROUTE = f"{R}/customers/{{customer_id}}"
ORDER_ROUTE = f"{R}/customers/{{customer_id}}/orders/{{order_id}}"
ORDERS_ROUTE = f"{R}/customers/{{customer_id}}/orders"
DEMO_CUSTOMER = f"{R}/customers/cus_ana"
METRICS_KEY = "scrape-key-5b1e07c2-94d0-4a3f-8e6b"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return ElasticPathEmulator(fx.default_store())


def adapter_for(url: str, http: HTTPConfig = FAST_CAPPED) -> ElasticPathAdapter:
    settings = elasticpath_settings(url)
    return ElasticPathAdapter(settings, http=http)


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (sample, _), v in samples.items() if sample == name)


def test_requests_platform_calls_cache_and_tokens_are_counted(
    make_client: Callable[..., TestClient],
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
) -> None:
    bridge = make_client(adapter_for(served[1]))
    assert bridge.get(CUSTOMER).headers["x-cache"] == "MISS"
    assert bridge.get(CUSTOMER).headers["x-cache"] == "HIT"
    emulator.fail_next(500, path=ORDER_PATH)
    assert bridge.get(ORDER).status_code == 200
    assert bridge.get("/nowhere").status_code == 404

    metrics = scrape(bridge)

    assert value(metrics, "erc_bridge_requests_total", route=CUSTOMER_ROUTE, status="200") == 2
    assert value(metrics, "erc_bridge_requests_total", route=ORDER_ROUTE, status="200") == 1
    assert value(metrics, "erc_bridge_requests_total", route="unmatched", status="404") == 1
    count = "erc_bridge_request_duration_seconds_count"
    assert value(metrics, count, route=CUSTOMER_ROUTE) == 2
    # Every HTTP exchange the emulator answered, and nothing else, was counted.
    assert total(metrics, "erc_bridge_platform_calls_total") == len(emulator.requests)
    assert total(metrics, "erc_bridge_platform_call_duration_seconds_count") == len(
        emulator.requests
    )
    calls = "erc_bridge_platform_calls_total"
    order = {"platform": "elasticpath", "endpoint": "/v2/orders/{id}"}
    assert value(metrics, calls, **order, outcome="500") == 1
    assert value(metrics, calls, **order, outcome="200") == 1
    grant = {"platform": "elasticpath", "endpoint": "/oauth/access_token", "outcome": "200"}
    assert value(metrics, calls, **grant) == emulator.grants == 1
    assert value(metrics, "erc_bridge_platform_retries_total", **order) == 1
    refreshes = "erc_bridge_platform_token_refreshes_total"
    assert value(metrics, refreshes, platform="elasticpath") == 1
    assert value(metrics, "erc_bridge_cache_hits_total") == 1
    assert value(metrics, "erc_bridge_cache_misses_total") == 2
    assert value(metrics, "erc_bridge_cache_stale_served_total") == 0
    breaker = "erc_bridge_breaker_state"
    assert value(metrics, breaker, platform="elasticpath", state="closed") == 1
    assert value(metrics, breaker, platform="elasticpath", state="open") == 0


def test_labels_carry_templates_never_ids_or_credentials(
    make_client: Callable[..., TestClient],
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
) -> None:
    bridge = make_client(adapter_for(served[1]))
    assert bridge.get(ORDER).status_code == 200
    text = bridge.get("/metrics").text
    assert 'erc_bridge_info{adapter="elasticpath"' in text
    for secret in (fx.MARIA, fx.ORDER_COMPLETE, CLIENT_SECRET, CLIENT_ID, API_KEY, served[1]):
        assert secret not in text


def test_stale_serves_are_counted(
    make_client: Callable[..., TestClient],
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
) -> None:
    bridge = make_client(adapter_for(served[1]), cache_ttl_s=0.05)
    assert bridge.get(ORDER).headers["x-cache"] == "MISS"
    time.sleep(0.1)  # past the order's cache lifetime, well within the stale window
    emulator.fail_next(500, times=3, path=f"{ORDER_PATH}/shipping-groups")  # asked alongside
    emulator.fail_next(500, times=3, path=ORDER_PATH)
    assert bridge.get(ORDER).headers["x-cache"] == "STALE"

    metrics = scrape(bridge)

    assert value(metrics, "erc_bridge_cache_stale_served_total") == 1
    order = {"platform": "elasticpath", "endpoint": "/v2/orders/{id}"}
    assert value(metrics, "erc_bridge_platform_retries_total", **order) == 2
    assert value(metrics, "erc_bridge_platform_calls_total", **order, outcome="500") == 3


def test_an_open_breaker_shows(
    make_client: Callable[..., TestClient],
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
) -> None:
    http = HTTPConfig(backoff_base=0.01, backoff_cap=0.05, breaker_threshold=2)
    bridge = make_client(adapter_for(served[1], http), cache_ttl_s=0)
    # Exact: R1 asks for the customer's addresses at the same moment.
    emulator.fail_next(500, times=3, path=f"/v2/customers/{fx.MARIA}", exact=True)
    assert bridge.get(CUSTOMER).status_code == 503

    metrics = scrape(bridge)

    breaker = "erc_bridge_breaker_state"
    assert value(metrics, breaker, platform="elasticpath", state="open") == 1
    assert value(metrics, breaker, platform="elasticpath", state="closed") == 0
    assert value(metrics, "erc_bridge_requests_total", route=CUSTOMER_ROUTE, status="503") == 1


def test_each_app_has_its_own_registry(make_client: Callable[..., TestClient]) -> None:
    busy, idle = make_client(), make_client()
    assert busy.get(f"{R}/customers/cus_ana").status_code == 200
    route = {"route": CUSTOMER_ROUTE, "status": "200"}
    assert value(scrape(busy), "erc_bridge_requests_total", **route) == 1
    assert value(scrape(idle), "erc_bridge_requests_total", **route) == 0


BASIC_PASSWORD = "scrape-password-0d6c-4a71-b93e-25f8"


def test_without_a_metrics_key_metrics_need_an_erc_credential(
    make_app_client: Callable[..., TestClient],
) -> None:
    bridge = make_app_client(headers={}, basic_users=f"prometheus:{BASIC_PASSWORD}")
    refused = bridge.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert "X-API-Key" in refused.headers["www-authenticate"]
    assert "erc_bridge_" not in refused.text  # nothing of the metrics went out
    assert bridge.get("/metrics", headers={"X-API-Key": API_KEY[:-1]}).status_code == 401
    assert bridge.get("/metrics", headers={"Authorization": "Bearer x.y.z"}).status_code == 401

    assert scrape(bridge, **{"x-api-key": API_KEY})
    pair = base64.b64encode(f"prometheus:{BASIC_PASSWORD}".encode()).decode()
    assert scrape(bridge, authorization=f"Basic {pair}")
    grant = bridge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(OAUTH_CLIENT_ID, OAUTH_SECRET),
    )
    assert scrape(bridge, authorization=f"Bearer {grant.json()['access_token']}")


def test_metrics_are_open_on_the_demo_store_without_credentials(
    make_client: Callable[..., TestClient],
) -> None:
    bridge = make_client(api_keys="")
    bridge.headers.clear()
    assert scrape(bridge)


@pytest.mark.parametrize(
    ("overrides", "level", "protected_by"),
    [
        ({"metrics_key": METRICS_KEY}, "info", "ERC_BRIDGE_METRICS_KEY"),
        ({}, "info", "the inbound credentials of the ERC routes"),
        ({"api_keys": ""}, "warning", "nothing"),
    ],
)
def test_startup_says_how_metrics_are_protected(
    overrides: dict[str, Any], level: str, protected_by: str
) -> None:
    app = create_app(settings(**overrides), adapter=DemoAdapter())
    with capture_logs() as logs, TestClient(app):
        pass
    lines = [line for line in logs if line["event"] == "metrics_access"]
    assert [(line["log_level"], line["protected_by"]) for line in lines] == [(level, protected_by)]
    assert METRICS_KEY not in str(logs)


def test_the_metrics_key_guards_metrics(make_client: Callable[..., TestClient]) -> None:
    bridge = make_client(metrics_key=METRICS_KEY)
    refused = bridge.get("/metrics")  # the ERC API key does not open metrics
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert METRICS_KEY not in refused.text
    assert bridge.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert bridge.get("/metrics", headers={"X-API-Key": METRICS_KEY[:-1]}).status_code == 401
    assert scrape(bridge, authorization=f"Bearer {METRICS_KEY}")
    assert scrape(bridge, **{"x-api-key": METRICS_KEY})


def test_openmetrics_on_request(make_client: Callable[..., TestClient]) -> None:
    response = make_client().get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


# Counted at the front door, on the demo store.


def buckets(samples: Samples, name: str, **labels: str) -> list[tuple[float, float]]:
    wanted = set(labels.items())
    found = [
        (float(dict(sample_labels)["le"]), value)
        for (sample, sample_labels), value in samples.items()
        if sample == f"{name}_bucket" and wanted <= set(sample_labels)
    ]
    return sorted(found)


def test_requests_are_counted_by_route_template_and_status(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert client.get(DEMO_CUSTOMER).status_code == 200
    assert client.get(DEMO_CUSTOMER).status_code == 200
    assert client.head(DEMO_CUSTOMER).status_code == 200
    assert client.get(f"{R}/customers/nobody").status_code == 404
    assert client.get(DEMO_CUSTOMER, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post(DEMO_CUSTOMER).status_code == 405
    assert client.get(f"{R}/customers/cus_ana/orders").status_code == 200
    assert client.get("/nowhere").status_code == 404
    assert client.get(f"{DEMO_CUSTOMER}?q={'x' * 9000}").status_code == 414

    samples = scrape(client)

    def requests(route: str, status: str) -> float:
        key = ("erc_bridge_requests_total", frozenset({"route": route, "status": status}.items()))
        return samples.get(key, 0.0)

    assert requests(CUSTOMER_ROUTE, "200") == 3
    assert requests(CUSTOMER_ROUTE, "404") == 1
    assert requests(CUSTOMER_ROUTE, "401") == 1
    assert requests(CUSTOMER_ROUTE, "405") == 1
    assert requests(ORDERS_ROUTE, "200") == 1
    assert requests("unmatched", "404") == 1
    assert requests("unmatched", "414") == 1
    assert requests("/metrics", "200") == 0  # a scrape is counted once it is answered
    total = sum(v for (name, _), v in samples.items() if name == "erc_bridge_requests_total")
    assert total == 9

    def count(route: str) -> float:
        labels = frozenset({"route": route}.items())
        return samples[("erc_bridge_request_duration_seconds_count", labels)]

    assert count(CUSTOMER_ROUTE) == 6
    assert count(ORDERS_ROUTE) == 1
    assert count("unmatched") == 2

    assert requests("/metrics", "200") == 0
    again = scrape(client)
    key = ("erc_bridge_requests_total", frozenset({"route": "/metrics", "status": "200"}.items()))
    assert again[key] == 1


def test_request_duration_buckets_are_cumulative(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    for _ in range(3):
        client.get(DEMO_CUSTOMER)
    client.get(f"{R}/customers/cus_ana/orders")
    client.get("/nowhere")

    samples = scrape(client)
    name = "erc_bridge_request_duration_seconds"
    for route, expected in ((CUSTOMER_ROUTE, 3), (ORDERS_ROUTE, 1), ("unmatched", 1)):
        series = buckets(samples, name, route=route)
        bounds = [bound for bound, _ in series]
        assert bounds == [*Histogram.DEFAULT_BUCKETS[:-1], float("inf")]
        counts = [value for _, value in series]
        assert counts == sorted(counts)
        assert counts[-1] == expected
        labels = frozenset({"route": route}.items())
        assert samples[(f"{name}_count", labels)] == counts[-1]
        assert samples[(f"{name}_sum", labels)] >= 0


def test_durations_agree_with_a_prometheus_histogram() -> None:
    name = "probe_duration_seconds"
    ours = _Durations(name, "Probe", ["route"])
    registry = CollectorRegistry()
    theirs = Histogram(name, "Probe", ["route"], registry=registry)
    just_above = 0.005 + 1e-9
    observations = {
        "/a": [0.005, just_above, 0.01, 0.0, 10.0, 10.5, 1e6],
        "/b": [0.1, 0.1, 2.5, 7.4999],
    }
    for route, values in observations.items():
        for seconds in values:
            ours.observe((route,), seconds)
            theirs.labels(route).observe(seconds)

    def by_sample(samples: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for s in samples
            if not s.name.endswith("_created")
        }

    expected = by_sample(s for family in registry.collect() for s in family.samples)
    got = by_sample(ours.family().samples)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert got[key] == pytest.approx(value)
        else:
            assert got[key] == value, key

    def bucket(route: str, le: str) -> float:
        return got[(f"{name}_bucket", frozenset({"route": route, "le": le}.items()))]

    assert bucket("/a", "0.005") == 2  # 0.0 and 0.005: a bound counts in its own bucket
    assert bucket("/a", "0.01") == 4
    assert bucket("/a", "10.0") == 5
    assert bucket("/a", "+Inf") == 7
    assert bucket("/b", "0.1") == 2
    assert bucket("/b", "7.5") == 4
