"""Graceful shutdown of `erc-bridge serve`: SIGTERM lets requests in flight finish, then the
platform clients close and the process exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import R
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator
from tests.processes import RunningBridge, serving
from tests.servers import serve

API_KEY = "shutdown-key-41c7-9e2a-4b6d-80f3-c5a1"
CUSTOMER = f"{R}/customers/{fx.MARIA}"


class Slow:
    """Answers each platform read after `seconds`; `arrived` is set by the first one."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.arrived = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v2/"):
            self.arrived.set()
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


@pytest.fixture
def slow_platform() -> Iterator[tuple[Slow, str]]:
    slow = Slow(ElasticPathEmulator(fx.default_store()).app, seconds=1.0)
    with serve(slow) as url:
        yield slow, url


@pytest.fixture
def bridge(tmp_path: Path, slow_platform: tuple[Slow, str]) -> Iterator[RunningBridge]:
    env = {
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ERC_BRIDGE_API_KEYS": API_KEY,
        "ELASTICPATH_BASE_URL": slow_platform[1],
        "ELASTICPATH_CLIENT_ID": CLIENT_ID,
        "ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
    }
    with serving(tmp_path, env) as running:
        yield running


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_sigterm_lets_the_request_in_flight_finish(
    bridge: RunningBridge, slow_platform: tuple[Slow, str]
) -> None:
    slow = slow_platform[0]
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(
            httpx.get, bridge.url + CUSTOMER, headers={"X-API-Key": API_KEY}, timeout=30
        )
        assert slow.arrived.wait(timeout=30), "the request never reached the platform"
        bridge.process.send_signal(signal.SIGTERM)
        response = in_flight.result(timeout=30)

    assert response.status_code == 200
    assert response.json()["id"] == fx.MARIA
    bridge.process.wait(timeout=30)
    output = bridge.logs()
    assert bridge.process.returncode == 0, output
    lines = log_lines(output)
    events = [line["event"] for line in lines]
    served = next(
        i
        for i, line in enumerate(lines)
        if line["event"] == "request" and "/customers/" in line["route"]
    )
    assert lines[served]["status"] == 200
    # The answer went out before the platform clients were closed (the fixture's own
    # /healthz probe is logged long before).
    assert served < events.index("bridge_stopped")
    assert "Traceback" not in output


def test_sigterm_when_idle_stops_cleanly(bridge: RunningBridge) -> None:
    bridge.process.send_signal(signal.SIGTERM)
    bridge.process.wait(timeout=30)
    output = bridge.logs()
    assert bridge.process.returncode == 0, output
    assert "bridge_stopped" in [line["event"] for line in log_lines(output)]
