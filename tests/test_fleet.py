"""Replicas that act as one (SPEC §7, §9): two `erc-bridge serve` processes over loopback
in front of one Elastic Path emulator, sharing one real redis-server with a password.

The emulator is served by this process, so its request log (and the arrival times kept
here) count the platform calls of both replicas together.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import R
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.emulators.write_faults import WriteFault
from tests.redis_server import RedisServer, require_redis_server
from tests.replicas import Replica, elasticpath_env, replica, replicas
from tests.servers import serve

PASSWORD = "fleet-redis-password-7d3e9b2a4c6f8e1d"
RATE = 20
MOVE = f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_PROCESSING}/change-shipping-address"
ADDRESS = {
    "first_name": "Maria",
    "address": "Rua Nova 7",
    "city": "Porto",
    "zip_code": "4000-001",
    "region_code": "PT-13",
    "country_code": "PT",
}
READS = [f"{R}/customers/{customer}" for customer in (fx.MARIA, fx.HANS, fx.YUKI, fx.FATIMA)]


@dataclass
class Arrivals:
    """The platform as served: when each request arrived (the emulator logs it answered)."""

    app: ASGIApp
    times: list[float] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


@dataclass
class Platform:
    emulator: ElasticPathEmulator
    arrivals: Arrivals
    url: str

    def writes_to(self, order_id: str) -> int:
        return sum(1 for r in self.emulator.writes if r.segments[-1] == order_id)


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    emulator = ElasticPathEmulator(fx.default_store())
    arrivals = Arrivals(emulator.app)
    with serve(arrivals) as url:
        yield Platform(emulator, arrivals, url)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This module's Redis, with a password; one test stops and starts it."""
    require_redis_server()
    with RedisServer(tmp_path_factory.mktemp("fleet-redis"), password=PASSWORD) as server:
        yield server


def fleet_env(platform: Platform, redis_url: str) -> dict[str, str]:
    return {
        **elasticpath_env(platform.url, redis_url),
        "ERC_BRIDGE_WRITES": "true",
        "ERC_BRIDGE_CACHE_TTL_S": "0",  # every read reaches the platform
        "ERC_BRIDGE_PLATFORM_RATE": str(RATE),
        "ERC_BRIDGE_LOG_LEVEL": "debug",  # every line a replica may write
        # A Redis command slower than this sends a replica to its own budget for a second,
        # by design; on a test machine busy with other tests 0.25 s is not always enough.
        "ERC_BRIDGE_REDIS_TIMEOUT_S": "2",
    }


