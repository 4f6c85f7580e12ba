"""The variables a bridge is configured with, read as pydantic-settings reads them, and
the mistakes in them that would make it serve the wrong store, or serve with a secret
nobody chose.

A typo in a variable's name is not an error to pydantic-settings: the variable is
ignored and the setting keeps its default (for `ERC_BRIDGE_ADAPTER`, the demo store).
Here every variable under a known prefix must be one that some setting reads, except
the service links the kubelet sets for each Service of the namespace (a Service named
`erc-bridge-store-a` sets `ERC_BRIDGE_STORE_A_SERVICE_HOST` and the like).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping

from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

from adapters.registry import settings_variables

_LINK_PORT = re.compile(
    r"_PORT_(?P<port>[0-9]+)_(?P<protocol>TCP|UDP|SCTP)(?P<part>_PROTO|_PORT|_ADDR)?"
)
_NAMED_SERVICE_PORT = re.compile(r"_SERVICE_PORT(_[A-Z0-9_]+)?")
_LINK_URL = re.compile(r"(?P<protocol>tcp|udp|sctp)://(?P<host>.+):(?P<port>[0-9]+)")

PLACEHOLDER = "replace-with-"
"""How the example Secret (deploy/kubernetes/secret.example.yaml) marks a value to fill in."""


def read_environment(settings_class: type[BaseSettings]) -> dict[str, str]:
    """Every variable of the settings' `.env` file and of the environment, by upper-case
    name; the environment's value wins, as it does for the settings themselves."""
    found: dict[str, str] = {}
    for source in (DotEnvSettingsSource(settings_class), EnvSettingsSource(settings_class)):
        for name, value in source.env_vars.items():
            found[name.upper()] = value or ""
    return found


def env_prefix(settings_class: type[BaseSettings] | None) -> str:
    if settings_class is None:
        return ""
    return str(settings_class.model_config.get("env_prefix", "")).upper()


def known_variables(settings_class: type[BaseSettings] | None) -> list[str]:
    required, optional = settings_variables(settings_class)
    return required + optional


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_link(suffix: str, value: str, address: str) -> bool:
    """Whether `suffix=value` is what the kubelet writes after a Service's name, for a
    Service whose cluster IP is `address`."""
    host = f"[{address}]" if ":" in address else address
    if suffix == "_SERVICE_HOST":
        return value == address
    if _NAMED_SERVICE_PORT.fullmatch(suffix):
        return value.isdigit()
    if suffix == "_PORT":
        url = _LINK_URL.fullmatch(value)
        return url is not None and url["host"] == host
    port = _LINK_PORT.fullmatch(suffix)
    if port is None:
        return False
    protocol = port["protocol"].lower()
    expected = {
        None: f"{protocol}://{host}:{port['port']}",
        "_PROTO": protocol,
        "_PORT": port["port"],
        "_ADDR": address,
    }
    return value == expected[port["part"]]


def service_links(environment: Mapping[str, str]) -> set[str]:
    """The variables that are Kubernetes service links: each is known by its name and its
    value together, and only beside its Service's `<NAME>_SERVICE_HOST` holding an IP
    address (the kubelet sets none for a Service without a cluster IP), so that a typo of
    a setting is not taken for one."""
    services = {
        name.removesuffix("_SERVICE_HOST"): value
        for name, value in environment.items()
        if name.endswith("_SERVICE_HOST") and _is_address(value)
    }
    return {
        name
        for name, value in environment.items()
        for service, address in services.items()
        if name.startswith(f"{service}_") and _is_link(name.removeprefix(service), value, address)
    }


def service_link_in_a_setting(environment: Mapping[str, str], known: list[str]) -> str:
    """One line when a setting holds what the kubelet writes for a Service whose name is
    the setting's (`ERC_BRIDGE_PORT=tcp://10.0.0.1:80` for a Service named `erc-bridge`);
    empty otherwise. Said apart, because the setting's own complaint would not say why."""
    for name in known:
        value = environment.get(name, "")
        if name.endswith("_PORT") and _LINK_URL.fullmatch(value):
            service = name.removesuffix("_PORT").lower().replace("_", "-")
            return (
                f"{name} holds {value}, which looks like a Kubernetes service link (the "
                f"kubelet sets it for a Service named {service}): set enableServiceLinks: "
                f"false in the pod spec, or give the Service another name"
            )
    return ""


def unknown_variables(environment: Mapping[str, str], prefix: str, known: list[str]) -> str:
    """One line naming each variable under `prefix` that no setting reads, a sentence
    each, with the known variable it is closest to; empty when there is none. Service
    links are passed over."""
    suffixes = [variable.removeprefix(prefix) for variable in known]
    links = service_links(environment)
    problems = []
    for name in sorted(environment):
        if not prefix or not name.startswith(prefix) or name in known or name in links:
            continue
        # Compared without the shared prefix, which would make every name look alike.
        close = difflib.get_close_matches(name.removeprefix(prefix), suffixes, n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        problems.append(f"{name} is not a known variable{hint}")
    return _sentences(problems)


def _sentences(said: list[str]) -> str:
    """One line of sentences: each but the last ends with a full stop unless it asks a
    question (a startup line ends without one)."""
    ended = [part if part.endswith("?") else f"{part}." for part in said[:-1]]
    return " ".join([*ended, *said[-1:]])


def placeholders(environment: Mapping[str, str], names: Iterable[str]) -> str:
    """One line naming the variables that still hold an example placeholder; empty when
    none does. Values are never part of it."""
    unfilled = sorted(name for name in names if PLACEHOLDER in environment.get(name, "").lower())
    if not unfilled:
        return ""
    holds = "holds" if len(unfilled) == 1 else "hold"
    return (
        f"{', '.join(unfilled)} still {holds} the example placeholder "
        f"({PLACEHOLDER}…): fill in the real value"
    )


def set_under(environment: Mapping[str, str], prefix: str) -> list[str]:
    """The variables under `prefix` that have a value, service links left out."""
    links = service_links(environment)
    return sorted(
        name
        for name, value in environment.items()
        if name.startswith(prefix) and value.strip() and name not in links
    )
