"""The command as a user runs it: startup failures and a real server over loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import RunningBridge, clean_environment, serving

R = "/erc/ecommerce/connections"
CLI_KEY = "cli-key-7f3a-4e0b-9c21-d85e6b1a0f2c"


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=tmp_path,
        env=clean_environment(**env),
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


PLATFORM_SECRET = "platform-secret-never-printed"
ELASTICPATH = {
    "ELASTICPATH_BASE_URL": "http://127.0.0.1:9",
    "ELASTICPATH_CLIENT_ID": "client-id",
    "ELASTICPATH_CLIENT_SECRET": PLATFORM_SECRET,
}
STORE = {"ERC_BRIDGE_ADAPTER": "elasticpath", "ERC_BRIDGE_API_KEYS": CLI_KEY, **ELASTICPATH}
SHORT = "short-secret-never-printed"
SCOPE = "erc-ecommerce-connections-orders:read"

MISTAKES = {
    "adapter typo in .env": (
        {".env": "ERC_BRIDGE_ADAPTR=elasticpath", **ELASTICPATH},
        "ERC_BRIDGE_ADAPTR is not a known variable; did you mean ERC_BRIDGE_ADAPTER?",
    ),
    "demo with another adapter's variables": (
        ELASTICPATH,
        "ELASTICPATH_BASE_URL, ELASTICPATH_CLIENT_ID, ELASTICPATH_CLIENT_SECRET are set while "
        "ERC_BRIDGE_ADAPTER is demo: set ERC_BRIDGE_ADAPTER to elasticpath, or unset them",
    ),
    "typo under the adapter's prefix": (
        {**STORE, "ELASTICPATH_CLIENT_SECRET": "", "ELASTICPATH_CLIENT_SECRT": PLATFORM_SECRET},
        "ELASTICPATH_CLIENT_SECRT is not a known variable; did you mean ELASTICPATH_CLIENT_SECRET?",
    ),
    "placeholder": (
        {**STORE, "ELASTICPATH_CLIENT_SECRET": "replace-with-the-application-key-secret"},
        "ELASTICPATH_CLIENT_SECRET still holds the example placeholder (replace-with-…): "
        "fill in the real value",
    ),
    "short cursor secret": (
        {**STORE, "ERC_BRIDGE_CURSOR_SECRET": SHORT},
        "ERC_BRIDGE_CURSOR_SECRET is invalid: the value must be at least 32 bytes long",
    ),
    "short API key": (
        {**STORE, "ERC_BRIDGE_API_KEYS": SHORT},
        "ERC_BRIDGE_API_KEYS is invalid: the value must be at least 32 bytes long",
    ),
    "short Basic password": (
        {**STORE, "ERC_BRIDGE_BASIC_USERS": f"agent:{SHORT}"},
        "ERC_BRIDGE_BASIC_USERS is invalid: the password of user 'agent' must be at least",
    ),
    "short OAuth client secret": (
        {**STORE, "ERC_BRIDGE_OAUTH_CLIENTS": f"talkdesk:{SHORT}:{SCOPE}"},
        "ERC_BRIDGE_OAUTH_CLIENTS is invalid: the secret of client 'talkdesk' must be at least",
    ),
    "short metrics key": (
        {**STORE, "ERC_BRIDGE_METRICS_KEY": SHORT},
        "ERC_BRIDGE_METRICS_KEY is invalid: the value must be at least 32 bytes long",
    ),
}


def configure(tmp_path: Path, variables: dict[str, str]) -> dict[str, str]:
    """The environment of `variables`, writing the `.env` entry to the working directory."""
    variables = dict(variables)
    dotenv = variables.pop(".env", None)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv + "\n")
    return variables


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_configuration_mistake_stops_serve_and_check_with_one_line(
    tmp_path: Path, mistake: str
) -> None:
    variables, expected = MISTAKES[mistake]
    env = configure(tmp_path, variables)

    served = run_cli(tmp_path, "serve", **env)
    error = failure_line(served)
    assert error.startswith(expected)

    checked = run_cli(tmp_path, "check", **env)
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0] == f"FAIL  configuration        {error}"
    assert lines[-1] == "check failed: configuration"
    assert "check passed" not in checked.stdout

    for result in (served, checked):
        for secret in (PLATFORM_SECRET, SHORT, CLI_KEY):
            assert secret not in result.stdout + result.stderr


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ERC_BRIDGE_ADAPTER=nosuch\n")
    assert "'nosuch'" in failure_line(run_cli(tmp_path, "serve"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningBridge]:
    with serving(tmp_path, {"ERC_BRIDGE_API_KEYS": CLI_KEY}) as bridge:
        yield bridge


def test_serve_answers_over_real_http_and_logs_json(served: RunningBridge) -> None:
    base = served.url
    headers = {"X-API-Key": CLI_KEY, "X-Request-Id": "cli-req-1"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        customer = http.get(f"{R}/customers/cus_ana")
        assert customer.status_code == 200
        assert customer.json()["_links"]["self"]["href"] == f"{base}{R}/customers/cus_ana"
        assert http.get(f"{R}/customers/cus_ana/most-recent-order").json()["id"] == "ord_1005"
        assert http.get(f"{R}/customers/cus_ana", headers={"X-API-Key": "nope"}).status_code == 401
    served.process.terminate()
    served.process.wait(timeout=15)
    output = served.logs()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert "bridge_started" in events and "bridge_stopped" in events
    probe = "/healthz"  # the fixture's wait for the server
    access = [line for line in lines if line["event"] == "request" and line["route"] != probe]
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


def test_served_metrics_need_the_api_key_when_no_metrics_key_is_set(
    served: RunningBridge,
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        refused = http.get("/metrics")
        assert refused.status_code == 401
        assert "erc_bridge_" not in refused.text
        assert http.get("/metrics", headers={"X-API-Key": CLI_KEY}).status_code == 200
    served.process.terminate()
    served.process.wait(timeout=15)
    output = served.logs()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    protection = [line["protected_by"] for line in lines if line["event"] == "metrics_access"]
    assert protection == ["the inbound credentials of the ERC routes"]
