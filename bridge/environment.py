"""The variables a bridge is configured with, read as pydantic-settings reads them, and
the mistakes in them that would make it serve the wrong store, or serve with a secret
nobody chose.

A typo in a variable's name is not an error to pydantic-settings: the variable is
ignored and the setting keeps its default (for `ERC_BRIDGE_ADAPTER`, the demo store).
Here every variable under a known prefix must be one that some setting reads.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

from adapters.registry import settings_variables

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


def unknown_variables(environment: Mapping[str, str], prefix: str, known: list[str]) -> str:
    """One line naming each variable under `prefix` that no setting reads, with the known
    variable it is closest to; empty when there is none."""
    suffixes = [variable.removeprefix(prefix) for variable in known]
    problems = []
    for name in sorted(environment):
        if not prefix or not name.startswith(prefix) or name in known:
            continue
        # Compared without the shared prefix, which would make every name look alike.
        close = difflib.get_close_matches(name.removeprefix(prefix), suffixes, n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        problems.append(f"{name} is not a known variable{hint}")
    return " ".join(problems)


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
    """The variables under `prefix` that have a value."""
    return sorted(
        name for name, value in environment.items() if name.startswith(prefix) and value.strip()
    )
