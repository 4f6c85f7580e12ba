"""Prometheus metrics of one bridge, in a registry of its own.

Requests are recorded by the request middleware, platform traffic by the adapters'
upstream clients (this is their observer), and the response cache and circuit breakers
are read when Prometheus scrapes. Requests and platform calls, which come by the
thousand each second, are kept as plain numbers (a count, a bucket, a sum) and become
metric families only when Prometheus scrapes: recording one costs a few additions.
"""

from __future__ import annotations

import hmac
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import INF, floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.breaker import BreakerState, CircuitBreaker
from adapters.resources import ResourceCache
from adapters.shared_resources import SharedResources
from adapters.shared_state import SharedState
from bridge.auth import client_address
from bridge.cache import ResponseCache
from bridge.errors import ERCError
from bridge.readiness import PlatformHealth, Readiness
from bridge.shared_cache import SharedBodies

METRICS_PATH = "/metrics"
ERC_PREFIX = "/erc/"
CALLS_PER_REQUEST_BOUNDS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 32)
WEBHOOK_OUTCOMES = ("received", "refused_unauthenticated", "refused_invalid", "replayed")


COUNTING: ContextVar[list[int] | None] = ContextVar("platform_calls", default=None)
"""The platform calls sent for the request being served, in a one-item list (the cheapest
thing to make for every request). Tasks started for the request (shared fills and
fetches, a write that runs on) carry it too: a call counts for the request that started it.
A call counts as it is sent, not as it ends: one the request gave up in flight (a read
made ahead of need, dropped) ends only once its task runs again, perhaps after the request
is over."""


# `*_created` series double what Prometheus stores and say nothing a restart does not.
disable_created_metrics()  # type: ignore[no-untyped-call]


def _version() -> str:
    try:
        return metadata.version("erc-bridge")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Counts:
    """A counter by label values."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.values: dict[tuple[str, ...], int] = {}

    def inc(self, labels: tuple[str, ...]) -> None:
        self.values[labels] = self.values.get(labels, 0) + 1

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, value in sorted(self.values.items()):
            family.add_metric(list(labels), value)
        return family


class _Durations:
    """A histogram of seconds (or of any `bounds`) by label values: per label set, one count
    per bucket (not yet cumulative) and the sum."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        bounds: Sequence[float] = Histogram.DEFAULT_BUCKETS[:-1],  # the last, +Inf, is the end
    ) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.bounds = tuple(bounds)
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, seconds)] += 1
        series[-1] += seconds

    def family(self) -> Metric:
        return self._family(self.series)

    def _family(self, all_series: dict[tuple[str, ...], list[float]]) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, series in sorted(all_series.items()):
            buckets, seen = [], 0.0
            for bound, count in zip((*self.bounds, INF), series[:-1], strict=True):
                seen += count
                buckets.append((floatToGoString(bound), seen))  # type: ignore[no-untyped-call]
            family.add_metric(list(labels), buckets, sum_value=series[-1])
        return family


class _CallsPerRequest(_Durations):
    """Platform calls per ERC request, by route template. Requests that made none (cache
    hits) are not observed, so they cost nothing more to serve: they are the requests of
    the route counted in `requests` and not here, worked out when Prometheus scrapes."""

    def __init__(self, requests: _Counts, prefix: str) -> None:
        super().__init__(
            "erc_bridge_platform_calls_per_request",
            "Platform calls sent while serving one ERC request, by route template",
            ["route"],
            bounds=CALLS_PER_REQUEST_BOUNDS,
        )
        self._requests = requests
        self._prefix = prefix

    def family(self) -> Metric:
        totals: dict[tuple[str, ...], int] = {}
        for (route, _), count in self._requests.values.items():
            if route.startswith(self._prefix):
                totals[(route,)] = totals.get((route,), 0) + count
        every = {labels: list(series) for labels, series in self.series.items()}
        for labels, total in totals.items():
            series = every.setdefault(labels, [0] * (len(self.bounds) + 2))
            series[0] += total - sum(series[:-1])  # the first bound is 0 calls
        return self._family(every)


class _Traffic(Collector):
    def __init__(self, *recorded: _Counts | _Durations) -> None:
        self._recorded = recorded

    def collect(self) -> Iterable[Metric]:
        for recorded in self._recorded:
            yield recorded.family()


class _ReadAtScrape(Collector):
    """The response cache's counters, each platform's breaker and the platform's health
    found by the last readiness check, as they are now."""

    def __init__(
        self,
        cache: ResponseCache,
        breakers: dict[str, CircuitBreaker],
        resources: ResourceCache | None,
    ) -> None:
        self._cache = cache
        self._breakers = breakers
        self._resources = resources
        self.readiness: Readiness | None = None

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
        yield GaugeMetricFamily(
            "erc_bridge_cache_bytes",
            "Bytes the responses held weigh: bodies, keys and bookkeeping",
            value=cache.held_bytes,
        )
        if self._resources is not None:
            yield from _resource_families(self._resources)
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
        periods = GaugeMetricFamily(
            "erc_bridge_breaker_open_period_seconds",
            "How long each platform's circuit breaker stays open when it opens (again)",
            labels=["platform"],
        )
        for platform, breaker in sorted(self._breakers.items()):
            periods.add_metric([platform], breaker.open_period)
        yield periods
        if self.readiness is not None:
            yield from _readiness_families(self.readiness)


