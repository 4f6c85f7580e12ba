"""`/healthz` and `/readyz`, unauthenticated, against the platform emulators over loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from adapters.adobe_cpapi import PING_PATH, AdobeCPAPIAdapter, AdobeSettings
from adapters.elasticpath import ElasticPathAdapter, ElasticPathSettings
from adapters.errors import (
    AdapterError,
    CircuitOpen,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.http import HTTPConfig
from bridge.readiness import CHECK_EVERY_S, reason_for
from tests.conftest import ManualClock
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator
from tests.servers import serve

FAST = HTTPConfig(connect_timeout=2.0, read_timeout=5.0, backoff_base=0.01, backoff_cap=0.05)
REJECTED = {"status": "not_ready", "reason": "platform rejected the credentials"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ElasticPathEmulator, str]]:
    emulator = ElasticPathEmulator(fx.default_store())
    with serve(emulator.app) as url:
        yield emulator, url


@pytest.fixture
def emulator(served: tuple[ElasticPathEmulator, str]) -> Iterator[ElasticPathEmulator]:
    served[0].reset()
    yield served[0]
    served[0].client_secret = CLIENT_SECRET


def adapter_for(url: str) -> ElasticPathAdapter:
    settings = ElasticPathSettings(
        _env_file=None, base_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    return ElasticPathAdapter(settings, http=FAST)


@pytest.fixture
def bridge(
    make_app_client: Callable[..., TestClient],
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
    clock: ManualClock,
) -> TestClient:
    """The bridge, asked without any credentials: the probes need none."""
    return make_app_client(adapter_for(served[1]), clock=clock, headers={})


def probes(emulator: ElasticPathEmulator) -> int:
    return sum(1 for request in emulator.api_calls if request.path == "/v2/orders")


def test_healthz_needs_no_credentials_and_says_nothing_else(bridge: TestClient) -> None:
    response = bridge.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_platform_takes_the_credentials(
    bridge: TestClient, emulator: ElasticPathEmulator
) -> None:
    response = bridge.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert emulator.grants == 1
    [probe] = [r for r in emulator.api_calls if r.path == "/v2/orders"]
    assert probe.query == {"page[limit]": "1"}
    assert probe.status == 200


def test_not_ready_while_the_platform_rejects_the_credentials_then_ready_again(
    bridge: TestClient,
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
    clock: ManualClock,
) -> None:
    assert bridge.get("/readyz").status_code == 200
    emulator.client_secret = "rotated-in-the-commerce-manager"
    emulator.expire_tokens()
    clock.advance(CHECK_EVERY_S)

    refused = bridge.get("/readyz")

    assert refused.status_code == 503
    assert refused.json() == REJECTED
    for revealing in (served[1], "127.0.0.1", CLIENT_ID, CLIENT_SECRET, "ELASTICPATH"):
        assert revealing not in refused.text

    emulator.client_secret = CLIENT_SECRET
    assert bridge.get("/readyz").json() == REJECTED  # the outcome holds for a few seconds
    clock.advance(CHECK_EVERY_S)
    assert bridge.get("/readyz").json() == {"status": "ready"}


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


def test_not_ready_when_the_platform_is_unreachable(
    make_app_client: Callable[..., TestClient],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bridge = make_app_client(adapter_for(closed), headers={})
    response = bridge.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "reason": "platform unreachable"}


def test_the_demo_store_is_ready(make_app_client: Callable[..., TestClient]) -> None:
    assert make_app_client(headers={}).get("/readyz").json() == {"status": "ready"}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (UpstreamUnavailable("x", credentials_rejected=True), "platform rejected the credentials"),
        (CircuitOpen("x"), "platform calls paused after repeated failures"),
        (UpstreamUnavailable("x"), "platform busy or unavailable"),
        (UpstreamTimeout("x"), "platform did not answer in time"),
        (UpstreamError("x"), "platform answered with an error"),
        (NotFound("x"), "platform answered with an error"),
    ],
)
def test_each_failure_has_its_reason(error: AdapterError, reason: str) -> None:
    assert reason_for(error) == reason


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
        settings = AdobeSettings(_env_file=None, **emulator.adapter_settings(url))
        bridge = make_app_client(AdobeCPAPIAdapter(settings), clock=clock, headers={})
        assert bridge.get("/readyz").json() == {"status": "ready"}
        [ping] = [e for e in emulator.cpapi_exchanges if e.path == PING_PATH]
        assert ping.header("x-api-key") == emulator.client_id
        assert (ping.header("authorization") or "").startswith("Bearer ims-")

        emulator.expire_tokens()
        emulator.fail_token(401)
        clock.advance(CHECK_EVERY_S)
        refused = bridge.get("/readyz")

    assert refused.status_code == 503
    assert refused.json() == REJECTED
