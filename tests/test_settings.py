"""Configuration that fails closed: secret lengths, unknown variables, the demo store where
another adapter was meant, and placeholders left from the example Secret."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.testclient import TestClient

from adapters.demo import DemoAdapter
from bridge.app import create_app
from bridge.config import StartupError, load_configuration, load_settings
from bridge.environment import known_variables, unknown_variables
from bridge.openapi import ReadinessBody
from bridge.settings import MIN_SECRET_BYTES, BridgeSettings
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SECRET = ROOT / "deploy" / "kubernetes" / "secret.example.yaml"
SCOPE = "erc-ecommerce-connections-orders:read"
SHORT = "hidden-short-value"  # 18 bytes
LONG = "hidden-long-value-0123456789abcdef"  # 34 bytes
BLANK_HOST = "must not be empty, nor --host: name the address to listen on (0.0.0.0 for all)"

ELASTICPATH = {
    "ERC_BRIDGE_ADAPTER": "elasticpath",
    "ERC_BRIDGE_API_KEYS": LONG,
    "ELASTICPATH_BASE_URL": "https://useast.api.elasticpath.com",
    "ELASTICPATH_CLIENT_ID": "client-id",
    "ELASTICPATH_CLIENT_SECRET": "platform-secret-value",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A working directory of its own (for `.env`) and no configuration inherited."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("ERC_BRIDGE_", "ELASTICPATH_", "ADOBE_", "BIGCOMMERCE_", "ACME_")):
            monkeypatch.delenv(name)
    return monkeypatch


def refusal(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StartupError) as stopped:
        load_configuration()
    message = str(stopped.value)
    assert "\n" not in message
    return message


# Secrets of 32 bytes.


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("cursor_secret", SHORT, "the value must be at least 32 bytes long"),
        ("cursor_secret", f"{LONG},{SHORT}", "entry 2 must be at least 32 bytes long"),
        ("token_secret", SHORT, "the value must be at least 32 bytes long"),
        ("api_keys", SHORT, "the value must be at least 32 bytes long"),
        ("api_keys", f"{LONG}, {SHORT}", "entry 2 must be at least 32 bytes long"),
        ("basic_users", f"agent:{LONG},ana:{SHORT}", "the password of user 'ana' must be"),
        ("oauth_clients", f"app:{SHORT}:{SCOPE}", "the secret of client 'app' must be"),
        ("metrics_key", SHORT, "the value must be at least 32 bytes long"),
    ],
)
def test_a_short_secret_stops_startup_naming_the_variable(
    variable: str, value: str, why: str
) -> None:
    with pytest.raises(StartupError) as stopped:
        load_settings(_env_file=None, **{variable: value})
    message = str(stopped.value)
    assert message.startswith(f"ERC_BRIDGE_{variable.upper()} is invalid: {why}")
    assert "openssl rand -hex 32" in message
    assert "hidden" not in message


@pytest.mark.parametrize(
    "variable", ["cursor_secret", "token_secret", "api_keys", "metrics_key", "basic_users"]
)
def test_32_bytes_are_enough_and_31_are_not(variable: str) -> None:
    def configured(secret: str) -> dict[str, str]:
        return {variable: f"agent:{secret}" if variable == "basic_users" else secret}

    assert load_settings(_env_file=None, **configured("s" * MIN_SECRET_BYTES))
    with pytest.raises(StartupError):
        load_settings(_env_file=None, **configured("s" * (MIN_SECRET_BYTES - 1)))


def test_secret_length_counts_bytes_not_characters() -> None:
    euros = "€" * 11  # 11 characters, 33 bytes in UTF-8
    assert load_settings(_env_file=None, api_keys=euros).api_keys[0].get_secret_value() == euros
    with pytest.raises(StartupError):
        load_settings(_env_file=None, api_keys="é" * 15)  # 15 characters, 30 bytes


def test_a_blank_metrics_key_is_no_key() -> None:
    # docker-compose passes `${ERC_BRIDGE_METRICS_KEY:-}` as an empty value
    assert load_settings(_env_file=None, metrics_key="").metrics_key is None
    assert load_settings(_env_file=None, metrics_key="  ").metrics_key is None


def test_writes_are_off_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(_env_file=None).writes is False
    monkeypatch.setenv("ERC_BRIDGE_WRITES", "true")
    assert load_settings(_env_file=None).writes is True
    assert "ERC_BRIDGE_WRITES" in known_variables(BridgeSettings)


def test_an_oauth_client_may_hold_the_write_scope() -> None:
    client = "talkdesk:client-secret-of-at-least-32-bytes-0c7e:" + (
        "erc-ecommerce-connections-orders:read+erc-ecommerce-connections-orders:write"
    )
    assert load_settings(_env_file=None, oauth_clients=client).oauth_clients


@pytest.mark.parametrize(
    "url", ["redis://:pw-9f2c@127.0.0.1:99999/0", "redis://cache:port/0", "rediss://cache:-1"]
)
def test_a_redis_url_with_an_unusable_port_stops_startup_without_its_password(url: str) -> None:
    with pytest.raises(StartupError) as stopped:
        load_settings(_env_file=None, redis_url=url)
    message = str(stopped.value)
    assert message.startswith("ERC_BRIDGE_REDIS_URL is invalid: must name a port")
    assert "pw-9f2c" not in message


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "redis://:pw-9f2c@cache:6379/0?ssl_ca_certs=/etc/ssl/ca.pem",
            "query option 'ssl_ca_certs' is not one redis-py takes (TLS needs a rediss:// URL)",
        ),
        ("redis://:pw-9f2c@cache/0?x=1", "query option 'x' is not one redis-py takes"),
        (
            "redis://:pw-9f2c@cache/0?socket_timeout=abc",
            "query option 'socket_timeout' has a value redis-py cannot use",
        ),
        (
            "rediss://:pw-9f2c@cache/0?ssl_cert_reqs=pw-9f2c",
            "query option 'ssl_cert_reqs' has a value redis-py cannot use",
        ),
        ("redis://:?pw-9f2c=x@cache/0", "is not a URL redis-py can use"),
        (
            "unix://:pw-9f2c@/run/redis.sock?db=zero",
            "query option 'db' has a value redis-py cannot use",
        ),
    ],
)
def test_a_redis_url_with_options_redis_cannot_use_stops_startup_without_its_password(
    url: str, said: str
) -> None:
    with pytest.raises(StartupError) as stopped:
        load_settings(_env_file=None, redis_url=url)
    message = str(stopped.value)
    assert message == f"ERC_BRIDGE_REDIS_URL is invalid: {said}"
    assert "pw-9f2c" not in message


@pytest.mark.parametrize(
    "url",
    [
        "rediss://:pw-9f2c@cache:6380/0?ssl_ca_certs=/etc/ssl/ca.pem",
        "redis://cache/0?socket_keepalive=true&health_check_interval=5",
        "unix:///run/redis.sock?db=2",
    ],
)
def test_a_redis_url_with_options_redis_takes_is_kept_as_given(url: str) -> None:
    redis_url = load_settings(_env_file=None, redis_url=url).redis_url
    assert redis_url is not None and redis_url.get_secret_value() == url


@pytest.mark.parametrize("host", ["", "  "])
def test_a_blank_listen_address_is_refused_not_taken_for_every_interface(host: str) -> None:
    with pytest.raises(StartupError) as stopped:
        load_settings(_env_file=None, host=host)
    assert str(stopped.value) == f"ERC_BRIDGE_HOST is invalid: {BLANK_HOST}"


def test_a_listen_address_is_trimmed() -> None:
    assert load_settings(_env_file=None, host=" 127.0.0.1 ").host == "127.0.0.1"


# Durations and rates are finite and bounded: Redis takes them as whole milliseconds.


@pytest.mark.parametrize("field", ["cache_ttl_s", "stale_s", "platform_rate"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e300", "86401"])
def test_an_endless_lifetime_or_rate_is_refused(field: str, value: str) -> None:
    with pytest.raises(StartupError) as stopped:
        load_settings(_env_file=None, **{field: value})
    assert str(stopped.value).startswith(f"ERC_BRIDGE_{field.upper()} is invalid")


def test_a_day_is_the_longest_lifetime() -> None:
    settings = load_settings(_env_file=None, cache_ttl_s="86400", stale_s="86400")
    assert (settings.cache_ttl_s, settings.stale_s) == (86_400, 86_400)
    assert load_settings(_env_file=None, platform_rate="10000").platform_rate == 10_000


def test_a_day_long_lifetime_serves_with_redis(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ERC_BRIDGE_CACHE_TTL_S", "ERC_BRIDGE_STALE_S"):
        monkeypatch.setenv(name, "86400")
    bridge = create_app(load_settings(_env_file=None, redis_url=redis_server.url), DemoAdapter())
    with TestClient(bridge) as client:
        for _ in range(2):  # filled, then read back
            assert client.get("/erc/ecommerce/connections/customers/cus_ana").status_code == 200
        readiness = client.get("/readyz").json()
    assert readiness["redis"] == "reachable"
    ReadinessBody.model_validate(readiness)  # as the OpenAPI document says it


# Unknown variables.


def test_a_typo_in_dotenv_stops_the_demo_store_from_starting(
    environment: pytest.MonkeyPatch,
) -> None:
    Path(".env").write_text(
        "ERC_BRIDGE_ADAPTR=elasticpath\n"
        + "".join(f"{k}={v}\n" for k, v in ELASTICPATH.items() if k != "ERC_BRIDGE_ADAPTER")
    )
    assert refusal(environment, {}) == (
        "ERC_BRIDGE_ADAPTR is not a known variable; did you mean ERC_BRIDGE_ADAPTER?"
    )


def test_a_typo_in_the_environment_is_refused(environment: pytest.MonkeyPatch) -> None:
    message = refusal(environment, {"ERC_BRIDGE_API_KEY": LONG})
    assert message == (
        "ERC_BRIDGE_API_KEY is not a known variable; did you mean ERC_BRIDGE_API_KEYS?"
    )
    assert LONG not in message


def test_a_name_like_no_known_one_gets_no_guess(environment: pytest.MonkeyPatch) -> None:
    message = refusal(environment, {"ERC_BRIDGE_ZZZZZZZZ": "1"})
    assert message == "ERC_BRIDGE_ZZZZZZZZ is not a known variable"


def test_every_unknown_variable_is_named_in_a_sentence_of_its_own(
    environment: pytest.MonkeyPatch,
) -> None:
    message = refusal(
        environment,
        {"ERC_BRIDGE_PROT": "8080", "ERC_BRIDGE_ZZZZZZZZ": "1", "ERC_BRIDGE_HOTS": "0.0.0.0"},
    )
    assert message == (
        "ERC_BRIDGE_HOTS is not a known variable; did you mean ERC_BRIDGE_HOST? "
        "ERC_BRIDGE_PROT is not a known variable; did you mean ERC_BRIDGE_PORT? "
        "ERC_BRIDGE_ZZZZZZZZ is not a known variable"
    )


def test_unknown_variables_without_a_guess_are_separate_sentences() -> None:
    found = {"ERC_BRIDGE_YYYYYYYY": "1", "ERC_BRIDGE_ZZZZZZZZ": "1"}
    assert unknown_variables(found, "ERC_BRIDGE_", known_variables(BridgeSettings)) == (
        "ERC_BRIDGE_YYYYYYYY is not a known variable. ERC_BRIDGE_ZZZZZZZZ is not a known variable"
    )


def test_the_known_variables_are_the_settings_fields() -> None:
    class Grown(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="ERC_BRIDGE_")
        adapter: str = "demo"
        breaker_max_open_s: float = 60.0

    known = known_variables(Grown)
    assert known == ["ERC_BRIDGE_ADAPTER", "ERC_BRIDGE_BREAKER_MAX_OPEN_S"]
    assert unknown_variables({"ERC_BRIDGE_BREAKER_MAX_OPEN_S": "5"}, "ERC_BRIDGE_", known) == ""
    assert unknown_variables({"ERC_BRIDGE_BREAKER_MAX_OPN_S": "5"}, "ERC_BRIDGE_", known) == (
        "ERC_BRIDGE_BREAKER_MAX_OPN_S is not a known variable; "
        "did you mean ERC_BRIDGE_BREAKER_MAX_OPEN_S?"
    )
    fields = {f"ERC_BRIDGE_{name.upper()}" for name in BridgeSettings.model_fields}
    assert set(known_variables(BridgeSettings)) == fields


def test_a_typo_under_the_adapters_prefix_is_refused(environment: pytest.MonkeyPatch) -> None:
    variables = {**ELASTICPATH, "ELASTICPATH_CLIENT_SECRT": "platform-secret-value"}
    del variables["ELASTICPATH_CLIENT_SECRET"]
    message = refusal(environment, variables)
    assert message == (
        "ELASTICPATH_CLIENT_SECRT is not a known variable; did you mean ELASTICPATH_CLIENT_SECRET?"
    )
    assert "platform-secret-value" not in message


# The demo store where another adapter was meant.


def test_demo_with_another_adapters_variables_is_refused(environment: pytest.MonkeyPatch) -> None:
    variables = {k: v for k, v in ELASTICPATH.items() if k != "ERC_BRIDGE_ADAPTER"}
    variables["BIGCOMMERCE_STORE_HASH"] = "abc123"
    message = refusal(environment, variables)
    assert message == (
        "BIGCOMMERCE_STORE_HASH, ELASTICPATH_BASE_URL, ELASTICPATH_CLIENT_ID, "
        "ELASTICPATH_CLIENT_SECRET are set while ERC_BRIDGE_ADAPTER is demo: set "
        "ERC_BRIDGE_ADAPTER to bigcommerce or elasticpath, or unset them"
    )
    assert "platform-secret-value" not in message


def test_demo_named_explicitly_is_refused_too(environment: pytest.MonkeyPatch) -> None:
    message = refusal(environment, {"ERC_BRIDGE_ADAPTER": "demo", "ADOBE_CLIENT_ID": "c"})
    assert message.startswith("ADOBE_CLIENT_ID is set while ERC_BRIDGE_ADAPTER is demo")
    assert "adobe_cpapi" in message


def test_empty_variables_of_another_adapter_do_not_count(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("ELASTICPATH_CLIENT_ID", "")  # as docker-compose's `${X:-}` leaves it
    assert load_configuration().adapter.name == "demo"


PLUGIN_MODULE = """
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.base import Adapter


class AcmeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACME_", extra="ignore")
    api_url: str = "https://acme.example"


class AcmeAdapter(Adapter):
    name = "acme"
    settings_class = AcmeSettings
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed `acme-erc` registering an adapter with `ACME_*` settings, and a broken one."""
    installed = tmp_path / "site"
    dist = installed / "acme_erc-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-erc\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[erc_bridge.adapters]\nacme = acme_erc:AcmeAdapter\nbroken = acme_broken:Adapter\n"
    )
    (installed / "acme_erc.py").write_text(PLUGIN_MODULE)
    (installed / "acme_broken.py").write_text("raise RuntimeError('boom while importing')\n")
    monkeypatch.syspath_prepend(str(installed))
    yield
    for module in ("acme_erc", "acme_broken"):
        sys.modules.pop(module, None)


def test_a_plugins_prefix_counts_and_a_broken_plugin_does_not_stop_the_demo(
    environment: pytest.MonkeyPatch, plugin: None
) -> None:
    assert load_configuration().adapter.name == "demo"
    message = refusal(environment, {"ACME_API_URL": "https://acme.example"})
    assert message.startswith("ACME_API_URL is set while ERC_BRIDGE_ADAPTER is demo")
    assert "set ERC_BRIDGE_ADAPTER to acme," in message


# Kubernetes service links.


def kubelet_service_links(service: str, address: str, ports: dict[str, int]) -> dict[str, str]:
    """The variables the kubelet sets in every pod of the namespace for a Service with this
    cluster IP and these named TCP ports (the first port is also the unnamed default)."""
    name = service.upper().replace("-", "_")
    first = next(iter(ports.values()))
    links = {f"{name}_SERVICE_HOST": address, f"{name}_SERVICE_PORT": str(first)}
    host = f"[{address}]" if ":" in address else address
    links[f"{name}_PORT"] = f"tcp://{host}:{first}"
    for port_name, port in ports.items():
        links[f"{name}_SERVICE_PORT_{port_name.upper().replace('-', '_')}"] = str(port)
        links[f"{name}_PORT_{port}_TCP"] = f"tcp://{host}:{port}"
        links[f"{name}_PORT_{port}_TCP_PROTO"] = "tcp"
        links[f"{name}_PORT_{port}_TCP_PORT"] = str(port)
        links[f"{name}_PORT_{port}_TCP_ADDR"] = address
    return links


@pytest.mark.parametrize(
    ("service", "address", "ports"),
    [
        ("erc-bridge-store-a", "10.96.0.11", {"http": 80}),
        ("erc-bridge-store-b", "fd00:10:96::b", {"http": 80, "metrics-port": 9090}),
        ("elasticpath-sandbox", "10.96.0.12", {"https": 443}),
    ],
)
def test_the_service_links_of_the_namespace_do_not_stop_startup(
    environment: pytest.MonkeyPatch, service: str, address: str, ports: dict[str, int]
) -> None:
    for name, value in {**ELASTICPATH, **kubelet_service_links(service, address, ports)}.items():
        environment.setenv(name, value)
    assert load_configuration().adapter.name == "elasticpath"


def test_the_demo_store_starts_beside_another_adapters_service(
    environment: pytest.MonkeyPatch,
) -> None:
    for name, value in kubelet_service_links(
        "bigcommerce-mock", "10.96.0.13", {"http": 80}
    ).items():
        environment.setenv(name, value)
    assert load_configuration().adapter.name == "demo"


@pytest.mark.parametrize(
    ("variables", "refused"),
    [
        # No Service's host beside them: typos, not links.
        ({"ERC_BRIDGE_SERVICE_PORT": "8080"}, "ERC_BRIDGE_SERVICE_PORT"),
        ({"ERC_BRIDGE_REDIS_PORT": "6379"}, "ERC_BRIDGE_REDIS_PORT"),
        ({"ERC_BRIDGE_HOST_PORT": "tcp://10.96.0.11:80"}, "ERC_BRIDGE_HOST_PORT"),
        # A Service's host is there, but the value is not what the kubelet would write.
        (
            {
                **kubelet_service_links("erc-bridge-store-a", "10.96.0.11", {"http": 80}),
                "ERC_BRIDGE_STORE_A_PORT_80_TCP_ADDR": "10.96.0.99",
            },
            "ERC_BRIDGE_STORE_A_PORT_80_TCP_ADDR",
        ),
        (
            {
                **kubelet_service_links("erc-bridge-store-a", "10.96.0.11", {"http": 80}),
                "ERC_BRIDGE_STORE_A_PORT": "8080",
            },
            "ERC_BRIDGE_STORE_A_PORT",
        ),
        ({"ERC_BRIDGE_CACHE_SERVICE_HOST": "redis.internal"}, "ERC_BRIDGE_CACHE_SERVICE_HOST"),
    ],
)
def test_a_typo_shaped_like_a_service_link_is_still_refused(
    environment: pytest.MonkeyPatch, variables: dict[str, str], refused: str
) -> None:
    message = refusal(environment, {**ELASTICPATH, **variables})
    assert message.startswith(f"{refused} is not a known variable")


def test_a_service_named_like_the_bridge_is_said_to_be_a_service_link(
    environment: pytest.MonkeyPatch,
) -> None:
    links = kubelet_service_links("erc-bridge", "10.96.0.1", {"http": 80})
    assert links["ERC_BRIDGE_PORT"] == "tcp://10.96.0.1:80"
    message = refusal(environment, {**ELASTICPATH, **links})
    assert message.startswith("ERC_BRIDGE_PORT holds tcp://10.96.0.1:80, which looks like a")
    assert "Kubernetes service link" in message
    assert "enableServiceLinks: false" in message


# Placeholders of the example Secret.


def example_secret() -> dict[str, str]:
    document = yaml.safe_load(EXAMPLE_SECRET.read_text())
    return {str(k): str(v) for k, v in document["stringData"].items()}


def test_the_example_secrets_placeholders_are_refused_by_name(
    environment: pytest.MonkeyPatch,
) -> None:
    placeholders = example_secret()
    message = refusal(environment, {**ELASTICPATH, **placeholders})
    bridge_secrets = sorted(name for name in placeholders if name.startswith("ERC_BRIDGE_"))
    assert bridge_secrets  # the example still has them
    assert message == (
        f"{', '.join(bridge_secrets)} still hold the example placeholder "
        "(replace-with-…): fill in the real value"
    )
    for value in placeholders.values():
        assert value not in message


def test_an_adapter_secrets_placeholder_is_refused_by_name(
    environment: pytest.MonkeyPatch,
) -> None:
    placeholders = {k: v for k, v in example_secret().items() if k.startswith("ELASTICPATH_")}
    assert "ELASTICPATH_CLIENT_SECRET" in placeholders
    message = refusal(environment, {**ELASTICPATH, **placeholders})
    assert message == (
        f"{', '.join(sorted(placeholders))} still hold the example placeholder "
        "(replace-with-…): fill in the real value"
    )


def test_a_placeholder_inside_a_list_is_found(environment: pytest.MonkeyPatch) -> None:
    message = refusal(
        environment, {"ERC_BRIDGE_BASIC_USERS": f"agent:{LONG},ops:Replace-With-A-Password-Here"}
    )
    assert message.startswith("ERC_BRIDGE_BASIC_USERS still holds the example placeholder")


# What is right still starts.


def test_the_demo_store_starts_with_nothing_set(environment: pytest.MonkeyPatch) -> None:
    configuration = load_configuration()
    assert configuration.adapter.name == "demo"
    assert not configuration.settings.has_inbound_credentials


def test_a_complete_store_configuration_loads(environment: pytest.MonkeyPatch) -> None:
    for name, value in {
        **ELASTICPATH,
        "ERC_BRIDGE_CURSOR_SECRET": LONG,
        "ERC_BRIDGE_TOKEN_SECRET": LONG,
        "ERC_BRIDGE_METRICS_KEY": LONG,
        "ERC_BRIDGE_BASIC_USERS": f"agent:{LONG}",
        "ERC_BRIDGE_OAUTH_CLIENTS": f"app:{LONG}:{SCOPE}",
    }.items():
        environment.setenv(name, value)
    configuration = load_configuration()
    assert configuration.adapter.name == "elasticpath"
    assert configuration.settings.metrics_key is not None