def _resource_families(resources: ResourceCache) -> Iterable[Metric]:
    stats = resources.stats
    yield CounterMetricFamily(
        "erc_bridge_resource_cache_hits",
        "Platform resources read from the resource cache instead of the platform",
        value=stats.hits,
    )
    yield CounterMetricFamily(
        "erc_bridge_resource_cache_misses",
        "Platform resources not held by the resource cache, fetched or joined a fetch",
        value=stats.misses,
    )
    yield CounterMetricFamily(
        "erc_bridge_resource_cache_evictions",
        "Platform resources dropped to stay within the resource cache's bounds",
        value=stats.evictions,
    )
    yield GaugeMetricFamily(
        "erc_bridge_resource_cache_entries", "Platform resources held", value=len(resources)
    )
    yield GaugeMetricFamily(
        "erc_bridge_resource_cache_bytes",
        "Bytes the platform resources held weigh: bodies, keys and bookkeeping",
        value=resources.held_bytes,
    )


def _readiness_families(readiness: Readiness) -> Iterable[Metric]:
    last = readiness.last
    yield GaugeMetricFamily(
        "erc_bridge_ready",
        "1 when the last readiness check found this process able to serve",
        value=1.0 if last is not None and last.ready else 0.0,
    )
    health = GaugeMetricFamily(
        "erc_bridge_platform_health",
        "1 for what the last readiness check found of the platform, 0 for the others",
        labels=["health"],
    )
    current = last.platform if last is not None else PlatformHealth.UNKNOWN
    for value in PlatformHealth:
        health.add_metric([value.value], 1.0 if value is current else 0.0)
    yield health


