"""Service settings from the environment (and a `.env` file in the working directory)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.settings_types import (
    MIN_SECRET_BYTES,
    SHOWN_DEFAULT,
    TOO_SHORT,
    CommaList,
    LongSecrets,
    OptionalBaseURL,
    OptionalLongSecret,
    OptionalRedisURL,
    OptionalText,
    SecretList,
    long_enough,
)
from bridge.auth import SCOPES
from bridge.cache import DEFAULT_MAX_BYTES

RESOURCE_CACHE_MAX_BYTES = 16 * 1024 * 1024

__all__ = ["MIN_SECRET_BYTES", "BridgeSettings", "describe_validation_error"]


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


def _uvicorn_forwarded_allow_ips() -> str:
    # uvicorn's own variable, which deployments may already set; ours wins when both are.
    return os.environ.get("FORWARDED_ALLOW_IPS", "")


Count = Annotated[int, Field(ge=1)]
UpToAnHour = Annotated[float, Field(gt=0, le=3600)]
"""Seconds: more than none, an hour at most."""
UpToADay = Annotated[float, Field(ge=0, le=86_400)]
"""Seconds: none to a day (Redis keeps entries for whole milliseconds, so never endless)."""
MAX_PLATFORM_RATE = 10_000
"""Calls per second: far above any platform's limit, and still a gap Redis's clock can tell."""


def _weight_bound(default: int, kept: str, weighed: str) -> Any:
    """The byte bound of a least-recently-used store, its default shown in MiB too."""
    return Field(
        default=default,
        description=f"bound on what {kept} weigh ({weighed} and bookkeeping); "
        "least recently used go first",
        json_schema_extra={SHOWN_DEFAULT: f"`{default}` ({default // 1024**2} MiB)"},
    )


class BridgeSettings(BaseSettings):
    """Every `ERC_BRIDGE_*` variable, with its default (SPEC §4)."""

    model_config = SettingsConfigDict(
        env_prefix="ERC_BRIDGE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    adapter: str = Field(
        default="demo",
        description="`demo`, `elasticpath`, `adobe_cpapi`, `bigcommerce`, or an installed "
        "plugin's name (`erc-bridge adapters`)",
    )
    host: str = Field(
        default="127.0.0.1", description="listen address (`0.0.0.0` in the container)"
    )
    port: int = Field(default=8080, ge=1, le=65535, description="listen port")
    public_url: OptionalBaseURL = Field(
        default=None,
        description="external base URL used in `_links` (may include a path prefix)",
        json_schema_extra={SHOWN_DEFAULT: "request's own host"},
    )
    brand: OptionalText = Field(
        default=None,
        description="this store's brand: carried in bodies; a request naming another brand is 404",
    )
    cursor_secret: LongSecrets = Field(
        default=(),
        description="cursor signing secrets (each at least 32 bytes), comma-separated: the "
        "first signs, all verify (rotation); replicas must share them",
        json_schema_extra={SHOWN_DEFAULT: "random per process"},
    )
    token_secret: LongSecrets = Field(
        default=(),
        description="bearer-token signing secrets (each at least 32 bytes), comma-separated "
        "like the cursor secrets",
        json_schema_extra={SHOWN_DEFAULT: "random per process"},
    )
    api_keys: LongSecrets = Field(
        default=(),
        description="comma-separated keys accepted in `X-API-Key` (each at least 32 bytes)",
    )
    basic_users: SecretList = Field(
        default=(),
        description="comma-separated `user:password` for HTTP Basic (passwords at least 32 bytes)",
    )
    oauth_clients: SecretList = Field(
        default=(),
        description="comma-separated `client_id:secret:scope+scope` for `POST /oauth/token` "
        "(secrets at least 32 bytes)",
    )
    token_ttl_s: int = Field(
        default=600,
        ge=1,
        le=3600,
        description="lifetime of the bearer tokens the bridge issues (1–3600)",  # noqa: RUF001
    )
    auth_failure_limit: Count = Field(
        default=10, description="failed authentications per client address and window before 429"
    )
    auth_failure_window_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="seconds over which `ERC_BRIDGE_AUTH_FAILURE_LIMIT` counts",
    )
    deadline_s: float = Field(
        default=8.0, gt=0, le=300, description="whole-request deadline in seconds"
    )
    breaker_open_s: UpToAnHour = Field(
        default=5.0,
        description="first pause of a failing platform's calls; each failed probe doubles "
        "the pause, a success starts over",
    )
    breaker_open_max_s: UpToAnHour = Field(
        default=60.0, description="longest pause of a failing platform's calls"
    )
    cache_ttl_s: UpToADay = Field(
        default=30.0,
        description="lifetime in seconds of cached responses and of the "
        "platform resources they are built from (a day at most); `0` turns both caches off",
    )
    cache_max_entries: Count = Field(default=10_000, description="bound on cached responses")
    cache_max_bytes: Count = _weight_bound(DEFAULT_MAX_BYTES, "cached responses", "bodies, keys")
    resource_cache_max_entries: Count = Field(
        default=20_000,
        description="bound on platform resources (customers, orders, lines) kept for "
        "`ERC_BRIDGE_CACHE_TTL_S` and shared across routes",
    )
    resource_cache_max_bytes: Count = _weight_bound(
        RESOURCE_CACHE_MAX_BYTES, "kept platform resources", "bodies as received, keys"
    )
    writes: bool = Field(
        default=False,
        description="serve the write routes (cancel an order, change its shipping address, "
        "cancel items); off, they answer 501",
    )
    stale_s: UpToADay = Field(
        default=600.0,
        description="how long past its lifetime a cached response may be served while the "
        "platform fails (a day at most)",
    )
    platform_idle_s: UpToAnHour = Field(
        default=15.0,
        description="seconds an unused keep-alive connection to the platform is kept for reuse",
    )
    platform_max_answer_bytes: int = Field(
        default=8 * 1024**2,
        ge=64 * 1024,
        le=64 * 1024**2,
        description="largest platform answer (8 MiB), on the wire and decoded; larger is 502",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds a request head may take to arrive, from accept and from its "
        "first byte; then 408 and close",
    )
    body_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds a request body may take to arrive, from the end of its head; "
        "then 408 and close",
    )
    max_connections: Count = Field(
        default=768,
        description="open connections at most; one more is answered 503 at once (the cap "
        "plus 256 must fit the open-file limit)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="`debug`, `info`, `warning`, `error`"
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="`json`, `console` (readable lines), or `auto`: console when the log "
        "goes to a terminal, JSON otherwise (containers, files, pipes)",
    )
    metrics_key: OptionalLongSecret = Field(
        default=None,
        description="at least 32 bytes; when set, `/metrics` answers only requests bearing "
        "it (`Authorization: Bearer` or `X-API-Key`); unset, `/metrics` takes the ERC "
        "routes' credentials (open only on the demo store without any)",
    )
    # No proxy by default, so that no one can pick the address the failed-login limit
    # counts against.
    forwarded_allow_ips: CommaList = Field(
        default_factory=_uvicorn_forwarded_allow_ips,
        validate_default=True,
        description="comma-separated addresses or networks (`10.0.0.0/8`; `*` for any) of "
        "the proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; "
        "uvicorn's `FORWARDED_ALLOW_IPS` is read when this is unset",
        json_schema_extra={SHOWN_DEFAULT: "none"},
    )

    redis_url: OptionalRedisURL = Field(
        default=None,
        description="Redis shared by the replicas of one store (`redis://`, `rediss://` for "
        "TLS, `unix://`; a password in the URL is never logged): cached answers and platform "
        "resources, single flight, idempotency keys, one write at a time per order and the "
        "platform call budget; unset, each process keeps its own",
        json_schema_extra={SHOWN_DEFAULT: "none"},
    )
    redis_timeout_s: float = Field(
        default=0.25,
        gt=0,
        le=10,
        description="seconds a Redis command may take before the bridge goes on without "
        "Redis; it tries again a second later",
    )
    platform_rate: float | None = Field(
        default=None,
        gt=0,
        le=MAX_PLATFORM_RATE,
        description=f"platform calls per second (at most {MAX_PLATFORM_RATE}) for all "
        "replicas together (with "
        "`ERC_BRIDGE_REDIS_URL`; else for this process); a call that cannot start within "
        "its deadline is answered 503 with `Retry-After`. Unset: no budget",
        json_schema_extra={SHOWN_DEFAULT: "none"},
    )

    @field_validator("platform_rate", mode="before")
    @classmethod
    def _blank_rate_is_none(cls, value: object) -> object:
        """`ERC_BRIDGE_PLATFORM_RATE=` (as compose passes an unset variable): no budget."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("host")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        # Blank, uvicorn would listen on every interface: never what an empty variable
        # (compose passes an unset one so) or `--host=` meant.
        if not value.strip():
            raise ValueError(
                "must not be empty, nor --host: name the address to listen on (0.0.0.0 for all)"
            )
        return value.strip()

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("basic_users")
    @classmethod
    def _user_password_pairs(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for entry in value:
            user, sep, password = entry.get_secret_value().partition(":")
            if not (user and sep and password):
                raise ValueError("each entry must be user:password")
            if not long_enough(password):
                raise ValueError(f"the password of user {user!r} {TOO_SHORT}")
        return value

    @field_validator("oauth_clients")
    @classmethod
    def _client_entries(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        seen: set[str] = set()
        for entry in value:
            parts = entry.get_secret_value().split(":", 2)
            if len(parts) != 3 or not all(parts):
                raise ValueError("each entry must be client_id:secret:scope+scope")
            client_id, secret, scopes = parts
            if not long_enough(secret):
                raise ValueError(f"the secret of client {client_id!r} {TOO_SHORT}")
            if not set(scopes.split("+")) <= set(SCOPES):
                valid = ", ".join(SCOPES)
                raise ValueError(f"unknown scope for client {client_id!r}; valid: {valid}")
            if client_id in seen:
                raise ValueError(f"client {client_id!r} is listed twice")
            seen.add(client_id)
        return value

    @field_validator("breaker_open_max_s")
    @classmethod
    def _not_below_first_pause(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("breaker_open_s", 0):
            raise ValueError("must not be below ERC_BRIDGE_BREAKER_OPEN_S")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not all(entry == "*" or _is_network(entry) for entry in value):
            raise ValueError("each entry must be an IP address, a network such as 10.0.0.0/8, or *")
        return value

    @property
    def has_inbound_credentials(self) -> bool:
        return bool(self.api_keys or self.basic_users or self.oauth_clients)


def describe_validation_error(exc: ValidationError, env_prefix: str) -> str:
    """One line naming each offending variable; input values are never echoed."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = f"{env_prefix}{field}".upper()
        if error["type"] == "missing":
            reason = "is missing"
        elif error["type"] == "value_error":  # the validator's own words, without pydantic's
            reason = f"is invalid: {error.get('ctx', {}).get('error', error['msg'])}"
        else:
            reason = f"is invalid: {error['msg']}"
        problems.append(f"{variable} {reason}")
    return "; ".join(problems)
