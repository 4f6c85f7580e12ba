"""Service settings from the environment (and a `.env` file in the working directory)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bridge.auth import SCOPES
from bridge.cache import DEFAULT_MAX_BYTES

MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key is at least as long as the hash output. Every other secret
a caller or the bridge proves itself with is held to the same length, so that none is
short enough to guess."""

CommaList = Annotated[tuple[str, ...], NoDecode]
SecretList = Annotated[tuple[SecretStr, ...], NoDecode]


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


def _uvicorn_forwarded_allow_ips() -> str:
    # uvicorn's own variable, which deployments may already set; ours wins when both are.
    return os.environ.get("FORWARDED_ALLOW_IPS", "")


def _long_enough(secret: str) -> bool:
    return len(secret.encode("utf-8", "surrogateescape")) >= MIN_SECRET_BYTES


TOO_SHORT = f"must be at least {MIN_SECRET_BYTES} bytes long (openssl rand -hex 32 makes one)"


class BridgeSettings(BaseSettings):
    """Every `ERC_BRIDGE_*` variable, with its default (SPEC §4)."""

    model_config = SettingsConfigDict(
        env_prefix="ERC_BRIDGE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    adapter: str = "demo"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = None
    brand: str | None = None
    cursor_secret: SecretList = ()
    token_secret: SecretList = ()
    api_keys: SecretList = ()
    basic_users: SecretList = ()
    oauth_clients: SecretList = ()
    token_ttl_s: int = Field(default=600, ge=1, le=3600)
    auth_failure_limit: int = Field(default=10, ge=1)
    auth_failure_window_s: float = Field(default=60.0, gt=0, le=86_400)
    deadline_s: float = Field(default=8.0, gt=0, le=300)
    breaker_open_s: float = Field(default=5.0, gt=0, le=3600)
    """First pause of a failing platform's calls; each failed probe doubles it."""
    breaker_open_max_s: float = Field(default=60.0, gt=0, le=3600)
    """Longest pause of a failing platform's calls."""
    cache_ttl_s: float = Field(default=30.0, ge=0)
    cache_max_entries: int = Field(default=10_000, ge=1)
    cache_max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)
    stale_s: float = Field(default=600.0, ge=0)
    platform_idle_s: float = Field(default=15.0, gt=0, le=3600)
    platform_max_answer_bytes: int = Field(default=8 * 1024**2, ge=64 * 1024, le=64 * 1024**2)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=768, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # auto: readable lines when the log goes to a terminal, JSON lines otherwise.
    log_format: Literal["auto", "json", "console"] = "auto"
    metrics_key: SecretStr | None = None
    forwarded_allow_ips: CommaList = Field(
        default_factory=_uvicorn_forwarded_allow_ips, validate_default=True
    )
    """Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: none by default,
    so that no one can pick the address the failed-login limit counts against."""

    _split_lists = field_validator(
        "cursor_secret", "token_secret", "api_keys", "basic_users", "oauth_clients", mode="before"
    )(_split)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be an absolute http(s) URL without query or fragment")
        return value

    @field_validator("brand")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("basic_users")
    @classmethod
    def _user_password_pairs(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for entry in value:
            user, sep, password = entry.get_secret_value().partition(":")
            if not (user and sep and password):
                raise ValueError("each entry must be user:password")
            if not _long_enough(password):
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
            if not _long_enough(secret):
                raise ValueError(f"the secret of client {client_id!r} {TOO_SHORT}")
            if not set(scopes.split("+")) <= set(SCOPES):
                valid = ", ".join(SCOPES)
                raise ValueError(f"unknown scope for client {client_id!r}; valid: {valid}")
            if client_id in seen:
                raise ValueError(f"client {client_id!r} is listed twice")
            seen.add(client_id)
        return value

    @field_validator("cursor_secret", "token_secret", "api_keys")
    @classmethod
    def _each_long_enough(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, entry in enumerate(value, start=1):
            if not _long_enough(entry.get_secret_value()):
                which = "the value" if len(value) == 1 else f"entry {position}"
                raise ValueError(f"{which} {TOO_SHORT}")
        return value

    @field_validator("metrics_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _long_enough(value.get_secret_value()):
            raise ValueError(f"the value {TOO_SHORT}")
        return value

    @field_validator("breaker_open_max_s")
    @classmethod
    def _not_below_first_pause(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("breaker_open_s", 0):
            raise ValueError("must not be below ERC_BRIDGE_BREAKER_OPEN_S")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        return _split(value)

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
