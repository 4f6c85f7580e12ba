"""`/healthz` and `/readyz`, unauthenticated, against the platform emulators over loopback.

Ready means this process can serve: its adapter is open and the platform has not rejected
its credentials. A slow, failing or unreachable platform leaves every replica ready, and
`/readyz`'s body and the metrics say how the platform is doing.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from adapters.adobe_cpapi import PING_PATH, AdobeCPAPIAdapter
from adapters.demo import DemoAdapter
from adapters.errors import (
    AdapterError,
    CircuitOpen,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bridge.readiness import CHECK_EVERY_S, NOT_OPEN, PlatformHealth, Readiness, health_of
from tests.conftest import AUTH, ManualClock
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator
from tests.emulators.faults import Hang
from tests.platform_settings import adobe_settings
from tests.servers import serve
from tests.test_resilience_routes import adapter_for

READY = {"status": "ready", "platform": "ok", "breaker": "closed"}
REJECTED = {
    "status": "not_ready",
    "reason": "platform rejected the credentials",
    "platform": "credentials_rejected",
    "breaker": "closed",
}
HANG_S = 2.0
"""How long a hanging platform holds a request: far past the deadlines used here."""
SHORT_DEADLINE_S = 0.3
OPEN_S = 0.2
"""The breaker's first open period where a test waits it out."""
WAIT_S = 10.0
"""Generous bound on waiting for the breaker to let a probe through."""


@dataclass
class Platform:
    emulator: ElasticPathEmulator
    hang: Hang
    url: str


@pytest.fixture(scope="module")
def served() -> Iterator[Platform]:
    emulator = ElasticPathEmulator(fx.default_store())
    hang = Hang(emulator.app, HANG_S)
    with serve(hang) as url:
        yield Platform(emulator, hang, url)


@pytest.fixture
def platform(served: Platform) -> Iterator[Platform]:
    served.emulator.reset()
    served.hang.on = False
    yield served
    served.emulator.client_secret = CLIENT_SECRET
    served.hang.on = False


@pytest.fixture
def emulator(platform: Platform) -> ElasticPathEmulator:
    return platform.emulator


@pytest.fixture
def make_bridge(
    make_app_client: Callable[..., TestClient], platform: Platform, clock: ManualClock
) -> Callable[..., TestClient]:
    """The bridge, asked without any credentials: the probes need none."""

    def factory(**overrides: object) -> TestClient:
        return make_app_client(adapter_for(platform.url), clock=clock, headers={}, **overrides)

    return factory


@pytest.fixture
def bridge(make_bridge: Callable[..., TestClient]) -> TestClient:
    return make_bridge()


def probes(emulator: ElasticPathEmulator) -> int:
    return sum(1 for request in emulator.api_calls if request.path == "/v2/orders")


