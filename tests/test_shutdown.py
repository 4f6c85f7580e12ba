"""Graceful shutdown of `erc-bridge serve`: SIGTERM lets requests in flight finish, then the
platform clients close and the process exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bridge(
    tmp_path: Path, slow_platform: tuple[Slow, str]
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ERC_BRIDGE_", "ELASTIC"))},
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ERC_BRIDGE_API_KEYS": API_KEY,
        "ELASTICPATH_BASE_URL": slow_platform[1],
        "ELASTICPATH_CLIENT_ID": CLIENT_ID,
        "ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the bridge did not start"
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=15)


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_sigterm_lets_the_request_in_flight_finish(
    bridge: tuple[str, subprocess.Popen[str]], slow_platform: tuple[Slow, str]
) -> None:
    base, process = bridge
    slow = slow_platform[0]
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(
            httpx.get, base + CUSTOMER, headers={"X-API-Key": API_KEY}, timeout=30
        )
        assert slow.arrived.wait(timeout=30), "the request never reached the platform"
        process.send_signal(signal.SIGTERM)
        response = in_flight.result(timeout=30)

    assert response.status_code == 200
    assert response.json()["id"] == fx.MARIA
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    lines = log_lines(output)
    events = [line["event"] for line in lines]
    served = next(
        i for i, line in enumerate(lines) if line["event"] == "request" and line["status"] == 200
    )
    # The answer went out before the platform clients were closed.
    assert served < events.index("bridge_stopped")
    assert "Traceback" not in output


def test_sigterm_when_idle_stops_cleanly(bridge: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = bridge
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "bridge_stopped" in [line["event"] for line in log_lines(output)]
