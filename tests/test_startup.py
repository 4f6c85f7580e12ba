"""The command as a user runs it: startup failures and a real server over loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

R = "/erc/ecommerce/connections"
CLI_KEY = "cli-key-7f3a-4e0b-9c21-d85e6b1a"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ERC_BRIDGE_", "ELASTICPATH_", "ADOBE_", "BIGCOMMERCE_"))
    }
    env.update(extra)
    return env


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def failure_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert record["event"] == "startup_failed"
    assert "Traceback" not in result.stderr
    return str(record["error"])


def test_unknown_adapter_stops_startup_listing_valid_names(tmp_path: Path) -> None:
    error = failure_line(run_cli(tmp_path, "serve", ERC_BRIDGE_ADAPTER="shopify"))
    assert "ERC_BRIDGE_ADAPTER" in error and "'shopify'" in error
    assert "demo" in error and "elasticpath" in error and "adobe_cpapi" in error


def test_platform_adapter_without_credentials_names_the_variables(tmp_path: Path) -> None:
    error = failure_line(run_cli(tmp_path, "serve", ERC_BRIDGE_ADAPTER="elasticpath"))
    for variable in ("ELASTICPATH_BASE_URL", "ELASTICPATH_CLIENT_ID", "ELASTICPATH_CLIENT_SECRET"):
        assert f"{variable} is missing" in error
    assert "ERC_BRIDGE_API_KEYS" in error


def test_platform_adapter_without_inbound_credentials_refuses(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "serve",
        ERC_BRIDGE_ADAPTER="elasticpath",
        ELASTICPATH_BASE_URL="http://127.0.0.1:9",
        ELASTICPATH_CLIENT_ID="id",
        ELASTICPATH_CLIENT_SECRET="platform-secret-value",
    )
    error = failure_line(result)
    assert error.startswith("no inbound credentials")
    assert "platform-secret-value" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ERC_BRIDGE_PORT", "eighty"),
        ("ERC_BRIDGE_PORT", "70000"),
        ("ERC_BRIDGE_DEADLINE_S", "-1"),
        ("ERC_BRIDGE_PUBLIC_URL", "bridge.example.com"),
        ("ERC_BRIDGE_BASIC_USERS", "no-password-here"),
        ("ERC_BRIDGE_LOG_LEVEL", "loud"),
    ],
)
def test_malformed_value_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = run_cli(tmp_path, "serve", **{variable: value})
    error = failure_line(result)
    assert error.startswith(variable)
    if variable == "ERC_BRIDGE_BASIC_USERS":
        assert value not in result.stdout + result.stderr


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ERC_BRIDGE_ADAPTER=nosuch\n")
    assert "'nosuch'" in failure_line(run_cli(tmp_path, "serve"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(tmp_path, ERC_BRIDGE_API_KEYS=CLI_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.1)
    try:
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_answers_over_real_http_and_logs_json(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    base, process = served
    headers = {"X-API-Key": CLI_KEY, "X-Request-Id": "cli-req-1"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        customer = http.get(f"{R}/customers/cus_ana")
        assert customer.status_code == 200
        assert customer.json()["_links"]["self"]["href"] == f"{base}{R}/customers/cus_ana"
        assert http.get(f"{R}/customers/cus_ana/most-recent-order").json()["id"] == "ord_1005"
        assert http.get(f"{R}/customers/cus_ana", headers={"X-API-Key": "nope"}).status_code == 401
    process.terminate()
    output, _ = process.communicate(timeout=15)
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert "bridge_started" in events and "bridge_stopped" in events
    access = [line for line in lines if line["event"] == "request" and line["route"] != "unmatched"]
    assert [line["status"] for line in access] == [200, 200, 401]
    assert access[0]["request_id"] == "cli-req-1"
    assert CLI_KEY not in output


def test_bad_offer_catalog_stops_startup_naming_file_and_line(tmp_path: Path) -> None:
    catalog = tmp_path / "offers.csv"
    catalog.write_text(
        "offer_id,name,price,currency,image_url\n"
        "65304479CA01A12,Acrobat Pro,239.88,USD,https://img.example/acrobat.png\n"
        "65304520CA01A12,Photoshop,lots,USD,\n"
    )
    result = run_cli(
        tmp_path,
        "serve",
        ERC_BRIDGE_ADAPTER="adobe_cpapi",
        ERC_BRIDGE_API_KEYS=CLI_KEY,
        ADOBE_CPAPI_BASE_URL="http://127.0.0.1:9",
        ADOBE_IMS_URL="http://127.0.0.1:9/ims/token/v3",
        ADOBE_CLIENT_ID="client",
        ADOBE_CLIENT_SECRET="adobe-secret-value",
        ADOBE_IMS_SCOPES="openid",
        ADOBE_OFFER_CATALOG=str(catalog),
    )
    error = failure_line(result)
    assert error.startswith("adobe_cpapi: ")
    assert "offers.csv" in error and "line 3" in error
    assert "adobe-secret-value" not in result.stdout + result.stderr
