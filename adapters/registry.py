"""Which adapters exist: a lazy map from name to "module:Class"."""

from __future__ import annotations

import importlib

from adapters.base import Adapter

BUILTIN_ADAPTERS: dict[str, str] = {
    "demo": "adapters.demo:DemoAdapter",
    "elasticpath": "adapters.elasticpath:ElasticPathAdapter",
    "adobe_cpapi": "adapters.adobe_cpapi:AdobeCPAPIAdapter",
}


class UnknownAdapter(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown adapter {name!r}; valid names: {', '.join(known)}")
        self.name = name
        self.known = known


def available_adapters() -> dict[str, str]:
    return dict(BUILTIN_ADAPTERS)


def adapter_class(name: str) -> type[Adapter]:
    adapters = available_adapters()
    try:
        target = adapters[name]
    except KeyError:
        raise UnknownAdapter(name, sorted(adapters)) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError(f"{target} is not an Adapter")
    return cls