@pytest.fixture(scope="module")
def fleet(
    platform: Platform, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    directory = tmp_path_factory.mktemp("fleet")
    with replicas(directory, fleet_env(platform, redis.url)) as both:
        yield both


def _move(client: httpx.Client, key: str, city: str) -> httpx.Response:
    return client.post(MOVE, json={**ADDRESS, "city": city}, headers={"Idempotency-Key": key})


def _metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def _readyz(client: httpx.Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, orjson.loads(response.content)


def test_a_key_used_on_one_replica_replays_on_the_other(
    fleet: list[Replica], platform: Platform
) -> None:
    a, b = fleet
    key = f"move-{uuid.uuid4()}"
    writes = platform.writes_to(fx.ORDER_PROCESSING)
    with a.client(timeout=15) as on_a, b.client(timeout=15) as on_b:
        first = _move(on_a, key, "Braga")
        assert first.status_code == 200, first.text
        calls = len(platform.emulator.requests)
        again = _move(on_b, key, "Braga")
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
        assert len(platform.emulator.requests) == calls  # B did not call the platform
        assert platform.writes_to(fx.ORDER_PROCESSING) == writes + 1
        reused = _move(on_b, key, "Faro")
        assert reused.status_code == 422
        assert orjson.loads(reused.content)["code"] == "idempotency_key_reused"


def test_a_repeat_on_the_other_replica_while_the_write_runs_is_409(
    fleet: list[Replica], platform: Platform
) -> None:
    a, b = fleet
    key = f"move-{uuid.uuid4()}"
    faults = platform.emulator.write_faults
    writes, arrived = platform.writes_to(fx.ORDER_PROCESSING), faults.arrived
    faults.add(WriteFault(hang=2.0))  # A's platform write is held two seconds
    with a.client(timeout=15) as on_a, b.client(timeout=15) as on_b:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(_move, on_a, key, "Aveiro")
            deadline = time.monotonic() + 10
            while faults.arrived == arrived:
                assert time.monotonic() < deadline, "A's write never reached the platform"
                time.sleep(0.01)
            running = _move(on_b, key, "Aveiro")
            assert running.status_code == 409
            assert orjson.loads(running.content)["code"] == "conflict"
            assert first.result().status_code == 200
        assert _move(on_b, key, "Aveiro").headers["idempotent-replayed"] == "true"
    assert platform.writes_to(fx.ORDER_PROCESSING) == writes + 1


def _busiest_second(times: list[float]) -> int:
    """The most calls in any one second (a window sliding over every arrival)."""
    ordered = sorted(times)
    end, most = 0, 0
    for start, moment in enumerate(ordered):
        while end < len(ordered) and ordered[end] < moment + 1.0:
            end += 1
        most = max(most, end - start)
    return most


def test_two_replicas_under_load_keep_the_shared_platform_rate(
    fleet: list[Replica], platform: Platform
) -> None:
    stop = threading.Event()
    statuses: list[int] = []

    def load(replica: Replica, offset: int) -> None:
        with replica.client(timeout=15) as client:
            n = offset
            while not stop.is_set():
                statuses.append(client.get(READS[n % len(READS)]).status_code)
                n += 1

    began = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        for n in range(6):
            pool.submit(load, fleet[n % 2], n)
        time.sleep(3.0)
        stop.set()
    ended = time.monotonic()
    during = [t for t in platform.arrivals.times if began <= t <= ended]
    # Six callers could make several times the rate; the budget lets RATE a second through.
    assert len(during) >= RATE * 3 * 0.7, "the load did not reach the budget"
    # Two calls of slack for jitter on the way (one call late, the next on time); without
    # the shared budget each replica alone would reach the rate, and without any, hundreds.
    on_their_own = [one.port for one in fleet if "platform_budget_local" in one.logs()]
    assert _busiest_second(during) <= RATE + 2, f"replicas on their own budget: {on_their_own}"
    assert len(during) <= RATE * (ended - began) + 3
    assert set(statuses) == {200}
    with fleet[0].client() as client:
        assert _metric(client, "erc_bridge_platform_budget_waits_total") > 0


def test_redis_down_keeps_the_bridge_serving_and_says_so(
    fleet: list[Replica], platform: Platform, redis: RedisServer
) -> None:
    a, b = fleet
    key = f"move-{uuid.uuid4()}"
    with a.client(timeout=15) as on_a, b.client(timeout=15) as on_b:
        assert _readyz(on_a)[1]["redis"] == "reachable"
        assert _metric(on_a, "erc_bridge_redis_up") == 1.0
        redis.stop()
        try:
            # Reads and writes go on; the key is kept by the replica that answered.
            assert on_b.get(READS[0]).status_code == 200
            writes = platform.writes_to(fx.ORDER_PROCESSING)
            assert _move(on_a, key, "Lagos").status_code == 200
            assert _move(on_a, key, "Lagos").headers["idempotent-replayed"] == "true"
            assert platform.writes_to(fx.ORDER_PROCESSING) == writes + 1
            for client in (on_a, on_b):
                status, body = _readyz(client)
                assert (status, body["status"], body["redis"]) == (200, "ready", "unreachable")
                assert _metric(client, "erc_bridge_redis_up") == 0.0
                assert _metric(client, "erc_bridge_redis_failures_total") >= 1
        finally:
            redis.start()
        deadline = time.monotonic() + 10
        while _readyz(on_a)[1]["redis"] != "reachable":
            assert time.monotonic() < deadline, "Redis was not found back"
            time.sleep(0.2)
        assert _metric(on_a, "erc_bridge_redis_up") == 1.0
        # Sharing resumes: a key used on A is known on B again.
        shared_key = f"move-{uuid.uuid4()}"
        assert _move(on_a, shared_key, "Tavira").status_code == 200
        assert _move(on_b, shared_key, "Tavira").headers["idempotent-replayed"] == "true"
    for one in (a, b):
        logs = one.logs()
        assert "redis_unreachable" in logs and "redis_reachable" in logs
        assert PASSWORD not in logs


def test_tls_and_a_password_in_the_url(
    platform: Platform, tmp_path: Path, tls_files: tuple[Path, Path]
) -> None:
    require_redis_server()
    certificate, _ = tls_files
    with RedisServer(tmp_path, password=PASSWORD, tls=tls_files) as server:
        url = f"{server.url}?ssl_ca_certs={certificate}"
        assert url.startswith("rediss://")
        with replica(tmp_path, fleet_env(platform, url), name="tls") as one:
            with one.client(timeout=15) as client:
                assert client.get(READS[1]).status_code == 200
                status, body = _readyz(client)
                assert (status, body["redis"]) == (200, "reachable")
                assert _metric(client, "erc_bridge_redis_up") == 1.0
                assert _metric(client, "erc_bridge_redis_failures_total") == 0.0
            logs = one.logs()
    assert '"redis_shared"' in logs
    assert PASSWORD not in logs
