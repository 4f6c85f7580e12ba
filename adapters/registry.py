"""Which adapters exist: the built-in ones, and those installed packages register.

A package adds an adapter with an entry point in the `erc_bridge.adapters` group whose
value is `"module:Class"`:

    [project.entry-points."erc_bridge.adapters"]
    acme = "acme_erc.adapter:AcmeAdapter"

Nothing is imported until an adapter is selected, so a broken plugin never stops another
adapter from starting; selecting it reports the package and what went wrong. On a name
clash the built-in adapter wins.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from pydantic_settings import BaseSettings

from adapters.base import Adapter, Capability

ENTRY_POINT_GROUP = "erc_bridge.adapters"

BUILTIN_ADAPTERS: dict[str, str] = {
    "demo": "adapters.demo:DemoAdapter",
    "elasticpath": "adapters.elasticpath:ElasticPathAdapter",
    "adobe_cpapi": "adapters.adobe_cpapi:AdobeCPAPIAdapter",
    "bigcommerce": "adapters.bigcommerce:BigCommerceAdapter",
}


class UnknownAdapter(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown adapter {name!r}; valid names: {', '.join(known)}")
        self.name = name
        self.known = known


class AdapterLoadError(ImportError):
    """The adapter's module or class could not be loaded; the message says from where."""


@dataclass(frozen=True)
class AdapterSource:
    """Where an adapter comes from: `target` is "module:Class"."""

    name: str
    target: str
    package: str | None = None
    """The distribution that registered it ("acme-erc 1.2"); None for a built-in."""

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def origin(self) -> str:
        return f"plugin {self.package}" if self.package else "built-in"

    def load(self) -> type[Adapter]:
        """Import the adapter class; AdapterLoadError names the source of any failure."""
        module_name, _, class_name = self.target.partition(":")
        where = f"{self.name} = {self.target} ({self.origin})"
        if not module_name or not class_name:
            raise AdapterLoadError(f"{where}: the entry point must be 'module:Class'")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except Exception as exc:  # a plugin can fail in any way while it imports
            raise AdapterLoadError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise AdapterLoadError(f"{where}: {class_name} is not an Adapter subclass")
        return cls


def _package(entry: EntryPoint) -> str | None:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else None


def plugins() -> list[AdapterSource]:
    """Every adapter installed packages register, in the order Python finds them."""
    try:
        found = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # unreadable package metadata must not stop the built-in adapters
        return []
    return [AdapterSource(e.name, e.value, _package(e) or "(unknown package)") for e in found]


def adapter_sources() -> dict[str, AdapterSource]:
    """Every available adapter by name: the built-ins, then plugins with other names."""
    sources = {name: AdapterSource(name, target) for name, target in BUILTIN_ADAPTERS.items()}
    for plugin in plugins():
        sources.setdefault(plugin.name, plugin)
    return sources


def shadowed_plugins() -> list[AdapterSource]:
    """Plugins registered under a name another adapter already has: never used."""
    sources = adapter_sources()
    return [plugin for plugin in plugins() if sources[plugin.name] != plugin]


def available_adapters() -> dict[str, str]:
    return {name: source.target for name, source in adapter_sources().items()}


def adapter_class(name: str) -> type[Adapter]:
    sources = adapter_sources()
    try:
        source = sources[name]
    except KeyError:
        raise UnknownAdapter(name, sorted(sources)) from None
    return source.load()


@dataclass(frozen=True)
class AdapterInfo:
    """What `erc-bridge adapters` says about one adapter."""

    source: AdapterSource
    capabilities: tuple[Capability, ...] = ()
    required: tuple[str, ...] = ()
    """Environment variables the adapter cannot start without."""
    optional: tuple[str, ...] = ()
    problem: str | None = None
    """Why it cannot be loaded, when it cannot."""


def settings_variables(settings_class: type[BaseSettings] | None) -> tuple[list[str], list[str]]:
    """The environment variables a settings class reads: (required, optional)."""
    if settings_class is None:
        return [], []
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    required: list[str] = []
    optional: list[str] = []
    for name, field in settings_class.model_fields.items():
        variable = f"{prefix}{field.alias or name}".upper()
        (required if field.is_required() else optional).append(variable)
    return required, optional


def describe(source: AdapterSource) -> AdapterInfo:
    try:
        cls = source.load()
    except AdapterLoadError as exc:
        return AdapterInfo(source, problem=str(exc))
    required, optional = settings_variables(cls.settings_class)
    return AdapterInfo(
        source,
        capabilities=tuple(c for c in Capability if c in cls.capabilities),
        required=tuple(required),
        optional=tuple(optional),
    )
