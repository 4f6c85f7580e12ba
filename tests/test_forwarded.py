"""X-Forwarded-For is believed only from the proxies the operator names.

Each test runs `erc-bridge serve` and talks to it over loopback from two source addresses,
127.0.0.1 and 127.0.0.2, so that "another address" is a real peer of the bridge.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bridge import cli
from bridge.config import StartupError, load_settings
from tests.conftest import R
from tests.processes import serving

API_KEY = "forwarded-test-key-7c1e9a3f5b2d8e60"
WRONG = "forwarded-wrong-key-000000000000000"
LIMIT = 3
CUSTOMER = f"{R}/customers/cus_ana"
PROXY, OTHER = "127.0.0.1", "127.0.0.2"


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[Callable[..., str]]:
    bridges = ExitStack()

    def start(**variables: str) -> str:
        env = {
            "ERC_BRIDGE_ADAPTER": "demo",
            "ERC_BRIDGE_API_KEYS": API_KEY,
            "ERC_BRIDGE_AUTH_FAILURE_LIMIT": str(LIMIT),
            **variables,
        }
        return bridges.enter_context(serving(tmp_path, env)).url

    with bridges:
        yield start


def get(base: str, *, key: str, source: str = PROXY, forwarded_for: str | None = None) -> int:
    """The status of one request from `source`, optionally claiming to forward a client."""
    headers = {"X-API-Key": key}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(f"{base}{CUSTOMER}", headers=headers).status_code


def test_by_default_a_rotating_forwarded_for_does_not_dodge_the_lockout(
    start_bridge: Callable[..., str],
) -> None:
    base = start_bridge()
    for n in range(LIMIT):
        assert get(base, key=WRONG, forwarded_for=f"198.51.100.{n}") == 401
    assert get(base, key=WRONG, forwarded_for="198.51.100.99") == 429
    assert get(base, key=WRONG) == 429
    assert get(base, key=API_KEY, forwarded_for="198.51.100.99") == 200


def test_by_default_a_spoofed_forwarded_for_cannot_lock_out_another_address(
    start_bridge: Callable[..., str],
) -> None:
    base = start_bridge()
    for _ in range(LIMIT):
        assert get(base, key=WRONG, forwarded_for=OTHER) == 401
    assert get(base, key=WRONG, forwarded_for=OTHER) == 429  # the sender locked itself
    assert get(base, key=WRONG, source=OTHER) == 401
    assert get(base, key=API_KEY, source=OTHER) == 200


def test_a_configured_proxy_forwards_the_client_address(
    start_bridge: Callable[..., str],
) -> None:
    base = start_bridge(ERC_BRIDGE_FORWARDED_ALLOW_IPS=PROXY)
    client = "198.51.100.7"
    for _ in range(LIMIT):
        assert get(base, key=WRONG, forwarded_for=client) == 401
    assert get(base, key=WRONG, forwarded_for=client) == 429
    assert get(base, key=API_KEY, forwarded_for=client) == 200
    # Other clients of the proxy, and the proxy itself, are counted apart.
    assert get(base, key=WRONG, forwarded_for="198.51.100.8") == 401
    assert get(base, key=WRONG) == 401
    # A peer that is not a configured proxy is counted by its own address.
    assert get(base, key=WRONG, source=OTHER, forwarded_for=client) == 401


def uvicorn_options(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The options `erc-bridge serve` gives uvicorn, with the environment as it is."""
    options: dict[str, Any] = {}
    monkeypatch.setenv("ERC_BRIDGE_ADAPTER", "demo")
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setattr(cli, "settle_heap", lambda: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: options.update(kwargs))
    assert cli.serve(host="127.0.0.1", port=8080) == 0
    return options


def test_serve_trusts_no_proxy_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERC_BRIDGE_FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    options = uvicorn_options(monkeypatch)
    assert options["proxy_headers"] is False
    assert options["forwarded_allow_ips"] == []


def test_serve_reads_uvicorns_own_variable_and_ours_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERC_BRIDGE_FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    options = uvicorn_options(monkeypatch)
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.0/8"]
    monkeypatch.setenv("ERC_BRIDGE_FORWARDED_ALLOW_IPS", " 192.0.2.10, 2001:db8::/32 ")
    assert uvicorn_options(monkeypatch)["forwarded_allow_ips"] == ["192.0.2.10", "2001:db8::/32"]


@pytest.mark.parametrize("value", ["10.0.0.1/8", "balancer.internal", "10.0.0.0/8,nope", "**"])
def test_an_unusable_entry_stops_startup(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ERC_BRIDGE_FORWARDED_ALLOW_IPS", value)
    with pytest.raises(StartupError) as refused:
        load_settings(_env_file=None)
    assert str(refused.value).startswith("ERC_BRIDGE_FORWARDED_ALLOW_IPS is invalid")