def gauges(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = client.get("/metrics", headers=AUTH).text  # credentials configured: guarded
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def health_gauge(client: TestClient) -> dict[str, float]:
    """`erc_bridge_platform_health` by health, and `erc_bridge_ready` under "ready"."""
    samples = gauges(client)
    found = {
        dict(labels)["health"]: value
        for (name, labels), value in samples.items()
        if name == "erc_bridge_platform_health"
    }
    found["ready"] = samples[("erc_bridge_ready", frozenset())]
    return found


def test_healthz_needs_no_credentials_and_says_nothing_else(bridge: TestClient) -> None:
    response = bridge.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_platform_takes_the_credentials(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    response = bridge.get("/readyz")
    assert response.status_code == 200
    assert response.json() == READY
    assert emulator.grants == 1
    [probe] = [r for r in emulator.api_calls if r.path == "/v2/orders"]
    assert probe.query == {"page[limit]": "1"}
    assert probe.status == 200
    assert health_gauge(bridge) == {
        **dict.fromkeys(map(str, PlatformHealth), 0.0),
        "ok": 1.0,
        "ready": 1.0,
    }


def test_not_ready_while_the_platform_rejects_the_credentials_then_ready_again(
    bridge: TestClient, platform: Platform, emulator: ElasticPathEmulator, clock: ManualClock
) -> None:
    assert bridge.get("/readyz").status_code == 200
    emulator.client_secret = "rotated-in-the-commerce-manager-0123456789"
    emulator.expire_tokens()
    clock.advance(CHECK_EVERY_S)

    refused = bridge.get("/readyz")

    assert refused.status_code == 503
    assert refused.json() == REJECTED
    for revealing in (platform.url, "127.0.0.1", CLIENT_ID, CLIENT_SECRET, "ELASTICPATH"):
        assert revealing not in refused.text
    gauge = health_gauge(bridge)
    assert (gauge["credentials_rejected"], gauge["ok"], gauge["ready"]) == (1, 0, 0)

    emulator.client_secret = CLIENT_SECRET
    assert bridge.get("/readyz").json() == REJECTED  # the outcome holds for a few seconds
    clock.advance(CHECK_EVERY_S)
    assert bridge.get("/readyz").json() == READY


def test_the_platform_is_asked_at_most_every_few_seconds(
    bridge: TestClient, emulator: ElasticPathEmulator, clock: ManualClock
) -> None:
    for _ in range(3):
        assert bridge.get("/readyz").status_code == 200
    clock.advance(CHECK_EVERY_S - 0.5)
    assert bridge.get("/readyz").status_code == 200
    assert probes(emulator) == 1
    clock.advance(0.5)
    assert bridge.get("/readyz").status_code == 200
    assert probes(emulator) == 2


def test_ready_while_the_platform_answers_500s_until_its_breaker_opens(
    make_bridge: Callable[..., TestClient], emulator: ElasticPathEmulator, clock: ManualClock
) -> None:
    bridge = make_bridge(breaker_open_s=60)
    emulator.fail_next(500, times=100)
    failing = bridge.get("/readyz")
    assert failing.status_code == 200
    assert failing.json() == {"status": "ready", "platform": "failing", "breaker": "closed"}
    clock.advance(CHECK_EVERY_S)
    paused = bridge.get("/readyz")  # two more failures open the breaker
    assert paused.status_code == 200
    assert paused.json() == {"status": "ready", "platform": "failing", "breaker": "open"}
    gauge = health_gauge(bridge)
    assert (gauge["failing"], gauge["ok"], gauge["ready"]) == (1, 0, 1)


def test_ready_while_the_platform_is_unreachable(
    make_app_client: Callable[..., TestClient], clock: ManualClock
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bridge = make_app_client(adapter_for(closed), clock=clock, headers={}, breaker_open_s=60)
    for breaker in ("closed", "open"):  # the breaker opens on the second check
        response = bridge.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "platform": "unreachable", "breaker": breaker}
        clock.advance(CHECK_EVERY_S)


def test_ready_while_the_platform_is_slow(
    make_bridge: Callable[..., TestClient], platform: Platform, clock: ManualClock
) -> None:
    bridge = make_bridge(deadline_s=SHORT_DEADLINE_S)
    assert bridge.get("/readyz").status_code == 200  # a token first: only the probe hangs
    platform.hang.on = True
    clock.advance(CHECK_EVERY_S)
    response = bridge.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "platform": "slow", "breaker": "closed"}


def test_readiness_checks_close_the_breaker_once_the_platform_is_back(
    make_bridge: Callable[..., TestClient], emulator: ElasticPathEmulator, clock: ManualClock
) -> None:
    bridge = make_bridge(breaker_open_s=OPEN_S)
    emulator.fail_next(500, times=5)
    for _ in range(2):
        bridge.get("/readyz")
        clock.advance(CHECK_EVERY_S)
    assert bridge.get("/readyz").json()["breaker"] == "open"
    # With no ERC traffic at all, a readiness check is the breaker's probe.
    deadline = time.monotonic() + WAIT_S
    while (body := bridge.get("/readyz").json())["breaker"] != "closed":
        assert time.monotonic() < deadline, body
        time.sleep(OPEN_S / 4)
        clock.advance(CHECK_EVERY_S)
    assert body == READY


def test_not_ready_until_the_adapter_is_open_nor_once_it_closes() -> None:
    readiness = Readiness(DemoAdapter(), deadline_s=1.0)

    async def report() -> tuple[bool, str | None]:
        found = await readiness.report()
        return found.ready, found.reason

    assert asyncio.run(report()) == (False, NOT_OPEN)
    readiness.opened()
    assert asyncio.run(report()) == (True, None)
    readiness.closing()
    assert asyncio.run(report()) == (False, NOT_OPEN)


def test_the_demo_store_is_ready(make_app_client: Callable[..., TestClient]) -> None:
    assert make_app_client(headers={}).get("/readyz").json() == READY


@pytest.mark.parametrize(
    ("error", "before", "health"),
    [
        (UpstreamUnavailable("x", credentials_rejected=True), "ok", "credentials_rejected"),
        (UpstreamUnavailable("x"), "ok", "failing"),
        (UpstreamTimeout("x"), "ok", "slow"),
        (UpstreamError("x"), "ok", "failing"),
        (NotFound("x"), "ok", "failing"),
        (CircuitOpen("x"), "ok", "failing"),
        (CircuitOpen("x"), "unknown", "failing"),
        (CircuitOpen("x"), "unreachable", "unreachable"),
        (CircuitOpen("x"), "slow", "slow"),
    ],
)
def test_each_failure_says_how_the_platform_is(
    error: AdapterError, before: str, health: str
) -> None:
    assert health_of(error, PlatformHealth(before)) is PlatformHealth(health)


def test_a_lost_connection_is_unreachable() -> None:
    error = UpstreamUnavailable("x")
    error.__cause__ = ConnectionError("refused")
    assert health_of(error, PlatformHealth.OK) is PlatformHealth.UNREACHABLE


# Adobe


class WithPing:
    """CPAPI's ping in front of the emulator, which has none. The emulator checks the API
    key and the token on any path before routing it: its 404 here means both passed."""

    def __init__(self, emulator: CPAPIEmulator) -> None:
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PING_PATH:
            await self.emulator.app(scope, receive, send)
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.emulator.app(scope, receive, keep)
        if answer[0]["status"] == 404:
            await PlainTextResponse("pong")(scope, receive, send)
            return
        for message in answer:
            await send(message)


def test_adobe_is_ready_until_ims_rejects_the_credentials(
    make_app_client: Callable[..., TestClient], clock: ManualClock
) -> None:
    emulator = CPAPIEmulator()
    with serve(WithPing(emulator)) as url:
        settings = adobe_settings(emulator, url)
        bridge = make_app_client(AdobeCPAPIAdapter(settings), clock=clock, headers={})
        assert bridge.get("/readyz").json() == READY
        [ping] = [e for e in emulator.cpapi_exchanges if e.path == PING_PATH]
        assert ping.header("x-api-key") == emulator.client_id
        assert (ping.header("authorization") or "").startswith("Bearer ims-")

        emulator.expire_tokens()
        emulator.fail_token(401)
        clock.advance(CHECK_EVERY_S)
        refused = bridge.get("/readyz")

    assert refused.status_code == 503
    assert refused.json() == REJECTED
