"""`erc-bridge check` and `erc-bridge get`, run as a user runs them, against the Elastic Path
emulator over loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.base import READ_CAPABILITIES, Capability
from adapters.demo import DemoAdapter
from adapters.elasticpath import ElasticPathAdapter
from bridge.app import create_app
from bridge.commands import route_lines
from tests.conftest import R, settings
from tests.emulators import bigcommerce_fixtures as bc
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.emulators.elasticpath import CLIENT_ID, CLIENT_SECRET, ElasticPathEmulator
from tests.platform_settings import elasticpath_settings
from tests.processes import clean_environment, free_port
from tests.redis_server import RedisServer, require_redis_server
from tests.servers import serve

CLI_KEY = "cli-key-0b6e1f-3a7c-4d92-b815-e06f"
PUBLIC_URL = "https://erc-bridge.example.com/shop"
WRONG_SECRET = "not-the-platform-secret-93c1"


def make_emulator() -> ElasticPathEmulator:
    """What `served` (tests/conftest.py) serves for this module."""
    return ElasticPathEmulator(fx.default_store())


def store_env(base_url: str, **overrides: str) -> dict[str, str]:
    """One Elastic Path store's environment, as the container would have it."""
    return {
        "ERC_BRIDGE_ADAPTER": "elasticpath",
        "ERC_BRIDGE_API_KEYS": CLI_KEY,
        "ERC_BRIDGE_PUBLIC_URL": PUBLIC_URL,
        "ELASTICPATH_BASE_URL": base_url,
        "ELASTICPATH_CLIENT_ID": CLIENT_ID,
        "ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
        **overrides,
    }


def run_cli(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=tmp_path,
        env=clean_environment(**env),
        capture_output=True,
        timeout=60,
        check=False,
    )


