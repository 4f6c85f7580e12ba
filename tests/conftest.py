from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from starlette.testclient import TestClient

from adapters.demo import DemoAdapter
from adapters.http import HTTPConfig
from bridge.app import create_app
from bridge.logs import access_log, configure_logging
from bridge.settings import BridgeSettings
from tests.certificates import self_signed
from tests.servers import serve

pytest_plugins = ("tests.hostile_platforms", "tests.write_fixtures")
"""Fixtures any module may ask for: `platforms` behind hostile stand-ins and `bridge_on`;
the write routes' recording `adapter` and `writes` client (a module's own `adapter`
comes first)."""

API_KEY = "test-key-3f9a-0b6e-4c1d-8a27-5e90f3b1"
CURSOR_SECRET = "cursor-secret-for-tests-0123456789abcdef"
AUTH = {"X-API-Key": API_KEY}
R = "/erc/ecommerce/connections"

FAST = HTTPConfig(connect_timeout=2.0, read_timeout=5.0, backoff_base=0.01)
"""An upstream client config for tests against the loopback emulators: short waits."""
FAST_CAPPED = HTTPConfig(connect_timeout=2.0, read_timeout=5.0, backoff_base=0.01, backoff_cap=0.05)
"""`FAST` with backoff capped too, for tests that retry many times."""
FAST_SHORT_READ = HTTPConfig(connect_timeout=2.0, read_timeout=2.0, backoff_base=0.01)
"""`FAST` giving up on a silent platform after two seconds."""
IMPATIENT = HTTPConfig(connect_timeout=2.0, read_timeout=0.25, backoff_base=0.01)
"""`FAST` giving up on a silent platform after a quarter of a second: for hanging writes."""


class RecordingDemoAdapter(DemoAdapter):
    """The demo store, noting every call the bridge makes into it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def get_customer(self, customer_id: str) -> Any:
        self.calls.append(("get_customer", (customer_id,)))
        return await super().get_customer(customer_id)

    async def list_orders(self, request: Any) -> Any:
        self.calls.append(("list_orders", (request,)))
        return await super().list_orders(request)

    async def get_order(self, customer_id: str, order_id: str) -> Any:
        self.calls.append(("get_order", (customer_id, order_id)))
        return await super().get_order(customer_id, order_id)

    async def list_items(self, customer_id: str, order_id: str) -> Any:
        self.calls.append(("list_items", (customer_id, order_id)))
        return await super().list_items(customer_id, order_id)

    async def most_recent_order(self, customer_id: str) -> Any:
        self.calls.append(("most_recent_order", (customer_id,)))
        return await super().most_recent_order(customer_id)

    async def list_shipments(self, request: Any) -> Any:
        self.calls.append(("list_shipments", (request,)))
        return await super().list_shipments(request)

    async def list_products(self, request: Any) -> Any:
        self.calls.append(("list_products", (request,)))
        return await super().list_products(request)

    async def get_cart(self, *, cart_id: str | None = None, customer_id: str | None = None) -> Any:
        self.calls.append(("get_cart", (cart_id, customer_id)))
        return await super().get_cart(cart_id=cart_id, customer_id=customer_id)


CURSORS_SIGNED_AT = 1_796_457_600.0


def sign_cursors_at_one_moment(app: Any) -> None:
    """For answers compared across two apps or two runs: a cursor names the second it
    expires, and a second may go by between the two."""
    app.state.bridge.cursors._clock = lambda: CURSORS_SIGNED_AT


def settings(**overrides: Any) -> BridgeSettings:
    values: dict[str, Any] = {"api_keys": API_KEY, "cursor_secret": CURSOR_SECRET}
    values.update(overrides)
    return BridgeSettings(_env_file=None, **values)


def decode(response: Any) -> Any:
    """The JSON body with numbers as Decimal, so money is compared exactly."""
    return json.loads(response.text, parse_float=Decimal)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def open_client() -> Iterator[Callable[..., TestClient]]:
    """Opens a `TestClient(app, **options)` with the app's lifespan run; each one is closed
    when the test ends."""
    with ExitStack() as opened:

        def factory(app: Any, **options: Any) -> TestClient:
            return opened.enter_context(TestClient(app, **options))

        yield factory


@pytest.fixture
def make_client(open_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """A client of a bridge in front of `adapter` (the demo store by default), with
    `settings(**overrides)`; `clock` drives its caches."""

    def factory(
        adapter: Any = None, *, clock: Callable[[], float] | None = None, **overrides: Any
    ) -> TestClient:
        app = create_app(settings(**overrides), adapter=adapter or DemoAdapter(), clock=clock)
        return open_client(app, headers=AUTH)

    return factory


@pytest.fixture
def recorder() -> RecordingDemoAdapter:
    return RecordingDemoAdapter()


@pytest.fixture
def client(make_client: Callable[..., TestClient], recorder: RecordingDemoAdapter) -> TestClient:
    return make_client(recorder)


TOKEN_SECRET = "token-secret-for-tests-0123456789abcdef"
CLIENT_ID = "talkdesk-connections"
CLIENT_SECRET = "client-secret-7d41c9a2-5b0e-4f68-93ac"
BOTH_SCOPES = "erc-ecommerce-connections-customers:read+erc-ecommerce-connections-orders:read"
OAUTH_CLIENT = f"{CLIENT_ID}:{CLIENT_SECRET}:{BOTH_SCOPES}"


class ManualClock:
    """A clock that moves only when told to, for tokens and rate limits."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_app_client(open_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """Like `make_client`, with OAuth clients, a client address and default headers."""

    def factory(
        adapter: Any = None,
        *,
        clock: Callable[[], float] | None = None,
        address: str = "testclient",
        headers: dict[str, str] | None = None,
        **overrides: Any,
    ) -> TestClient:
        values = {"oauth_clients": OAUTH_CLIENT, "token_secret": TOKEN_SECRET, **overrides}
        app = create_app(settings(**values), adapter=adapter or DemoAdapter(), clock=clock)
        return open_client(
            app, headers=AUTH if headers is None else headers, client=(address, 50000)
        )

    return factory


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Logging and the process's access log as they were before the test."""
    was_configured = structlog.is_configured()
    config = structlog.get_config()
    root = logging.getLogger()
    root_state = (root.handlers[:], root.level)
    named = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error")
    }
    uvicorn_access_disabled = logging.getLogger("uvicorn.access").disabled
    access_state = (access_log.enabled, access_log.flush_after_s)
    yield
    access_log.flush()
    access_log.enabled, access_log.flush_after_s = access_state
    if was_configured:
        structlog.configure(**config)
    else:
        structlog.reset_defaults()
    root.handlers[:], level = root_state
    root.setLevel(level)
    for name, (handlers, propagate) in named.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
    logging.getLogger("uvicorn.access").disabled = uvicorn_access_disabled


@pytest.fixture
def info_logging(restore_logging: None) -> None:
    configure_logging("info")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def access_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if line.get("event") == "request"]


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """The module's platform emulator (from its `make_emulator()`) served over loopback for
    the whole module: the emulator and its base URL."""
    emulator = request.module.make_emulator()
    with serve(emulator.app) as url:
        yield emulator, url


@pytest.fixture
def emulator(served: tuple[Any, str]) -> Any:
    """The module's emulator, reset: no requests logged, no faults, no tokens."""
    served[0].reset()
    return served[0]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, self-signed (`serve(app, ssl_certfile=…,
    ssl_keyfile=…)`; `SSL_CERT_FILE` set to the certificate makes the bridge trust it)."""
    return self_signed(tmp_path_factory.mktemp("tls"))