class Metrics:
    """Every `erc_bridge_*` metric; also the adapters' `UpstreamObserver`."""

    def __init__(
        self, cache: ResponseCache, *, adapter: str, resources: ResourceCache | None = None
    ) -> None:
        self.registry = registry = CollectorRegistry()
        self._requests = _Counts(
            "erc_bridge_requests",
            "HTTP requests answered, by route template and status",
            ["route", "status"],
        )
        self._request_seconds = _Durations(
            "erc_bridge_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route"],
        )
        self._platform_calls = _Counts(
            "erc_bridge_platform_calls",
            "HTTP calls to the platform, by endpoint and outcome"
            " (status, timeout, unreachable, invalid_answer, abandoned)",
            ["platform", "endpoint", "outcome"],
        )
        self._platform_seconds = _Durations(
            "erc_bridge_platform_call_duration_seconds",
            "Time of one HTTP call to the platform, by endpoint",
            ["platform", "endpoint"],
        )
        self._writes = _Counts(
            "erc_bridge_writes",
            "Write attempts (cancel an order, change its address, cancel items), by action and"
            " outcome (applied, already_done, refused, failed, replayed)",
            ["action", "outcome"],
        )
        self._calls_per_request = _CallsPerRequest(self._requests, ERC_PREFIX)
        self._webhooks = _Counts(
            "erc_bridge_webhooks",
            "Platform webhook deliveries, by outcome (" + ", ".join(WEBHOOK_OUTCOMES) + ")",
            ["outcome"],
        )
        registry.register(
            _Traffic(
                self._requests,
                self._request_seconds,
                self._platform_calls,
                self._platform_seconds,
                self._writes,
                self._calls_per_request,
                self._webhooks,
            )
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
        self._read_at_scrape = _ReadAtScrape(cache, self._breakers, resources)
        registry.register(self._read_at_scrape)

    @property
    def breakers(self) -> Mapping[str, CircuitBreaker]:
        """Every platform's circuit breaker, as the adapter's clients create them."""
        return self._breakers

    def report_readiness(self, readiness: Readiness) -> None:
        """Show what `readiness` last found (the bridge able to serve, the platform's health)."""
        self._read_at_scrape.readiness = readiness

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self._requests.inc((route, _STATUS.get(status) or str(status)))
        self._request_seconds.observe((route,), seconds)

    def observe_write(self, action: str, outcome: str) -> None:
        self._writes.inc((action, outcome))

    def observe_platform_calls(self, route: str, calls: int) -> None:
        """`calls` (at least one) made while serving a request of the ERC `route`."""
        self._calls_per_request.observe((route,), calls)

    def observe_webhook(self, outcome: str) -> None:
        self._webhooks.inc((outcome,))

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for, and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    # UpstreamObserver

    def platform_call_sent(self, platform: str, endpoint: str) -> None:
        counting = COUNTING.get()
        if counting is not None:
            counting[0] += 1

    def platform_call(self, platform: str, endpoint: str, outcome: str, seconds: float) -> None:
        self._platform_calls.inc((platform, endpoint, outcome))
        self._platform_seconds.observe((platform, endpoint), seconds)

    def platform_retry(self, platform: str, endpoint: str) -> None:
        self._retries.labels(platform, endpoint).inc()

    def token_refreshed(self, platform: str) -> None:
        self._token_refreshes.labels(platform).inc()

    def breaker_created(self, breaker: CircuitBreaker) -> None:
        self._breakers[breaker.platform] = breaker

    # Replicas: the Redis they share and the platform call budget (SPEC §9)

    def report_replicas(self, shared: SharedState | None) -> None:
        """Show whether `shared` (Redis) answers and how often it stopped answering, and
        count the platform call budget's waits and refusals; call once, before serving."""
        registry = self.registry
        self._budget_waits = Counter(
            "erc_bridge_platform_budget_waits",
            "Platform calls that waited for their turn in the platform call budget",
            registry=registry,
        )
        self._budget_wait_seconds = Counter(
            "erc_bridge_platform_budget_wait_seconds",
            "Seconds platform calls waited for their turn in the platform call budget",
            registry=registry,
        )
        self._budget_refusals = Counter(
            "erc_bridge_platform_budget_refusals",
            "Platform calls not sent (503) because their turn came after their deadline",
            registry=registry,
        )
        if shared is None:
            return
        up = Gauge("erc_bridge_redis_up", "1 while the shared Redis answers", registry=registry)
        up.set_function(lambda: 1.0 if shared.reachable else 0.0)
        failures = Counter(
            "erc_bridge_redis_failures",
            "Times the shared Redis stopped answering (the bridge went on without it)",
            registry=registry,
        )

        def observe(reachable: bool) -> None:
            if not reachable:
                failures.inc()

        shared.observe = observe

    # BudgetObserver

    def budget_waited(self, seconds: float) -> None:
        self._budget_waits.inc()
        self._budget_wait_seconds.inc(seconds)

    def budget_refused(self) -> None:
        self._budget_refusals.inc()


_STATUS = {status: str(status) for status in range(100, 600)}


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
    bridge = request.app.state.bridge
    configured = bridge.settings.metrics_key
    if configured is not None:
        if not _authorized(request, configured.get_secret_value()):
            error = ERCError(
                401,
                "unauthorized",
                "Metrics need the metrics key",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
            if "x-api-key" in request.headers or "authorization" in request.headers:
                error = bridge.auth.refuse(client_address(request.scope), error)
            return error.response()
    else:
        # Without a key of their own, metrics are guarded as the ERC routes are: open only
        # on the demo store without credentials, where everything is.
        try:
            bridge.auth.authenticate(request.headers, client=client_address(request.scope))
        except ERCError as refused:
            return refused.response()
    body, content_type = metrics.render(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})


metrics_routes = [Route(METRICS_PATH, metrics_endpoint, methods=["GET"])]


# The caches the replicas share through Redis (bridge/sharing.py)


_SHARED_COUNTS = (
    ("erc_bridge_shared_cache_hits", "shared_hits", "Local misses answered from Redis, by tier"),
    (
        "erc_bridge_shared_cache_misses",
        "shared_misses",
        "Local misses Redis had nothing fresh for, by tier",
    ),
    (
        "erc_bridge_single_flight_waits",
        "waits",
        "Misses that waited for another replica's fetch, by tier",
    ),
    (
        "erc_bridge_single_flight_fallbacks",
        "fallbacks",
        "Misses that gave up waiting for another replica and fetched themselves, by tier",
    ),
)


class _SharedCaches(Collector):
    """Hits and misses of the Redis tiers, and how the replicas' single flight went."""

    def __init__(self, bodies: SharedBodies, resources: SharedResources | None) -> None:
        self._tiers = [("body", bodies.stats)]
        if resources is not None:
            self._tiers.append(("resource", resources.stats))
        self._bodies = bodies

    def collect(self) -> Iterable[Metric]:
        for name, field, documentation in _SHARED_COUNTS:
            family = CounterMetricFamily(name, documentation, labels=["tier"])
            for tier, stats in self._tiers:
                family.add_metric([tier], getattr(stats, field))
            yield family
        yield CounterMetricFamily(
            "erc_bridge_shared_cache_stale_served",
            "Expired responses served from Redis because the platform failed",
            value=self._bodies.stale_served,
        )


def report_shared_caches(
    metrics: Metrics, bodies: SharedBodies, resources: SharedResources | None
) -> None:
    metrics.registry.register(_SharedCaches(bodies, resources))