def report(result: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    """The check's lines by step: {"platform token": "PASS  platform token  ..."}."""
    lines = result.stdout.decode().splitlines()
    steps = ("configuration", "inbound credentials", "platform token", "platform call")
    found = {step: line for line in lines for step in steps if line[6:].startswith(step)}
    assert list(found) == list(steps), lines
    return found


def output(result: subprocess.CompletedProcess[bytes]) -> str:
    return (result.stdout + result.stderr).decode()


# check


def test_check_passes_against_the_platform(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    result = run_cli(tmp_path, "check", env=store_env(served[1]))

    assert result.returncode == 0, output(result)
    lines = report(result)
    assert all(line.startswith("PASS") for line in lines.values()), lines
    assert "elasticpath" in lines["configuration"]
    assert "1 API key" in lines["inbound credentials"]
    assert result.stdout.decode().splitlines()[-1] == "check passed"
    assert emulator.grants == 1
    assert [r.path for r in emulator.api_calls] == ["/v2/orders"]
    for secret in (CLIENT_SECRET, CLI_KEY):
        assert secret not in output(result)


def test_check_fails_naming_the_credentials_the_platform_rejects(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    env = store_env(served[1], ELASTICPATH_CLIENT_SECRET=WRONG_SECRET)
    result = run_cli(tmp_path, "check", env=env)

    assert result.returncode == 1
    lines = report(result)
    assert lines["configuration"].startswith("PASS")
    assert lines["platform token"].startswith("FAIL")
    assert "ELASTICPATH_CLIENT_SECRET" in lines["platform token"]
    assert lines["platform call"].startswith("SKIP")
    assert result.stdout.decode().splitlines()[-1] == "check failed: platform token"
    assert WRONG_SECRET not in output(result)
    # The log lines went to stderr, as JSON, and say what the platform answered.
    events = [json.loads(line)["event"] for line in result.stderr.decode().splitlines()]
    assert "platform_credentials_rejected" in events


def test_check_fails_when_the_key_cannot_read_orders(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    emulator.fail_next(403, path="/v2/orders")
    result = run_cli(tmp_path, "check", env=store_env(served[1]))

    assert result.returncode == 1
    lines = report(result)
    assert lines["platform token"].startswith("PASS")
    assert lines["platform call"].startswith("FAIL")
    assert "rejected the bridge's credentials" in lines["platform call"]


def test_check_fails_when_the_platform_is_unreachable(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_cli(tmp_path, "check", env=store_env(closed))

    assert result.returncode == 1
    line = report(result)["platform token"]
    assert "unreachable: connection refused" in line
    assert "(check ELASTICPATH_BASE_URL)" in line


def test_check_names_a_tls_handshake_with_a_plain_http_port(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str]
) -> None:
    plain = served[1].replace("http://", "https://")
    result = run_cli(tmp_path, "check", env=store_env(plain))

    assert result.returncode == 1
    line = report(result)["platform token"]
    assert "TLS: the handshake failed" in line, line
    assert "(check ELASTICPATH_BASE_URL)" in line


def test_check_names_a_host_that_does_not_resolve(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", env=store_env("https://erc-bridge-test.invalid"))

    assert result.returncode == 1
    line = report(result)["platform token"]
    assert "DNS: the host name does not resolve" in line, line
    assert "(check ELASTICPATH_BASE_URL)" in line


def test_check_blames_the_base_url_when_the_token_path_is_not_found(tmp_path: Path) -> None:
    async def nothing_here(request: object) -> JSONResponse:
        return JSONResponse({"errors": [{"title": "Not Found"}]}, status_code=404)

    elsewhere = Starlette(routes=[Route("/{path:path}", nothing_here, methods=["GET", "POST"])])
    with serve(elsewhere) as url:
        result = run_cli(tmp_path, "check", env=store_env(url))

    assert result.returncode == 1
    line = report(result)["platform token"]
    assert "(404)" in line
    assert "check ELASTICPATH_BASE_URL: the API host, without a path" in line


def test_a_base_url_with_a_path_is_refused_at_startup(tmp_path: Path) -> None:
    env = store_env("https://useast.api.elasticpath.com/v2")
    result = run_cli(tmp_path, "serve", "--port", "1", env=env)

    assert result.returncode == 2
    [line] = result.stderr.decode().splitlines()
    assert "ELASTICPATH_BASE_URL is invalid" in json.loads(line)["error"]
    assert "without a path" in line


def test_check_says_skip_for_the_steps_the_demo_store_does_not_have(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", env={})

    assert result.returncode == 0, output(result)
    lines = report(result)
    assert lines["configuration"].startswith("PASS")
    assert lines["platform token"].startswith("SKIP")
    assert lines["platform call"].startswith("SKIP")
    assert "has no platform" in lines["platform call"]
    assert result.stdout.decode().splitlines()[-1] == (
        "check passed; skipped: platform token, platform call"
    )


def test_check_says_skip_for_the_token_bigcommerce_does_not_take(tmp_path: Path) -> None:
    emulator = BigCommerceEmulator(bc.default_store())
    env = {
        "ERC_BRIDGE_ADAPTER": "bigcommerce",
        "ERC_BRIDGE_API_KEYS": CLI_KEY,
        "BIGCOMMERCE_STORE_HASH": bc.STORE_HASH,
        "BIGCOMMERCE_ACCESS_TOKEN": bc.ACCESS_TOKEN,
    }
    with serve(emulator.app) as url:
        result = run_cli(tmp_path, "check", env={**env, "BIGCOMMERCE_BASE_URL": url})

    assert result.returncode == 0, output(result)
    lines = report(result)
    assert lines["platform token"].startswith("SKIP")
    assert lines["platform token"].endswith(
        "bigcommerce takes no token; its credentials go with every call"
    )
    assert lines["platform call"].startswith("PASS")


def test_check_fails_on_the_configuration_naming_the_variable(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", env=store_env("useast.api.elasticpath.com"))

    assert result.returncode == 1
    lines = report(result)
    assert lines["configuration"].startswith("FAIL")
    assert "ELASTICPATH_BASE_URL" in lines["configuration"]
    assert all(lines[step].startswith("SKIP") for step in list(lines)[1:])
    assert CLIENT_SECRET not in output(result)


# check: Adobe IMS and the Commerce Partner API


def adobe_env(emulator: CPAPIEmulator, url: str, **overrides: str) -> dict[str, str]:
    """An Adobe store's environment pointing at `emulator`, served at `url`."""
    settings = {**emulator.adapter_settings(url), **overrides}
    return {
        "ERC_BRIDGE_ADAPTER": "adobe_cpapi",
        "ERC_BRIDGE_API_KEYS": CLI_KEY,
        **{f"ADOBE_{name.upper()}": str(value) for name, value in settings.items()},
    }


def test_check_passes_against_adobe_with_its_authenticated_ping(tmp_path: Path) -> None:
    emulator = CPAPIEmulator()
    with serve(emulator.app) as url:
        result = run_cli(tmp_path, "check", env=adobe_env(emulator, url))

    assert result.returncode == 0, output(result)
    lines = report(result)
    assert all(line.startswith("PASS") for line in lines.values()), lines
    [ping] = [e for e in emulator.exchanges if e.path == "/partnerservice/ping"]
    assert (ping.method, ping.status) == ("GET", 200)
    assert ping.headers["authorization"].startswith("Bearer ")
    assert ping.headers["x-api-key"] == emulator.client_id


def test_check_fails_naming_the_adobe_credentials_ims_rejects(tmp_path: Path) -> None:
    emulator = CPAPIEmulator()
    with serve(emulator.app) as url:
        env = adobe_env(emulator, url, client_secret=WRONG_SECRET)
        result = run_cli(tmp_path, "check", env=env)

    assert result.returncode == 1
    lines = report(result)
    assert lines["platform token"].startswith("FAIL")
    assert "rejected the bridge's credentials" in lines["platform token"]
    assert "ADOBE_CLIENT_SECRET" in lines["platform token"]
    assert lines["platform call"].startswith("SKIP")
    assert not [e for e in emulator.exchanges if e.path == "/partnerservice/ping"]
    assert WRONG_SECRET not in output(result)


def test_check_fails_when_the_ping_refuses_the_api_key(tmp_path: Path) -> None:
    emulator = CPAPIEmulator()
    emulator.fail_next(403, "4115", path="/partnerservice/ping")
    with serve(emulator.app) as url:
        result = run_cli(tmp_path, "check", env=adobe_env(emulator, url))

    assert result.returncode == 1
    lines = report(result)
    assert lines["platform token"].startswith("PASS")
    assert lines["platform call"].startswith("FAIL")
    assert "rejected the bridge's credentials" in lines["platform call"]


def test_a_platform_answer_without_a_code_is_said_without_one(tmp_path: Path) -> None:
    async def nothing_here(request: object) -> JSONResponse:
        return JSONResponse({"message": "Not Found"}, status_code=404)

    emulator = CPAPIEmulator()
    elsewhere = Starlette(routes=[Route("/{path:path}", nothing_here)])
    with serve(emulator.app) as ims_url, serve(elsewhere) as cpapi_url:
        env = adobe_env(emulator, ims_url, cpapi_base_url=cpapi_url)
        result = run_cli(tmp_path, "check", env=env)

    assert result.returncode == 1
    line = report(result)["platform call"]
    assert line.startswith("FAIL")
    assert "answered status 404" in line
    assert "None" not in line


# check: the Redis the replicas share

REDIS_PASSWORD = "redis-password-5d0c7a1e9b3f46e2"
WRONG_REDIS_PASSWORD = "not-the-redis-password-81f04c2d"


@pytest.fixture(scope="module")
def guarded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis_server()
    directory = tmp_path_factory.mktemp("guarded-redis")
    with RedisServer(directory, password=REDIS_PASSWORD) as server:
        yield server


def redis_line(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stdout.decode().splitlines()
    [line] = [line for line in lines if line[6:].startswith("shared state (Redis)")]
    return line


def test_check_pings_the_shared_redis(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str], guarded_redis: RedisServer
) -> None:
    env = store_env(served[1], ERC_BRIDGE_REDIS_URL=guarded_redis.url)
    result = run_cli(tmp_path, "check", env=env)

    assert result.returncode == 0, output(result)
    assert redis_line(result).startswith("PASS")
    assert f"127.0.0.1:{guarded_redis.port}" in redis_line(result)
    assert result.stdout.decode().splitlines()[-1] == "check passed"
    assert REDIS_PASSWORD not in output(result)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("wrong password", "authentication refused (check the password in ERC_BRIDGE_REDIS_URL)"),
        ("nothing listens", "unreachable: connection refused"),
    ],
)
def test_check_fails_naming_the_redis_url(
    tmp_path: Path,
    served: tuple[ElasticPathEmulator, str],
    guarded_redis: RedisServer,
    fault: str,
    said: str,
) -> None:
    if fault == "wrong password":
        url = guarded_redis.url.replace(REDIS_PASSWORD, WRONG_REDIS_PASSWORD)
    else:
        url = f"redis://:{WRONG_REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    result = run_cli(tmp_path, "check", env=store_env(served[1], ERC_BRIDGE_REDIS_URL=url))

    assert result.returncode == 1
    line = redis_line(result)
    assert line.startswith("FAIL")
    assert said in line
    assert "ERC_BRIDGE_REDIS_URL" in line
    assert result.stdout.decode().splitlines()[-1] == "check failed: shared state (Redis)"
    assert WRONG_REDIS_PASSWORD not in output(result)


def test_check_gives_redis_the_time_serving_gives_it(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str]
) -> None:
    """A Redis that takes connections and never answers fails the step after
    `ERC_BRIDGE_REDIS_TIMEOUT_S`, as every Redis call does when serving; not after the
    request deadline, which would pass a Redis too slow to serve with."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        env = store_env(
            served[1],
            ERC_BRIDGE_REDIS_URL=f"redis://127.0.0.1:{port}/0",
            ERC_BRIDGE_REDIS_TIMEOUT_S="0.5",
        )
        result = run_cli(tmp_path, "check", env=env)

    assert result.returncode == 1
    line = redis_line(result)
    assert line.startswith("FAIL")
    assert "no answer within 0.5 s" in line
    assert "ERC_BRIDGE_REDIS_TIMEOUT_S" in line


# get


@pytest.fixture(scope="module")
def bridge_url(served: tuple[ElasticPathEmulator, str]) -> Iterator[str]:
    """The same store served over loopback: what Talkdesk would receive."""
    adapter = ElasticPathAdapter(elasticpath_settings(served[1]))
    app = create_app(settings(api_keys=CLI_KEY, public_url=PUBLIC_URL), adapter)
    with serve(app) as url:
        yield url


@pytest.mark.parametrize(
    "path",
    [
        f"{R}/customers/{fx.MARIA}",
        f"{R}/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}?brand=&unknown=1",
        f"/erc/ecommerce/customers/{fx.MARIA}/orders/{fx.ORDER_FULFILLED}/items?order_by=price:desc",
    ],
)
def test_get_prints_exactly_the_served_body(
    tmp_path: Path,
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
    bridge_url: str,
    path: str,
) -> None:
    served_body = httpx.get(bridge_url + path, headers={"X-API-Key": CLI_KEY}, timeout=10)
    assert served_body.status_code == 200

    result = run_cli(tmp_path, "get", path, env=store_env(served[1]))

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == served_body.content + b"\n"
    assert result.stderr == b""  # a fetch that worked says nothing more
    assert CLI_KEY not in output(result)


def test_get_logs_to_stderr_when_asked_to(
    tmp_path: Path, served: tuple[ElasticPathEmulator, str], emulator: ElasticPathEmulator
) -> None:
    env = store_env(served[1], ERC_BRIDGE_LOG_LEVEL="info")
    result = run_cli(tmp_path, "get", f"{R}/customers/{fx.MARIA}", env=env)

    assert result.returncode == 0
    assert json.loads(result.stdout)["id"] == fx.MARIA
    events = [json.loads(line)["event"] for line in result.stderr.decode().splitlines()]
    assert {"bridge_started", "request", "bridge_stopped"} <= set(events)
    assert CLI_KEY not in output(result)


def test_get_prints_the_error_body_and_fails(
    tmp_path: Path,
    served: tuple[ElasticPathEmulator, str],
    emulator: ElasticPathEmulator,
    bridge_url: str,
) -> None:
    path = f"{R}/customers/nobody-here"
    served_body = httpx.get(bridge_url + path, headers={"X-API-Key": CLI_KEY}, timeout=10)
    assert served_body.status_code == 404

    result = run_cli(tmp_path, "get", path, env=store_env(served[1]))

    assert result.returncode == 1
    assert result.stdout == served_body.content + b"\n"
    events = [json.loads(line)["event"] for line in result.stderr.decode().splitlines()]
    assert "request" in events  # a failed fetch shows what the bridge logged


def test_get_authenticates_with_an_oauth_client(tmp_path: Path) -> None:
    secret = "client-secret-5e2a-0c4f-4b8d-9e17-a63b"
    client = f"talkdesk:{secret}:erc-ecommerce-connections-customers:read"
    env = {"ERC_BRIDGE_OAUTH_CLIENTS": client, "ERC_BRIDGE_TOKEN_SECRET": "t" * 32}
    result = run_cli(tmp_path, "get", "erc/ecommerce/customers/cus_ana", env=env)

    assert result.returncode == 0, result.stderr.decode()
    body = json.loads(result.stdout)
    assert body["id"] == "cus_ana"
    assert body["_links"]["self"]["href"] == "http://127.0.0.1:8080/erc/ecommerce/customers/cus_ana"
    assert secret not in output(result)


def test_adapters_lists_the_reads_and_the_writes_each_adapter_serves() -> None:
    assert route_lines(DemoAdapter.capabilities) == [
        "  routes:   R1 customer, R2 orders, R3 order, R4 items, R5 most_recent_order, "
        "R6 shipments, R7 products, R8 cart",
        "  writes:   W1 cancel_order, W2 change_shipping_address, W3 cancel_items",
    ]
    assert route_lines(READ_CAPABILITIES)[1] == "  writes:   none"
    assert route_lines({Capability.CART, Capability.CANCEL_ORDER}) == [
        "  routes:   R8 cart",
        "  writes:   W1 cancel_order",
    ]
    assert route_lines({Capability.ORDER, Capability.CANCEL_ITEMS}) == [
        "  routes:   R3 order",
        "  writes:   W3 cancel_items",
    ]
