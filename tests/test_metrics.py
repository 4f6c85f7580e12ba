"""`/metrics`: what the bridge counts, checked against what the Elastic Path emulator saw."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from adapters.demo import DemoAdapter
from adapters.elasticpath import ElasticPathAdapter, ElasticPathSettings
from adapters.http import HTTPConfig
from bridge.app import create_app
from tests.conftest import API_KEY, R, settings
from tests.conftest import CLIENT_ID as OAUTH_CLIENT_ID
from tests.conftest import CLIENT_SECRET as OAUTH_SECRET
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator
from tests.servers import serve

FAST = HTTPConfig(connect_timeout=2.0, read_timeout=5.0, backoff_base=0.01, backoff_cap=0.05)
CUSTOMER = f"{R}/customers/{fx.MARIA}"
ORDER = f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}"
ORDER_PATH = f"/v2/orders/{fx.ORDER_COMPLETE}"
CUSTOMER_ROUTE = f"{R}/customers/{{customer_id}}"
ORDER_ROUTE = f"{R}/customers/{{customer_id}}/orders/{{order_id}}"
METRICS_KEY = "scrape-key-5b1e07c2-94d0-4a3f-8e6b"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ElasticPathEmulator, str]]:
    emulator = ElasticPathEmulator(fx.default_store())
    with serve(emulator.app) as url:
        yield emulator, url


@pytest.fixture
def emulator(served: tuple[ElasticPathEmulator, str]) -> ElasticPathEmulator:
    served[0].reset()
    return served[0]


def adapter_for(url: str, http: HTTPConfig = FAST) -> ElasticPathAdapter:
    settings = ElasticPathSettings(
        _env_file=None, base_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
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
    emulator.fail_next(500, times=3, path="/v2/customers/")
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
