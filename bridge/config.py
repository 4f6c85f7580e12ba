"""Startup configuration: everything that can be wrong is found here, before serving."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from adapters.base import Adapter
from adapters.proxies import check_proxies_for
from adapters.registry import AdapterLoadError, UnknownAdapter, adapter_class, adapter_sources
from bridge.environment import (
    env_prefix,
    known_variables,
    placeholders,
    read_environment,
    service_link_in_a_setting,
    set_under,
    unknown_variables,
)
from bridge.settings import BridgeSettings, describe_validation_error

CREDENTIAL_VARIABLES = "ERC_BRIDGE_API_KEYS, ERC_BRIDGE_BASIC_USERS or ERC_BRIDGE_OAUTH_CLIENTS"
DEMO = "demo"


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


def _adapter_class(settings: BridgeSettings) -> type[Adapter]:
    try:
        return adapter_class(settings.adapter)
    except UnknownAdapter as exc:
        raise StartupError(f"ERC_BRIDGE_ADAPTER: {exc}") from None
    except (ImportError, AttributeError, TypeError) as exc:
        raise StartupError(
            f"ERC_BRIDGE_ADAPTER: adapter {settings.adapter!r} failed to load: {exc}"
        ) from None


def build_adapter(settings: BridgeSettings) -> Adapter:
    """The configured adapter, with its own settings read from the environment."""
    cls = _adapter_class(settings)
    problems = []
    adapter_settings = None
    if cls.settings_class is not None:
        try:
            adapter_settings = cls.settings_class()
        except ValidationError as exc:
            prefix = str(cls.settings_class.model_config.get("env_prefix", ""))
            problems.append(describe_validation_error(exc, prefix))
    if cls.name != DEMO and not settings.has_inbound_credentials:
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
    """The settings and the adapter `serve`, `check` and `get` run with, from the
    environment and `.env`, or StartupError with the one line to print."""
    environment = read_environment(BridgeSettings)
    bridge_variables = known_variables(BridgeSettings)
    _refuse(service_link_in_a_setting(environment, bridge_variables))
    _refuse(unknown_variables(environment, env_prefix(BridgeSettings), bridge_variables))
    _refuse(placeholders(environment, bridge_variables))
    settings = load_settings(**overrides)
    cls = _adapter_class(settings)
    if cls.name == DEMO:
        _refuse(_other_adapters_variables(environment))
    else:
        adapter_variables = known_variables(cls.settings_class)
        _refuse(unknown_variables(environment, env_prefix(cls.settings_class), adapter_variables))
        _refuse(placeholders(environment, adapter_variables))
    adapter = build_adapter(settings)
    if cls.name != DEMO:  # the demo store calls no platform
        _refuse(_unusable_proxy(adapter.settings))
    return Configuration(settings=settings, adapter=adapter)


def _refuse(problem: str) -> None:
    if problem:
        raise StartupError(problem)


def _unusable_proxy(platform_settings: BaseModel | None) -> str:
    """The line naming a proxy variable a platform call would go through but could not;
    empty when there is none. The platform's URLs are its settings' absolute URLs."""
    values = [] if platform_settings is None else platform_settings.model_dump().values()
    try:
        check_proxies_for(value for value in values if isinstance(value, str))
    except ValueError as exc:
        return str(exc)
    return ""


def _other_adapters_variables(environment: Mapping[str, str]) -> str:
    """The demo store must not start where another adapter was meant to: one line naming
    that adapter's variables when any is set; empty when none is."""
    bridge_prefix = env_prefix(BridgeSettings)
    found: dict[str, list[str]] = {}
    for name, source in sorted(adapter_sources().items()):
        try:
            prefix = env_prefix(source.load().settings_class)
        except AdapterLoadError:
            continue  # a broken plugin is reported when it is selected, not before
        if not prefix or prefix.startswith(bridge_prefix) or bridge_prefix.startswith(prefix):
            continue  # its variables, if any, cannot be told from the bridge's own
        variables = set_under(environment, prefix)
        if variables:
            found[name] = variables
    if not found:
        return ""
    named = [variable for variables in found.values() for variable in variables]
    are = "is" if len(named) == 1 else "are"
    return (
        f"{', '.join(named)} {are} set while ERC_BRIDGE_ADAPTER is {DEMO}: "
        f"set ERC_BRIDGE_ADAPTER to {' or '.join(found)}, or unset them"
    )
