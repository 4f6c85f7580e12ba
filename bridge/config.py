"""Startup configuration: everything that can be wrong is found here, before serving."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from adapters.base import Adapter
from adapters.registry import UnknownAdapter, adapter_class
from bridge.settings import BridgeSettings, describe_validation_error

CREDENTIAL_VARIABLES = "ERC_BRIDGE_API_KEYS, ERC_BRIDGE_BASIC_USERS or ERC_BRIDGE_OAUTH_CLIENTS"


class StartupError(Exception):
    """A configuration problem; its message is the one line printed before exiting."""


@dataclass(frozen=True)
class Configuration:
    settings: BridgeSettings
    adapter: Adapter


def load_settings(**overrides: object) -> BridgeSettings:
    try:
        return BridgeSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise StartupError(describe_validation_error(exc, "ERC_BRIDGE_")) from None


def build_adapter(settings: BridgeSettings) -> Adapter:
    """The configured adapter, with its own settings read from the environment."""
    try:
        cls = adapter_class(settings.adapter)
    except UnknownAdapter as exc:
        raise StartupError(f"ERC_BRIDGE_ADAPTER: {exc}") from None
    except (ImportError, AttributeError, TypeError) as exc:
        raise StartupError(
            f"ERC_BRIDGE_ADAPTER: adapter {settings.adapter!r} failed to load: {exc}"
        ) from None
    problems = []
    adapter_settings = None
    if cls.settings_class is not None:
        try:
            adapter_settings = cls.settings_class()
        except ValidationError as exc:
            prefix = str(cls.settings_class.model_config.get("env_prefix", ""))
            problems.append(describe_validation_error(exc, prefix))
    if cls.name != "demo" and not settings.has_inbound_credentials:
        problems.append(
            f"no inbound credentials: the {cls.name} adapter needs {CREDENTIAL_VARIABLES}"
        )
    if problems:
        raise StartupError("; ".join(problems))
    adapter = cls(adapter_settings)
    try:
        adapter.check()
    except ValueError as exc:
        raise StartupError(f"{cls.name}: {exc}") from None
    return adapter


def load_configuration(**overrides: object) -> Configuration:
    settings = load_settings(**overrides)
    return Configuration(settings=settings, adapter=build_adapter(settings))
