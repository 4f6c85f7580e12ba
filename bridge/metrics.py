"""Prometheus metrics of one bridge, in a registry of its own.

Requests are recorded by the request middleware, platform traffic by the adapters'
upstream clients (this is their observer), and the response cache and circuit breakers
are read when Prometheus scrapes. Each label set's series are looked up once and kept, so
a request costs two dictionary lookups and two updates.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.breaker import BreakerState, CircuitBreaker
from bridge.cache import ResponseCache
from bridge.errors import ERCError

METRICS_PATH = "/metrics"

# `*_created` series double what Prometheus stores and say nothing a restart does not.
disable_created_metrics()  # type: ignore[no-untyped-call]


def _version() -> str:
    try:
        return metadata.version("erc-bridge")
    except metadata.PackageNotFoundError:
        return "unknown"


class _ReadAtScrape(Collector):
    """The response cache's counters and each platform's breaker state, as they are now."""

    def __init__(self, cache: ResponseCache, breakers: dict[str, CircuitBreaker]) -> None:
        self._cache = cache
        self._breakers = breakers

    def collect(self) -> Iterable[Metric]:
        cache = self._cache
        yield CounterMetricFamily(
            "erc_bridge_cache_hits", "Responses served fresh from the cache", value=cache.hits
        )
        yield CounterMetricFamily(
            "erc_bridge_cache_misses", "Responses fetched from the platform", value=cache.misses
        )
        yield CounterMetricFamily(
            "erc_bridge_cache_stale_served",
            "Expired responses served because the platform failed",
            value=cache.stale_served,
        )
        yield GaugeMetricFamily("erc_bridge_cache_entries", "Responses held", value=len(cache))
        states = GaugeMetricFamily(
            "erc_bridge_breaker_state",
            "1 for the state each platform's circuit breaker is in, 0 for the others",
            labels=["platform", "state"],
        )
        for platform, breaker in sorted(self._breakers.items()):
            current = breaker.state
            for state in BreakerState:
                states.add_metric([platform, state.value], 1.0 if state is current else 0.0)
        yield states


class Metrics:
    """Every `erc_bridge_*` metric; also the adapters' `UpstreamObserver`."""

    def __init__(self, cache: ResponseCache, *, adapter: str) -> None:
        self.registry = registry = CollectorRegistry()
        self._requests = Counter(
            "erc_bridge_requests",
            "HTTP requests answered, by route template and status",
            ["route", "status"],
            registry=registry,
        )
        self._request_seconds = Histogram(
            "erc_bridge_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route"],
            registry=registry,
        )
        self._platform_calls = Counter(
            "erc_bridge_platform_calls",
            "HTTP calls to the platform, by endpoint and outcome (status, timeout, unreachable)",
            ["platform", "endpoint", "outcome"],
            registry=registry,
        )
        self._platform_seconds = Histogram(
            "erc_bridge_platform_call_duration_seconds",
            "Time of one HTTP call to the platform, by endpoint",
            ["platform", "endpoint"],
            registry=registry,
        )
        self._retries = Counter(
            "erc_bridge_platform_retries",
            "Platform calls tried again after a failure",
            ["platform", "endpoint"],
            registry=registry,
        )
        self._token_refreshes = Counter(
            "erc_bridge_platform_token_refreshes",
            "Platform access tokens obtained",
            ["platform"],
            registry=registry,
        )
        Info("erc_bridge", "The running bridge", registry=registry).info(
            {"version": _version(), "adapter": adapter}
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        registry.register(_ReadAtScrape(cache, self._breakers))
        self._request_series: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._call_series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        series = self._request_series.get((route, status))
        if series is None:
            series = (
                self._requests.labels(route, str(status)),
                self._request_seconds.labels(route),
            )
            self._request_series[(route, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for, and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    # UpstreamObserver

    def platform_call(self, platform: str, endpoint: str, outcome: str, seconds: float) -> None:
        key = (platform, endpoint, outcome)
        series = self._call_series.get(key)
        if series is None:
            series = (
                self._platform_calls.labels(platform, endpoint, outcome),
                self._platform_seconds.labels(platform, endpoint),
            )
            self._call_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def platform_retry(self, platform: str, endpoint: str) -> None:
        self._retries.labels(platform, endpoint).inc()

    def token_refreshed(self, platform: str) -> None:
        self._token_refreshes.labels(platform).inc()

    def breaker_created(self, breaker: CircuitBreaker) -> None:
        self._breakers[breaker.platform] = breaker


def _authorized(request: Request, key: str) -> bool:
    expected = key.encode()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    offered = [request.headers.get("x-api-key", "")]
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    # Both are compared, whichever is present, so timing says nothing about which matched.
    matches = [hmac.compare_digest(value.encode(), expected) for value in offered]
    return any(matches)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    configured = request.app.state.bridge.settings.metrics_key
    key = configured.get_secret_value() if configured is not None else ""
    if key and not _authorized(request, key):
        return ERCError(
            401,
            "unauthorized",
            "Metrics need the metrics key",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        ).response()
    body, content_type = metrics.render(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})


metrics_routes = [Route(METRICS_PATH, metrics_endpoint, methods=["GET"])]
