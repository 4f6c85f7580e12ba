"""Egress proxies from the environment: calls reach an `http` platform through a proxy
process on 127.0.0.1 (`tests/proxy.py`) and an `https` one through its CONNECT tunnel;
`NO_PROXY` bypasses it. The proxy's log says what went through it."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The reference for `bypassed`: undocumented, so absent from the standard library's stubs.
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.errors import UpstreamUnavailable
from adapters.http import HTTPConfig, UpstreamClient
from adapters.proxies import Proxy, bypassed, parse_proxy_url, proxy_from_environment
from bridge.config import load_configuration
from tests.processes import clean_environment, free_port
from tests.servers import serve

pytestmark = pytest.mark.anyio

USER = "bridge-egress"
PASSWORD = "proxy-password-0123456789abcdef-0123456789"
ONE_TRY = HTTPConfig(attempts=1, connect_timeout=5, read_timeout=5)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD")


@dataclass
class ProxyProcess:
    port: int
    log_file: Path

    def url(self, credentials: str = f"{USER}:{PASSWORD}") -> str:
        return f"http://{credentials}@127.0.0.1:{self.port}"

    def log(self) -> list[dict[str, object]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ProxyProcess]:
    log_file = tmp_path / "proxy.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.proxy", str(log_file), f"{USER}:{PASSWORD}"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield ProxyProcess(int(process.stdout.readline()), log_file)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def where(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "scheme": request.url.scheme,
            "path": request.url.path,
            "query": request.url.query,
            "proxy_authorization": request.headers.get("proxy-authorization"),
        }
    )


APP = Starlette(routes=[Route("/{rest:path}", where)])


async def test_an_http_platform_is_called_through_the_proxy(
    proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    with serve(APP) as url:
        client = UpstreamClient(f"{url}/store", platform="test", config=ONE_TRY)
        monkeypatch.delenv("HTTP_PROXY")  # read once, when the pool was built
        answers = [await client.send("GET", "/items/1", params={"a": "b"}) for _ in range(2)]
        await client.close()
    assert [answer.json() for answer in answers] == [
        {"scheme": "http", "path": "/store/items/1", "query": "a=b", "proxy_authorization": None}
    ] * 2
    expected = {"method": "GET", "target": f"{url}/store/items/1?a=b", "authorized": True}
    assert proxy.log() == [expected] * 2


async def test_an_https_platform_is_reached_through_a_connect_tunnel(
    proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch, tls_files: tuple[Path, Path]
) -> None:
    cert_file, key_file = tls_files
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the default context trusts it
    with serve(APP, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as url:
        https_url = url.replace("http://", "https://")
        client = UpstreamClient(https_url, platform="test", config=ONE_TRY)
        answers = [(await client.send("GET", "/secure")).json() for _ in range(3)]
        await client.close()
    assert (
        answers
        == [{"scheme": "https", "path": "/secure", "query": "", "proxy_authorization": None}] * 3
    )
    authority = url.removeprefix("http://")
    assert proxy.log() == [{"method": "CONNECT", "target": authority, "authorized": True}]


@pytest.mark.parametrize("case", ["untrusted", "wrong-name"])
async def test_the_platforms_certificate_is_checked_inside_the_tunnel(
    proxy: ProxyProcess,
    monkeypatch: pytest.MonkeyPatch,
    tls_files: tuple[Path, Path],
    case: str,
) -> None:
    cert_file, key_file = tls_files
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    if case == "wrong-name":  # trusted, but issued for 127.0.0.1, not localhost
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    with serve(APP, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as url:
        platform_url = url.replace("http://", "https://")
        if case == "wrong-name":
            platform_url = platform_url.replace("127.0.0.1", "localhost")
        client = UpstreamClient(platform_url, platform="test", config=ONE_TRY)
        with pytest.raises(UpstreamUnavailable) as failure:
            await client.send("GET", "/secure")
        await client.close()
    assert isinstance(failure.value.__cause__, ConnectionError)
    assert isinstance(failure.value.__cause__.__cause__, ssl.SSLCertVerificationError)
    assert [entry["method"] for entry in proxy.log()] == ["CONNECT"]


async def test_wrong_proxy_credentials_fail_without_showing_the_password(
    proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch, tls_files: tuple[Path, Path]
) -> None:
    cert_file, key_file = tls_files
    monkeypatch.setenv("HTTPS_PROXY", proxy.url(f"{USER}:not-{PASSWORD}"))
    with serve(APP, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as url:
        client = UpstreamClient(url.replace("http://", "https://"), platform="t", config=ONE_TRY)
        with pytest.raises(UpstreamUnavailable) as failure:
            await client.send("GET", "/secure")
        await client.close()
    chain: list[BaseException] = []
    error: BaseException | None = failure.value
    while error is not None:
        chain.append(error)
        error = error.__cause__
    assert "407" in str(chain[-1])
    assert not any(PASSWORD in f"{error!s} {error!r}" for error in chain)
    assert proxy.log()[0]["authorized"] is False


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "{port}", "*", "example.com, 127.0.0.1"])
async def test_no_proxy_bypasses_the_proxy(
    proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    with serve(APP) as url:
        port = url.rpartition(":")[2]
        monkeypatch.setenv("NO_PROXY", no_proxy.replace("{port}", f"127.0.0.1:{port}"))
        client = UpstreamClient(url, platform="test", config=ONE_TRY)
        assert (await client.send("GET", "/direct")).json()["path"] == "/direct"
        await client.close()
    assert proxy.log() == []


async def test_no_proxy_for_another_port_still_uses_the_proxy(
    proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1:1")
    with serve(APP) as url:
        client = UpstreamClient(url, platform="test", config=ONE_TRY)
        assert (await client.send("GET", "/via")).status_code == 200
        await client.close()
    assert [entry["target"] for entry in proxy.log()] == [f"{url}/via"]


@pytest.mark.parametrize(
    ("host", "port", "no_proxy"),
    [
        ("api.example.com", 443, "example.com"),
        ("api.example.com", 443, ".example.com"),
        ("example.com", 443, ".example.com"),
        ("badexample.com", 443, "example.com"),
        ("API.Example.com", 443, "api.example.com"),
        ("api.example.com", 8443, "api.example.com:8443"),
        ("api.example.com", 443, "api.example.com:8443"),
        ("10.0.0.5", 80, "10.0.0.5, other.example"),
        ("anything", 80, "*"),
        ("anything", 80, ""),
    ],
)
def test_no_proxy_follows_urllibs_rules(host: str, port: int, no_proxy: str) -> None:
    expected = bool(proxy_bypass_environment(f"{host}:{port}", {"no": no_proxy}))
    assert bypassed(host, port, no_proxy) is expected


def test_the_lowercase_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.example:3128")
    monkeypatch.setenv("https_proxy", "http://lower.example:3128")
    assert proxy_from_environment("https", "api.example.com", 443) == Proxy("lower.example", 3128)
    assert proxy_from_environment("http", "api.example.com", 80) is None


def test_proxy_urls_are_read_without_echoing_them() -> None:
    proxy = parse_proxy_url(f"http://{USER}:{PASSWORD}@egress.example", variable="HTTPS_PROXY")
    assert (proxy.host, proxy.port) == ("egress.example", 80)
    assert PASSWORD not in repr(proxy)
    assert parse_proxy_url("egress.example:3128", variable="HTTPS_PROXY").port == 3128
    with pytest.raises(ValueError, match="HTTPS_PROXY") as refused:
        parse_proxy_url(f"socks5://{USER}:{PASSWORD}@egress.example", variable="HTTPS_PROXY")
    assert PASSWORD not in str(refused.value)


# A proxy variable the bridge cannot use stops startup, as any malformed setting does.

ELASTICPATH_STORE = {
    "ERC_BRIDGE_ADAPTER": "elasticpath",
    "ERC_BRIDGE_API_KEYS": "proxy-test-key-0123456789abcdef0123",
    "ELASTICPATH_BASE_URL": "https://useast.api.elasticpath.com",
    "ELASTICPATH_CLIENT_ID": "client-id",
    "ELASTICPATH_CLIENT_SECRET": "platform-secret-0123456789abcdef",
}
UNUSABLE_PROXIES = [
    ("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@egress.example:notaport", "port is not a number"),
    ("HTTPS_PROXY", f"socks5://{USER}:{PASSWORD}@127.0.0.1:1080", "only http:// proxies"),
    ("HTTPS_PROXY", "ftp://egress.example", "only http:// proxies"),
    ("https_proxy", "http://:3128", "names no host"),
]


def run_cli(tmp_path: Path, *args: str, proxy: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = clean_environment(**ELASTICPATH_STORE)
    for name in PROXY_VARIABLES:
        env.pop(name, None)
        env.pop(name.lower(), None)
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=tmp_path,
        env={**env, **proxy},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("variable", "url", "problem"), UNUSABLE_PROXIES)
def test_serve_refuses_an_unusable_proxy_in_one_line(
    tmp_path: Path, variable: str, url: str, problem: str
) -> None:
    port = str(free_port())
    result = run_cli(tmp_path, "serve", "--port", port, proxy={variable: url})

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    failure = json.loads(line)
    assert failure["event"] == "startup_failed"
    assert failure["error"].startswith(f"{variable.upper()}: ")
    assert problem in failure["error"]
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(("variable", "url", "problem"), UNUSABLE_PROXIES[:1])
def test_check_fails_on_the_configuration_naming_the_proxy_variable(
    tmp_path: Path, variable: str, url: str, problem: str
) -> None:
    result = run_cli(tmp_path, "check", proxy={variable: url})

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [configuration] = [line for line in result.stdout.splitlines() if line[6:19] == "configuration"]
    assert configuration.startswith("FAIL")
    assert f"{variable}: " in configuration
    assert problem in configuration
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "proxy",
    [
        {"HTTP_PROXY": "socks5://127.0.0.1:1080"},  # the platform is https: never used
        {"HTTPS_PROXY": "socks5://127.0.0.1:1080", "NO_PROXY": "*"},
        {"HTTPS_PROXY": "http://egress.example:notaport", "NO_PROXY": ".elasticpath.com"},
    ],
)
def test_a_proxy_no_platform_call_goes_through_does_not_stop_startup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, proxy: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in {**ELASTICPATH_STORE, **proxy}.items():
        monkeypatch.setenv(name, value)

    configuration = load_configuration()

    assert configuration.adapter.name == "elasticpath"


def test_the_demo_store_makes_no_platform_call_and_ignores_the_proxy(tmp_path: Path) -> None:
    env = clean_environment()
    result = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "check"],
        cwd=tmp_path,
        env={**env, "HTTPS_PROXY": "socks5://127.0.0.1:1080", "https_proxy": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
